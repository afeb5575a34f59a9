//! The controllers against a real kube-apiserver (vmcp_testenv), run in-process, each test
//! in its own namespace with controllers scoped to it.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::harness::{Harness, WAIT, start};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::{Client, Resource};
use vmcp_api::{MCPGroup, MCPServerEntry, VirtualMCPServer};
use vmcp_operator::controllers;
use vmcp_testenv::{TestEnv, apply_yaml, eventually, eventually_gone};

impl Harness {
    async fn dynamic(&self, v: &serde_json::Value) -> Api<DynamicObject> {
        let av = v["apiVersion"].as_str().expect("apiVersion");
        let (group, version) = av.split_once('/').unwrap_or(("", av));
        let gvk = GroupVersionKind::gvk(group, version, v["kind"].as_str().expect("kind"));
        let (ar, _) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .expect("discovery");
        Api::namespaced_with(self.client.clone(), &self.ns, &ar)
    }

    /// Waits until VirtualMCPServer `name` lists exactly `backends`; returns the API for more.
    async fn settled(&self, name: &str, backends: &[&str]) -> Api<VirtualMCPServer> {
        let vmcps: Api<VirtualMCPServer> = self.api();
        eventually("settled status", WAIT, || async {
            vmcps
                .get(name)
                .await
                .ok()
                .filter(|v| backend_names(v) == backends)
        })
        .await;
        vmcps
    }
}

async fn config_yaml(api: &Api<ConfigMap>, name: &str) -> Option<String> {
    api.get_opt(name)
        .await
        .ok()??
        .data?
        .get("config.yaml")
        .cloned()
}

fn backend_names(v: &VirtualMCPServer) -> Vec<String> {
    v.status
        .as_ref()
        .and_then(|s| s.discovered_backends.as_ref())
        .map(|l| l.iter().map(|b| b.name.clone()).collect())
        .unwrap_or_default()
}

fn condition<'a>(
    conds: &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    t: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    conds.iter().find(|c| c.type_ == t)
}

const GROUP: &str =
    "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: team}\nspec: {}\n";

fn entry(name: &str, url: &str, group: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServerEntry\nmetadata: {{name: {name}}}\nspec:\n  remoteUrl: {url}\n  transport: streamable-http\n  groupRef: {{name: {group}}}\n{extra}"
    )
}

fn vmcp(name: &str, source: &str) -> String {
    format!(
        "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: {name}}}\nspec:\n  groupRef: {{name: team}}\n  incomingAuth: {{type: anonymous}}\n  outgoingAuth: {{source: {source}}}\n"
    )
}

const CA: &str = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: corp-ca}\ndata: {ca.crt: \"-----BEGIN CERTIFICATE-----\\nAAA\\n-----END CERTIFICATE-----\\n\"}\n";

#[tokio::test]
async fn entries_become_backends_and_follow_changes() {
    let h = start("op-entries").await;
    h.apply(&format!(
        "{GROUP}{CA}{}{}{}{}",
        entry(
            "alpha",
            "https://alpha.example.com/mcp",
            "team",
            "  caBundleRef: {configMapRef: {name: corp-ca}}\n"
        ),
        entry(
            "beta",
            "https://beta.example.com/mcp",
            "team",
            "  headerForward: {addPlaintextHeaders: {X-Tenant: t1}}\n"
        ),
        entry("gamma", "https://gamma.example.com/mcp", "elsewhere", ""),
        vmcp("gw", "inline"),
    ))
    .await;
    let cms: Api<ConfigMap> = h.api();
    let yaml = eventually("ConfigMap with alpha and beta", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config")
            .await
            .filter(|y| y.contains("name: alpha") && y.contains("name: beta"))
    })
    .await;
    let cfg = vmcp_config::Config::from_yaml_str(&yaml).expect("strict parse");
    assert!(cfg.validate().is_ok(), "{:?}", cfg.validate().problems);
    assert_eq!(
        cfg.backend("alpha").unwrap().ca_bundle_path,
        "/etc/toolhive/ca-bundles/alpha/ca.crt"
    );
    assert_eq!(
        cfg.backend("alpha").unwrap().backend_type,
        Some(vmcp_config::BackendType::Entry)
    );
    assert_eq!(
        cfg.backend("beta").unwrap().metadata["vmcp.headers.plaintext.X-Tenant"],
        "t1"
    );
    assert!(
        cfg.backend("gamma").is_none(),
        "entries of other groups are not backends"
    );

    let deploy: Deployment = eventually("Deployment", WAIT, || async {
        h.api::<Deployment>().get_opt("gw").await.ok().flatten()
    })
    .await;
    let pod = deploy.spec.unwrap().template.spec.unwrap();
    assert!(
        pod.volumes
            .unwrap()
            .iter()
            .any(|v| v.name == "ca-bundle-alpha")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("gw-vmcp"));
    let svc = eventually("Service", WAIT, || async {
        h.api::<Service>().get_opt("vmcp-gw").await.ok().flatten()
    })
    .await;
    assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, 4483);
    for (kind, found) in [
        (
            "ServiceAccount",
            h.api::<ServiceAccount>()
                .get_opt("gw-vmcp")
                .await
                .unwrap()
                .is_some(),
        ),
        (
            "Role",
            h.api::<Role>().get_opt("gw-vmcp").await.unwrap().is_some(),
        ),
        (
            "RoleBinding",
            h.api::<RoleBinding>()
                .get_opt("gw-vmcp")
                .await
                .unwrap()
                .is_some(),
        ),
    ] {
        assert!(found, "{kind} gw-vmcp missing");
    }
    let vmcps: Api<VirtualMCPServer> = h.api();
    let v = eventually("status with two backends", WAIT, || async {
        vmcps
            .get("gw")
            .await
            .ok()
            .filter(|v| backend_names(v) == ["alpha", "beta"])
    })
    .await;
    let st = v.status.unwrap();
    assert_eq!(
        st.url.as_deref(),
        Some(format!("http://vmcp-gw.{}.svc.cluster.local:4483", h.ns).as_str())
    );
    // backendCount is the gateway's (docs/STATUS.md): no gateway runs here.
    assert_eq!(st.backend_count, None);
    assert_eq!(condition(&st.conditions, "Valid").unwrap().status, "True");
    assert_eq!(
        condition(&st.conditions, "GroupRefValidated")
            .unwrap()
            .reason,
        "GroupRefValid"
    );
    let b = &st.discovered_backends.unwrap()[0];
    assert_eq!(b.backend_type.as_deref(), Some("MCPServerEntry"));
    assert_eq!(
        b.status,
        Some(vmcp_api::virtual_server::BackendHealth::Unknown)
    );

    // A change to an entry updates the config.
    h.apply(&entry("beta", "https://beta2.example.com/mcp", "team", ""))
        .await;
    eventually("beta's new URL", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config")
            .await
            .filter(|y| y.contains("beta2.example.com") && !y.contains("X-Tenant"))
    })
    .await;

    // An entry in another group changes nothing.
    let cm_rv = cms
        .get("gw-vmcp-config")
        .await
        .unwrap()
        .metadata
        .resource_version;
    let entries: Api<MCPServerEntry> = h.api();
    h.apply(&entry(
        "delta",
        "https://delta.example.com/mcp",
        "elsewhere",
        "",
    ))
    .await;
    eventually("delta validated", WAIT, || async {
        entries
            .get("delta")
            .await
            .ok()
            .and_then(|e| e.status)
            .filter(|s| !s.conditions.is_empty())
    })
    .await;
    assert_eq!(
        cms.get("gw-vmcp-config")
            .await
            .unwrap()
            .metadata
            .resource_version,
        cm_rv
    );

    // Deleting an entry removes it from the config and the status.
    entries
        .delete("alpha", &DeleteParams::default())
        .await
        .unwrap();
    eventually("alpha removed", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config")
            .await
            .filter(|y| !y.contains("name: alpha"))
    })
    .await;
    eventually("status without alpha", WAIT, || async {
        vmcps
            .get("gw")
            .await
            .ok()
            .filter(|v| backend_names(v) == ["beta"])
    })
    .await;
    let deploy = h.api::<Deployment>().get("gw").await.unwrap();
    assert!(
        !deploy
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .volumes
            .unwrap()
            .iter()
            .any(|v| v.name == "ca-bundle-alpha")
    );
    assert_eq!(
        h.ctx.metrics.failures[2].load(Ordering::Relaxed),
        0,
        "no reconcile errors"
    );
    h.stop().await;
}

/// One edit of an entry is one rollout: the gateway keeps the entry's validated backend
/// until the new spec is validated, instead of dropping it and adding it back a moment later.
/// The reconciles are driven by hand so the VirtualMCPServer's certainly runs first.
#[tokio::test]
async fn an_edited_entry_rolls_the_gateway_once() {
    let h = start("op-edit-once").await;
    h.apply(&format!(
        "{GROUP}{}{}{}",
        entry("alpha", "https://alpha.example.com/mcp", "team", ""),
        entry("beta", "https://beta.example.com/mcp", "team", ""),
        vmcp("gw", "inline"),
    ))
    .await;
    let vmcps = h.settled("gw", &["alpha", "beta"]).await;
    let (client, ns, ctx, _env) = h.stop().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let entries: Api<MCPServerEntry> = Api::namespaced(client.clone(), &ns);
    let reconcile_gateway = || async {
        let v = vmcps.get("gw").await.unwrap();
        controllers::virtual_server::reconcile_inner(Arc::new(v), ctx.clone())
            .await
            .unwrap()
    };
    let cm_rv = || async {
        cms.get("gw-vmcp-config")
            .await
            .unwrap()
            .metadata
            .resource_version
    };
    let generation = || async { deployments.get("gw").await.unwrap().metadata.generation };
    let (rv0, gen0) = (cm_rv().await, generation().await);

    apply_yaml(
        &client,
        Some(&ns),
        &entry("alpha", "https://alpha2.example.com/mcp", "team", ""),
    )
    .await;
    // Before validation: nothing written, and a requeue bounds the wait.
    let next = reconcile_gateway().await;
    assert_eq!(
        cm_rv().await,
        rv0,
        "the config changed before alpha was validated"
    );
    assert_eq!(
        generation().await,
        gen0,
        "the pods rolled before alpha was validated"
    );
    assert!(
        next != kube::runtime::controller::Action::await_change()
            && next != kube::runtime::controller::Action::requeue(controllers::RESYNC),
        "a held render is retried within the hold: {next:?}"
    );

    // Validation, then the render: the new URL in one change, one rollout.
    let alpha = entries.get("alpha").await.unwrap();
    controllers::entry::reconcile_inner(Arc::new(alpha), ctx.clone())
        .await
        .unwrap();
    reconcile_gateway().await;
    let yaml = config_yaml(&cms, "gw-vmcp-config").await.unwrap();
    assert!(
        yaml.contains("alpha2.example.com") && yaml.contains("beta.example.com"),
        "{yaml}"
    );
    assert_eq!(
        generation().await,
        gen0.map(|g| g + 1),
        "one edit, one rollout"
    );
}

#[tokio::test]
async fn invalid_entries_are_excluded_with_clear_conditions() {
    let h = start("op-invalid").await;
    h.apply(&format!(
        "{GROUP}{}{}{}{}{}",
        entry("good", "https://good.example.com/mcp", "team", ""),
        entry("private", "http://10.0.0.7/mcp", "team", ""),
        entry(
            "orphan",
            "https://orphan.example.com/mcp",
            "missing-group",
            ""
        ),
        entry(
            "needs-ca",
            "https://ca.example.com/mcp",
            "team",
            "  caBundleRef: {configMapRef: {name: late-ca}}\n"
        ),
        vmcp("gw", "inline"),
    ))
    .await;
    let entries: Api<MCPServerEntry> = h.api();
    let failed = |name: &'static str, cond: &'static str, reason: &'static str| {
        let entries = entries.clone();
        async move {
            eventually(name, WAIT, || async {
                let e = entries.get(name).await.ok()?;
                let s = e.status?;
                let c = condition(&s.conditions, cond)?;
                (s.phase == vmcp_api::entry::MCPServerEntryPhase::Failed
                    && c.status == "False"
                    && c.reason == reason)
                    .then(|| c.message.clone())
            })
            .await
        }
    };
    let m = failed("private", "RemoteURLValidated", "RemoteURLInvalid").await;
    assert!(m.contains("allowPrivateEndpoint"), "{m}");
    let m = failed("orphan", "GroupRefValidated", "GroupRefNotFound").await;
    assert!(m.contains("missing-group"), "{m}");
    let m = failed("needs-ca", "CABundleRefValidated", "CABundleRefNotFound").await;
    assert!(m.contains("late-ca"), "{m}");

    let vmcps: Api<VirtualMCPServer> = h.api();
    let v = eventually("only the good entry", WAIT, || async {
        vmcps
            .get("gw")
            .await
            .ok()
            .filter(|v| backend_names(v) == ["good"])
    })
    .await;
    let st = v.status.unwrap();
    let resolved = condition(&st.conditions, "BackendsResolved").unwrap();
    assert_eq!(resolved.status, "False");
    assert!(
        resolved.message.contains("MCPServerEntry private")
            && resolved.message.contains("MCPServerEntry needs-ca"),
        "{}",
        resolved.message
    );
    assert!(!resolved.message.contains("orphan"));

    // Creating the missing CA ConfigMap re-validates the entry and adds the backend.
    h.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late-ca}\ndata: {ca.crt: x}\n")
        .await;
    let cms: Api<ConfigMap> = h.api();
    eventually("needs-ca becomes a backend", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config").await.filter(|y| {
            y.contains("name: needs-ca") && y.contains("/etc/toolhive/ca-bundles/needs-ca/ca.crt")
        })
    })
    .await;
    h.stop().await;
}

async fn versions(client: &Client, ns: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    macro_rules! rv {
        ($k:ty, $name:expr) => {{
            let api: Api<$k> = Api::namespaced(client.clone(), ns);
            let rv = api
                .get_opt($name)
                .await
                .unwrap()
                .and_then(|o| o.meta().resource_version.clone());
            out.insert(format!("{}/{}", <$k as Resource>::kind(&()), $name), rv);
        }};
    }
    rv!(ConfigMap, "gw-vmcp-config");
    rv!(Deployment, "gw");
    rv!(Service, "vmcp-gw");
    rv!(ServiceAccount, "gw-vmcp");
    rv!(Role, "gw-vmcp");
    rv!(RoleBinding, "gw-vmcp");
    rv!(VirtualMCPServer, "gw");
    rv!(MCPGroup, "team");
    rv!(MCPServerEntry, "alpha");
    rv!(MCPServerEntry, "beta");
    out
}

#[tokio::test]
async fn reconcile_of_an_unchanged_world_writes_nothing() {
    let h = start("op-nowrite").await;
    h.apply(&format!(
        "{GROUP}{CA}{}{}{}",
        entry(
            "alpha",
            "https://alpha.example.com/mcp",
            "team",
            "  caBundleRef: {configMapRef: {name: corp-ca}}\n"
        ),
        entry("beta", "https://beta.example.com/mcp", "team", ""),
        vmcp("gw", "inline"),
    ))
    .await;
    h.settled("gw", &["alpha", "beta"]).await;
    let (client, ns, ctx, _env) = h.stop().await;

    // Drive every reconcile by hand, twice: the first may still catch up, the second must not write.
    let reconcile_all = || async {
        let group = Api::<MCPGroup>::namespaced(client.clone(), &ns)
            .get("team")
            .await
            .unwrap();
        controllers::group::reconcile_inner(Arc::new(group), ctx.clone())
            .await
            .unwrap();
        for e in ["alpha", "beta"] {
            let entry = Api::<MCPServerEntry>::namespaced(client.clone(), &ns)
                .get(e)
                .await
                .unwrap();
            controllers::entry::reconcile_inner(Arc::new(entry), ctx.clone())
                .await
                .unwrap();
        }
        let v = Api::<VirtualMCPServer>::namespaced(client.clone(), &ns)
            .get("gw")
            .await
            .unwrap();
        controllers::virtual_server::reconcile_inner(Arc::new(v), ctx.clone())
            .await
            .unwrap();
    };
    reconcile_all().await;
    let before = versions(&client, &ns).await;
    assert!(before.values().all(Option::is_some), "{before:?}");
    let changes = ctx.applier.stats.changes.load(Ordering::Relaxed);
    reconcile_all().await;
    let after = versions(&client, &ns).await;
    assert_eq!(
        before, after,
        "a reconcile of an unchanged world changed objects"
    );
    assert_eq!(ctx.applier.stats.changes.load(Ordering::Relaxed), changes);
}

#[tokio::test]
async fn generated_service_account_reads_entries_but_cannot_write_them() {
    let h = start("op-rbac").await;
    h.apply(&format!(
        "{GROUP}{}{}",
        entry("alpha", "https://alpha.example.com/mcp", "team", ""),
        vmcp("gw", "discovered")
    ))
    .await;
    eventually("RoleBinding", WAIT, || async {
        h.api::<RoleBinding>()
            .get_opt("gw-vmcp")
            .await
            .ok()
            .flatten()
    })
    .await;
    let cms: Api<ConfigMap> = h.api();
    let yaml = eventually("dynamic config", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config").await
    })
    .await;
    let cfg = vmcp_config::Config::from_yaml_str(&yaml).unwrap();
    assert!(cfg.backends.is_empty(), "dynamic mode lists no backends");

    let sa = h
        .env
        .service_account_client(&h.ns, "gw-vmcp")
        .await
        .expect("SA client");
    let entries: Api<MCPServerEntry> = Api::namespaced(sa.clone(), &h.ns);
    vmcp_testenv::wait_for_list_access(&entries, true, WAIT)
        .await
        .expect("SA can list entries");
    let attempt: MCPServerEntry = serde_yaml::from_str(
        &entry("sneaky", "https://x.example.com/mcp", "team", "").replace("---\n", ""),
    )
    .unwrap();
    match entries.create(&PostParams::default(), &attempt).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("the gateway's account must not create entries: {other:?}"),
    }
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(sa, &h.ns);
    assert!(
        vmcps.get("gw").await.is_ok(),
        "it may read its own VirtualMCPServer"
    );
    h.stop().await;
}

#[tokio::test]
async fn bad_input_ends_in_conditions_without_retries() {
    let h = start("op-bad").await;
    let bad = vmcp("gw", "inline").replace(
        "outgoingAuth: {source: inline}",
        "outgoingAuth: {source: inline}\n  config: {optimizer: {maxToolsToReturn: 3}, bogusKey: 1}",
    );
    h.apply(&format!(
        "{GROUP}{}{bad}",
        entry("alpha", "https://alpha.example.com/mcp", "team", "")
    ))
    .await;
    let vmcps: Api<VirtualMCPServer> = h.api();
    let msg = eventually("Valid=False", WAIT, || async {
        let v = vmcps.get("gw").await.ok()?;
        let st = v.status?;
        let c = condition(&st.conditions, "Valid")?;
        (c.status == "False").then(|| c.message.clone())
    })
    .await;
    assert!(
        msg.contains("spec.config.optimizer") && msg.contains("spec.config.bogusKey"),
        "{msg}"
    );
    assert!(
        h.api::<ConfigMap>()
            .get_opt("gw-vmcp-config")
            .await
            .unwrap()
            .is_none(),
        "nothing is deployed"
    );

    // A VirtualMCPServer naming a group that does not exist waits with a condition.
    h.apply(&vmcp("lonely", "discovered").replace("name: team", "name: nobody"))
        .await;
    eventually("GroupRefNotFound", WAIT, || async {
        let st = vmcps.get("lonely").await.ok()?.status?;
        (condition(&st.conditions, "GroupRefValidated")?.reason == "GroupRefNotFound").then_some(())
    })
    .await;
    // A pod template the API server refuses (a quantity that does not parse) is a condition
    // naming the object and the server's reason, not a write retried forever.
    let bad_pod = vmcp("podbad", "discovered").replace(
        "outgoingAuth: {source: discovered}",
        "outgoingAuth: {source: discovered}\n  podTemplateSpec:\n    spec:\n      containers:\n      - name: vmcp\n        resources: {limits: {cpu: lots}}",
    );
    h.apply(&bad_pod).await;
    let msg = eventually("the rejected Deployment as a condition", WAIT, || async {
        let st = vmcps.get("podbad").await.ok()?.status?;
        let c = condition(&st.conditions, "Valid")?;
        (c.status == "False").then(|| c.message.clone())
    })
    .await;
    assert!(
        msg.contains("the API server rejected Deployment")
            && msg.contains("podbad")
            && msg.contains("quantities must match"),
        "{msg}"
    );
    // The status write itself triggers one more reconcile, which ends the same way; after
    // that, nothing: no retries with backoff.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = h.ctx.applier.stats.applies.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = h.ctx.applier.stats.applies.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "no retry loop: {} applies in 5 s",
        after - before
    );
    assert_eq!(
        h.ctx.metrics.failures[2].load(Ordering::Relaxed),
        0,
        "conditions are not errors"
    );
    h.stop().await;
}

#[tokio::test]
async fn leader_election_hands_over_the_lease() {
    use vmcp_operator::leader::{Elector, LeaseConfig};
    let env = TestEnv::shared().await.unwrap();
    let ns = env.namespace("op-lease").await.unwrap();
    let a = Elector::new(env.client().unwrap(), LeaseConfig::new(&ns, "lease", "a"));
    let b = Elector::new(env.client().unwrap(), LeaseConfig::new(&ns, "lease", "b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "a live lease is not taken over"
    );
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");
    a.release().await;
    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "a released lease is taken at once"
    );
    assert!(!a.try_acquire_or_renew().await.unwrap());
}

/// A holder that can no longer renew (its Role lost `update` on leases) gives leadership up
/// while its lease is still valid, so no standby can have taken over yet: never two leaders.
#[tokio::test]
async fn a_holder_that_cannot_renew_steps_down_before_its_lease_expires() {
    use k8s_openapi::api::coordination::v1::Lease;
    use vmcp_operator::leader::{Elector, LeaseConfig};
    use vmcp_testenv::rule;
    let env = TestEnv::shared().await.unwrap();
    let ns = env.namespace("op-lease-lost").await.unwrap();
    let leases = |verbs: &[&str]| vec![rule("coordination.k8s.io", &["leases"], verbs)];
    env.bind_role(
        &ns,
        "holder",
        "holder",
        leases(&["get", "create", "update"]),
    )
    .await
    .unwrap();
    let sa = env.service_account_client(&ns, "holder").await.unwrap();
    let mut cfg = LeaseConfig::new(&ns, "lease", "holder");
    cfg.duration = Duration::from_secs(8);
    cfg.renew_every = Duration::from_millis(500);
    cfg.renew_deadline = Duration::from_secs(4);
    cfg.retry_every = Duration::from_millis(250);
    let holder = Elector::new(sa, cfg.clone());
    eventually("the holder's Role in effect", WAIT, || async {
        holder
            .try_acquire_or_renew()
            .await
            .ok()
            .filter(|held| *held)
    })
    .await;
    let leases_api = Api::<Lease>::namespaced(env.client().unwrap(), &ns);
    let renew_time = || async {
        leases_api
            .get("lease")
            .await
            .ok()?
            .spec?
            .renew_time
            .map(|t| t.0)
    };
    let mut seen = renew_time()
        .await
        .expect("the acquired lease has a renewTime");
    let held = tokio::spawn(async move { holder.hold(std::future::pending()).await });
    // Renewing while allowed: two renewals seen on the Lease, and still holding.
    for _ in 0..2 {
        let before = seen;
        seen = eventually("a renewal of the lease", WAIT, || async {
            renew_time().await.filter(|t| *t > before)
        })
        .await;
    }
    assert!(!held.is_finished(), "renewing while allowed");

    env.bind_role(&ns, "holder", "holder", leases(&["get"]))
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .expect("hold gives up")
        .unwrap();
    let stepped_down = k8s_openapi::jiff::Timestamp::now();
    assert!(outcome.is_err(), "leadership lost is an error: {outcome:?}");
    let lease = Api::<Lease>::namespaced(env.client().unwrap(), &ns)
        .get("lease")
        .await
        .unwrap();
    let renewed = lease.spec.unwrap().renew_time.unwrap().0;
    let expires = renewed
        .checked_add(k8s_openapi::jiff::SignedDuration::try_from(cfg.duration).unwrap())
        .unwrap();
    assert!(
        stepped_down < expires,
        "stepped down at {stepped_down}, the lease (renewed {renewed}) was valid until {expires}"
    );
}

#[tokio::test]
async fn deleting_a_group_invalidates_its_members() {
    let h = start("op-groupdel").await;
    // An MCPServer and an MCPRemoteProxy with a condition of their own controller's, which
    // must survive the group controller's writes.
    let workloads = "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServer\nmetadata: {name: fetch}\nspec: {image: fetch, groupRef: {name: team}}\nstatus:\n  url: http://mcp-fetch-proxy:8080/mcp\n  conditions: [{type: Ready, status: 'True', reason: Running, message: running, lastTransitionTime: '2026-01-01T00:00:00Z'}]\n---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPRemoteProxy\nmetadata: {name: jira}\nspec: {remoteUrl: 'https://jira.example.com/mcp', groupRef: {name: team}}\n";
    h.apply(&format!(
        "{GROUP}{}{}{workloads}",
        entry("alpha", "https://alpha.example.com/mcp", "team", ""),
        vmcp("gw", "inline")
    ))
    .await;
    let servers: Api<vmcp_api::MCPServer> = h.api();
    let proxies: Api<vmcp_api::MCPRemoteProxy> = h.api();
    let groups: Api<MCPGroup> = h.api();
    eventually("the group holds its finalizer", WAIT, || async {
        let g = groups.get("team").await.ok()?;
        g.metadata
            .finalizers?
            .contains(&vmcp_operator::controllers::group::FINALIZER.to_string())
            .then_some(())
    })
    .await;
    let entries: Api<MCPServerEntry> = h.api();
    let vmcps: Api<VirtualMCPServer> = h.api();
    let group_ref = |conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
        condition(conds, "GroupRefValidated")
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    eventually("entry and server on a valid group", WAIT, || async {
        let e = entries.get("alpha").await.ok()?.status?;
        let v = vmcps.get("gw").await.ok()?.status?;
        (group_ref(&e.conditions)?.0 == "True" && group_ref(&v.conditions)?.0 == "True")
            .then_some(())
    })
    .await;

    h.api::<MCPGroup>()
        .delete("team", &DeleteParams::default())
        .await
        .expect("delete group");
    let (e, v) = eventually("GroupRefNotFound on entry and server", WAIT, || async {
        let e = group_ref(&entries.get("alpha").await.ok()?.status?.conditions)?;
        let v = group_ref(&vmcps.get("gw").await.ok()?.status?.conditions)?;
        (e.1 == "GroupRefNotFound" && v.1 == "GroupRefNotFound").then_some((e, v))
    })
    .await;
    assert_eq!(e.0, "False");
    assert_eq!(v.0, "False");
    assert!(
        e.2.contains("team"),
        "entry message names the group: {}",
        e.2
    );
    assert!(
        v.2.contains("team"),
        "server message names the group: {}",
        v.2
    );
    let phase = entries.get("alpha").await.unwrap().status.unwrap().phase;
    assert_eq!(format!("{phase:?}"), "Failed");
    // No controller of ours validates MCPServers and MCPRemoteProxies: the group controller
    // marks them before releasing its finalizer (entries and servers may see the deleting
    // group as gone a moment earlier).
    let (s, p) = eventually("the MCPServer and MCPRemoteProxy marked", WAIT, || async {
        let s = group_ref(&servers.get("fetch").await.ok()?.status?.conditions)?;
        let p = group_ref(&proxies.get("jira").await.ok()?.status?.conditions)?;
        (s.1 == "GroupRefNotFound" && p.1 == "GroupRefNotFound").then_some((s, p))
    })
    .await;
    for (kind, c) in [("MCPServer", &s), ("MCPRemoteProxy", &p)] {
        assert_eq!(
            (c.0.as_str(), c.1.as_str(), c.2.as_str()),
            (
                "False",
                "GroupRefNotFound",
                "Referenced MCPGroup team is being deleted"
            ),
            "{kind}"
        );
    }
    let fetch = servers.get("fetch").await.unwrap().status.unwrap();
    assert!(
        condition(&fetch.conditions, "Ready").is_some(),
        "the server's own conditions are kept: {:?}",
        fetch.conditions
    );
    // The finalizer is released right after the members are marked.
    eventually_gone("the group gone", WAIT, &groups, "team").await;

    // Re-creating the group heals all four.
    h.apply(GROUP).await;
    eventually("GroupRefValidated True again", WAIT, || async {
        let e = group_ref(&entries.get("alpha").await.ok()?.status?.conditions)?;
        let v = group_ref(&vmcps.get("gw").await.ok()?.status?.conditions)?;
        let s = group_ref(&servers.get("fetch").await.ok()?.status?.conditions)?;
        let p = group_ref(&proxies.get("jira").await.ok()?.status?.conditions)?;
        (e.0 == "True" && v.0 == "True" && s.0 == "True" && p.0 == "True").then_some(())
    })
    .await;
    h.stop().await;
}

/// An object that passed the CRD schema but does not decode into the typed struct: the API
/// server does not range-check `format: int32`, so `status.entryCount: 2^40` is stored. Without
/// `DeserializeGuard` every MCPGroup watch (all three controllers watch groups) fails its
/// list and nothing on any group reconciles; with it only the bad object is skipped.
#[tokio::test]
async fn an_undecodable_object_does_not_stall_the_controllers() {
    let h = start("op-undecodable").await;
    let bad = "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: broken}\nspec: {}\nstatus: {entryCount: 1099511627776}\n";
    // The object is created before its status is written, so the group controller may
    // decode and reconcile it in between, overwriting the status: write it until it sticks
    // (once stored, the controller cannot decode the object and leaves it alone).
    let groups = h
        .dynamic(
            &serde_json::json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPGroup"}),
        )
        .await;
    let mut stored = false;
    for _ in 0..50 {
        h.apply(bad).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let raw = groups
            .get("broken")
            .await
            .expect("the API server stores it");
        if raw.data["status"]["entryCount"] == 1099511627776u64 {
            stored = true;
            break;
        }
    }
    assert!(stored, "the out-of-range status was never stored");
    assert!(
        h.api::<MCPGroup>().get("broken").await.is_err(),
        "the typed struct cannot decode it"
    );

    h.apply(&format!(
        "{GROUP}{}{}",
        entry("alpha", "https://alpha.example.com/mcp", "team", ""),
        vmcp("gw", "inline")
    ))
    .await;
    let vmcps: Api<VirtualMCPServer> = h.api();
    eventually("the good group's server deploys", WAIT, || async {
        let v = vmcps.get("gw").await.ok()?;
        (backend_names(&v) == ["alpha"]).then_some(())
    })
    .await;
    assert!(config_yaml(&h.api(), "gw-vmcp-config").await.is_some());
    h.stop().await;
}

/// The authorization policies' ConfigMap is watched: a VirtualMCPServer that names a missing
/// one waits with `AuthzConfigMapNotFound`, garbage in it is `AuthzConfigMapInvalid`, and
/// each fix or change re-renders the gateway config with the policies, without a resync.
#[tokio::test]
async fn authz_config_map_is_watched_and_each_change_re_renders() {
    let h = start("op-authz").await;
    let gw = vmcp("gw", "discovered").replace(
        "incomingAuth: {type: anonymous}",
        "incomingAuth: {type: anonymous, authzConfig: {type: configMap, configMap: {name: policies}}}",
    );
    h.apply(&format!("{GROUP}{gw}")).await;
    let vmcps: Api<VirtualMCPServer> = h.api();
    let auth_condition = |reason: &'static str| {
        let vmcps = vmcps.clone();
        async move {
            eventually(reason, WAIT, || async {
                let st = vmcps.get("gw").await.ok()?.status?;
                let c = condition(&st.conditions, "AuthConfigured")?;
                (c.reason == reason).then(|| c.message.clone())
            })
            .await
        }
    };
    let m = auth_condition("AuthzConfigMapNotFound").await;
    assert!(
        m.starts_with("spec.incomingAuth.authzConfig.configMap: ConfigMap ")
            && m.contains("/policies not found"),
        "{m}"
    );
    let cms: Api<ConfigMap> = h.api();
    assert!(
        config_yaml(&cms, "gw-vmcp-config").await.is_none(),
        "fail closed"
    );
    // Let the reconciles that writing the status caused die down, so what follows can only
    // be triggered by the ConfigMap watch (the resync is ten minutes away).
    for _ in 0..10 {
        let before = h.ctx.metrics.reconciles[2].load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if h.ctx.metrics.reconciles[2].load(Ordering::Relaxed) == before {
            break;
        }
    }

    let cm = |policy: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: policies}}\ndata:\n  authz.json: '{{\"version\": \"1.0\", \"type\": \"cedarv1\", \"cedar\": {{\"policies\": [\"{policy}\"]}}}}'\n"
        )
    };
    h.apply(&cm("permit(principal, action, resource")).await;
    let m = auth_condition("AuthzConfigMapInvalid").await;
    assert!(m.contains("cedar.policies[0]: "), "{m}");

    h.apply(&cm("permit(principal, action, resource);")).await;
    eventually("the policy is rendered", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config")
            .await
            .filter(|y| y.contains("permit(principal, action, resource);"))
    })
    .await;
    auth_condition("AuthValid").await;
    h.apply(&cm("forbid(principal, action, resource);")).await;
    eventually("the changed policy is rendered", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config").await.filter(|y| {
            y.contains("forbid(principal, action, resource);") && !y.contains("permit(")
        })
    })
    .await;
    h.stop().await;
}

/// Which changes reconcile a VirtualMCPServer: a gateway's periodic health report that only
/// moves `lastHealthCheck` does not (every 30 s per replica it would be a full reconcile),
/// a change of reported health does (the phase depends on it), a member of another group
/// does not, and an owned object changed behind the operator's back is put back.
#[tokio::test]
async fn only_what_a_reconcile_reads_triggers_one() {
    let h = start("op-triggers").await;
    h.apply(&format!(
        "{GROUP}{}{}{}",
        entry("alpha", "https://alpha.example.com/mcp", "team", ""),
        entry("elsewhere", "https://other.example.com/mcp", "other", ""),
        vmcp("gw", "inline"),
    ))
    .await;
    let vmcps = h.settled("gw", &["alpha"]).await;
    let reconciles = || h.ctx.metrics.reconciles[2].load(Ordering::Relaxed);
    let settle = || tokio::time::sleep(Duration::from_secs(2));
    settle().await;

    let report = |health: &str, at: &str| {
        serde_json::json!({
            "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
            "metadata": {"name": "gw"},
            "status": {"discoveredBackends": [
                {"name": "alpha", "status": health, "lastHealthCheck": at}
            ]}
        })
    };
    let gateway = kube::api::PatchParams::apply("vmcp-gateway").force();
    let patch = |v: serde_json::Value| {
        let vmcps = vmcps.clone();
        let gateway = gateway.clone();
        async move {
            vmcps
                .patch_status("gw", &gateway, &kube::api::Patch::Apply(&v))
                .await
                .unwrap();
        }
    };
    patch(report("ready", "2026-12-01T10:00:00Z")).await;
    settle().await;
    let before = reconciles();
    patch(report("ready", "2026-12-01T10:00:30Z")).await;
    patch(report("ready", "2026-12-01T10:01:00Z")).await;
    settle().await;
    assert_eq!(
        reconciles(),
        before,
        "a lastHealthCheck-only report reconciles nothing"
    );

    patch(report("unavailable", "2026-12-01T10:01:30Z")).await;
    eventually("a health change reconciles", WAIT, || async {
        (reconciles() > before).then_some(())
    })
    .await;
    settle().await;

    let before = reconciles();
    let other: Api<MCPServerEntry> = h.api();
    other
        .patch(
            "elsewhere",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"spec": {"remoteUrl": "https://moved.example.com/mcp"}}),
            ),
        )
        .await
        .unwrap();
    settle().await;
    assert_eq!(
        reconciles(),
        before,
        "an entry of another group reconciles nothing"
    );

    // Owned objects: a Service deleted and a Deployment edited by hand are restored.
    let services: Api<Service> = h.api();
    services
        .delete("vmcp-gw", &DeleteParams::default())
        .await
        .unwrap();
    let deployments: Api<Deployment> = h.api();
    deployments
        .patch(
            "gw",
            &kube::api::PatchParams::apply("someone-else").force(),
            &kube::api::Patch::Apply(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "gw"},
                "spec": {"template": {"spec": {"containers": [{"name": "vmcp", "image": "evil:latest"}]}}}
            })),
        )
        .await
        .unwrap();
    eventually("the Service recreated", WAIT, || async {
        services.get_opt("vmcp-gw").await.unwrap().map(|_| ())
    })
    .await;
    eventually("the Deployment's image restored", WAIT, || async {
        let d = deployments.get("gw").await.unwrap();
        let image = d.spec?.template.spec?.containers[0].image.clone()?;
        (image != "evil:latest").then_some(())
    })
    .await;
    h.stop().await;
}

/// Watches on what a render reads, end to end: an MCPServer becomes a backend when its
/// controller publishes `status.url`; an entry whose auth config's Secret is missing is left
/// out and comes in once the Secret is created (the entry controller never looks at that
/// Secret: only the VirtualMCPServer's dependency on it reacts); a changed auth config is
/// re-rendered into the config.
#[tokio::test]
async fn members_status_urls_and_auth_secrets_are_followed() {
    let h = start("op-follow").await;
    let auth = "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPExternalAuthConfig\nmetadata: {name: key}\nspec:\n  type: headerInjection\n  headerInjection: {headerName: X-Key, valueSecretRef: {name: api-key, key: value}}\n";
    let server = "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServer\nmetadata: {name: fetch}\nspec: {image: fetch, transport: streamable-http, groupRef: {name: team}}\n";
    h.apply(&format!(
        "{GROUP}{auth}{server}{}{}",
        entry(
            "alpha",
            "https://alpha.example.com/mcp",
            "team",
            "  externalAuthConfigRef: {name: key}\n"
        ),
        vmcp("gw", "inline"),
    ))
    .await;
    let vmcps: Api<VirtualMCPServer> = h.api();
    let auth_message = eventually("alpha left out for the missing Secret", WAIT, || async {
        let st = vmcps.get("gw").await.ok()?.status?;
        let c = condition(&st.conditions, "AuthConfigured")?;
        (c.status == "False").then(|| c.message.clone())
    })
    .await;
    assert!(
        auth_message.contains("backend alpha excluded") && auth_message.contains("api-key"),
        "{auth_message}"
    );

    // The Secret appears: alpha is served (no other event touches the entry or the server).
    h.apply(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: api-key}\nstringData: {value: s3cr3t}\n",
    )
    .await;
    let cms: Api<ConfigMap> = h.api();
    let yaml = eventually(
        "alpha in the config once its Secret exists",
        WAIT,
        || async {
            config_yaml(&cms, "gw-vmcp-config")
                .await
                .filter(|y| y.contains("name: alpha"))
        },
    )
    .await;
    assert!(
        !yaml.contains("s3cr3t"),
        "secret values never reach the ConfigMap"
    );
    assert!(
        !yaml.contains("name: fetch"),
        "no status.url yet: not a backend"
    );

    // The MCPServer's own controller (ToolHive's) publishes its URL.
    let servers: Api<vmcp_api::MCPServer> = h.api();
    servers
        .patch_status(
            "fetch",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"status": {"url": "http://mcp-fetch-proxy.ns.svc.cluster.local:8080/mcp", "phase": "Ready"}})),
        )
        .await
        .unwrap();
    eventually("fetch in the config once it has a URL", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config")
            .await
            .filter(|y| y.contains("name: fetch") && y.contains("mcp-fetch-proxy"))
    })
    .await;

    // The auth config changes: the new header name is rendered.
    let auths: Api<vmcp_api::MCPExternalAuthConfig> = h.api();
    auths
        .patch(
            "key",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"spec": {"headerInjection": {"headerName": "X-Other-Key"}}}),
            ),
        )
        .await
        .unwrap();
    eventually("the changed auth config rendered", WAIT, || async {
        config_yaml(&cms, "gw-vmcp-config")
            .await
            .filter(|y| y.contains("headerName: X-Other-Key"))
    })
    .await;
    h.stop().await;
}
