//! Credentials to a backend from a Secret, end to end on the real API server, as real
//! processes: an MCPExternalAuthConfig of type `headerInjection` backed by a Secret, referenced
//! from an MCPServerEntry, reaches a backend of the test's own (it answers `whoami` with the
//! `X-Api-Key` it received). In dynamic mode the gateway reads the Secret through the API and
//! a rotated value reaches the backend without a restart; in static mode the operator renders
//! the value as an env `secretKeyRef`, and rotating the Secret changes the pod template's
//! checksum (a rollout). The entry's `headerForward` (a plaintext header and one from the same
//! Secret) travels the same way and follows the same rotations. The values are in no
//! ConfigMap, no status and no log line, with both processes logging at debug level. The
//! MCPExternalAuthConfig gets its `Valid` condition.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Client, Process, apply, apply_group, apply_virtual_server, connect, free_port, rendered_config,
    scratch, wait_listening, wait_ready,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};
use vmcp_test_support::{operator_command, serve_command};
use vmcp_testenv::TestEnv;

const WAIT: Duration = Duration::from_secs(60);
const ONE: &str = "vmcp-e2e-key-one-7f3a";
const TWO: &str = "vmcp-e2e-key-two-91c4";
const THREE: &str = "vmcp-e2e-key-three-d20b";

const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

/// The `X-Api-Key` values the backend received, one per request.
type Seen = Arc<Mutex<Vec<String>>>;

/// A minimal streamable-HTTP MCP server (JSON replies, no sessions) whose one tool, `whoami`,
/// answers with the `X-Api-Key`, `X-Tenant` and `X-Partner-Key` headers of the call, joined
/// by `|` (see [`seen_as`]).
async fn key_echo_backend() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("<none>")
                        .to_owned()
                };
                let key = header("x-api-key");
                s.lock().unwrap().push(key.clone());
                let key = format!("{key}|{}|{}", header("x-tenant"), header("x-partner-key"));
                let msg: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let Some(id) = msg.get("id").cloned() else {
                    return (axum::http::StatusCode::ACCEPTED, JSON, String::new());
                };
                let result = match msg["method"].as_str().unwrap_or("") {
                    "initialize" => json!({"protocolVersion": "2025-06-18",
                        "capabilities": {"tools": {}}, "serverInfo": {"name": "key-echo", "version": "1"}}),
                    "tools/list" => json!({"tools": [{"name": "whoami",
                        "inputSchema": {"type": "object"}}]}),
                    "tools/call" => json!({"content": [{"type": "text", "text": key}]}),
                    "ping" => json!({}),
                    _ => {
                        let e = json!({"jsonrpc": "2.0", "id": id,
                            "error": {"code": -32601, "message": "method not found"}});
                        return (axum::http::StatusCode::OK, JSON, e.to_string());
                    }
                };
                let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
                (axum::http::StatusCode::OK, JSON, reply.to_string())
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await });
    (port, seen)
}

/// The Secret: `token` for the MCPExternalAuthConfig, `partner` for the entry's
/// `headerForward`.
fn secret(value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
           "stringData": {"token": value, "partner": partner(value)}})
}

fn partner(value: &str) -> String {
    format!("{value}-partner")
}

/// What `whoami` answers when the Secret holds `value`.
fn seen_as(value: &str) -> String {
    format!("{value}|acme|{}", partner(value))
}

fn api_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "toolhive.stacklok.dev".into(),
        version: "v1beta1".into(),
        api_version: "toolhive.stacklok.dev/v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Everything of `ns` the value must never be in: ConfigMaps, the Deployment, and the
/// ToolHive objects with their statuses, as one text.
async fn visible_state(client: &kube::Client, ns: &str) -> String {
    let mut all = String::new();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for c in cms.list(&ListParams::default()).await.unwrap() {
        all.push_str(&serde_json::to_string(&c).unwrap());
    }
    let ds: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for d in ds.list(&ListParams::default()).await.unwrap() {
        all.push_str(&serde_json::to_string(&d).unwrap());
    }
    for (kind, plural) in [
        ("VirtualMCPServer", "virtualmcpservers"),
        ("MCPServerEntry", "mcpserverentries"),
        ("MCPExternalAuthConfig", "mcpexternalauthconfigs"),
        ("MCPGroup", "mcpgroups"),
    ] {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &api_resource(kind, plural));
        for o in api.list(&ListParams::default()).await.unwrap() {
            all.push_str(&serde_json::to_string(&o).unwrap());
        }
    }
    all
}

/// The condition `type_` of MCPExternalAuthConfig `name`, once it has one.
async fn auth_condition(client: &kube::Client, ns: &str, name: &str, type_: &str) -> Value {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &api_resource("MCPExternalAuthConfig", "mcpexternalauthconfigs"),
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let o = api.get(name).await.unwrap();
        if let Some(c) = o.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        {
            return c.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "MCPExternalAuthConfig {name} has no {type_} condition: {:?}",
            o.data["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Calls `rec_whoami` until it answers `want` (a backend being rebuilt may answer an error
/// for a moment); panics with the last answer and the log after `WAIT`.
async fn wait_key(c: &mut Client, want: &str, log: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = c.call_text("rec_whoami", json!({})).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backend never got {want}; last answer {got}; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `vmcp serve` as the pod would run it, logging at debug level; `env` is what the kubelet
/// fills from `secretKeyRef`s.
fn gateway(
    cfg: &std::path::Path,
    port: u16,
    ns: &str,
    kubeconfig: &std::path::Path,
    log: &std::path::Path,
    env: &[(String, String)],
) -> Process {
    let mut command = serve_command(
        std::path::Path::new(env!("CARGO_BIN_EXE_vmcp")),
        cfg,
        port,
        "gw",
        ns,
        kubeconfig,
    );
    command
        .env("VMCP_LOG", "debug")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    Process::spawn("vmcp serve", command).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_backed_header_reaches_the_backend_and_follows_rotation_in_both_modes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("e2e-credentials").await.expect("namespace");
    let client = env.client().expect("client");
    let dir = scratch("e2e-credentials");
    let (backend_port, seen) = key_echo_backend().await;

    let op_log = dir.join("operator.log");
    let mut command = operator_command(
        std::path::Path::new(env!("CARGO_BIN_EXE_vmcp")),
        env.kubeconfig_path(),
        &ns,
    );
    command
        .env("RUST_LOG", "debug")
        .stdout(std::fs::File::create(&op_log).unwrap())
        .stderr(std::fs::File::create(dir.join("operator.err")).unwrap());
    let _operator = Process::spawn("vmcp operator", command).unwrap();

    apply(&client, &ns, secret(ONE)).await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPExternalAuthConfig",
               "metadata": {"name": "api-key"},
               "spec": {"type": "headerInjection", "headerInjection": {
                   "headerName": "X-Api-Key", "valueSecretRef": {"name": "creds", "key": "token"}}}}),
    )
    .await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPExternalAuthConfig",
               "metadata": {"name": "cloud"},
               "spec": {"type": "awsSts", "awsSts": {"region": "eu-west-1"}}}),
    )
    .await;
    apply_group(&client, &ns).await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPServerEntry",
               "metadata": {"name": "rec"},
               "spec": {"remoteUrl": format!("http://127.0.0.1:{backend_port}/mcp"),
                        "transport": "streamable-http", "groupRef": {"name": "team"},
                        "allowPrivateEndpoint": true, "externalAuthConfigRef": {"name": "api-key"},
                        "headerForward": {"addPlaintextHeaders": {"X-Tenant": "acme"},
                            "addHeadersFromSecret": [{"headerName": "X-Partner-Key",
                                "valueSecretRef": {"name": "creds", "key": "partner"}}]}}}),
    )
    .await;
    apply_virtual_server(&client, &ns, None).await;

    // The configs' own verdicts.
    let valid = auth_condition(&client, &ns, "api-key", "Valid").await;
    assert_eq!(valid["status"], "True", "{valid}");
    let invalid = auth_condition(&client, &ns, "cloud", "Valid").await;
    assert_eq!(invalid["status"], "False", "{invalid}");
    assert!(
        invalid["message"]
            .as_str()
            .unwrap()
            .contains("awsSts is not supported"),
        "{invalid}"
    );

    // Dynamic mode: the gateway reads the Secret through the API.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + WAIT;
    let yaml = loop {
        if let Some(y) = rendered_config(&cms).await {
            break y;
        }
        assert!(tokio::time::Instant::now() < deadline, "no rendered config");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, &yaml).unwrap();
    let gw_kubeconfig = env
        .service_account_kubeconfig(&ns, "gw-vmcp")
        .await
        .expect("gateway kubeconfig");
    let port = free_port();
    let gw_log = dir.join("gateway-dynamic.log");
    let dynamic = gateway(&cfg, port, &ns, &gw_kubeconfig, &gw_log, &[]);
    wait_listening(port).await;
    wait_ready(port).await;
    let mut c = connect(port).await;
    wait_key(&mut c, &seen_as(ONE), &gw_log).await;

    // Rotation reaches the backend with no restart, on the same client session.
    apply(&client, &ns, secret(TWO)).await;
    wait_key(&mut c, &seen_as(TWO), &gw_log).await;
    assert!(
        seen.lock().unwrap().iter().all(|k| k == ONE || k == TWO),
        "every request carried the key: {:?}",
        seen.lock().unwrap()
    );
    drop(c);
    drop(dynamic);

    // Static mode: the value is an env var from the Secret, and a rotation rolls the pods.
    apply_virtual_server(&client, &ns, Some("inline")).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let pod_template = || async {
        let d = deployments.get("gw").await.unwrap();
        d.spec.unwrap().template
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let (yaml, env_name, partner_env, before) = loop {
        let yaml = rendered_config(&cms).await.unwrap_or_default();
        let t = pod_template().await;
        let env_of = |key: &str| {
            t.spec.as_ref().and_then(|s| {
                s.containers[0].env.iter().flatten().find_map(|e| {
                    let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
                    (r.name == "creds" && r.key == key).then(|| e.name.clone())
                })
            })
        };
        let named = |n: &String| yaml.contains(n.as_str());
        if let (Some(env_name), Some(partner_env)) = (
            env_of("token").filter(named),
            env_of("partner").filter(named),
        ) {
            let sum = t.metadata.unwrap().annotations.unwrap()
                ["toolhive.stacklok.dev/runconfig-checksum"]
                .clone();
            break (yaml, env_name, partner_env, sum);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "static render never named the Secret's env var; config:\n{yaml}\noperator log:\n{}",
            std::fs::read_to_string(&op_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        yaml.contains("rec") && yaml.contains("headerValueEnv"),
        "{yaml}"
    );
    apply(&client, &ns, secret(THREE)).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let t = pod_template().await;
        let sum =
            t.metadata.unwrap().annotations.unwrap()["toolhive.stacklok.dev/runconfig-checksum"]
                .clone();
        if sum != before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rotating the Secret did not change the pod template's checksum"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The kubelet's part of the rollout: the new pod starts with the env from the Secret.
    let yaml = rendered_config(&cms).await.unwrap();
    let cfg = dir.join("config-static.yaml");
    std::fs::write(&cfg, &yaml).unwrap();
    let port = free_port();
    let static_log = dir.join("gateway-static.log");
    let _static = gateway(
        &cfg,
        port,
        &ns,
        env.kubeconfig_path(),
        &static_log,
        &[(env_name, THREE.to_owned()), (partner_env, partner(THREE))],
    );
    wait_listening(port).await;
    wait_ready(port).await;
    let mut c = connect(port).await;
    wait_key(&mut c, &seen_as(THREE), &static_log).await;

    // Nowhere else: not in any ConfigMap, Deployment or status, not in the logs.
    let state = visible_state(&client, &ns).await;
    let logs: String = [&op_log, &dir.join("operator.err"), &gw_log, &static_log]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert!(logs.contains("DEBUG"), "debug logging is on");
    for v in [ONE, TWO, THREE] {
        assert!(!state.contains(v), "{v} is in the cluster's objects");
        assert!(!logs.contains(v), "{v} is in a log");
    }
}
