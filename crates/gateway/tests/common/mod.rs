//! Shared test harness of the gateway's tests: our own small Rust MCP backend for specific
//! failure scenarios and the in-process gateway. The MCP client, the real peers
//! (server-everything over streamable HTTP and SSE, the Python SDK), ports and TLS come from
//! `vmcp-test-support`, re-exported here. Everything binds 127.0.0.1.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "live")]
pub mod keycloak;

#[allow(unused_imports)] // each test file uses some
pub use vmcp_test_support::{
    Client, Everything, LoopbackTls, TestEnv, free_port, peers, python_json, text_of,
    wait_listening,
};

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

// === our own small MCP backend ===

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// tools/call answers with bytes that are not JSON.
    Garbage,
    /// tools/list also offers `late` once this many milliseconds have passed since start,
    /// without telling anyone (no listChanged capability, no notification).
    AddsToolAfterMs(u64),
}

/// A minimal streamable-HTTP MCP server (JSON replies, no sessions) with `sleep` and `add`.
pub async fn rust_backend(behaviour: Behaviour) -> SocketAddr {
    let started = std::time::Instant::now();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(
            move |body: Bytes| async move { handle(behaviour, started, body).await },
        ),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

pub type Recorded = Arc<std::sync::Mutex<Vec<http::HeaderMap>>>;

/// Header under which [`recording_backend`] files the JSON-RPC method of each request it
/// records (the gateway never sends it: it is added on arrival).
pub const RECORDED_METHOD: &str = "x-recorded-method";

/// [`rust_backend`] that also records the headers of every request, with its method under
/// [`RECORDED_METHOD`].
pub async fn recording_backend() -> (SocketAddr, Recorded) {
    recording_backend_requiring(None).await
}

/// [`recording_backend`] that, with `required`, answers requests without that header with
/// HTTP 401 (unrecorded): a backend that serves only callers with credentials.
pub async fn recording_backend_requiring(required: Option<&'static str>) -> (SocketAddr, Recorded) {
    let seen: Recorded = Arc::default();
    let started = std::time::Instant::now();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: http::HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                if required.is_some_and(|h| headers.get(h).is_none()) {
                    return http::StatusCode::UNAUTHORIZED.into_response();
                }
                let mut headers = headers;
                let msg: Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(m) = msg["method"].as_str()
                    && let Ok(v) = http::HeaderValue::from_str(m)
                {
                    headers.insert(RECORDED_METHOD, v);
                }
                s.lock().unwrap().push(headers);
                handle(Behaviour::Normal, started, body).await
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, seen)
}

/// How the test answers a `tools/list` held by a [`gated_backend`].
pub enum Answer {
    /// The usual tools (`sleep`, `add`) plus these.
    Tools(Vec<&'static str>),
    /// A JSON-RPC error: the fetch fails.
    Error,
}

/// A `tools/list` request held by a [`gated_backend`] until the test answers it.
pub struct Held(tokio::sync::oneshot::Sender<Answer>);

impl Held {
    pub fn answer(self, a: Answer) {
        // The gateway may have given up on the request; then nobody waits for the answer.
        let _ = self.0.send(a);
    }
}

/// The `tools/list` requests a [`gated_backend`] holds, in arrival order.
pub struct Gate(tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Held>>);

impl Gate {
    /// The next held `tools/list` (bounded: fails the test if none arrives).
    pub async fn next(&self) -> Held {
        let mut rx = self.0.lock().await;
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("a tools/list within 30s")
            .expect("the backend is running")
    }
}

/// [`rust_backend`] whose every `tools/list` waits until the test answers it through the
/// returned [`Gate`]: lets a test act while a capability fetch is in flight, and decide
/// what that fetch finds.
pub async fn gated_backend() -> (SocketAddr, Arc<Gate>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Held>();
    let started = std::time::Instant::now();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                let msg: Value = serde_json::from_slice(&body).unwrap_or_default();
                if msg["method"] != "tools/list" || msg.get("id").is_none() {
                    return handle(Behaviour::Normal, started, body).await;
                }
                let (answer, held) = tokio::sync::oneshot::channel();
                if tx.send(Held(answer)).is_err() {
                    return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                let reply = match held.await {
                    Ok(Answer::Tools(extra)) => {
                        let mut tools = usual_tools();
                        for name in extra {
                            tools.as_array_mut().unwrap().push(
                                json!({"name": name, "description": "Extra", "inputSchema": {"type": "object"}}),
                            );
                        }
                        json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"tools": tools}})
                    }
                    Ok(Answer::Error) | Err(_) => {
                        json!({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32603, "message": "held list failed"}})
                    }
                };
                json_response(reply)
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, Arc::new(Gate(tokio::sync::Mutex::new(rx))))
}

fn usual_tools() -> Value {
    json!([
        {"name": "sleep", "description": "Sleeps", "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}}},
        {"name": "add", "description": "Adds", "inputSchema": {"type": "object"}}
    ])
}

fn json_response(v: Value) -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// How [`rust_backend`] answers one POST: for test servers of their own that misbehave only
/// in one respect.
pub async fn handle(behaviour: Behaviour, started: std::time::Instant, body: Bytes) -> Response {
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return (http::StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    let Some(id) = msg.get("id").cloned() else {
        return http::StatusCode::ACCEPTED.into_response();
    };
    let method = msg["method"].as_str().unwrap_or("");
    let result = match method {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "rust-test-backend", "version": "0"}
        }),
        "ping" => json!({}),
        "tools/list" => {
            let mut tools = usual_tools();
            if let Behaviour::AddsToolAfterMs(ms) = behaviour
                && started.elapsed() >= Duration::from_millis(ms)
            {
                tools.as_array_mut().unwrap().push(
                    json!({"name": "late", "description": "Arrived later", "inputSchema": {"type": "object"}}),
                );
            }
            json!({ "tools": tools })
        }
        "tools/call" => {
            if behaviour == Behaviour::Garbage {
                return (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    "<<this is not json>>",
                )
                    .into_response();
            }
            let args = &msg["params"]["arguments"];
            match msg["params"]["name"].as_str() {
                Some("sleep") => {
                    let s = args["seconds"].as_f64().unwrap_or(0.0);
                    tokio::time::sleep(Duration::from_secs_f64(s)).await;
                    json!({"content": [{"type": "text", "text": format!("slept {s}")}]})
                }
                Some("add") => {
                    let sum = args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0);
                    json!({"content": [{"type": "text", "text": sum.to_string()}]})
                }
                _ => {
                    let e = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "unknown tool"}});
                    return json_response(e);
                }
            }
        }
        _ => {
            let e = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}});
            return json_response(e);
        }
    };
    json_response(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

// === gateway and client ===

pub async fn gateway(yaml: &str) -> vmcp_gateway::Gateway {
    gateway_with(yaml, loopback_entries()).await
}

/// The defaults, but entries with `allowPrivateEndpoint` may reach loopback: every backend
/// of these tests listens on 127.0.0.1 (`--allow-loopback-endpoints`).
pub fn loopback_entries() -> vmcp_gateway::serve::FrontOptions {
    vmcp_gateway::serve::FrontOptions {
        allow_loopback_endpoints: true,
        ..Default::default()
    }
}

pub async fn gateway_with(
    yaml: &str,
    opts: vmcp_gateway::serve::FrontOptions,
) -> vmcp_gateway::Gateway {
    try_gateway(yaml, opts).await.expect("gateway starts")
}

pub async fn try_gateway(
    yaml: &str,
    opts: vmcp_gateway::serve::FrontOptions,
) -> Result<vmcp_gateway::Gateway, vmcp_gateway::ServeError> {
    if let Ok(f) = std::env::var("VMCP_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(f))
            .with_test_writer()
            .try_init();
    }
    let cfg = vmcp_config::Config::from_yaml_str(yaml)
        .expect("config parses")
        .with_defaults();
    let report = cfg.validate();
    assert!(!report.has_errors(), "config invalid:\n{report}");
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    vmcp_gateway::start(cfg, l, opts).await
}

/// Config text with the usual header; `body` adds backends and sections.
pub fn config(body: &str) -> String {
    format!(
        "name: test\ngroupRef: g\nincomingAuth: {{type: anonymous}}\noutgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n{body}"
    )
}

/// Polls `/status` until `backend` reports `health` (bounded; no timing assertion).
pub async fn wait_health(c: &Client, backend: &str, health: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = c.get_json("/status").await;
        let b = last["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == backend)
            .cloned();
        if b.as_ref().is_some_and(|b| b["health"] == health) {
            return b.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{backend} never became {health}: {last}");
}

/// `backend`'s entry in the gateway's `/status`, if it is listed there.
pub async fn status_of(c: &Client, backend: &str) -> Option<Value> {
    let s = c.get_json("/status").await;
    s["backends"]
        .as_array()?
        .iter()
        .find(|b| b["name"] == backend)
        .cloned()
}
