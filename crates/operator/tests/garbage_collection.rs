//! Deleting a VirtualMCPServer deletes everything the operator made for it, through the
//! owner references and the real garbage collector (kube-controller-manager, started by
//! vmcp_testenv for this test binary), in both deletion modes users meet: background
//! (`kubectl delete`) and foreground (`kubectl delete --cascade=foreground`, which the
//! `blockOwnerDeletion` flag of each owner reference makes wait for the owned objects).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, PropagationPolicy};
use kube::{Client, Resource};
use vmcp_api::VirtualMCPServer;
use vmcp_operator::controllers::Scope;
use vmcp_operator::run::Controllers;
use vmcp_testenv::{TestEnv, apply_yaml, eventually};

const WAIT: Duration = Duration::from_secs(60);

/// Whether the object `name` of kind `K` exists in `ns`.
async fn exists<K>(client: &Client, ns: &str, name: &str) -> bool
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("get")
        .is_some()
}

/// Names of the operator's objects for VirtualMCPServer `name` that still exist.
async fn owned_left(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let rbac = format!("{name}-vmcp");
    let checks = [
        (
            "ServiceAccount",
            exists::<ServiceAccount>(client, ns, &rbac).await,
        ),
        ("Role", exists::<Role>(client, ns, &rbac).await),
        (
            "RoleBinding",
            exists::<RoleBinding>(client, ns, &rbac).await,
        ),
        (
            "ConfigMap",
            exists::<ConfigMap>(client, ns, &format!("{name}-vmcp-config")).await,
        ),
        ("Deployment", exists::<Deployment>(client, ns, name).await),
        (
            "Service",
            exists::<Service>(client, ns, &format!("vmcp-{name}")).await,
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(kind, _)| kind.to_owned())
        .collect()
}

#[tokio::test]
async fn deleting_a_virtual_server_collects_everything_it_owned() {
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    env.start_controller_manager()
        .await
        .expect("kube-controller-manager");
    let ns = env.namespace("op-gc").await.expect("namespace");
    let client = env.client().expect("client");
    let controllers = Controllers::spawn(client.clone(), vec![Scope::Namespace(ns.clone())]);

    let mut yaml = String::from(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: team}\nspec: {}\n",
    );
    for name in ["background", "foreground"] {
        yaml.push_str(&format!(
            "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: {name}}}\nspec:\n  groupRef: {{name: team}}\n  incomingAuth: {{type: anonymous}}\n"
        ));
    }
    apply_yaml(&client, Some(&ns), &yaml).await;
    for name in ["background", "foreground"] {
        eventually(&format!("the objects of {name}"), WAIT, || async {
            owned_left(&client, &ns, name)
                .await
                .len()
                .eq(&6)
                .then_some(())
        })
        .await;
    }

    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    vmcps
        .delete("background", &DeleteParams::background())
        .await
        .expect("delete");
    eventually("background deletion collected", WAIT, || async {
        owned_left(&client, &ns, "background")
            .await
            .is_empty()
            .then_some(())
    })
    .await;

    vmcps
        .delete(
            "foreground",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                ..DeleteParams::default()
            },
        )
        .await
        .expect("delete");
    // Foreground: the owner stays (with the foregroundDeletion finalizer) until every owned
    // object that blocks its deletion is gone, then goes itself.
    eventually("foreground deletion complete", WAIT, || async {
        let owner_gone = vmcps.get_opt("foreground").await.expect("get").is_none();
        (owner_gone && owned_left(&client, &ns, "foreground").await.is_empty()).then_some(())
    })
    .await;
    // The operator, still running, did not recreate anything for the deleted servers. A
    // marker instead of a pause: a third VirtualMCPServer applied after both deletions is
    // rendered by the same controller, whose queue has the deletions' events before its own,
    // so once its objects exist every reconcile the deletions triggered has run.
    apply_yaml(
        &client,
        Some(&ns),
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {name: marker}\nspec:\n  groupRef: {name: team}\n  incomingAuth: {type: anonymous}\n",
    )
    .await;
    eventually("the marker's objects", WAIT, || async {
        (owned_left(&client, &ns, "marker").await.len() == 6).then_some(())
    })
    .await;
    for name in ["background", "foreground"] {
        assert_eq!(owned_left(&client, &ns, name).await, Vec::<String>::new());
    }

    controllers.stop().await;
}
