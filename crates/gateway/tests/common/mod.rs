//! Shared test harness: real peers (server-everything over streamable HTTP and SSE, the
//! Python SDK), our own small Rust MCP backend for specific failure scenarios, a TLS
//! terminator with a per-test CA, and a minimal JSON-RPC client. Everything binds 127.0.0.1.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

pub struct Peers {
    pub server_everything: PathBuf,
    pub node: PathBuf,
    pub python: PathBuf,
    /// The node preload that keeps server-everything on 127.0.0.1.
    pub bind_loopback: PathBuf,
}

/// Installs (once, cached) and locates the peers via scripts/test-peers.sh.
pub fn peers() -> &'static Peers {
    static P: OnceLock<Peers> = OnceLock::new();
    P.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-peers.sh");
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run test-peers.sh");
        assert!(out.status.success(), "test-peers.sh failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("{k} missing from test-peers.sh output"))
        };
        Peers {
            server_everything: get("SERVER_EVERYTHING"),
            node: get("NODE"),
            python: get("PYTHON"),
            bind_loopback: get("BIND_LOOPBACK"),
        }
    })
}

/// A free loopback port that does not race with outgoing connections (see
/// `vmcp_testenv::free_ports`).
pub fn free_port() -> u16 {
    let [port] = vmcp_testenv::free_ports().unwrap();
    port
}

/// A server-everything process; killed on drop.
pub struct Everything {
    pub port: u16,
    mode: &'static str,
    child: Option<Child>,
}

impl Everything {
    /// `mode`: "streamableHttp" or "sse".
    pub async fn start(mode: &'static str) -> Everything {
        Self::start_on(mode, free_port()).await
    }

    pub async fn start_on(mode: &'static str, port: u16) -> Everything {
        let p = peers();
        let child = Command::new(&p.node)
            .arg("--require")
            .arg(&peers().bind_loopback)
            .arg(&p.server_everything)
            .arg(mode)
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server-everything");
        wait_listening(port).await;
        Everything {
            port,
            mode,
            child: Some(child),
        }
    }

    pub fn url(&self) -> String {
        match self.mode {
            "sse" => format!("http://127.0.0.1:{}/sse", self.port),
            _ => format!("http://127.0.0.1:{}/mcp", self.port),
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        *self = Self::start_on(self.mode, self.port).await;
    }
}

impl Drop for Everything {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn wait_listening(port: u16) {
    for _ in 0..300 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listening on 127.0.0.1:{port}");
}

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

// === TLS ===

pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_path: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

/// A CA and a leaf for 127.0.0.1/localhost, generated for this test.
pub fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "vmcp test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.crt");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    Pki {
        dir,
        ca_path,
        server: Arc::new(server),
    }
}

/// Terminates TLS on a loopback port and forwards plaintext to `target`.
pub async fn tls_forwarder(pki: &Pki, target: u16) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server.clone());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    port
}

// === gateway and client ===

pub async fn gateway(yaml: &str) -> vmcp_gateway::Gateway {
    gateway_with(yaml, vmcp_gateway::serve::FrontOptions::default()).await
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

pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub session: Option<String>,
    next: u64,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        // The test client uses plain HTTP, but reqwest wants a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            session: None,
            next: 1,
        }
    }

    pub async fn connect(addr: SocketAddr) -> Client {
        let mut c = Client::new(addr);
        let r = c.rpc("initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}})).await;
        assert_eq!(r["result"]["protocolVersion"], "2025-06-18", "{r}");
        c.notify("notifications/initialized").await;
        c
    }

    /// Posts a request whose params are JSON text (a duplicated key cannot be built as a
    /// `Value`); returns the HTTP status and the JSON reply.
    pub async fn raw_call(&self, id: u64, method: &str, params: &str) -> (u16, Value) {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#);
        let r = self.post().body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, v)
    }

    pub fn post(&self) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .post(format!("{}/mcp", self.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = &self.session {
            b = b.header("mcp-session-id", s);
        }
        b
    }

    pub async fn notify(&self, method: &str) {
        let r = self
            .post()
            .body(json!({"jsonrpc": "2.0", "method": method}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }

    /// Sends a request; reads a JSON or SSE reply and returns the final response message.
    pub async fn rpc(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let r = self.post().body(body.to_string()).send().await.unwrap();
        if let Some(s) = r.headers().get("mcp-session-id") {
            self.session = Some(s.to_str().unwrap().to_owned());
        }
        reply_message(r).await
    }

    /// Sends a request with the given id; returns the HTTP status and the response message.
    pub async fn rpc_status(&self, id: u64, method: &str, params: Value) -> (u16, Value) {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let r = self.post().body(body.to_string()).send().await.unwrap();
        (r.status().as_u16(), reply_message(r).await)
    }

    /// Opens the session's GET stream; every SSE `data:` payload arrives on the receiver.
    pub async fn stream(&self) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let mut resp = self
            .http
            .get(format!("{}/mcp", self.base))
            .header("accept", "text/event-stream")
            .header(
                "mcp-session-id",
                self.session.as_deref().expect("a session"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "GET stream");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(i) = buf.find('\n') {
                    let line: String = buf.drain(..=i).collect();
                    if let Some(data) = line.trim_end().strip_prefix("data:")
                        && tx.send(data.trim().to_owned()).is_err()
                    {
                        return;
                    }
                }
            }
        });
        rx
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_text(path).await).unwrap()
    }

    pub async fn tool_names(&mut self) -> Vec<String> {
        let r = self.rpc("tools/list", json!({})).await;
        r["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{r}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The final JSON-RPC message of a JSON or SSE reply.
async fn reply_message(r: reqwest::Response) -> Value {
    let sse = r
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    if sse {
        let last = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .next_back()
            .expect("an SSE data line");
        serde_json::from_str(last).unwrap()
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
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

pub fn text_of(r: &Value) -> String {
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {r}"))
        .to_owned()
}

/// Runs a Python script on the official `mcp` SDK with one argument and parses the JSON it
/// prints last; fails the test with the script's stderr if it fails or does not finish.
pub async fn python_json(script: &str, arg: &str, limit: Duration) -> Value {
    let out = tokio::time::timeout(
        limit,
        tokio::process::Command::new(&peers().python)
            .arg("-c")
            .arg(script)
            .arg(arg)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python client finishes")
    .unwrap();
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
}
