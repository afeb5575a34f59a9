//! Unit tests of the pure render step: ConfigMap, CA volumes, headers, RBAC, checksum,
//! static and dynamic modes, unsupported features.

mod common;

use common::{GROUP, cond, config_roundtrip, render_yaml, world_from_yaml};
use k8s_openapi::api::core::v1::EnvVar;
use vmcp_config::{BackendType, StrategyType, Transport};
use vmcp_core::world::{ObjKey, kinds};
use vmcp_operator::names::CONFIG_CHECKSUM_ANNOTATION;
use vmcp_operator::render::{Mode, Settings, rbac, render_virtual_server};

const SECRET_VALUE: &str = "s3cr3t-value-never-rendered";

fn mixed_world(source: &str) -> String {
    format!(
        r#"{GROUP}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata: {{name: fetch, namespace: default}}
spec: {{image: fetch, transport: sse, groupRef: {{name: team}}}}
status: {{url: "http://mcp-fetch-proxy.default.svc.cluster.local:8080/sse#fetch", phase: Ready}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata: {{name: pending, namespace: default}}
spec: {{image: x, groupRef: {{name: team}}}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPRemoteProxy
metadata: {{name: jira, namespace: default}}
spec: {{remoteUrl: "https://jira.example.com/mcp", groupRef: {{name: team}}}}
status: {{url: "http://mcp-jira-remote-proxy.default.svc.cluster.local:8080"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: corp-ca, namespace: default}}
data: {{ca.crt: "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: ctx7, namespace: default}}
stringData: {{client-secret: {SECRET_VALUE}, api-key: {SECRET_VALUE}}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPExternalAuthConfig
metadata: {{name: ctx7-exchange, namespace: default}}
spec:
  type: tokenExchange
  tokenExchange:
    tokenUrl: https://idp.example.com/token
    clientId: vmcp
    clientSecretRef: {{name: ctx7, key: client-secret}}
    audience: context7
    subjectTokenType: access_token
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServerEntry
metadata: {{name: context7, namespace: default}}
spec:
  remoteUrl: https://mcp.context7.com/mcp
  transport: streamable-http
  groupRef: {{name: team}}
  externalAuthConfigRef: {{name: ctx7-exchange}}
  caBundleRef: {{configMapRef: {{name: corp-ca}}}}
  headerForward:
    addPlaintextHeaders: {{X-Tenant-ID: tenant-123}}
    addHeadersFromSecret:
      - headerName: X-API-Key
        valueSecretRef: {{name: ctx7, key: api-key}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServerEntry
metadata: {{name: other-group, namespace: default}}
spec: {{remoteUrl: "https://other.example.com/mcp", transport: sse, groupRef: {{name: elsewhere}}}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {{name: eng, namespace: default, uid: 0b0f6f7e-1111-2222-3333-444455556666}}
spec:
  groupRef: {{name: team}}
  incomingAuth: {{type: anonymous}}
  outgoingAuth: {{source: {source}}}
"#
    )
}

fn env<'a>(r: &'a vmcp_operator::render::Rendered, name: &str) -> Option<&'a EnvVar> {
    let d = &r.objects.as_ref()?.deployment;
    d.spec.as_ref()?.template.spec.as_ref()?.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
}

#[test]
fn static_mode_lists_server_proxy_and_entry() {
    let (r, _) = render_yaml(&mixed_world("inline"));
    let cfg = config_roundtrip(&r);
    let names: Vec<&str> = cfg.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        ["context7", "fetch", "jira"],
        "sorted, pending server skipped, other group ignored"
    );

    let ctx7 = cfg.backend("context7").unwrap();
    assert_eq!(ctx7.url, "https://mcp.context7.com/mcp");
    assert_eq!(ctx7.transport, Some(Transport::StreamableHttp));
    assert_eq!(ctx7.backend_type, Some(BackendType::Entry));
    assert_eq!(
        ctx7.ca_bundle_path,
        "/etc/toolhive/ca-bundles/context7/ca.crt"
    );
    assert_eq!(
        ctx7.metadata["vmcp.headers.plaintext.X-Tenant-ID"],
        "tenant-123"
    );
    assert_eq!(
        ctx7.metadata["vmcp.headers.env.X-API-Key"],
        "VMCP_HEADER_CONTEXT7_X_API_KEY"
    );
    assert_eq!(ctx7.metadata["group"], "team");

    let fetch = cfg.backend("fetch").unwrap();
    assert_eq!(
        fetch.transport,
        Some(Transport::Sse),
        "SSE servers stay SSE"
    );
    assert_eq!(fetch.backend_type, None);
    assert!(fetch.ca_bundle_path.is_empty());
    assert_eq!(
        cfg.backend("jira").unwrap().url,
        "http://mcp-jira-remote-proxy.default.svc.cluster.local:8080"
    );

    let out = cfg.outgoing_auth.as_ref().unwrap();
    let te = &out.backends["context7"];
    assert_eq!(te.strategy_type, Some(StrategyType::TokenExchange));
    let te = te.token_exchange.as_ref().unwrap();
    assert_eq!(
        te.client_secret_env,
        "TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_CTX7_EXCHANGE"
    );
    assert_eq!(
        te.subject_token_type,
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(te.client_secret.is_empty());

    // Secrets reach the pod through secretKeyRef only.
    let e =
        env(&r, "TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_CTX7_EXCHANGE").expect("client secret env");
    let sk = e
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (sk.name.as_str(), sk.key.as_str()),
        ("ctx7", "client-secret")
    );
    let e = env(&r, "VMCP_HEADER_CONTEXT7_X_API_KEY").expect("header env");
    assert_eq!(
        e.value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap()
            .key,
        "api-key"
    );
    let everything = serde_json::to_string(&r.objects.as_ref().unwrap().to_values()).unwrap();
    assert!(
        !everything.contains(SECRET_VALUE),
        "a secret value leaked into rendered objects"
    );

    // Status lists the usable backends with their kinds and auth refs, and says why `pending` is out.
    let b: Vec<(&str, &str)> = r
        .status
        .backends
        .iter()
        .map(|b| (b.name.as_str(), b.kind.kind()))
        .collect();
    assert_eq!(
        b,
        [
            ("context7", "MCPServerEntry"),
            ("fetch", "MCPServer"),
            ("jira", "MCPRemoteProxy")
        ]
    );
    assert_eq!(
        r.status.backends[0].auth_config_ref.as_deref(),
        Some("ctx7-exchange")
    );
    let resolved = cond(&r, "BackendsResolved");
    assert!(
        !resolved.ok && resolved.message.contains("MCPServer pending"),
        "{resolved:?}"
    );
    assert!(
        cond(&r, "Valid").ok && cond(&r, "GroupRefValidated").ok && cond(&r, "AuthConfigured").ok
    );
}

#[test]
fn dynamic_mode_configmap_has_no_backends_and_mounts_nothing_per_entry() {
    let (r, _) = render_yaml(&mixed_world("discovered"));
    let cfg = config_roundtrip(&r);
    assert!(cfg.backends.is_empty());
    assert_eq!(
        cfg.outgoing_auth.as_ref().unwrap().source,
        vmcp_config::AuthSource::Discovered
    );
    assert_eq!(r.status.backends.len(), 3);
    let objs = r.objects.as_ref().unwrap();
    let pod = objs
        .deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    // The gateway reads CA bundles and header secrets through the API in dynamic mode:
    // nothing per entry is mounted, so a change of members never rolls its pods.
    assert!(
        !pod.volumes
            .iter()
            .flatten()
            .any(|v| v.name == "ca-bundle-context7"),
        "{:?}",
        pod.volumes
    );
    assert!(env(&r, "VMCP_HEADER_CONTEXT7_X_API_KEY").is_none());
    let rules = objs.role.as_ref().unwrap().rules.as_ref().unwrap();
    assert!(rules.iter().any(|r| {
        r.resources
            .as_ref()
            .unwrap()
            .contains(&"mcpserverentries".to_string())
    }));
}

#[test]
fn deployment_service_and_names() {
    let (r, _) = render_yaml(&mixed_world("inline"));
    let objs = r.objects.as_ref().unwrap();
    assert_eq!(
        objs.config_map.metadata.name.as_deref(),
        Some("eng-vmcp-config")
    );
    assert_eq!(objs.service.metadata.name.as_deref(), Some("vmcp-eng"));
    assert_eq!(
        objs.service_account
            .as_ref()
            .unwrap()
            .metadata
            .name
            .as_deref(),
        Some("eng-vmcp")
    );
    let owner = &objs.deployment.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("VirtualMCPServer", Some(true))
    );
    let svc = objs.service.spec.as_ref().unwrap();
    assert_eq!(svc.ports.as_ref().unwrap()[0].port, 4483);
    assert_eq!(svc.session_affinity.as_deref(), Some("ClientIP"));
    let pod = objs
        .deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let c = &pod.containers[0];
    assert_eq!(c.name, "vmcp");
    assert_eq!(
        c.image.as_deref(),
        Some(Settings::default().gateway_image.as_str())
    );
    assert_eq!(
        c.args.as_ref().unwrap(),
        &[
            "serve",
            "--config=/etc/vmcp-config/config.yaml",
            "--host=0.0.0.0",
            "--port=4483",
            "--allowed-hosts=vmcp-eng,vmcp-eng.default,vmcp-eng.default.svc,vmcp-eng.default.svc.cluster.local"
        ]
    );
    assert_eq!(env(&r, "VMCP_NAME").unwrap().value.as_deref(), Some("eng"));
    assert_eq!(
        env(&r, "VMCP_NAMESPACE").unwrap().value.as_deref(),
        Some("default")
    );
    let mounts = c.volume_mounts.as_ref().unwrap();
    let ca = mounts
        .iter()
        .find(|m| m.name == "ca-bundle-context7")
        .unwrap();
    assert_eq!(ca.mount_path, "/etc/toolhive/ca-bundles/context7");
    assert_eq!(ca.read_only, Some(true));
    assert!(mounts.iter().any(|m| m.mount_path == "/etc/vmcp-config"));
    assert_eq!(
        c.liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/health")
    );
    assert_eq!(
        c.readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/readyz")
    );
    assert_eq!(
        r.status.url,
        "http://vmcp-eng.default.svc.cluster.local:4483"
    );
}

#[test]
fn ca_volumes_long_names_and_custom_keys() {
    let long_a = format!("a{}", "x".repeat(61));
    let long_b = format!("a{}y", "x".repeat(61));
    let entry = |name: &str, key: &str| {
        format!(
            "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServerEntry\nmetadata: {{name: {name}, namespace: default}}\nspec: {{remoteUrl: \"https://{name}.example.com/mcp\", transport: sse, groupRef: {{name: team}}, caBundleRef: {{configMapRef: {{name: ca, key: {key}}}}}}}\n"
        )
    };
    let yaml = format!(
        "{GROUP}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ca, namespace: default}}\ndata: {{corp.pem: x, ca.crt: y}}\n{}{}---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: v, namespace: default}}\nspec: {{groupRef: {{name: team}}, incomingAuth: {{type: anonymous}}, outgoingAuth: {{source: inline}}}}\n",
        entry(&long_a, "corp.pem"),
        entry(&long_b, "ca.crt"),
    );
    let (r, _) = render_yaml(&yaml);
    let cfg = config_roundtrip(&r);
    assert_eq!(
        cfg.backend(&long_a).unwrap().ca_bundle_path,
        format!("/etc/toolhive/ca-bundles/{long_a}/corp.pem")
    );
    let pod = r
        .objects
        .as_ref()
        .unwrap()
        .deployment
        .spec
        .clone()
        .unwrap()
        .template
        .spec
        .unwrap();
    let vols: Vec<_> = pod
        .volumes
        .unwrap()
        .into_iter()
        .filter(|v| v.name.starts_with("ca-bundle-"))
        .collect();
    assert_eq!(vols.len(), 2);
    assert!(vols.iter().all(|v| v.name.len() <= 63), "{vols:?}");
    assert_ne!(vols[0].name, vols[1].name);
    let items = vols[0].config_map.as_ref().unwrap().items.as_ref().unwrap();
    assert_eq!(
        (items[0].key.as_str(), items[0].path.as_str()),
        ("corp.pem", "corp.pem")
    );
    let mounts = pod.containers[0].volume_mounts.clone().unwrap();
    for v in &vols {
        assert!(
            mounts
                .iter()
                .any(|m| m.name == v.name && m.read_only == Some(true))
        );
    }
    use vmcp_core::ca_bundles::volume_name;
    assert_eq!(volume_name("short"), "ca-bundle-short");
    // Entry names may hold dots; volume names are DNS labels and may not.
    let dotted = volume_name("api.example.com");
    assert!(
        dotted.starts_with("ca-bundle-api-example-com-") && !dotted.contains('.'),
        "{dotted}"
    );
    assert_ne!(dotted, volume_name("api-example-com"));
    assert_eq!(volume_name("api-example-com"), "ca-bundle-api-example-com");
}

/// Names the API server would refuse for the objects the operator derives are conditions,
/// not writes that fail on every retry.
#[test]
fn virtual_server_names_the_service_cannot_carry_are_conditions() {
    for (name, expected) in [
        ("team.eng", "metadata.name: team.eng contains '.'"),
        (&*"v".repeat(59), "metadata.name: 59 characters is too long"),
    ] {
        let yaml = format!(
            "{GROUP}---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: {name}, namespace: default}}\nspec: {{groupRef: {{name: team}}, incomingAuth: {{type: anonymous}}}}\n"
        );
        let (r, _) = render_yaml(&yaml);
        assert!(r.objects.is_none(), "{name}: nothing is rendered");
        let valid = cond(&r, "Valid");
        assert!(!valid.ok && valid.message.contains(expected), "{valid:?}");
    }
}

/// Keys of spec.config that the operator replaces are named, never dropped in silence; a
/// client authentication in spec.config that differs from spec.incomingAuth is an error.
#[test]
fn superseded_config_keys_are_named() {
    let vmcp = |config: &str| {
        format!(
            "{GROUP}---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: eng, namespace: default}}\nspec:\n  groupRef: {{name: team}}\n  incomingAuth: {{type: anonymous}}\n  config:\n{config}"
        )
    };
    let (r, _) = render_yaml(&vmcp(
        "    groupRef: other\n    backends: [{name: x, url: \"https://x.example.com/mcp\", transport: sse}]\n    outgoingAuth: {source: discovered}\n",
    ));
    let cfg = config_roundtrip(&r);
    assert!(cfg.backends.is_empty() && cfg.group_ref == "team");
    let valid = cond(&r, "Valid");
    for expected in [
        "spec.config.groupRef (other) is replaced by spec.groupRef.name team",
        "spec.config.backends (1 listed) is ignored",
        "spec.config.outgoingAuth is ignored",
    ] {
        assert!(
            valid.ok && valid.message.contains(expected),
            "{expected}: {valid:?}"
        );
    }
    // The validator's "backends listed in discovered mode" warning no longer misleads.
    assert!(!valid.message.contains("backends are listed"), "{valid:?}");

    let (r, _) = render_yaml(&vmcp(
        "    incomingAuth: {type: oidc, oidc: {issuer: \"https://idp.example.com\", audience: vmcp}}\n",
    ));
    assert!(r.objects.is_none());
    let valid = cond(&r, "Valid");
    assert!(
        !valid.ok && valid.message.contains("spec.config.incomingAuth: type oidc conflicts with spec.incomingAuth (type anonymous)"),
        "{valid:?}"
    );
}

#[test]
fn rbac_rules_per_mode() {
    let has = |mode: Mode, res: &str, verb: &str| {
        rbac::rules(mode).iter().any(|r| {
            r.resources.as_ref().unwrap().iter().any(|x| x == res)
                && r.verbs.iter().any(|v| v == verb)
        })
    };
    for res in [
        "mcpservers",
        "mcpremoteproxies",
        "mcpserverentries",
        "mcpgroups",
        "mcpexternalauthconfigs",
        "configmaps",
        "secrets",
    ] {
        for verb in ["get", "list", "watch"] {
            assert!(has(Mode::Dynamic, res, verb), "dynamic lacks {verb} {res}");
        }
        assert!(
            !has(Mode::Static, res, "get"),
            "static mode must not read {res}"
        );
    }
    for mode in [Mode::Static, Mode::Dynamic] {
        assert!(has(mode, "virtualmcpservers/status", "patch"));
        assert!(has(mode, "virtualmcpservers/status", "update"));
        for rule in rbac::rules(mode) {
            let writes_others = rule
                .verbs
                .iter()
                .any(|v| ["create", "update", "patch", "delete"].contains(&v.as_str()))
                && rule
                    .resources
                    .as_ref()
                    .unwrap()
                    .iter()
                    .any(|r| r != "virtualmcpservers/status");
            assert!(!writes_others, "{mode:?} grants writes: {rule:?}");
        }
    }
}

#[test]
fn existing_service_account_skips_rbac() {
    let yaml = mixed_world("inline").replace(
        "incomingAuth: {type: anonymous}",
        "incomingAuth: {type: anonymous}\n  serviceAccount: mine",
    );
    let (r, _) = render_yaml(&yaml);
    let objs = r.objects.as_ref().unwrap();
    assert!(objs.service_account.is_none() && objs.role.is_none() && objs.role_binding.is_none());
    let pod = objs
        .deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("mine"));
}

/// Pruning (`Applier::prune`) recognises the operator's objects by its label plus a
/// controller reference, and keeps exactly what `Objects::wanted` names: every rendered
/// object must carry both marks and be wanted under its own kind.
#[test]
fn every_rendered_object_is_marked_and_wanted_under_its_kind() {
    use vmcp_operator::names::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
    let (r, _) = render_yaml(&mixed_world("discovered"));
    let objs = r.objects.as_ref().unwrap();
    let values = objs.to_values();
    assert_eq!(values.len(), 6);
    for v in &values {
        let kind = v["kind"].as_str().unwrap();
        let name = v["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            v["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY_VALUE,
            "{kind} {name}"
        );
        let owners = v["metadata"]["ownerReferences"].as_array().unwrap();
        assert!(
            owners.iter().any(|o| o["controller"] == true),
            "{kind} {name}"
        );
        assert_eq!(
            objs.wanted(kind),
            [name.to_string()].into(),
            "{kind} wants only {name}"
        );
    }
    assert!(
        objs.wanted("Secret").is_empty(),
        "never a kind it does not render"
    );
}

/// With `spec.serviceAccount` the operator's RBAC objects are not wanted; the account the
/// Deployment runs as is, even when it is the operator's own `<name>-vmcp` (pruning it
/// would leave the pods without their account).
#[test]
fn spec_service_account_is_wanted_and_the_rbac_objects_are_not() {
    for sa in ["mine", "eng-vmcp"] {
        let yaml = mixed_world("inline").replace(
            "incomingAuth: {type: anonymous}",
            &format!("incomingAuth: {{type: anonymous}}\n  serviceAccount: {sa}"),
        );
        let (r, _) = render_yaml(&yaml);
        let objs = r.objects.as_ref().unwrap();
        assert_eq!(objs.wanted("ServiceAccount"), [sa.to_string()].into());
        assert!(objs.wanted("Role").is_empty() && objs.wanted("RoleBinding").is_empty());
    }
}

fn checksum(yaml: &str) -> String {
    let (r, _) = render_yaml(yaml);
    let objs = r
        .objects
        .unwrap_or_else(|| panic!("stopped: {}", r.status.message));
    objs.deployment
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap()[CONFIG_CHECKSUM_ANNOTATION]
        .clone()
}

#[test]
fn checksum_changes_only_with_what_the_pods_consume() {
    let base = mixed_world("inline");
    let c0 = checksum(&base);
    assert_eq!(c0, checksum(&base), "same world, same checksum");
    assert_ne!(
        c0,
        checksum(&base.replace(
            "https://mcp.context7.com/mcp",
            "https://mcp2.context7.com/mcp"
        )),
        "config change"
    );
    assert_eq!(
        c0,
        checksum(&base.replace(SECRET_VALUE, "rotated")),
        "secret values are not read"
    );
    // A rotated Secret has a new resourceVersion: that, not its value, rolls the pods.
    let versioned = |v: &str| {
        base.replace(
            "metadata: {name: ctx7, namespace: default}",
            &format!("metadata: {{name: ctx7, namespace: default, resourceVersion: \"{v}\"}}"),
        )
    };
    assert_ne!(versioned("1"), base, "the fixture has the Secret");
    let c1 = checksum(&versioned("1"));
    assert_eq!(c1, checksum(&versioned("1")));
    assert_ne!(c1, checksum(&versioned("2")), "rotated secret");
    assert_ne!(
        c0,
        checksum(
            &base
                .replace("key: api-key", "key: api-key2")
                .replace("api-key: ", "api-key2: ")
        ),
        "secret key change"
    );
    assert_ne!(
        c0,
        checksum(&base.replace("\\nAAA\\n", "\\nBBB\\n")),
        "CA content change"
    );
    assert_ne!(
        c0,
        checksum(&base.replace("tenant-123", "tenant-456")),
        "plaintext header change"
    );
}

#[test]
fn debug_log_level_adds_flag_and_pod_template_merges() {
    let yaml = mixed_world("inline").replace(
        "outgoingAuth: {source: inline}",
        "outgoingAuth: {source: inline}\n  config: {operational: {logLevel: debug}}\n  podTemplateSpec:\n    spec:\n      nodeSelector: {disktype: ssd}\n      containers:\n        - name: vmcp\n          resources: {limits: {memory: 1Gi}}\n          env: [{name: EXTRA, value: \"1\"}]",
    );
    let (r, _) = render_yaml(&yaml);
    let pod = r
        .objects
        .as_ref()
        .unwrap()
        .deployment
        .spec
        .clone()
        .unwrap()
        .template
        .spec
        .unwrap();
    let c = &pod.containers[0];
    assert_eq!(
        c.args.as_ref().unwrap().last().map(String::as_str),
        Some("--debug")
    );
    assert_eq!(pod.node_selector.unwrap()["disktype"], "ssd");
    assert_eq!(
        c.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"].0,
        "1Gi"
    );
    assert_eq!(
        c.resources.as_ref().unwrap().limits.as_ref().unwrap()["cpu"].0,
        "500m",
        "unpatched fields kept"
    );
    let env = c.env.as_ref().unwrap();
    assert!(env.iter().any(|e| e.name == "EXTRA") && env.iter().any(|e| e.name == "VMCP_NAME"));
    assert!(cond(&r, "PodTemplateSpecValid").ok);
}

#[test]
fn static_mode_without_usable_backends_is_a_condition() {
    let yaml = format!(
        "{GROUP}---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServer\nmetadata: {{name: s, namespace: default}}\nspec: {{image: x, groupRef: {{name: team}}}}\n---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: v, namespace: default}}\nspec: {{groupRef: {{name: team}}, incomingAuth: {{type: anonymous}}, outgoingAuth: {{source: inline}}}}\n"
    );
    let (r, _) = render_yaml(&yaml);
    assert!(r.objects.is_none());
    let ready = cond(&r, "Ready");
    assert!(
        !ready.ok && ready.reason == "BackendsUnavailable",
        "{ready:?}"
    );
    assert!(
        ready.message.contains("MCPServer s") && ready.message.contains("status.url"),
        "{}",
        ready.message
    );
}

/// `mixed_world` with context7's MCPExternalAuthConfig replaced by `body` (its spec after
/// `type`), the token-exchange fields dropped.
fn world_with_ctx7_auth(body: &str) -> String {
    let yaml = mixed_world("inline").replace(
        "  type: tokenExchange\n  tokenExchange:",
        &format!("{body}\n  x_ignored:"),
    );
    yaml.replace("  x_ignored:\n    tokenUrl: https://idp.example.com/token\n    clientId: vmcp\n    clientSecretRef: {name: ctx7, key: client-secret}\n    audience: context7\n    subjectTokenType: access_token\n", "")
}

#[test]
fn bearer_token_renders_to_an_authorization_header_from_the_secret() {
    let yaml = world_with_ctx7_auth(
        "  type: bearerToken\n  bearerToken: {tokenSecretRef: {name: ctx7, key: api-key}}",
    );
    let (r, _) = render_yaml(&yaml);
    let cfg = config_roundtrip(&r);
    assert!(cfg.backend("context7").is_some());
    let out = cfg.outgoing_auth.as_ref().unwrap();
    let s = &out.backends["context7"];
    assert_eq!(s.strategy_type, Some(StrategyType::HeaderInjection));
    let h = s.header_injection.as_ref().unwrap();
    assert_eq!(h.header_name, "Authorization");
    assert_eq!(h.header_value_prefix, "Bearer ");
    assert!(h.header_value.is_empty(), "no token in the ConfigMap");
    let e = env(&r, &h.header_value_env).expect("bearer token env");
    let sk = e
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!((sk.name.as_str(), sk.key.as_str()), ("ctx7", "api-key"));
    assert!(cond(&r, "AuthConfigured").ok);
}

#[test]
fn unsupported_auth_type_excludes_only_that_backend() {
    let yaml = world_with_ctx7_auth("  type: awsSts\n  awsSts: {region: eu-west-1}");
    let (r, _) = render_yaml(&yaml);
    let cfg = config_roundtrip(&r);
    assert!(cfg.backend("context7").is_none());
    assert!(cfg.backend("fetch").is_some());
    let auth = cond(&r, "AuthConfigured");
    assert!(
        !auth.ok && auth.message.contains("awsSts") && auth.message.contains("context7"),
        "{auth:?}"
    );
}

#[test]
fn unsupported_features_name_the_field() {
    for (snippet, field) in [
        (
            "config: {optimizer: {maxToolsToReturn: 5}}",
            "spec.config.optimizer",
        ),
        (
            "config: {compositeToolRefs: [{name: x}]}",
            "spec.config.compositeToolRefs",
        ),
        (
            "config: {codeMode: {enabled: true}}",
            "spec.config.codeMode",
        ),
        (
            // (The CRD's CEL rule wants redis session storage beside rate limiting.)
            "sessionStorage: {provider: redis, address: 'redis:6379'}\n  config: {rateLimiting: {shared: {maxTokens: 1}}}",
            "spec.config.rateLimiting",
        ),
        (
            "config: {aggregation: {conflictResoluton: prefix}}",
            "spec.config.aggregation.conflictResoluton",
        ),
        ("embeddingServerRef: {name: e}", "spec.embeddingServerRef"),
        ("authServerConfig: {issuer: x}", "spec.authServerConfig"),
    ] {
        let yaml = mixed_world("inline").replace(
            "outgoingAuth: {source: inline}",
            &format!("outgoingAuth: {{source: inline}}\n  {snippet}"),
        );
        let (r, _) = render_yaml(&yaml);
        assert!(r.objects.is_none(), "{snippet} must stop the render");
        let valid = cond(&r, "Valid");
        assert!(
            !valid.ok && valid.message.contains(field),
            "{snippet}: {}",
            valid.message
        );
    }
    // OIDC and shared authorization configs are supported now (tests/render_incoming_auth.rs):
    // a reference to one that does not exist stops the render with ToolHive's condition
    // naming it, not a `Valid` refusal.
    let yaml = mixed_world("inline").replace(
        "incomingAuth: {type: anonymous}",
        "incomingAuth: {type: oidc, oidcConfigRef: {name: o, audience: a}}",
    );
    let (r, _) = render_yaml(&yaml);
    assert!(r.objects.is_none());
    assert!(cond(&r, "Valid").ok);
    let c = cond(&r, "OIDCConfigRefValidated");
    assert_eq!((c.ok, c.reason.as_str()), (false, "OIDCConfigRefNotFound"));
    assert!(
        c.message.contains("MCPOIDCConfig default/o"),
        "{}",
        c.message
    );
    let yaml = mixed_world("inline").replace(
        "incomingAuth: {type: anonymous}",
        "incomingAuth: {type: anonymous, authzConfigRef: {name: shared}}",
    );
    let (r, _) = render_yaml(&yaml);
    assert!(r.objects.is_none());
    let c = cond(&r, "AuthzConfigRefValidated");
    assert_eq!((c.ok, c.reason.as_str()), (false, "AuthzConfigRefNotFound"));
    assert!(
        c.message.contains("MCPAuthzConfig default/shared"),
        "{}",
        c.message
    );
}

const PERMIT_ECHO: &str =
    r#"permit(principal, action == Action::"call_tool", resource == Tool::"echo");"#;

/// The world with `incomingAuth` replaced (and extra manifests appended).
fn with_incoming(source: &str, incoming: &str, extra: &str) -> String {
    format!(
        "{}{extra}",
        mixed_world(source).replace("incomingAuth: {type: anonymous}", incoming)
    )
}

fn authz_of(cfg: &vmcp_config::Config) -> &vmcp_config::AuthzConfig {
    cfg.incoming_auth
        .as_ref()
        .unwrap()
        .authz
        .as_ref()
        .expect("authz in the gateway config")
}

#[test]
fn inline_policies_reach_the_gateway_config_in_both_modes() {
    for source in ["inline", "discovered"] {
        let yaml = with_incoming(
            source,
            &format!(
                "incomingAuth:\n    type: anonymous\n    authzConfig:\n      type: inline\n      groupClaimName: team\n      inline:\n        policies: ['{PERMIT_ECHO}']\n        entitiesJson: '[{{\"uid\": {{\"type\": \"THVGroup\", \"id\": \"eng\"}}, \"attrs\": {{}}, \"parents\": []}}]'"
            ),
            "",
        );
        let (r, _) = render_yaml(&yaml);
        let cfg = config_roundtrip(&r);
        let a = authz_of(&cfg);
        assert_eq!(a.authz_type, Some(vmcp_config::AuthzType::Cedar));
        assert_eq!(a.policies, [PERMIT_ECHO], "{source}");
        assert!(a.entities_json.contains("THVGroup"));
        assert_eq!(a.group_claim_name, "team");
        assert_eq!(cond(&r, "AuthConfigured").reason, "AuthValid");
    }
}

#[test]
fn bad_inline_policies_are_spec_problems_naming_the_index() {
    let yaml = with_incoming(
        "inline",
        &format!(
            "incomingAuth:\n    type: anonymous\n    authzConfig:\n      type: inline\n      inline:\n        policies: ['{PERMIT_ECHO}', 'permit(principal, action resource);']\n        entitiesJson: 'not json'"
        ),
        "",
    );
    let (r, _) = render_yaml(&yaml);
    assert!(r.objects.is_none());
    let valid = cond(&r, "Valid");
    assert!(!valid.ok);
    assert!(
        valid
            .message
            .contains("spec.incomingAuth.authzConfig.inline.policies[1]: ")
            && valid
                .message
                .contains("spec.incomingAuth.authzConfig.inline.entitiesJson: is not valid JSON"),
        "{}",
        valid.message
    );
}

const AUTHZ_CM: &str = r#"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: policies, namespace: default}
data:
  authz.json: |
    {"version": "1.0", "type": "cedarv1",
     "cedar": {"policies": ["permit(principal, action == Action::\"call_tool\", resource == Tool::\"echo\");"],
               "entities_json": "[]", "group_claim_name": "from-file", "role_claim_name": "roles"}}
"#;

fn config_map_incoming(extra: &str) -> String {
    format!(
        "incomingAuth:\n    type: anonymous\n    authzConfig:\n      type: configMap\n      groupClaimName: from-spec\n      configMap: {{name: policies{extra}}}"
    )
}

#[test]
fn config_map_policies_reach_the_gateway_config_and_are_a_dependency() {
    for source in ["inline", "discovered"] {
        let (r, world) = render_yaml(&with_incoming(source, &config_map_incoming(""), AUTHZ_CM));
        let cfg = config_roundtrip(&r);
        let a = authz_of(&cfg);
        assert_eq!(a.policies, [PERMIT_ECHO], "{source}");
        // The spec's claim name wins over the file's; the file's role claim stays.
        assert_eq!(
            (a.group_claim_name.as_str(), a.role_claim_name.as_str()),
            ("from-spec", "roles")
        );
        assert_eq!(cond(&r, "AuthConfigured").reason, "AuthValid");
        assert!(
            r.dependencies.contains(&world.key("ConfigMap", "policies")),
            "{:?}",
            r.dependencies
        );
    }
    // A custom key.
    let cm = AUTHZ_CM.replace("authz.json:", "custom.json:");
    let (r, _) = render_yaml(&with_incoming(
        "inline",
        &config_map_incoming(", key: custom.json"),
        &cm,
    ));
    assert_eq!(authz_of(&config_roundtrip(&r)).policies, [PERMIT_ECHO]);
}

#[test]
fn missing_or_bad_config_maps_are_auth_configured_conditions() {
    let check = |yaml: String, reason: &str, text: &str| {
        let (r, _) = render_yaml(&yaml);
        assert!(r.objects.is_none(), "fail closed: nothing is deployed");
        let c = cond(&r, "AuthConfigured");
        assert!(!c.ok && c.reason == reason, "{c:?}");
        assert!(
            c.message
                .starts_with("spec.incomingAuth.authzConfig.configMap: ")
                && c.message.contains(text),
            "{}",
            c.message
        );
        assert_eq!(cond(&r, "Ready").reason, reason);
        assert!(
            r.dependencies
                .iter()
                .any(|d| d.kind == "ConfigMap" && d.name == "policies")
        );
    };
    check(
        with_incoming("inline", &config_map_incoming(""), ""),
        "AuthzConfigMapNotFound",
        "ConfigMap default/policies not found",
    );
    check(
        with_incoming(
            "discovered",
            &config_map_incoming(", key: other.json"),
            AUTHZ_CM,
        ),
        "AuthzConfigMapNotFound",
        "has no key \"other.json\"",
    );
    let garbage = AUTHZ_CM.replace(
        r#"{"version": "1.0", "type": "cedarv1","#,
        r#"{"version": "1.0", "type": "cedarv1", "garbage" "#,
    );
    check(
        with_incoming("inline", &config_map_incoming(""), &garbage),
        "AuthzConfigMapInvalid",
        "is not an authorization config",
    );
    let bad_policy = AUTHZ_CM.replace(r#"resource == Tool::\"echo\");"#, r#"resource == );"#);
    check(
        with_incoming("inline", &config_map_incoming(""), &bad_policy),
        "AuthzConfigMapInvalid",
        "cedar.policies[0]: ",
    );
}

#[test]
fn invalid_pod_template_and_oversized_config_are_conditions() {
    let yaml = mixed_world("inline").replace(
        "outgoingAuth: {source: inline}",
        "outgoingAuth: {source: inline}\n  podTemplateSpec: {spec: {containers: [{name: vmcp, resources: 5}]}}",
    );
    let (r, _) = render_yaml(&yaml);
    assert!(r.objects.is_none());
    let c = cond(&r, "PodTemplateSpecValid");
    assert!(!c.ok && c.reason == "InvalidPodTemplateSpec", "{c:?}");

    let huge = "p".repeat(1_100_000);
    let yaml = mixed_world("inline").replace(
        "incomingAuth: {type: anonymous}",
        &format!(
            "incomingAuth: {{type: anonymous}}\n  config: {{metadata: {{padding: \"{huge}\"}}}}"
        ),
    );
    let (r, _) = render_yaml(&yaml);
    assert!(r.objects.is_none());
    let ready = cond(&r, "Ready");
    assert!(
        !ready.ok && ready.reason == "ConfigTooLarge" && ready.message.contains("bytes"),
        "{}",
        ready.reason
    );
}

#[test]
fn missing_group_and_not_ready_group() {
    let yaml = mixed_world("inline").replace(
        "groupRef: {name: team}\n  incomingAuth",
        "groupRef: {name: nope}\n  incomingAuth",
    );
    let (r, _) = render_yaml(&yaml);
    let g = cond(&r, "GroupRefValidated");
    assert!(!g.ok && g.reason == "GroupRefNotFound" && g.message.contains("nope"));
    assert!(r.objects.is_none());

    let (mut world, vmcps) = world_from_yaml(&mixed_world("inline"));
    world.groups.get_mut("team").unwrap().status = None;
    let r = render_virtual_server(&vmcps[0], &world, &Settings::default());
    assert_eq!(cond(&r, "GroupRefValidated").reason, "GroupRefNotReady");
}

#[test]
fn invalid_entries_are_excluded_with_reasons() {
    let yaml = mixed_world("inline").replace(
        "remoteUrl: https://mcp.context7.com/mcp",
        "remoteUrl: http://10.1.2.3/mcp",
    );
    let (r, world) = render_yaml(&yaml);
    let e = world.entries["context7"].status.as_ref().unwrap();
    assert_eq!(e.phase, vmcp_api::entry::MCPServerEntryPhase::Failed);
    let cfg = config_roundtrip(&r);
    assert!(cfg.backend("context7").is_none());
    let resolved = cond(&r, "BackendsResolved");
    assert!(
        resolved.message.contains("MCPServerEntry context7")
            && resolved.message.contains("allowPrivateEndpoint"),
        "{}",
        resolved.message
    );

    let yaml =
        mixed_world("inline").replace("name: corp-ca, namespace", "name: other-ca, namespace");
    let (r, _) = render_yaml(&yaml);
    assert!(
        cond(&r, "BackendsResolved")
            .message
            .contains("CA bundle ConfigMap corp-ca not found")
    );
}

/// A per-backend override whose auth cannot be resolved: static mode leaves that backend out;
/// dynamic mode renders nothing, because the gateway discovers the backend itself and would
/// otherwise send it its own or the default credentials.
#[test]
fn a_broken_per_backend_override_never_falls_back_to_other_credentials() {
    let broken_override = |source: &str| {
        mixed_world(source).replace(
            "  outgoingAuth: {source: SOURCE}\n".replace("SOURCE", source).as_str(),
            &format!(
                "  outgoingAuth:\n    source: {source}\n    default: {{type: externalAuthConfigRef, externalAuthConfigRef: {{name: ctx7-exchange}}}}\n    backends:\n      jira: {{type: externalAuthConfigRef, externalAuthConfigRef: {{name: missing-cfg}}}}\n"
            ),
        )
    };

    let (r, _) = render_yaml(&broken_override("inline"));
    let cfg = config_roundtrip(&r);
    assert!(cfg.backend("jira").is_none(), "static: jira is left out");
    assert!(cfg.backend("fetch").is_some());
    let auth = cond(&r, "AuthConfigured");
    assert!(
        !auth.ok && auth.message.contains("backend jira excluded"),
        "{auth:?}"
    );

    let (r, _) = render_yaml(&broken_override("discovered"));
    assert!(r.objects.is_none(), "dynamic: nothing is rendered");
    let auth = cond(&r, "AuthConfigured");
    assert!(
        !auth.ok
            && auth.message.contains(
                "spec.outgoingAuth.backends[jira]: MCPExternalAuthConfig missing-cfg not found"
            ),
        "{auth:?}"
    );
    assert!(!cond(&r, "Ready").ok);
}

/// An entry's auth config Secret is a dependency of the VirtualMCPServer: creating or
/// changing it must re-render (the entry controller only checks that the config exists).
#[test]
fn the_secret_behind_an_entrys_auth_config_is_a_dependency() {
    // The exchange's client secret in a Secret of its own (the header Secret is a dependency
    // through the entry anyway).
    let yaml = mixed_world("discovered").replace(
        "clientSecretRef: {name: ctx7, key: client-secret}",
        "clientSecretRef: {name: exchange-secret, key: client-secret}",
    );
    let (world, vmcps) = world_from_yaml(&yaml);
    let deps = vmcp_operator::render::dependencies(&vmcps[0], &world);
    let key = |kind, name| ObjKey::new(kind, "default", name);
    assert!(
        deps.contains(&key(kinds::AUTH, "ctx7-exchange")),
        "{deps:?}"
    );
    assert!(
        deps.contains(&key(kinds::SECRET, "exchange-secret")),
        "{deps:?}"
    );
}

/// ToolHive's operator ignores `spec.config.telemetry` beside a `telemetryConfigRef`; so does
/// ours, and the Valid condition says so. The rendered section is the reference's.
#[test]
fn an_inline_telemetry_section_beside_a_reference_is_ignored_with_a_warning() {
    let yaml = mixed_world("inline").replace(
        "outgoingAuth: {source: inline}",
        "outgoingAuth: {source: inline}\n  telemetryConfigRef: {name: otel}\n  config: {telemetry: {endpoint: 'inline:4318', tracingEnabled: true}}",
    ) + "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPTelemetryConfig\nmetadata: {name: otel, namespace: default}\nspec:\n  openTelemetry: {enabled: true, endpoint: 'shared:4318', tracing: {enabled: true}}\n";
    let (r, _) = render_yaml(&yaml);
    let valid = cond(&r, "Valid");
    assert!(valid.ok, "{}", valid.message);
    assert!(
        valid
            .message
            .contains("spec.config.telemetry is ignored: spec.telemetryConfigRef replaces it"),
        "{}",
        valid.message
    );
    let text = &r
        .objects
        .as_ref()
        .expect("rendered")
        .config_map
        .data
        .as_ref()
        .unwrap()["config.yaml"];
    assert!(
        text.contains("endpoint: shared:4318") && !text.contains("inline:4318"),
        "{text}"
    );
}
