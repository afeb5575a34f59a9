//! A backend that answers `3xx` must not make the gateway talk to where it points: not on
//! the first capability fetch, not on the legacy SSE stream or its endpoint, not on a health
//! check. The place it points at is a real MCP server behind a loopback recorder that keeps
//! every byte it receives, so "the second server received nothing" is observed, not assumed.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use common::*;
use http::{StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The secret the gateway injects into every request to the backend named `partner`.
const SECRET: &str = "s3cret-partner-key";

// === what the gateway logs ===

/// Every log line of this test binary, to check that refusals are warned about.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        logs().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(|| LogSink)
        .try_init();
}

/// The warning lines that contain every one of `needles`.
fn warnings_with(needles: &[&str]) -> Vec<String> {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| l.contains("WARN") && needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
        .collect()
}

// === the test's own servers ===

/// Forwards TCP to `target` on loopback and keeps every byte sent towards it.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    async fn start(target: u16) -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = l.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let Ok(up) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let (mut down_r, mut down_w) = down.into_split();
                    let (mut up_r, mut up_w) = up.into_split();
                    let to_target = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n @ 1..) = down_r.read(&mut buf).await {
                            s.lock().unwrap().extend_from_slice(&buf[..n]);
                            if up_w.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = up_w.shutdown().await;
                    };
                    let from_target = async {
                        let _ = tokio::io::copy(&mut up_r, &mut down_w).await;
                        let _ = down_w.shutdown().await;
                    };
                    tokio::join!(to_target, from_target);
                });
            }
        });
        Recorder { port, seen }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }
}

/// Answers every request with `307` to the same path and query under `target`, counting.
/// While `forward_to` is set and `redirecting` is false, it passes requests on to that
/// (JSON-only) MCP server instead: a backend that starts redirecting after a while.
struct Redirector {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    redirecting: Arc<AtomicBool>,
}

impl Redirector {
    async fn start(target: String, forward_to: Option<SocketAddr>) -> Redirector {
        let hits = Arc::new(AtomicUsize::new(0));
        let redirecting = Arc::new(AtomicBool::new(forward_to.is_none()));
        let (h, r) = (hits.clone(), redirecting.clone());
        // The test's own client; reqwest wants a process-wide TLS provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let app = axum::Router::new().fallback(
            move |method: http::Method, uri: http::Uri, body: Bytes| {
                let (h, r, target, plain) = (h.clone(), r.clone(), target.clone(), plain.clone());
                async move {
                    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                    if r.load(Ordering::SeqCst) {
                        h.fetch_add(1, Ordering::SeqCst);
                        return (
                            StatusCode::TEMPORARY_REDIRECT,
                            [(header::LOCATION, format!("{target}{path}"))],
                        )
                            .into_response();
                    }
                    let to = forward_to.expect("forwarding needs a server");
                    forward(&plain, method, &format!("http://{to}{path}"), body).await
                }
            },
        );
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        Redirector {
            addr,
            hits,
            redirecting,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn forward(
    plain: &reqwest::Client,
    method: http::Method,
    url: &str,
    body: Bytes,
) -> Response {
    let resp = plain
        .request(method, url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = resp.bytes().await.unwrap();
    let mut out = (status, bytes).into_response();
    if let Some(ct) = ct {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    out
}

/// A legacy SSE server whose `endpoint` event names `endpoint`; the stream then stays open.
async fn sse_pointing_at(endpoint: String) -> SocketAddr {
    let app = axum::Router::new().route(
        "/sse",
        axum::routing::get(move || {
            let endpoint = endpoint.clone();
            async move {
                let first = format!("event: endpoint\ndata: {endpoint}\n\n");
                let stream = async_stream::stream! {
                    yield Ok::<_, std::io::Error>(Bytes::from(first));
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                };
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    axum::body::Body::from_stream(stream),
                )
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

// === the gateway ===

/// `partner` (with the injected secret) at `partner_url`, and a plain `good` backend so the
/// gateway always has tools to list.
fn config(partner_url: &str, transport: &str, good: SocketAddr, interval: &str) -> String {
    format!(
        "name: test\ngroupRef: g\nincomingAuth: {{type: anonymous}}\n\
         outgoingAuth:\n  source: inline\n  default: {{type: unauthenticated}}\n  backends:\n    \
         partner: {{type: header_injection, headerInjection: {{headerName: X-Partner-Key, headerValue: {SECRET}}}}}\n\
         backends:\n\
         - {{name: partner, url: \"{partner_url}\", transport: {transport}}}\n\
         - {{name: good, url: \"http://{good}/mcp\", transport: streamable-http}}\n\
         aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n\
         operational: {{failureHandling: {{healthCheckInterval: {interval}, unhealthyThreshold: 1, partialFailureMode: best_effort}}}}\n"
    )
}

async fn wait_ready(c: &Client) {
    for _ in 0..300 {
        let r = c
            .http
            .get(format!("{}/readyz", c.base))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway never became ready");
}

/// What must hold once `partner` met a redirect to `location`: nothing reached the recorder,
/// `/status` names the status and the Location, a warning says the same, and none of the
/// partner's tools are served.
async fn assert_refused(c: &mut Client, rec: &Recorder, location: &str) {
    let seen = rec.seen();
    assert!(
        seen.is_empty(),
        "the redirect target received a request (secret leaked: {}):\n{seen}",
        seen.contains(SECRET)
    );
    let partner = wait_health(c, "partner", "unhealthy").await;
    let err = partner["lastError"].as_str().unwrap_or_default();
    assert!(
        err.contains("HTTP 307") && err.contains(&format!("{location:?}")),
        "lastError should name the 307 and {location}: {partner}"
    );
    assert!(!err.contains(SECRET), "{err}");
    if let Some(fetch) = partner["capabilityError"].as_str() {
        assert!(fetch.contains("HTTP 307"), "{partner}");
    }
    assert!(
        !warnings_with(&["partner", "307", location]).is_empty(),
        "no warning names the refused redirect to {location}"
    );
    let tools = c.tool_names().await;
    assert!(
        tools.iter().any(|t| t.starts_with("good_")),
        "the good backend's tools are served: {tools:?}"
    );
    assert!(
        !tools.iter().any(|t| t.starts_with("partner_")),
        "tools of the redirect target are served as partner's: {tools:?}"
    );
    assert!(rec.seen().is_empty(), "{}", rec.seen());
}

/// Streamable HTTP: the initialize of the first capability fetch meets a 307 to a real
/// server-everything; the gateway neither initializes there nor lists its tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_backend_redirect_is_refused() {
    capture_logs();
    let everything = Everything::start("streamableHttp").await;
    let rec = Recorder::start(everything.port).await;
    let front = Redirector::start(rec.base(), None).await;
    let good = rust_backend(Behaviour::Normal).await;
    let cfg = config(
        &format!("http://{}/mcp", front.addr),
        "streamable-http",
        good,
        "300ms",
    );
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    wait_ready(&c).await;
    assert!(front.hits() > 0, "the gateway never asked the backend");
    assert_refused(&mut c, &rec, &format!("{}/mcp", rec.base())).await;
}

/// Legacy SSE: the GET stream meets a 307 to a real server-everything (SSE mode).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_backend_redirect_is_refused() {
    capture_logs();
    let everything = Everything::start("sse").await;
    let rec = Recorder::start(everything.port).await;
    let front = Redirector::start(rec.base(), None).await;
    let good = rust_backend(Behaviour::Normal).await;
    let cfg = config(&format!("http://{}/sse", front.addr), "sse", good, "300ms");
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    wait_ready(&c).await;
    assert!(front.hits() > 0, "the gateway never asked the backend");
    assert_refused(&mut c, &rec, &format!("{}/sse", rec.base())).await;
}

/// Legacy SSE: an `endpoint` event naming another origin (here another port on the same
/// host, where a real MCP server listens) is refused before anything is posted there, and
/// the error names the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_endpoint_on_another_origin_is_refused() {
    capture_logs();
    let target = rust_backend(Behaviour::Normal).await;
    let rec = Recorder::start(target.port()).await;
    let endpoint = format!("{}/mcp?sessionId=1", rec.base());
    let sse = sse_pointing_at(endpoint.clone()).await;
    let good = rust_backend(Behaviour::Normal).await;
    let cfg = config(&format!("http://{sse}/sse"), "sse", good, "300ms");
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    wait_ready(&c).await;
    let partner = wait_health(&c, "partner", "unhealthy").await;
    let err = partner["lastError"].as_str().unwrap_or_default();
    assert!(
        err.contains(&format!("{endpoint:?}")) && err.contains("origin"),
        "lastError should name the foreign endpoint {endpoint}: {partner}"
    );
    assert!(!warnings_with(&["partner", &endpoint]).is_empty());
    let tools = c.tool_names().await;
    assert!(
        !tools.iter().any(|t| t.starts_with("partner_")),
        "{tools:?}"
    );
    assert!(rec.seen().is_empty(), "{}", rec.seen());
}

/// Health checks: a backend that served its own tools starts answering 307 (to a real MCP
/// server that would answer every ping). The pings do not follow, the backend turns
/// unhealthy with the redirect as its last error, and its tools leave the view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_does_not_follow_a_redirect() {
    capture_logs();
    let target = rust_backend(Behaviour::Normal).await;
    let rec = Recorder::start(target.port()).await;
    let own = rust_backend(Behaviour::Normal).await;
    let front = Redirector::start(rec.base(), Some(own)).await;
    let good = rust_backend(Behaviour::Normal).await;
    let cfg = config(
        &format!("http://{}/mcp", front.addr),
        "streamable-http",
        good,
        "200ms",
    );
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    wait_ready(&c).await;
    wait_health(&c, "partner", "healthy").await;
    let tools = c.tool_names().await;
    assert!(tools.contains(&"partner_sleep".to_owned()), "{tools:?}");

    front.redirecting.store(true, Ordering::SeqCst);
    // A few health checks meet the redirect (bounded wait, no timing assertion).
    for _ in 0..300 {
        if front.hits() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(front.hits() >= 3, "no health check reached the backend");
    assert_refused(&mut c, &rec, &format!("{}/mcp", rec.base())).await;
}
