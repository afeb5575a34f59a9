//! deploy/operator's RBAC is sufficient and no more than needed: the controllers run
//! in-process with a client authenticated as the `vmcp-system/vmcp-operator` ServiceAccount
//! bound to deploy/operator/cluster_role.yaml, on a real kube-apiserver with RBAC on.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use vmcp_api::{MCPGroup, MCPServerEntry, VirtualMCPServer};
use vmcp_operator::controllers::Scope;
use vmcp_operator::leader::{Elector, LeaseConfig};
use vmcp_operator::run::Controllers;
use vmcp_testenv::{
    TestEnv, apply_object, apply_yaml, can_list, eventually, eventually_gone, wait_for_list_access,
};

const WAIT: Duration = Duration::from_secs(30);

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/operator")
}

/// Server-side applies every document of `deploy/operator/<file>` (cluster-scoped or not).
async fn apply_file(client: &Client, file: &str, ns_override: Option<&str>) {
    let text = std::fs::read_to_string(deploy_dir().join(file)).expect("manifest");
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let mut v: serde_json::Value = serde::Deserialize::deserialize(doc).expect("yaml");
        if v.is_null() {
            continue;
        }
        if let (Some(ns), Some(_)) = (ns_override, v["metadata"].get("namespace")) {
            v["metadata"]["namespace"] = ns.into();
        }
        apply_object(client, None, &v).await;
    }
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(ref s)) if s.code == 403)
}

/// `delete` is granted exactly on the kinds the VirtualMCPServer controller renders, which
/// are the kinds it prunes (`Objects::wanted`), and nothing grants `deletecollection` or `*`.
#[test]
fn delete_is_granted_exactly_on_the_rendered_kinds() {
    let text = std::fs::read_to_string(deploy_dir().join("cluster_role.yaml")).expect("manifest");
    let role: ClusterRole = serde_yaml::from_str(&text).expect("ClusterRole");
    let mut deletable = std::collections::BTreeSet::new();
    for rule in role.rules.unwrap_or_default() {
        for verb in &rule.verbs {
            assert!(verb != "*" && verb != "deletecollection", "{rule:?}");
            if verb == "delete" {
                for group in rule.api_groups.iter().flatten() {
                    for res in rule.resources.iter().flatten() {
                        deletable.insert(format!("{group}/{res}"));
                    }
                }
            }
        }
    }
    let expected: std::collections::BTreeSet<String> = [
        "/configmaps",
        "/serviceaccounts",
        "/services",
        "apps/deployments",
        "rbac.authorization.k8s.io/rolebindings",
        "rbac.authorization.k8s.io/roles",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(deletable, expected);
}

#[tokio::test]
async fn operator_service_account_rbac_is_sufficient_and_bounded() {
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let admin = env.client().expect("client");
    for f in [
        "namespace.yaml",
        "service_account.yaml",
        "cluster_role.yaml",
        "cluster_role_binding.yaml",
    ] {
        apply_file(&admin, f, None).await;
    }
    // The Deployment manifest is valid for the API server too (dry-run would need a pod SA).
    apply_file(&admin, "deployment.yaml", None).await;

    let sa = env
        .service_account_client("vmcp-system", "vmcp-operator")
        .await
        .expect("SA client");
    wait_for_list_access(&Api::<VirtualMCPServer>::all(sa.clone()), true, WAIT)
        .await
        .expect("RBAC for the operator SA");

    // Leader election with the SA's rights.
    let elector = Elector::new(
        sa.clone(),
        LeaseConfig::new("vmcp-system", "vmcp-operator-leader-election", "test"),
    );
    assert!(elector.try_acquire_or_renew().await.expect("lease rights"));
    assert!(elector.try_acquire_or_renew().await.expect("lease renew"));

    // The controllers, cluster-wide (WATCH_NAMESPACE unset), as the SA.
    let ns = env.namespace("op-rbac").await.expect("namespace");
    let controllers = Controllers::spawn(sa.clone(), vec![Scope::All]);
    let ctx = controllers.ctx.clone();

    let objs = format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{name: hdr, namespace: {ns}}}
stringData: {{token: abc}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPGroup
metadata: {{name: team, namespace: {ns}}}
spec: {{}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServerEntry
metadata: {{name: alpha, namespace: {ns}}}
spec:
  remoteUrl: https://alpha.example.com/mcp
  transport: streamable-http
  groupRef: {{name: team}}
  headerForward:
    addHeadersFromSecret:
    - headerName: X-Token
      valueSecretRef: {{name: hdr, key: token}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata: {{name: fetch, namespace: {ns}}}
spec: {{image: fetch, groupRef: {{name: team}}}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {{name: dyn, namespace: {ns}}}
spec:
  groupRef: {{name: team}}
  incomingAuth: {{type: anonymous}}
  outgoingAuth: {{source: discovered}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {{name: stat, namespace: {ns}}}
spec:
  groupRef: {{name: team}}
  incomingAuth: {{type: anonymous}}
  outgoingAuth: {{source: inline}}
"#
    );
    apply_yaml(&admin, None, &objs).await;

    let vmcps: Api<VirtualMCPServer> = Api::namespaced(admin.clone(), &ns);
    for name in ["dyn", "stat"] {
        // The objects are applied one after another (ConfigMap, then Deployment, then
        // Service), so wait until the last of them exists before checking all three.
        let cm: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
        let dep: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
        let svc: Api<Service> = Api::namespaced(admin.clone(), &ns);
        let cm_name = format!("{name}-vmcp-config");
        let svc_name = format!("vmcp-{name}");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let have_cm = cm.get_opt(&cm_name).await.unwrap().is_some();
            let have_dep = dep.get_opt(name).await.unwrap().is_some();
            let have_svc = svc.get_opt(&svc_name).await.unwrap().is_some();
            if have_cm && have_dep && have_svc {
                break;
            }
            let st = vmcps.get(name).await.unwrap().status;
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: ConfigMap {have_cm}, Deployment {have_dep}, Service {have_svc}; \
                 status {st:#?}; failures {:?}",
                ctx.metrics.failures
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Both gateways' RBAC objects were created, including the dynamic-mode Role that grants
    // read access to Secrets and the CRDs: RBAC allowed it because the operator holds those
    // verbs itself (it has no `escalate` or `bind`).
    let roles: Api<Role> = Api::namespaced(admin.clone(), &ns);
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), &ns);
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &ns);
    let owned = |l: Vec<String>| l.len();
    let names = |list: kube::core::ObjectList<Role>| {
        list.items
            .into_iter()
            .filter_map(|r| r.metadata.name)
            .collect::<Vec<_>>()
    };
    let role_names = names(roles.list(&Default::default()).await.unwrap());
    assert_eq!(owned(role_names.clone()), 2, "{role_names:?}");
    assert_eq!(
        bindings
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert!(
        accounts
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len()
            >= 2
    );
    let entries: Api<MCPServerEntry> = Api::namespaced(admin.clone(), &ns);
    eventually("entry validated", WAIT, || async {
        let st = entries.get("alpha").await.ok()?.status?;
        (format!("{:?}", st.phase) == "Valid").then_some(())
    })
    .await;
    let groups: Api<MCPGroup> = Api::namespaced(admin.clone(), &ns);
    eventually("group lists the entry", WAIT, || async {
        let st = groups.get("team").await.ok()?.status?;
        (st.entries == ["alpha"]).then_some(())
    })
    .await;
    // Pruning with the SA's rights: `stat` switched to a user's ServiceAccount loses the
    // operator's ServiceAccount, Role and RoleBinding, and objects of the other rendered kinds
    // made for it under names no longer rendered go too (a missing `delete` would leave them
    // and count a failed reconcile).
    let stat_uid = vmcps.get("stat").await.unwrap().metadata.uid.unwrap();
    let marks = format!(
        "  labels: {{app.kubernetes.io/managed-by: vmcp-operator}}\n  ownerReferences:\n  - {{apiVersion: toolhive.stacklok.dev/v1beta1, kind: VirtualMCPServer, name: stat, uid: {stat_uid}, controller: true}}\n"
    );
    apply_yaml(
        &admin,
        Some(&ns),
        &format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: users-sa}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stat-old\n{marks}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: stat-old\n{marks}spec: {{ports: [{{port: 4483}}]}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: stat-old\n{marks}spec:\n  selector: {{matchLabels: {{app: stat-old}}}}\n  template:\n    metadata: {{labels: {{app: stat-old}}}}\n    spec: {{containers: [{{name: c, image: x}}]}}\n---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: stat}}\nspec:\n  groupRef: {{name: team}}\n  incomingAuth: {{type: anonymous}}\n  outgoingAuth: {{source: inline}}\n  serviceAccount: users-sa\n"
        ),
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    let svcs: Api<Service> = Api::namespaced(admin.clone(), &ns);
    let deps: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    eventually_gone("stat's ServiceAccount pruned", WAIT, &accounts, "stat-vmcp").await;
    eventually_gone("stat's Role pruned", WAIT, &roles, "stat-vmcp").await;
    eventually_gone("stat's RoleBinding pruned", WAIT, &bindings, "stat-vmcp").await;
    eventually_gone("stale ConfigMap pruned", WAIT, &cms, "stat-old").await;
    eventually_gone("stale Service pruned", WAIT, &svcs, "stat-old").await;
    eventually_gone("stale Deployment pruned", WAIT, &deps, "stat-old").await;
    assert!(accounts.get_opt("users-sa").await.unwrap().is_some());
    assert!(accounts.get_opt("dyn-vmcp").await.unwrap().is_some());
    // Deleting the group: the finalizer is released and the MCPServer marked, with the SA's
    // rights (a missing verb would leave the group stuck in deletion).
    groups
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    eventually_gone(
        "the group deleted through its finalizer",
        WAIT,
        &groups,
        "team",
    )
    .await;
    let servers: Api<vmcp_api::MCPServer> = Api::namespaced(admin.clone(), &ns);
    let marked = servers
        .get("fetch")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    assert!(
        marked
            .conditions
            .iter()
            .any(|c| c.type_ == "GroupRefValidated" && c.reason == "GroupRefNotFound"),
        "{marked:?}"
    );
    assert_eq!(
        ctx.metrics
            .failures
            .iter()
            .map(|f| f.load(std::sync::atomic::Ordering::Relaxed))
            .sum::<u64>(),
        0,
        "no reconcile hit a 403"
    );
    controllers.stop().await;

    // Bounded: not cluster-admin.
    assert!(
        !can_list(&Api::<Pod>::all(sa.clone())).await.unwrap(),
        "no pods"
    );
    assert!(
        !can_list(&Api::<ClusterRole>::all(sa.clone()))
            .await
            .unwrap(),
        "no cluster RBAC"
    );
    let sa_secrets: Api<Secret> = Api::namespaced(sa.clone(), &ns);
    assert!(
        forbidden(sa_secrets.delete("hdr", &DeleteParams::default()).await),
        "secrets are read-only"
    );
    let sa_vmcps: Api<VirtualMCPServer> = Api::namespaced(sa.clone(), &ns);
    assert!(
        forbidden(sa_vmcps.delete("stat", &DeleteParams::default()).await),
        "the users' resources are never deleted by the operator"
    );
    let sa_cms: Api<ConfigMap> = Api::namespaced(sa.clone(), &ns);
    assert!(
        forbidden(
            sa_cms
                .delete_collection(&DeleteParams::default(), &Default::default())
                .await
        ),
        "no deletecollection: the applier deletes one preconditioned object at a time"
    );
    let spec_patch = serde_json::json!({"spec": {"groupRef": {"name": "other"}}});
    assert!(
        forbidden(
            sa_vmcps
                .patch("stat", &PatchParams::default(), &Patch::Merge(&spec_patch))
                .await
        ),
        "users' specs are read-only to the operator"
    );
    // Escalation is prevented: a Role granting what the operator does not hold is refused.
    let escalating: Role = serde_json::from_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "escalate", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    }))
    .unwrap();
    let sa_roles: Api<Role> = Api::namespaced(sa.clone(), &ns);
    assert!(
        forbidden(
            sa_roles
                .patch(
                    "escalate",
                    &PatchParams::apply("vmcp-operator"),
                    &Patch::Apply(&escalating)
                )
                .await
        ),
        "no escalate: the operator cannot grant pods/list"
    );
}
