//! The gateway's bounds, each against a real gateway on loopback: connection deadlines and the
//! connection cap (raw TCP clients that misbehave on purpose), the session caps and the short
//! life of unused sessions, and the per-reply cap and reply budget (a backend of our own that
//! answers with large results, or holds one half-sent).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vmcp_gateway::Limits;
use vmcp_gateway::serve::FrontOptions;

fn with(limits: Limits) -> FrontOptions {
    FrontOptions {
        limits,
        ..FrontOptions::default()
    }
}

/// Reads until the peer closes the connection; returns what arrived and when it closed, or
/// `None` if it was still open after `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((start.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one HTTP response with a `Content-Length` body from a kept-alive connection.
async fn read_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("a response within 5s")
            .unwrap();
        assert!(n > 0, "closed before a whole response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_line_is_cut_after_the_header_read_timeout() {
    let gw = gateway_with(
        &config(""),
        with(Limits {
            header_read_timeout: Duration::from_secs(1),
            ..Limits::default()
        }),
    )
    .await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /mc").await.unwrap();
    let (after, _) = closed_within(&mut s, Duration::from_secs(8))
        .await
        .expect("the gateway closes a connection that never finishes its request line");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(4),
        "closed after {after:?}, the timeout is 1s"
    );
    // A connection that says nothing at all is cut the same way.
    let mut silent = TcpStream::connect(gw.addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(8))
            .await
            .is_some()
    );
}

/// Between requests a kept-alive connection has the idle timeout (longer than the header
/// timeout here), and is closed once it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_gets_the_idle_timeout_then_is_closed() {
    let gw = gateway_with(
        &config(""),
        with(Limits {
            header_read_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(2),
            ..Limits::default()
        }),
    )
    .await;
    let req = format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr);
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    // Longer than the header-read timeout, shorter than the idle timeout: still open.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.write_all(req.as_bytes()).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    let (after, got) = closed_within(&mut s, Duration::from_secs(8))
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(
        after >= Duration::from_millis(1800) && after < Duration::from_secs(5),
        "closed after {after:?}, the idle timeout is 2s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_stops_arriving_gets_408_naming_the_flag() {
    let gw = gateway_with(
        &config(""),
        with(Limits {
            body_read_timeout: Duration::from_secs(1),
            ..Limits::default()
        }),
    )
    .await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\":",
        gw.addr
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let text = read_response(&mut s).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("--body-read-timeout"), "{text}");
}

/// At the connection cap, the connection that has waited longest for a request is closed to
/// make room: idle sockets never keep a new client out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let gw = gateway_with(
        &config(""),
        with(Limits {
            max_connections: 4,
            header_read_timeout: Duration::from_secs(60),
            ..Limits::default()
        }),
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(gw.addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = Client::new(gw.addr);
    let started = Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(5), c.get_text("/health"))
        .await
        .expect("/health answers past ten idle connections");
    assert!(health.contains("ok"), "{health}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The oldest ones were closed long before their 60s header timeout.
    for s in idle.iter_mut().take(6) {
        assert!(
            closed_within(s, Duration::from_secs(5)).await.is_some(),
            "an idle connection beyond the cap is closed"
        );
    }
}

/// `vmcp_limit_refusals_total{limit="<flag>"}` from the gateway's `/metrics`.
async fn refusals(c: &Client, flag: &str) -> u64 {
    let text = c.get_text("/metrics").await;
    let line = format!("vmcp_limit_refusals_total{{limit=\"{flag}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in /metrics:\n{text}"))
        .parse()
        .unwrap()
}

fn init_body(caps: Value) -> Value {
    json!({"protocolVersion": "2025-06-18", "capabilities": caps, "clientInfo": {"name": "t", "version": "0"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_beyond_max_sessions_gets_503_naming_the_flag() {
    let gw = gateway_with(
        &config(""),
        with(Limits {
            max_sessions: 2,
            ..Limits::default()
        }),
    )
    .await;
    let first = Client::connect(gw.addr).await;
    let _second = Client::connect(gw.addr).await;
    let refused_before = refusals(&first, "max-sessions").await;
    let third = Client::new(gw.addr);
    let (status, r) = third
        .rpc_status(7, "initialize", init_body(json!({})))
        .await;
    assert_eq!(status, 503, "{r}");
    // Counted per process: other tests of this binary may refuse sessions at the same time.
    assert!(refusals(&first, "max-sessions").await > refused_before);
    assert_eq!(r["id"], 7, "{r}");
    assert_eq!(r["error"]["code"], -32005, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("maximum of 2 client sessions (--max-sessions)"),
        "{msg}"
    );

    let ended = first
        .http
        .delete(format!("{}/mcp", first.base))
        .header("mcp-session-id", first.session.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let (status, r) = third
        .rpc_status(8, "initialize", init_body(json!({})))
        .await;
    assert_eq!(status, 200, "a place is free again: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_unused_after_initialize_ends_after_the_short_ttl() {
    let gw = gateway_with(
        &config(""),
        with(Limits {
            unused_session_ttl: Duration::from_secs(1),
            ..Limits::default()
        }),
    )
    .await;
    let mut used = Client::connect(gw.addr).await;
    assert!(used.tool_names().await.is_empty());
    let mut unused = Client::new(gw.addr);
    let r = unused.rpc("initialize", init_body(json!({}))).await;
    assert!(r["result"].is_object(), "{r}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, r) = unused.rpc_status(5, "tools/list", json!({})).await;
    assert_eq!(status, 404, "the unused session ended: {r}");
    let (status, r) = used.rpc_status(5, "tools/list", json!({})).await;
    assert_eq!(status, 200, "a session in use keeps the idle TTL: {r}");
    assert_eq!(gw_sessions(&used).await, 1);
}

async fn gw_sessions(c: &Client) -> u64 {
    c.get_json("/status").await["sessions"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_with_backend_sessions_of_their_own_are_capped() {
    let gw = gateway_with(
        &config(""),
        with(Limits {
            max_dedicated_sessions: 1,
            ..Limits::default()
        }),
    )
    .await;
    let mut sampling = Client::new(gw.addr);
    let r = sampling
        .rpc("initialize", init_body(json!({"sampling": {}})))
        .await;
    assert!(r["result"].is_object(), "{r}");
    let roots = Client::new(gw.addr);
    let (status, r) = roots
        .rpc_status(1, "initialize", init_body(json!({"roots": {}})))
        .await;
    assert_eq!(status, 503, "{r}");
    assert_eq!(r["error"]["code"], -32005, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 1 client sessions with backend sessions of their own (--max-dedicated-sessions)"),
        "{r}"
    );
    let mut plain = Client::connect(gw.addr).await;
    let r = plain
        .rpc("logging/setLevel", json!({"level": "debug"}))
        .await;
    assert_eq!(r["error"]["code"], -32005, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-dedicated-sessions"),
        "{r}"
    );
    // The sampling client leaving frees its place.
    let ended = sampling
        .http
        .delete(format!("{}/mcp", sampling.base))
        .header("mcp-session-id", sampling.session.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let r = plain
        .rpc("logging/setLevel", json!({"level": "debug"}))
        .await;
    assert_eq!(r["result"], json!({}), "{r}");
}

// === large replies ===

/// A streamable-HTTP MCP backend whose `big` tool answers with `bytes` of text, and whose
/// `hold` tool sends the head and the first bytes of such a reply, then waits for `release`.
async fn large_reply_backend(bytes: usize, release: Arc<tokio::sync::Notify>) -> SocketAddr {
    large_backend(bytes, release, false).await
}

/// As [`large_reply_backend`], but every tool reply is one `text/event-stream` event (as a
/// streamable-HTTP server may answer), without a Content-Length.
async fn large_sse_backend(bytes: usize, release: Arc<tokio::sync::Notify>) -> SocketAddr {
    large_backend(bytes, release, true).await
}

async fn large_backend(bytes: usize, release: Arc<tokio::sync::Notify>, sse: bool) -> SocketAddr {
    let reply = move |id: &Value| {
        let text = "x".repeat(bytes);
        let msg = json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": text}]}})
            .to_string();
        Bytes::from(if sse { format!("data: {msg}\n\n") } else { msg })
    };
    let reply_type = if sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| {
            let release = release.clone();
            async move {
                let msg: Value = serde_json::from_slice(&body).unwrap_or_default();
                let Some(id) = msg.get("id").cloned() else {
                    return http::StatusCode::ACCEPTED.into_response();
                };
                let result = match msg["method"].as_str().unwrap_or("") {
                    "initialize" => json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "large", "version": "0"}}),
                    "tools/list" => json!({"tools": [
                        {"name": "big", "inputSchema": {"type": "object"}},
                        {"name": "hold", "inputSchema": {"type": "object"}},
                    ]}),
                    "tools/call" if msg["params"]["name"] == "hold" => {
                        let full = reply(&id);
                        let len = full.len();
                        // JSON: the Content-Length reserves it all at once; SSE has none, so
                        // most of the event is sent before waiting, for the decoder to hold.
                        let cut = if sse { len - 16 } else { 16 };
                        let (head, rest) = (full.slice(..cut), full.slice(cut..));
                        let stream = async_stream::stream! {
                            yield Ok::<Bytes, std::io::Error>(head);
                            release.notified().await;
                            yield Ok(rest);
                        };
                        let mut r = Response::new(Body::from_stream(stream));
                        r.headers_mut().insert(http::header::CONTENT_TYPE, reply_type.parse().unwrap());
                        if !sse {
                            r.headers_mut().insert(http::header::CONTENT_LENGTH, len.into());
                        }
                        return r;
                    }
                    "tools/call" => {
                        return ([(http::header::CONTENT_TYPE, reply_type)], reply(&id)).into_response();
                    }
                    _ => json!({}),
                };
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
                )
                    .into_response()
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

fn large_config(addr: SocketAddr) -> String {
    config(&format!(
        "backends:\n- {{name: large, url: \"http://{addr}/mcp\", transport: streamable-http}}\n"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_over_max_reply_bytes_is_an_error_naming_the_flag() {
    let release = Arc::new(tokio::sync::Notify::new());
    let b = large_reply_backend(2 * 1024 * 1024, release).await;
    let gw = gateway_with(
        &large_config(b),
        with(Limits {
            max_reply_bytes: 1024 * 1024,
            ..Limits::default()
        }),
    )
    .await;
    let mut c = Client::connect(gw.addr).await;
    let r = c
        .rpc("tools/call", json!({"name": "large_big", "arguments": {}}))
        .await;
    assert_eq!(r["error"]["code"], -32004, "{}", cut(&r));
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("reply larger than 1048576 bytes (--max-reply-bytes)"),
        "{msg}"
    );
}

/// While one reply holds most of the budget, another that does not fit is refused at once with
/// an error naming the flag, the backend stays healthy, and once the first is done the same
/// call succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_the_budget_cannot_cover_is_refused_and_the_backend_stays_healthy() {
    let release = Arc::new(tokio::sync::Notify::new());
    let size = 2 * 1024 * 1024;
    let b = large_reply_backend(size, release.clone()).await;
    let gw = gateway_with(
        &large_config(b),
        with(Limits {
            reply_budget_bytes: 3 * 1024 * 1024,
            max_reply_bytes: 3 * 1024 * 1024,
            ..Limits::default()
        }),
    )
    .await;
    let mut c = Client::connect(gw.addr).await;
    assert_eq!(c.tool_names().await.len(), 2);
    let mut holder = Client::connect(gw.addr).await;
    let held = tokio::spawn(async move {
        holder
            .rpc("tools/call", json!({"name": "large_hold", "arguments": {}}))
            .await
    });
    // The held reply has reserved its Content-Length once the gateway started reading it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let refused_before = refusals(&c, "reply-budget-bytes").await;
    let r = c
        .rpc("tools/call", json!({"name": "large_big", "arguments": {}}))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    assert_eq!(r["error"]["code"], -32005, "{}", cut(&r));
    assert!(refusals(&c, "reply-budget-bytes").await > refused_before);
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--reply-budget-bytes"), "{msg}");
    assert_eq!(
        status_of(&c, "large").await.unwrap()["health"],
        "healthy",
        "the gateway's own limit says nothing about the backend"
    );

    release.notify_one();
    let r = held.await.unwrap();
    assert_eq!(text_of(&r).len(), size, "{}", cut(&r));
    let r = c
        .rpc("tools/call", json!({"name": "large_big", "arguments": {}}))
        .await;
    assert_eq!(text_of(&r).len(), size, "{}", cut(&r));
}

fn cut(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

/// The same bounds hold for replies a backend streams as SSE: the event being decoded is
/// budgeted, and one larger than `--max-reply-bytes` is refused naming the flag. Before, an SSE
/// reply was only capped at 64 MiB per event and never counted against the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_replies_are_bounded_by_the_reply_budget_too() {
    let release = Arc::new(tokio::sync::Notify::new());
    let size = 2 * 1024 * 1024;
    let b = large_sse_backend(size, release.clone()).await;
    let gw = gateway_with(
        &large_config(b),
        with(Limits {
            reply_budget_bytes: 3 * 1024 * 1024,
            max_reply_bytes: 3 * 1024 * 1024,
            ..Limits::default()
        }),
    )
    .await;
    let mut c = Client::connect(gw.addr).await;
    assert_eq!(c.tool_names().await.len(), 2);
    // Unbounded by anything else, one SSE reply goes through whole.
    let r = c
        .rpc("tools/call", json!({"name": "large_big", "arguments": {}}))
        .await;
    assert_eq!(text_of(&r).len(), size, "{}", cut(&r));

    let mut holder = Client::connect(gw.addr).await;
    let held = tokio::spawn(async move {
        holder
            .rpc("tools/call", json!({"name": "large_hold", "arguments": {}}))
            .await
    });
    // The held reply's event is almost all in the gateway's decoder now.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = c
        .rpc("tools/call", json!({"name": "large_big", "arguments": {}}))
        .await;
    assert_eq!(r["error"]["code"], -32005, "{}", cut(&r));
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--reply-budget-bytes"), "{msg}");
    assert_eq!(status_of(&c, "large").await.unwrap()["health"], "healthy");
    release.notify_one();
    let r = held.await.unwrap();
    assert_eq!(text_of(&r).len(), size, "{}", cut(&r));
    gw.stop().await;

    // An SSE reply over the per-reply cap is the backend's invalid reply, naming the flag.
    let gw = gateway_with(
        &large_config(b),
        with(Limits {
            max_reply_bytes: 1024 * 1024,
            ..Limits::default()
        }),
    )
    .await;
    let mut c = Client::connect(gw.addr).await;
    let r = c
        .rpc("tools/call", json!({"name": "large_big", "arguments": {}}))
        .await;
    assert_eq!(r["error"]["code"], -32004, "{}", cut(&r));
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--max-reply-bytes"), "{msg}");
}

/// Legacy HTTP+SSE backends (a real server-everything in SSE mode) deliver every reply on the
/// session's one GET stream; the event being decoded there is held to `--max-reply-bytes` (and
/// the budget) too. Before, that stream was only capped at 64 MiB per event, outside the budget.
/// The refusal ends the stream's session; the next call opens a new one and goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_on_a_legacy_sse_stream_are_bounded_too() {
    let legacy = Everything::start("sse").await;
    let gw = gateway_with(
        &config(&format!(
            "backends:\n- {{name: legacy, url: \"{}\", transport: sse}}\n",
            legacy.url()
        )),
        with(Limits {
            max_reply_bytes: 1024 * 1024,
            ..Limits::default()
        }),
    )
    .await;
    let mut c = Client::connect(gw.addr).await;
    assert!(c.tool_names().await.contains(&"legacy_echo".to_owned()));
    let big = "y".repeat(1536 * 1024);
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "legacy_echo", "arguments": {"message": big}}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32004, "{}", cut(&r));
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("reply larger than 1048576 bytes (--max-reply-bytes)"),
        "{msg}"
    );
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "legacy_echo", "arguments": {"message": "small"}}),
        )
        .await;
    assert!(text_of(&r).contains("small"), "{}", cut(&r));
}
