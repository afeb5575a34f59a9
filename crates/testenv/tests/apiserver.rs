//! The test API server behaves like a real one: the things the operator
//! relies on (create/list, watch, server-side apply, optimistic concurrency)
//! are checked against it directly.

use std::{collections::BTreeMap, time::Duration};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchParams},
    runtime::{WatchStreamExt, watcher},
};
use vmcp_testenv::TestEnv;

fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn server_starts_and_reports_its_version() {
    let env = TestEnv::shared().await.unwrap();
    let version = env.client().unwrap().apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "35")
    );
    assert!(version.git_version.starts_with("v1.35."), "{version:?}");
    assert!(env.kubeconfig_path().is_file());
}

#[tokio::test]
async fn config_map_create_list_and_watch() {
    let env = TestEnv::shared().await.unwrap();
    let ns = env.namespace("cm-watch").await.unwrap();
    let api = Api::<ConfigMap>::namespaced(env.client().unwrap(), &ns);

    // Watch from the resourceVersion of an (empty) list taken before the
    // create, so the ADDED event must come from the create itself.
    let before = api
        .list(&ListParams::default().fields("metadata.name=watched"))
        .await
        .unwrap();
    assert!(before.items.is_empty());
    let from = before.metadata.resource_version.unwrap();
    let params = WatchParams::default().fields("metadata.name=watched");
    let mut events = api.watch(&params, &from).await.unwrap().boxed();

    api.create(
        &PostParams::default(),
        &config_map("watched", &[("k", "v")]),
    )
    .await
    .unwrap();

    let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .expect("no watch event within 10s")
        .unwrap()
        .expect("watch stream ended");
    match event {
        kube::api::WatchEvent::Added(cm) => {
            assert_eq!(cm.metadata.name.as_deref(), Some("watched"));
            assert_eq!(cm.data.unwrap()["k"], "v");
        }
        other => panic!("expected ADDED, got {other:?}"),
    }

    let names: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    assert!(names.contains(&"watched".to_owned()), "{names:?}");

    // The runtime watcher (what controllers use) sees it too.
    let mut seen = watcher(
        api.clone(),
        watcher::Config::default().fields("metadata.name=watched"),
    )
    .applied_objects()
    .boxed();
    let seen = tokio::time::timeout(Duration::from_secs(10), seen.try_next())
        .await
        .expect("watcher saw nothing within 10s")
        .unwrap()
        .expect("watcher stream ended");
    assert_eq!(seen.metadata.name.as_deref(), Some("watched"));
}

#[tokio::test]
async fn server_side_apply_of_unchanged_content_is_a_no_op() {
    let env = TestEnv::shared().await.unwrap();
    let ns = env.namespace("cm-ssa").await.unwrap();
    let api = Api::<ConfigMap>::namespaced(env.client().unwrap(), &ns);
    let params = PatchParams::apply("vmcp-test");
    let desired = config_map("applied", &[("a", "1")]);

    let first = api
        .patch("applied", &params, &Patch::Apply(&desired))
        .await
        .unwrap();
    let second = api
        .patch("applied", &params, &Patch::Apply(&desired))
        .await
        .unwrap();
    assert_eq!(
        first.metadata.resource_version, second.metadata.resource_version,
        "re-applying identical content must not write"
    );

    // And a real change does write: the assertion above can fail.
    let changed = config_map("applied", &[("a", "2")]);
    let third = api
        .patch("applied", &params, &Patch::Apply(&changed))
        .await
        .unwrap();
    assert_ne!(
        second.metadata.resource_version,
        third.metadata.resource_version
    );
    assert_eq!(third.data.unwrap()["a"], "2");
}

#[tokio::test]
async fn stale_update_is_rejected_with_409_conflict() {
    let env = TestEnv::shared().await.unwrap();
    let ns = env.namespace("cm-conflict").await.unwrap();
    let api = Api::<ConfigMap>::namespaced(env.client().unwrap(), &ns);

    let stale = api
        .create(
            &PostParams::default(),
            &config_map("contended", &[("v", "1")]),
        )
        .await
        .unwrap();
    let mut fresh = stale.clone();
    fresh.data = Some([("v".to_owned(), "2".to_owned())].into());
    api.replace("contended", &PostParams::default(), &fresh)
        .await
        .unwrap();

    let mut late = stale;
    late.data = Some([("v".to_owned(), "3".to_owned())].into());
    let err = api
        .replace("contended", &PostParams::default(), &late)
        .await
        .expect_err("an update with an old resourceVersion must fail");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert!(status.is_conflict(), "{status:?}");
        }
        other => panic!("expected a 409 from the API server, got {other}"),
    }
    let current = api.get("contended").await.unwrap();
    assert_eq!(current.data.unwrap()["v"], "2");
}
