//! Restarting kube-apiserver in place (its own test binary: every test of a binary shares
//! the server and would see the outage).

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use vmcp_testenv::TestEnv;

#[tokio::test]
async fn restart_keeps_data_port_and_credentials() {
    let env = TestEnv::shared().await.expect("server");
    let ns = env.namespace("restart").await.unwrap();
    let client = env.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm: ConfigMap = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "before"}, "data": {"k": "v"}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();

    // A watch that was running before the restart must see what is written after it.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher(cms.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(cm) => {
                    let _ = seen_tx.send(cm.metadata.name.unwrap_or_default());
                }
                Err(e) => eprintln!("watch error: {e}"),
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let took = env.restart_apiserver().await.expect("restart");
    assert!(took.as_secs() < 120, "{took:?}");

    // Same port and certificates: the client built before the restart still works, and
    // what was stored in etcd is still there.
    let back = cms
        .get("before")
        .await
        .expect("object survives the restart");
    assert_eq!(back.data.unwrap()["k"], "v");
    let after: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "after"}})).unwrap();
    cms.create(&PostParams::default(), &after).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, seen.recv()).await {
            Ok(Some(name)) if name == "after" => break,
            Ok(Some(_)) => continue,
            _ => panic!("the watch never saw the object written after the restart"),
        }
    }
    let log = std::fs::read_to_string(env.apiserver_log_path()).unwrap();
    assert!(!log.is_empty());
}
