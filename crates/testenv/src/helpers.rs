//! Small helpers every integration test against the API server needs: applying manifests as a
//! user would, and waiting for the controllers to converge. Test-only code, so failures panic
//! with the object or condition named.

use std::future::Future;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;

/// Field manager of objects applied by tests, as a user's `kubectl apply --server-side` would.
pub const USER_FIELD_MANAGER: &str = "test-user";

/// Polls `f` every 100 ms until it returns `Some`; panics naming `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `name` no longer exists in `api` (finalizers released, deletion complete);
/// panics naming `what` after `timeout`.
pub async fn eventually_gone<K>(what: &str, timeout: Duration, api: &Api<K>, name: &str)
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(what, timeout, || async {
        api.get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("get {name}: {e}"))
            .is_none()
            .then_some(())
    })
    .await;
}

/// Server-side applies one object of any kind the server knows (found by discovery). With
/// `namespace`, a namespaced object is put there; without, its own `metadata.namespace` is
/// used. A `status` in the object is applied through the status subresource afterwards, as a
/// controller would write it.
pub async fn apply_object(client: &Client, namespace: Option<&str>, obj: &serde_json::Value) {
    let mut v = obj.clone();
    let api_version = v["apiVersion"].as_str().expect("apiVersion").to_owned();
    let kind = v["kind"].as_str().expect("kind").to_owned();
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
    let gvk = GroupVersionKind::gvk(group, version, &kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discovery of {api_version} {kind}: {e}"));
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => {
            if let Some(ns) = namespace {
                v["metadata"]["namespace"] = ns.into();
            }
            let ns = v["metadata"]["namespace"].as_str().unwrap_or("default");
            Api::namespaced_with(client.clone(), ns, &ar)
        }
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    };
    let status = v.as_object_mut().and_then(|o| o.remove("status"));
    let name = v["metadata"]["name"]
        .as_str()
        .expect("metadata.name")
        .to_owned();
    let pp = PatchParams::apply(USER_FIELD_MANAGER).force();
    api.patch(&name, &pp, &Patch::Apply(&v))
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
    if let Some(s) = status {
        let body = serde_json::json!({
            "apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": v["metadata"]["namespace"]},
            "status": s,
        });
        api.patch_status(&name, &pp, &Patch::Apply(&body))
            .await
            .unwrap_or_else(|e| panic!("apply status of {kind} {name}: {e}"));
    }
}

/// [`apply_object`] for every document of a multi-document YAML text (empty ones skipped).
pub async fn apply_yaml(client: &Client, namespace: Option<&str>, yaml: &str) {
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).expect("valid YAML");
        if !v.is_null() {
            apply_object(client, namespace, &v).await;
        }
    }
}
