//! The CRDs on the real kube-apiserver (crates/testenv): every kind installs, valid objects are
//! accepted and read back with defaults, invalid ones are rejected with the expected message,
//! v1alpha1 is served with a deprecation warning, status is only writable through its
//! subresource, and every ToolHive sample object of our kinds applies unchanged.

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use vmcp_testenv::{TestEnv, can_list, rule, wait_for_list_access};

const RBAC_PROPAGATION: std::time::Duration = std::time::Duration::from_secs(30);

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
    let api = api(env, ns, kind);
    match api
        .create(&PostParams::default(), &object(kind, name, spec))
        .await
    {
        // Read back from storage, not the create response: defaults must be persisted.
        Ok(_) => Ok(serde_json::to_value(api.get(name).await.unwrap()).unwrap()),
        Err(kube::Error::Api(status)) => Err(status.message.clone()),
        Err(other) => panic!("unexpected client error: {other}"),
    }
}

/// A minimal valid spec of every kind vmcp defines.
fn minimal_spec(kind: &str) -> Value {
    match kind {
        "MCPGroup" => json!({}),
        "MCPServerEntry" => {
            json!({"remoteUrl": "https://mcp.example.com/mcp", "transport": "sse", "groupRef": {"name": "g"}})
        }
        "MCPServer" => json!({"image": "img"}),
        "MCPRemoteProxy" => json!({"remoteUrl": "https://x.example.com"}),
        "VirtualMCPServer" => {
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"}})
        }
        "MCPExternalAuthConfig" => json!({"type": "unauthenticated"}),
        "MCPToolConfig" => json!({"toolsFilter": ["a"]}),
        "MCPOIDCConfig" => {
            json!({"type": "inline", "inline": {"issuer": "https://id.example.com"}})
        }
        "MCPAuthzConfig" => json!({"type": "cedarv1", "config": {"policies": []}}),
        "MCPTelemetryConfig" => json!({"openTelemetry": {"enabled": false}}),
        other => panic!("no minimal spec for {other}"),
    }
}

fn all_kinds() -> Vec<String> {
    vmcp_api::crd::all_crds()
        .into_iter()
        .map(|c| c.spec.names.kind)
        .collect()
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
    assert_eq!(proxy["spec"]["allowPrivateEndpoint"], false);

    let vmcp = create(
        &env,
        &ns,
        "VirtualMCPServer",
        "v",
        json!({
            "groupRef": {"name": "g"},
            "incomingAuth": {"type": "anonymous"},
            "outgoingAuth": {},
            "config": {"aggregation": {"conflictResolution": "priority", "conflictResolutionConfig": {"priorityOrder": ["a"]}, "conflictResoluton": "typo"}, "someFutureKey": {"x": 1}}
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
    // ToolHive's default inside spec.config (the gateway's default is the same).
    assert_eq!(
        vmcp["spec"]["config"]["aggregation"]["conflictResolutionConfig"]["prefixFormat"],
        "{workload}_"
    );
    // Status phases start as Pending, as in ToolHive.
    let vmcps = api(&env, &ns, "VirtualMCPServer");
    let status = vmcps
        .patch_status(
            "v",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"url": "http://vmcp-v:4483"}})),
        )
        .await
        .unwrap();
    assert_eq!(status.data["status"]["phase"], "Pending");

    // ToolHive's `backends[].type` enum includes "" ("not an entry").
    let static_vmcp = create(
        &env,
        &ns,
        "VirtualMCPServer",
        "static",
        json!({
            "groupRef": {"name": "g"},
            "incomingAuth": {"type": "anonymous"},
            "config": {"backends": [
                {"name": "w", "url": "http://w:8080/mcp", "transport": "sse", "type": ""},
                {"name": "e", "url": "https://e.example.com/mcp", "transport": "sse", "type": "entry"}
            ]}
        }),
    )
    .await
    .unwrap();
    assert_eq!(static_vmcp["spec"]["config"]["backends"][0]["type"], "");

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
        // ToolHive's schema rules inside spec.config.
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"},
                   "config": {"operational": {"failureHandling": {"circuitBreaker": {"failureThreshold": 0}}}}}),
            "spec.config.operational.failureHandling.circuitBreaker.failureThreshold: Invalid value: 0",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"},
                   "config": {"operational": {"failureHandling": {"circuitBreaker": {"timeout": "500ms"}}}}}),
            "circuitBreaker.timeout must be at least 1s",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"},
                   "config": {"backends": [{"name": "a", "url": "ftp://a", "transport": "sse"}]}}),
            "spec.config.backends[0].url: Invalid value",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"},
                   "config": {"backends": [{"name": "a", "url": "http://a"}]}}),
            "spec.config.backends[0].transport: Required value",
        ),
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"},
                   "config": {"aggregation": {"tools": [{"filter": ["t"]}]}}}),
            "spec.config.aggregation.tools[0].workload: Required value",
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
        (
            "VirtualMCPServer",
            json!({"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"}, "replicas": -1}),
            "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        ),
        (
            "MCPServerEntry",
            json!({"remoteUrl": 7, "transport": "sse", "groupRef": {"name": "g"}}),
            "spec.remoteUrl: Invalid value: \"integer\": spec.remoteUrl in body must be of type string",
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
        // `vmcp render`'s offline admission refuses it too, in the server's words.
        let offline = vmcp_api::admission::problems(kind, &json!({ "spec": spec }));
        assert!(
            offline.iter().any(|p| p.contains(expected)),
            "{kind} {spec}: offline admission missed {expected:?}: {offline:?} (server: {err})"
        );
    }
}

#[tokio::test]
async fn v1alpha1_is_served_with_a_deprecation_warning() {
    let env = env().await;
    let ns = env.namespace("crd-alpha").await.unwrap();
    let client = env.client().unwrap();
    for kind in all_kinds() {
        let plural = resource(&kind, "v1alpha1").plural;
        let body = json!({
            "apiVersion": "toolhive.stacklok.dev/v1alpha1",
            "kind": kind,
            "metadata": {"name": "old"},
            "spec": minimal_spec(&kind),
        });
        let request = http::Request::post(format!(
            "/apis/toolhive.stacklok.dev/v1alpha1/namespaces/{ns}/{plural}"
        ))
        .header("content-type", "application/json")
        .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
        let response = client.send(request).await.unwrap();
        assert_eq!(response.status(), 201, "{kind} through v1alpha1");
        let warning = response
            .headers()
            .get("warning")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let expected = format!(
            "toolhive.stacklok.dev/v1alpha1 {kind} is deprecated; use toolhive.stacklok.dev/v1beta1 {kind}"
        );
        assert!(warning.contains(&expected), "{kind} warning: {warning:?}");
        // The same object is readable through the storage version.
        api(&env, &ns, &kind).get("old").await.unwrap();
    }

    let typed: Api<vmcp_api::MCPGroup> = Api::namespaced(client, &ns);
    typed
        .patch(
            "old",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"description": "written against v1alpha1"}})),
        )
        .await
        .unwrap();
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
    let condition = json!({"type": "Valid", "status": "True", "reason": "Checked",
        "message": "set by the test", "lastTransitionTime": "2026-01-01T00:00:00Z"});
    for kind in all_kinds() {
        let objects = api(&env, &ns, &kind);
        let mut o = object(&kind, "s", minimal_spec(&kind));
        o.data["status"] = json!({"conditions": [condition.clone()]});
        let created = objects.create(&PostParams::default(), &o).await.unwrap();
        assert!(
            created
                .data
                .get("status")
                .is_none_or(|s| s.get("conditions").is_none()),
            "{kind}: status on create is dropped: {:?}",
            created.data
        );

        let patch = json!({"status": {"conditions": [condition.clone()]}});
        let main = objects
            .patch("s", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        assert!(
            main.data
                .get("status")
                .is_none_or(|s| s.get("conditions").is_none()),
            "{kind}: status through the main resource is ignored"
        );

        let status = objects
            .patch_status("s", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        assert_eq!(
            status.data["status"]["conditions"][0]["reason"], "Checked",
            "{kind}: status subresource"
        );
    }

    let groups = api(&env, &ns, "MCPGroup");
    let patch = json!({"status": {"phase": "Ready", "serverCount": 2}});
    let status = groups
        .patch_status("s", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(status.data["status"]["phase"], "Ready");
    assert_eq!(status.data["status"]["serverCount"], 2);

    let bad = json!({"status": {"phase": "Exploded"}});
    let err = groups
        .patch_status("s", &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Unsupported value"), "{err}");
}

/// The RBAC rule a gateway's Role needs is enforced for ToolHive's new kind: a ServiceAccount
/// whose Role lacks `mcpserverentries` is denied a list of them, and allowed once the rule is
/// added.
#[tokio::test]
async fn listing_mcpserverentries_needs_its_own_rbac_rule() {
    let env = env().await;
    let ns = env.namespace("crd-rbac").await.unwrap();
    let group = "toolhive.stacklok.dev";
    let verbs = ["get", "list", "watch"];
    env.bind_role(
        &ns,
        "gateway",
        "gateway",
        vec![rule(group, &["mcpgroups"], &verbs)],
    )
    .await
    .unwrap();
    let sa = env.service_account_client(&ns, "gateway").await.unwrap();
    let groups: Api<vmcp_api::MCPGroup> = Api::namespaced(sa.clone(), &ns);
    let entries: Api<vmcp_api::MCPServerEntry> = Api::namespaced(sa, &ns);
    // The Role is in effect (its rule works) ...
    wait_for_list_access(&groups, true, RBAC_PROPAGATION)
        .await
        .unwrap();
    // ... and it does not cover entries.
    assert!(
        !can_list(&entries).await.unwrap(),
        "mcpserverentries must be denied"
    );

    env.bind_role(
        &ns,
        "gateway",
        "gateway",
        vec![rule(group, &["mcpgroups", "mcpserverentries"], &verbs)],
    )
    .await
    .unwrap();
    wait_for_list_access(&entries, true, RBAC_PROPAGATION)
        .await
        .unwrap();
}

/// ToolHive kinds in the samples that vmcp does not define (yet); an object of any other
/// ToolHive kind that is not ours fails the test, so a sample of a new kind is noticed.
const KINDS_NOT_DEFINED: &[&str] = &[
    "EmbeddingServer",
    "MCPTelemetryConfig",
    "VirtualMCPCompositeToolDefinition",
];

/// How many objects of our kinds ToolHive's samples hold (the samples are fixed data).
const SAMPLE_OBJECTS: usize = 101;

/// How many objects of our kinds our own manifests in ToolHive's shapes hold.
const SHAPE_OBJECTS: usize = 51;

/// Every object of a kind vmcp defines in our manifests of ToolHive's shapes applies as it is,
/// with strict field validation (as `kubectl apply` does: a field our schema lacks is an error,
/// not silently pruned).
#[tokio::test]
async fn toolhive_shapes_apply_unchanged() {
    let env = env().await;
    let applied = apply_unchanged(&env, &vmcp_testenv::toolhive_shapes(), "shape").await;
    assert_eq!(applied, SHAPE_OBJECTS, "objects of our kinds applied");

    // A field our schema lacks is an error, never a silent prune (server-side apply refuses
    // fields a structural schema does not declare; strict validation also refuses duplicates).
    let ns = env.namespace("compat-strict").await.unwrap();
    let mut typo = object("MCPServerEntry", "typo", minimal_spec("MCPServerEntry"));
    typo.data["spec"]["remoteURL"] = json!("https://wrong-case.example.com");
    let err = api(&env, &ns, "MCPServerEntry")
        .patch("typo", &strict_apply(), &Patch::Apply(&typo))
        .await
        .expect_err("an undeclared field is rejected");
    assert!(
        err.to_string()
            .contains(".spec.remoteURL: field not declared in schema"),
        "{err}"
    );
}

/// The same for ToolHive's own samples, when they are beside the checkout.
#[tokio::test]
async fn toolhive_samples_apply_unchanged() {
    let Some(dir) = vmcp_testenv::toolhive_samples() else {
        return;
    };
    let applied = apply_unchanged(&env().await, &dir, "compat").await;
    assert_eq!(applied, SAMPLE_OBJECTS, "objects of our kinds applied");
}

fn strict_apply() -> PatchParams {
    PatchParams::apply("compat-test")
        .force()
        .validation_strict()
}

/// Applies every object of our kinds in the `*.yaml` files of `dir`'s subdirectories, checks
/// that offline admission agrees and that nothing of a spec is lost, and returns how many were
/// applied. Each file gets a namespace of its own, as a user applying one example would, so
/// same-named objects of different files do not overwrite each other.
async fn apply_unchanged(env: &TestEnv, dir: &std::path::Path, prefix: &str) -> usize {
    let kinds = all_kinds();
    let mut files = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    files.sort();
    let params = strict_apply();
    let mut applied = 0;
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let stem = file
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('_', "-");
        let ns = env.namespace(&format!("{prefix}-{stem}")).await.unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
            let Some(kind) = value["kind"].as_str() else {
                continue;
            };
            let ours = value["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("toolhive.stacklok.dev/"));
            if !ours {
                continue; // Secrets, ConfigMaps and other core objects beside the manifests.
            }
            if !kinds.iter().any(|k| k == kind) {
                assert!(
                    KINDS_NOT_DEFINED.contains(&kind),
                    "{}: kind {kind} is neither ours nor known to be left out",
                    file.display()
                );
                continue;
            }
            let version = value["apiVersion"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap();
            // What the server accepts, offline admission accepts (no false refusals).
            assert_eq!(
                vmcp_api::admission::problems(kind, &value),
                Vec::<String>::new(),
                "{} {kind}: offline admission refuses an object the server accepts",
                file.display()
            );
            let mut obj: DynamicObject = serde_json::from_value(value.clone()).unwrap();
            obj.metadata.namespace = None;
            let name = obj.metadata.name.clone().unwrap();
            let api: Api<DynamicObject> =
                Api::namespaced_with(env.client().unwrap(), &ns, &resource(kind, version));
            let stored = match api.patch(&name, &params, &Patch::Apply(&obj)).await {
                Ok(stored) => stored,
                Err(err) => panic!("{} {kind}/{name} rejected: {err}", file.display()),
            };
            // Nothing of the spec is lost on the way in.
            assert_spec_kept(
                &value["spec"],
                &stored.data["spec"],
                &format!("{} {kind}/{name}", file.display()),
            );
            applied += 1;
        }
    }
    applied
}

/// Every field of `sent` is in `stored` with the same value (defaults may add more).
fn assert_spec_kept(sent: &Value, stored: &Value, what: &str) {
    match (sent, stored) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let Some(w) = b.get(k) else {
                    panic!("{what}: field {k} was dropped");
                };
                assert_spec_kept(v, w, &format!("{what}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{what}: list length");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_spec_kept(v, w, &format!("{what}[{i}]"));
            }
        }
        // YAML integers may come back as the same number in another representation.
        (Value::Number(a), Value::Number(b)) => assert_eq!(a.as_f64(), b.as_f64(), "{what}"),
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}
