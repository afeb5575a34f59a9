//! The CRDs on the real kube-apiserver (crates/testenv): every kind installs, valid objects are
//! accepted and read back with defaults, invalid ones are rejected with the expected message,
//! v1alpha1 is served with a deprecation warning, status is only writable through its
//! subresource, and every ToolHive sample object of our kinds applies unchanged.

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use vmcp_testenv::TestEnv;

async fn env() -> TestEnv {
    let env = TestEnv::shared().await.expect("test API server");
    env.install_crds().await.expect("install deploy/crds");
    env
}

fn resource(kind: &str, version: &str) -> ApiResource {
    let crd = vmcp_api::crd::all_crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap();
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("toolhive.stacklok.dev", version, kind),
        &crd.spec.names.plural,
    )
}

fn api(env: &TestEnv, ns: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(env.client().unwrap(), ns, &resource(kind, "v1beta1"))
}

fn object(kind: &str, name: &str, spec: Value) -> DynamicObject {
    let mut o = DynamicObject::new(name, &resource(kind, "v1beta1"));
    o.data = json!({ "spec": spec });
    o
}

/// Creates the object and returns the API server's error message, or `None` when accepted.
async fn create(
    env: &TestEnv,
    ns: &str,
    kind: &str,
    name: &str,
    spec: Value,
) -> Result<Value, String> {
    match api(env, ns, kind)
        .create(&PostParams::default(), &object(kind, name, spec))
        .await
    {
        Ok(o) => Ok(serde_json::to_value(o).unwrap()),
        Err(kube::Error::Api(status)) => Err(status.message.clone()),
        Err(other) => panic!("unexpected client error: {other}"),
    }
}

#[tokio::test]
async fn valid_objects_are_accepted_with_defaults() {
    let env = env().await;
    let ns = env.namespace("crd-valid").await.unwrap();

    let group = create(&env, &ns, "MCPGroup", "g", json!({})).await.unwrap();
    assert_eq!(group["spec"], json!({}));
    // A group without any spec is defaulted to `spec: {}`, so typed clients can read it.
    let mut bare = object("MCPGroup", "bare", json!({}));
    bare.data = json!({});
    let bare = api(&env, &ns, "MCPGroup")
        .create(&PostParams::default(), &bare)
        .await
        .unwrap();
    assert_eq!(bare.data["spec"], json!({}));
    let typed: Api<vmcp_api::MCPGroup> = Api::namespaced(env.client().unwrap(), &ns);
    assert_eq!(typed.get("bare").await.unwrap().spec.description, None);

    let entry = create(
        &env,
        &ns,
        "MCPServerEntry",
        "e",
        json!({"remoteUrl": "https://mcp.example.com/mcp", "transport": "sse", "groupRef": {"name": "g"}}),
    )
    .await
    .unwrap();
    assert_eq!(entry["spec"]["allowPrivateEndpoint"], false);

    let server = create(
        &env,
        &ns,
        "MCPServer",
        "s",
        json!({"image": "img", "resources": {"limits": {"cpu": "1"}}}),
    )
    .await
    .unwrap();
    assert_eq!(server["spec"]["transport"], "stdio");
    assert_eq!(server["spec"]["proxyMode"], "streamable-http");
    assert_eq!(server["spec"]["proxyPort"], 8080);
    assert_eq!(
        server["spec"]["resources"]["limits"]["cpu"], "1",
        "unknown MCPServer fields are preserved"
    );

    let proxy = create(
        &env,
        &ns,
        "MCPRemoteProxy",
        "p",
        json!({"remoteUrl": "https://x.example.com"}),
    )
    .await
    .unwrap();
    assert_eq!(proxy["spec"]["transport"], "streamable-http");
    assert_eq!(proxy["spec"]["proxyPort"], 8080);

    let vmcp = create(
        &env,
        &ns,
        "VirtualMCPServer",
        "v",
        json!({
            "groupRef": {"name": "g"},
            "incomingAuth": {"type": "anonymous"},
            "outgoingAuth": {},
            "config": {"aggregation": {"conflictResolution": "prefix", "conflictResoluton": "typo"}, "someFutureKey": {"x": 1}}
        }),
    )
    .await
    .unwrap();
    assert_eq!(vmcp["spec"]["serviceType"], "ClusterIP");
    assert_eq!(vmcp["spec"]["sessionAffinity"], "ClientIP");
    assert_eq!(vmcp["spec"]["outgoingAuth"]["source"], "discovered");
    assert_eq!(
        vmcp["spec"]["config"]["someFutureKey"]["x"], 1,
        "unknown config keys are kept"
    );
    // ...at every level, so the operator can name a misspelt key instead of it vanishing.
    assert_eq!(
        vmcp["spec"]["config"]["aggregation"]["conflictResoluton"],
        "typo"
    );

    let auth = create(
        &env,
        &ns,
        "MCPExternalAuthConfig",
        "a",
        json!({"type": "unauthenticated"}),
    )
    .await;
    assert!(auth.is_ok(), "{auth:?}");
    let tools = create(
        &env,
        &ns,
        "MCPToolConfig",
        "t",
        json!({"toolsFilter": ["a", "b"]}),
    )
    .await;
    assert!(tools.is_ok(), "{tools:?}");
}

#[tokio::test]
async fn invalid_objects_are_rejected_with_clear_messages() {
    let env = env().await;
    let ns = env.namespace("crd-invalid").await.unwrap();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "MCPServerEntry",
            json!({"remoteUrl": "https://x.example.com", "groupRef": {"name": "g"}}),
            "spec.transport: Required value",
        ),
        (
            "MCPServerEntry",
            json!({"remoteUrl": "ftp://x.example.com", "transport": "sse", "groupRef": {"name": "g"}}),
            "spec.remoteUrl: Invalid value",
        ),
        (
            "MCPServerEntry",
            json!({"remoteUrl": "https://x.example.com", "transport": "websocket", "groupRef": {"name": "g"}}),
            "spec.transport: Unsupported value: \"websocket\"",
        ),
        (
            "MCPExternalAuthConfig",
            json!({"type": "headerInjection", "bearerToken": {"tokenSecretRef": {"name": "s", "key": "k"}}}),
            "headerInjection configuration must be set if and only if type is 'headerInjection'",
        ),
        (
            "MCPExternalAuthConfig",
            json!({"type": "unauthenticated", "tokenExchange": {"tokenUrl": "https://idp/token"}}),
            "tokenExchange configuration must be set if and only if type is 'tokenExchange'",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "oidc"}}),
            "spec.incomingAuth.oidcConfigRef is required when type is oidc",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": ""}, "incomingAuth": {"type": "anonymous"}}),
            "spec.groupRef.name",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"}, "sessionStorage": {"provider": "redis"}}),
            "address is required",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"},
                   "config": {"rateLimiting": {"shared": {"maxTokens": 5}}}}),
            "config.rateLimiting requires sessionStorage with provider 'redis'",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"},
                   "config": {"aggregation": {"conflictResolution": "alphabetical"}}}),
            "spec.config.aggregation.conflictResolution: Unsupported value",
        ),
        (
            "MCPServer",
            json!({"image": "i", "proxyPort": 70000}),
            "spec.proxyPort",
        ),
        (
            "MCPRemoteProxy",
            json!({"transport": "sse"}),
            "spec.remoteUrl: Required value",
        ),
    ];
    for (i, (kind, spec, expected)) in cases.into_iter().enumerate() {
        let err = create(&env, &ns, kind, &format!("bad-{i}"), spec.clone())
            .await
            .expect_err(&format!("{kind} {spec} must be rejected"));
        assert!(
            err.contains(expected),
            "{kind} {spec}: expected {expected:?} in {err:?}"
        );
    }
}

#[tokio::test]
async fn v1alpha1_is_served_with_a_deprecation_warning() {
    let env = env().await;
    let ns = env.namespace("crd-alpha").await.unwrap();
    let client = env.client().unwrap();
    let body = json!({
        "apiVersion": "toolhive.stacklok.dev/v1alpha1",
        "kind": "MCPGroup",
        "metadata": {"name": "old"},
        "spec": {"description": "written against v1alpha1"}
    });
    let request = http::Request::post(format!(
        "/apis/toolhive.stacklok.dev/v1alpha1/namespaces/{ns}/mcpgroups"
    ))
    .header("content-type", "application/json")
    .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
    .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(response.status(), 201);
    let warning = response
        .headers()
        .get("warning")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        warning.contains("toolhive.stacklok.dev/v1alpha1 MCPGroup is deprecated"),
        "warning: {warning:?}"
    );

    // The same object is readable through the storage version.
    let typed: Api<vmcp_api::MCPGroup> = Api::namespaced(client, &ns);
    let group = typed.get("old").await.unwrap();
    assert_eq!(
        group.spec.description.as_deref(),
        Some("written against v1alpha1")
    );
}

#[tokio::test]
async fn status_is_only_writable_through_the_subresource() {
    let env = env().await;
    let ns = env.namespace("crd-status").await.unwrap();
    let groups = api(&env, &ns, "MCPGroup");
    let mut g = object("MCPGroup", "g", json!({}));
    g.data["status"] = json!({"phase": "Ready"});
    let created = groups.create(&PostParams::default(), &g).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status on create is dropped: {:?}",
        created.data
    );

    let patch = json!({"status": {"phase": "Ready", "serverCount": 2}});
    let main = groups
        .patch("g", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert!(
        main.data.get("status").is_none(),
        "status through the main resource is ignored"
    );

    let status = groups
        .patch_status("g", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(status.data["status"]["phase"], "Ready");
    assert_eq!(status.data["status"]["serverCount"], 2);

    let bad = json!({"status": {"phase": "Exploded"}});
    let err = groups
        .patch_status("g", &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Unsupported value"), "{err}");
}

/// Every object of a kind vmcp defines in ToolHive's samples applies as it is.
#[tokio::test]
async fn toolhive_samples_apply_unchanged() {
    let env = env().await;
    let ns = env.namespace("compat").await.unwrap();
    let dir = vmcp_testenv::workspace_root().join("../shared/compat/toolhive");
    let kinds: Vec<String> = vmcp_api::crd::all_crds()
        .into_iter()
        .map(|c| c.spec.names.kind)
        .collect();
    let mut files = Vec::new();
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    files.sort();
    let mut applied = 0;
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
            let Some(kind) = value["kind"].as_str() else {
                continue;
            };
            if !kinds.iter().any(|k| k == kind) {
                continue;
            }
            let version = value["apiVersion"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap();
            let mut obj: DynamicObject = serde_json::from_value(value.clone()).unwrap();
            obj.metadata.namespace = None;
            let name = obj.metadata.name.clone().unwrap();
            let api: Api<DynamicObject> =
                Api::namespaced_with(env.client().unwrap(), &ns, &resource(kind, version));
            let params = PatchParams::apply("compat-test").force();
            if let Err(err) = api.patch(&name, &params, &Patch::Apply(&obj)).await {
                panic!("{} {kind}/{name} rejected: {err}", file.display());
            }
            applied += 1;
        }
    }
    assert!(applied >= 90, "only {applied} objects applied");
}
