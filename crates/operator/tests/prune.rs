//! Pruning: the operator deletes the objects it made for a VirtualMCPServer and no longer
//! renders, and nothing else. The controllers run in-process against a real kube-apiserver
//! (vmcp_testenv), each test in its own namespace with controllers scoped to it.
//!
//! Absence is never proven by waiting: each test deletes one real orphan in the same prune
//! pass that must leave the other objects alone (a pass lists every object of a kind at
//! once), waits for that orphan to go, and then checks the survivors.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::harness::{Harness, WAIT, start};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::api::{Api, DeleteParams};
use vmcp_api::VirtualMCPServer;
use vmcp_testenv::{apply_yaml, eventually, eventually_gone};

impl Harness {
    /// Waits until `name` of kind `K` exists; returns its UID.
    async fn exists<K>(&self, name: &str) -> String
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api = self.api::<K>();
        eventually(&format!("{} {name}", K::kind(&())), WAIT, || async {
            api.get_opt(name).await.ok().flatten()?.meta().uid.clone()
        })
        .await
    }

    /// Waits for the operator's ServiceAccount, Role and RoleBinding of VirtualMCPServer
    /// `vmcp`; returns their UIDs.
    async fn rbac_trio(&self, vmcp: &str) -> [String; 3] {
        let n = format!("{vmcp}-vmcp");
        [
            self.exists::<ServiceAccount>(&n).await,
            self.exists::<Role>(&n).await,
            self.exists::<RoleBinding>(&n).await,
        ]
    }

    async fn uid_of<K>(&self, name: &str) -> Option<String>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.api::<K>()
            .get_opt(name)
            .await
            .expect("get")
            .and_then(|o| o.meta().uid.clone())
    }

    async fn vmcp_uid(&self, name: &str) -> String {
        self.exists::<VirtualMCPServer>(name).await
    }

    fn failures(&self) -> u64 {
        self.ctx.metrics.failures[2].load(Ordering::Relaxed)
    }
}

fn conditions(v: &VirtualMCPServer) -> Vec<Condition> {
    v.status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default()
}

const GROUP: &str =
    "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: team}\nspec: {}\n";

/// A dynamic-mode VirtualMCPServer (it renders with an empty group), with `extra` spec lines.
fn vmcp(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: {name}}}\nspec:\n  groupRef: {{name: team}}\n  incomingAuth: {{type: anonymous}}\n  outgoingAuth: {{source: discovered}}\n{extra}"
    )
}

/// The operator's label and a controller reference to VirtualMCPServer `owner` (UID `uid`),
/// as the render writes them, as YAML `metadata` lines (indented two spaces).
fn operator_marks(owner: &str, uid: &str) -> String {
    format!(
        "  labels: {{app.kubernetes.io/managed-by: vmcp-operator}}\n  ownerReferences:\n  - {{apiVersion: toolhive.stacklok.dev/v1beta1, kind: VirtualMCPServer, name: {owner}, uid: {uid}, controller: true, blockOwnerDeletion: true}}\n"
    )
}

fn config_map(name: &str, metadata: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{metadata}data: {{k: v}}\n"
    )
}

/// (1) Setting `spec.serviceAccount` deletes the ServiceAccount, Role and RoleBinding the
/// operator made, leaves the user's ServiceAccount and another VirtualMCPServer's objects
/// alone, and unsetting it makes new ones.
#[tokio::test]
async fn setting_spec_service_account_prunes_the_operators_account_role_and_binding() {
    let h = start("prune-sa").await;
    h.apply(&format!(
        "{GROUP}---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: own-sa\n  labels: {{team: eng}}\n{}{}",
        vmcp("gw", ""),
        vmcp("other", "")
    ))
    .await;
    let own = h.api::<ServiceAccount>().get("own-sa").await.unwrap();
    let old = h.rbac_trio("gw").await;
    let others = h.rbac_trio("other").await;

    h.apply(&vmcp("gw", "  serviceAccount: own-sa\n")).await;
    eventually_gone(
        "ServiceAccount gw-vmcp pruned",
        WAIT,
        &h.api::<ServiceAccount>(),
        "gw-vmcp",
    )
    .await;
    eventually_gone("Role gw-vmcp pruned", WAIT, &h.api::<Role>(), "gw-vmcp").await;
    eventually_gone(
        "RoleBinding gw-vmcp pruned",
        WAIT,
        &h.api::<RoleBinding>(),
        "gw-vmcp",
    )
    .await;

    let deploy = h.api::<Deployment>().get("gw").await.unwrap();
    let pod = deploy.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("own-sa"));
    let own_now = h.api::<ServiceAccount>().get("own-sa").await.unwrap();
    assert_eq!(
        own_now.metadata.uid, own.metadata.uid,
        "the user's account is never replaced"
    );
    assert_eq!(
        own_now.metadata.resource_version, own.metadata.resource_version,
        "the user's account is not even written"
    );
    assert_eq!(own_now.metadata.owner_references, None);
    // The same prune passes listed the other VirtualMCPServer's objects: same label, another
    // owner's UID.
    assert_eq!(
        [
            h.uid_of::<ServiceAccount>("other-vmcp").await,
            h.uid_of::<Role>("other-vmcp").await,
            h.uid_of::<RoleBinding>("other-vmcp").await,
        ],
        others.clone().map(Some),
        "another VirtualMCPServer's objects survive"
    );
    // The rest of gw's objects stay.
    for (kind, uid) in [
        ("ConfigMap", h.uid_of::<ConfigMap>("gw-vmcp-config").await),
        ("Deployment", h.uid_of::<Deployment>("gw").await),
        ("Service", h.uid_of::<Service>("vmcp-gw").await),
    ] {
        assert!(uid.is_some(), "{kind} of gw was pruned");
    }
    let v = h.api::<VirtualMCPServer>().get("gw").await.unwrap();
    assert!(
        !conditions(&v).iter().any(|c| c.type_ == "OrphansPruned"),
        "{:?}",
        conditions(&v)
    );

    // Back to the operator's account: new objects, not the old ones brought back.
    h.apply(&vmcp("gw", "")).await;
    let new = h.rbac_trio("gw").await;
    for (o, n) in old.iter().zip(&new) {
        assert_ne!(o, n, "re-created with a new UID");
    }
    assert_eq!(h.failures(), 0, "no reconcile errors");
    h.controllers.stop().await;
}

/// (2) Objects of the kinds the operator renders, made for this VirtualMCPServer under names
/// the render no longer produces (as an earlier render or version leaves them), are pruned;
/// the rendered ones stay.
#[tokio::test]
async fn objects_the_render_no_longer_produces_are_pruned() {
    let h = start("prune-stale").await;
    h.apply(&format!("{GROUP}{}", vmcp("gw", ""))).await;
    let uid = h.vmcp_uid("gw").await;
    let rendered = [
        h.exists::<ConfigMap>("gw-vmcp-config").await,
        h.exists::<Deployment>("gw").await,
        h.exists::<Service>("vmcp-gw").await,
    ];
    let marks = operator_marks("gw", &uid);
    h.apply(&format!(
        "{}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: vmcp-gw-old\n{marks}spec:\n  ports: [{{port: 4483}}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gw-old\n{marks}spec:\n  selector: {{matchLabels: {{app: gw-old}}}}\n  template:\n    metadata: {{labels: {{app: gw-old}}}}\n    spec: {{containers: [{{name: c, image: x}}]}}\n",
        config_map("gw-vmcp-config-old", &marks)
    ))
    .await;
    // Each is an owned child of gw: its creation triggers a reconcile, which deletes it.
    eventually_gone(
        "stale ConfigMap",
        WAIT,
        &h.api::<ConfigMap>(),
        "gw-vmcp-config-old",
    )
    .await;
    eventually_gone("stale Service", WAIT, &h.api::<Service>(), "vmcp-gw-old").await;
    eventually_gone("stale Deployment", WAIT, &h.api::<Deployment>(), "gw-old").await;
    assert_eq!(
        [
            h.uid_of::<ConfigMap>("gw-vmcp-config").await,
            h.uid_of::<Deployment>("gw").await,
            h.uid_of::<Service>("vmcp-gw").await,
        ],
        rendered.map(Some),
        "the rendered objects are kept, not deleted and re-created"
    );
    assert!(h.ctx.applier.stats.deletes.load(Ordering::Relaxed) >= 3);
    assert_eq!(h.failures(), 0, "no reconcile errors");
    h.controllers.stop().await;
}

/// (3) What the operator did not make survives: an object with its label but no owner
/// reference (a user's), one with a controller reference to the VirtualMCPServer but no
/// label, and one with the label and a non-controller reference.
#[tokio::test]
async fn objects_the_operator_did_not_make_survive() {
    let h = start("prune-user").await;
    h.apply(&format!("{GROUP}{}", vmcp("gw", ""))).await;
    let uid = h.vmcp_uid("gw").await;
    h.exists::<Service>("vmcp-gw").await;
    let not_controller =
        operator_marks("gw", &uid).replace("controller: true", "controller: false");
    let unlabelled: String = operator_marks("gw", &uid)
        .lines()
        .filter(|l| !l.contains("labels"))
        .map(|l| format!("{l}\n"))
        .collect();
    h.apply(&format!(
        "{}{}{}---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: users-sa\n  labels: {{app.kubernetes.io/managed-by: vmcp-operator}}\n",
        config_map(
            "users-labelled",
            "  labels: {app.kubernetes.io/managed-by: vmcp-operator}\n"
        ),
        config_map("users-owned-unlabelled", &unlabelled),
        config_map("users-not-controller", &not_controller),
    ))
    .await;
    let before: Vec<Option<String>> = vec![
        h.uid_of::<ConfigMap>("users-labelled").await,
        h.uid_of::<ConfigMap>("users-owned-unlabelled").await,
        h.uid_of::<ConfigMap>("users-not-controller").await,
        h.uid_of::<ServiceAccount>("users-sa").await,
    ];
    assert!(before.iter().all(Option::is_some));
    // A real orphan of each kind, made after the user's objects: once a prune pass has
    // deleted it, that pass listed the user's objects too.
    h.apply(&format!(
        "{}---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: gw-old-sa\n{}",
        config_map("gw-old", &operator_marks("gw", &uid)),
        operator_marks("gw", &uid)
    ))
    .await;
    eventually_gone(
        "the operator's orphan ConfigMap",
        WAIT,
        &h.api::<ConfigMap>(),
        "gw-old",
    )
    .await;
    eventually_gone(
        "the operator's orphan ServiceAccount",
        WAIT,
        &h.api::<ServiceAccount>(),
        "gw-old-sa",
    )
    .await;
    let after: Vec<Option<String>> = vec![
        h.uid_of::<ConfigMap>("users-labelled").await,
        h.uid_of::<ConfigMap>("users-owned-unlabelled").await,
        h.uid_of::<ConfigMap>("users-not-controller").await,
        h.uid_of::<ServiceAccount>("users-sa").await,
    ];
    assert_eq!(
        after, before,
        "objects the operator did not make are never deleted"
    );
    assert_eq!(h.failures(), 0, "no reconcile errors");
    h.controllers.stop().await;
}

/// Whether a dry-run deletion of RoleBinding `name` is refused by admission.
async fn delete_refused(api: &Api<RoleBinding>, name: &str) -> bool {
    let dry = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    match api.delete(name, &dry).await {
        Ok(_) => false,
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 => true,
        Err(e) => panic!("dry-run delete of {name}: {e}"),
    }
}

/// A deletion the API server refuses (here a ValidatingAdmissionPolicy on RoleBindings of
/// the test namespace) is `OrphansPruned=False` naming the object and the server's message;
/// the other orphans are still deleted, the rest of the reconcile (Deployment, status) is
/// done, and the prune is retried until it succeeds, which clears the condition.
#[tokio::test]
async fn a_refused_deletion_is_a_condition_and_the_rest_is_done() {
    let h = start("prune-refused").await;
    h.apply(&format!(
        "{GROUP}---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: own-sa}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: probe}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: nothing}}\n{}",
        vmcp("gw", "")
    ))
    .await;
    h.rbac_trio("gw").await;
    let policy = format!("deny-rolebinding-delete-{}", h.ns);
    let policy_yaml = format!(
        r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {policy}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [rbac.authorization.k8s.io]
      apiVersions: [v1]
      operations: [DELETE]
      resources: [rolebindings]
  validations:
  - expression: "false"
    message: RoleBindings of this namespace are kept by a test policy
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {policy}}}
spec:
  policyName: {policy}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {{kubernetes.io/metadata.name: {ns}}}
"#,
        ns = h.ns
    );
    apply_yaml(&h.client, None, &policy_yaml).await;
    let rbs = h.api::<RoleBinding>();
    eventually("the policy refuses deletions", WAIT, || async {
        delete_refused(&rbs, "probe").await.then_some(())
    })
    .await;

    h.apply(&vmcp("gw", "  serviceAccount: own-sa\n")).await;
    let vmcps = h.api::<VirtualMCPServer>();
    let cond = eventually("OrphansPruned=False", WAIT, || async {
        let v = vmcps.get("gw").await.ok()?;
        conditions(&v)
            .into_iter()
            .find(|c| c.type_ == "OrphansPruned" && c.status == "False")
    })
    .await;
    assert_eq!(cond.reason, "PruneFailed");
    assert!(
        cond.message
            .contains(&format!("RoleBinding {}/gw-vmcp", h.ns))
            && cond.message.contains("kept by a test policy"),
        "names the object and quotes the server: {}",
        cond.message
    );
    // The rest of the prune and of the reconcile happened.
    eventually_gone(
        "ServiceAccount gw-vmcp pruned",
        WAIT,
        &h.api::<ServiceAccount>(),
        "gw-vmcp",
    )
    .await;
    eventually_gone("Role gw-vmcp pruned", WAIT, &h.api::<Role>(), "gw-vmcp").await;
    assert!(h.uid_of::<RoleBinding>("gw-vmcp").await.is_some());
    let deploy = h.api::<Deployment>().get("gw").await.unwrap();
    assert_eq!(
        deploy
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .service_account_name
            .as_deref(),
        Some("own-sa")
    );
    let v = vmcps.get("gw").await.unwrap();
    let valid = conditions(&v)
        .into_iter()
        .find(|c| c.type_ == "Valid")
        .unwrap();
    assert_eq!(valid.status, "True");
    assert_eq!(
        v.status.as_ref().and_then(|s| s.observed_generation),
        v.metadata.generation,
        "the status of this generation was written"
    );
    assert!(
        h.failures() > 0,
        "the failed prune is retried as a failed reconcile"
    );

    // Lift the policy: a retry deletes the RoleBinding and clears the condition.
    let policies: Api<kube::api::DynamicObject> = Api::all_with(
        h.client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(
                "admissionregistration.k8s.io",
                "v1",
                "ValidatingAdmissionPolicyBinding",
            ),
            "validatingadmissionpolicybindings",
        ),
    );
    policies
        .delete(&policy, &DeleteParams::default())
        .await
        .unwrap();
    let long = Duration::from_secs(90); // the controller's backoff has grown meanwhile
    eventually_gone(
        "RoleBinding gw-vmcp pruned after the policy went",
        long,
        &rbs,
        "gw-vmcp",
    )
    .await;
    eventually("OrphansPruned cleared", WAIT, || async {
        let v = vmcps.get("gw").await.ok()?;
        (!conditions(&v).iter().any(|c| c.type_ == "OrphansPruned")).then_some(())
    })
    .await;
    assert!(
        h.uid_of::<RoleBinding>("probe").await.is_some(),
        "the user's RoleBinding stays"
    );
    h.controllers.stop().await;
}
