//! kube-controller-manager on demand (its own test binary: once started it runs for every
//! test of the binary): owned objects are garbage-collected with their owner, as in a
//! cluster, deleted namespaces are emptied and removed, and new namespaces get their
//! `default` ServiceAccount.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use vmcp_testenv::{TestEnv, eventually};

const GONE_WITHIN: Duration = Duration::from_secs(60);

fn config_map(value: serde_json::Value) -> ConfigMap {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn owned_objects_go_with_their_owner_and_namespaces_finalize() {
    let env = TestEnv::shared().await.expect("server");
    let took = env
        .start_controller_manager()
        .await
        .expect("controller manager");
    eprintln!("kube-controller-manager working after {took:?}");
    // Asking again is a no-op on the running one.
    assert_eq!(
        env.start_controller_manager().await.unwrap(),
        Duration::ZERO
    );

    let ns = env.namespace("gc").await.unwrap();
    let client = env.client().unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    eventually(
        "the default ServiceAccount of a new namespace",
        GONE_WITHIN,
        || async { sas.get_opt("default").await.unwrap().map(|_| ()) },
    )
    .await;

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let owner = cms
        .create(
            &PostParams::default(),
            &config_map(json!({"metadata": {"name": "owner"}})),
        )
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    for (name, block) in [("owned", true), ("owned-loosely", false)] {
        cms.create(
            &PostParams::default(),
            &config_map(json!({"metadata": {"name": name, "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid,
                "controller": true, "blockOwnerDeletion": block,
            }]}})),
        )
        .await
        .unwrap();
    }
    let bystander = "bystander";
    cms.create(
        &PostParams::default(),
        &config_map(json!({"metadata": {"name": bystander}})),
    )
    .await
    .unwrap();

    // Without the garbage collector these would stay forever.
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    for name in ["owned", "owned-loosely"] {
        eventually(
            &format!("ConfigMap {name} collected"),
            GONE_WITHIN,
            || async { cms.get_opt(name).await.unwrap().is_none().then_some(()) },
        )
        .await;
    }
    assert!(cms.get_opt(bystander).await.unwrap().is_some());

    // Namespace deletion completes (the namespace controller empties it first).
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    eventually(&format!("namespace {ns} removed"), GONE_WITHIN, || async {
        namespaces
            .get_opt(&ns)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}
