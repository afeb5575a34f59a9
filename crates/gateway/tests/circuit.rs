//! Health and the circuit breaker are fed by what says something about a backend, never by
//! one client's own call timing out or being refused: a client cannot take a backend away
//! from the others. A backend that really fails still opens its circuit, and its tools then
//! answer "unavailable" naming it instead of vanishing.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::IntoResponse;
use common::*;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A [`rust_backend`] that answers differently only where `refuse` says so: with that HTTP
/// status instead of a JSON-RPC reply.
async fn backend_refusing(
    refuse: impl Fn(&Bytes) -> Option<http::StatusCode> + Clone + Send + Sync + 'static,
) -> SocketAddr {
    let started = std::time::Instant::now();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| {
            let refuse = refuse.clone();
            async move {
                match refuse(&body) {
                    Some(status) => (status, "refused").into_response(),
                    None => handle(Behaviour::Normal, started, body).await,
                }
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

fn is_call(body: &Bytes) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|m| m["method"] == "tools/call")
}

fn message(r: &Value) -> &str {
    r["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {r}"))
}

/// What another client sees of `backend` after someone else's calls failed: its tools are
/// listed under the default `partialFailureMode: fail`, its `add` answers, and `/status`
/// shows it healthy with no failures counted.
async fn still_served(gw: &vmcp_gateway::Gateway, backend: &str) {
    let mut other = Client::connect(gw.addr).await;
    let r = other.rpc("tools/list", json!({})).await;
    let tools: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list refused for another client: {r}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&format!("{backend}_add").as_str()), "{r}");
    let r = other
        .rpc(
            "tools/call",
            json!({"name": format!("{backend}_add"), "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(text_of(&r), "5");
    let s = status_of(&other, backend).await.expect("listed in /status");
    assert_eq!(
        (&s["state"], &s["health"], &s["consecutiveFailures"]),
        (&json!("healthy"), &json!("healthy"), &json!(0)),
        "{s}"
    );
}

/// Five concurrent calls that outlast the per-call timeout (the threshold is 3) time out
/// for their callers only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outlasting_the_timeout_do_not_open_the_circuit() {
    let slow = rust_backend(Behaviour::Normal).await;
    let cfg = config(&format!(
        "backends:\n\
         - {{name: slow, url: \"http://{slow}/mcp\", transport: streamable-http}}\n\
         operational:\n  timeouts: {{default: 1s}}\n  failureHandling: {{healthCheckInterval: 1h}}\n"
    ));
    let gw = gateway(&cfg).await;
    let mut first = Client::connect(gw.addr).await;
    assert!(first.tool_names().await.contains(&"slow_sleep".to_owned()));
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let addr = gw.addr;
            tokio::spawn(async move {
                let mut c = Client::connect(addr).await;
                c.rpc(
                    "tools/call",
                    json!({"name": "slow_sleep", "arguments": {"seconds": 5}}),
                )
                .await
            })
        })
        .collect();
    for call in calls {
        let r = call.await.unwrap();
        assert_eq!(r["error"]["code"], -32003, "{r}");
        assert!(message(&r).contains("did not answer within"), "{r}");
    }
    still_served(&gw, "slow").await;
    gw.stop().await;
}

/// Calls whose arguments the backend refuses as too large (HTTP 413) fail for their caller
/// with the refusal, and leave the backend as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_the_backend_refuses_do_not_degrade_it() {
    const LIMIT: usize = 4096;
    let picky = backend_refusing(|body| {
        (body.len() > LIMIT).then_some(http::StatusCode::PAYLOAD_TOO_LARGE)
    })
    .await;
    let cfg = config(&format!(
        "backends:\n\
         - {{name: picky, url: \"http://{picky}/mcp\", transport: streamable-http}}\n\
         operational: {{failureHandling: {{healthCheckInterval: 1h, unhealthyThreshold: 2}}}}\n"
    ));
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    let pad = "x".repeat(2 * LIMIT);
    for _ in 0..5 {
        let r = c
            .rpc(
                "tools/call",
                json!({"name": "picky_add", "arguments": {"a": 1, "b": 2, "pad": pad}}),
            )
            .await;
        assert_eq!(r["error"]["code"], -32004, "{r}");
        assert!(
            message(&r).contains("picky") && message(&r).contains("413"),
            "{r}"
        );
    }
    still_served(&gw, "picky").await;
    gw.stop().await;
}

/// Polls `/status` until `backend`'s circuit is open (bounded).
async fn wait_open(c: &Client, backend: &str) -> Value {
    for _ in 0..100 {
        if let Some(s) = status_of(c, backend).await
            && s["state"] == "open"
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{backend} never opened: {:?}", status_of(c, backend).await);
}

/// A call to a tool of an open backend: -32001 naming the backend and the open circuit.
fn assert_circuit_open(r: &Value, backend: &str) {
    assert_eq!(r["error"]["code"], -32001, "{r}");
    let m = message(r);
    assert!(
        m.contains(&format!("{backend:?}")) && m.contains("circuit open"),
        "{r}"
    );
}

/// A backend that fails every call with HTTP 500 opens its circuit after the threshold;
/// its tools then answer -32001 naming it (not "unknown tool"), `best_effort` lists leave
/// them out while `fail` refuses lists, and `/status` shows them kept from the last fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_open_the_circuit_and_its_tools_answer_unavailable() {
    let broken =
        backend_refusing(|body| is_call(body).then_some(http::StatusCode::INTERNAL_SERVER_ERROR))
            .await;
    let good = rust_backend(Behaviour::Normal).await;
    let body = |mode: &str| {
        config(&format!(
            "backends:\n\
             - {{name: broken, url: \"http://{broken}/mcp\", transport: streamable-http}}\n\
             - {{name: good, url: \"http://{good}/mcp\", transport: streamable-http}}\n\
             operational: {{failureHandling: {{healthCheckInterval: 1h, unhealthyThreshold: 2, partialFailureMode: {mode}}}}}\n"
        ))
    };
    for mode in ["fail", "best_effort"] {
        let gw = gateway(&body(mode)).await;
        let mut c = Client::connect(gw.addr).await;
        assert!(c.tool_names().await.contains(&"broken_add".to_owned()));
        for _ in 0..2 {
            let r = c
                .rpc("tools/call", json!({"name": "broken_add", "arguments": {}}))
                .await;
            assert_eq!(r["error"]["code"], -32001, "{r}");
            assert!(message(&r).contains("HTTP 500"), "{r}");
        }
        let s = wait_open(&c, "broken").await;
        assert_eq!((&s["tools"], &s["stale"]), (&json!(2), &json!(true)), "{s}");
        let r = c
            .rpc("tools/call", json!({"name": "broken_add", "arguments": {}}))
            .await;
        assert_circuit_open(&r, "broken");
        let r = c.rpc("tools/list", json!({})).await;
        if mode == "fail" {
            assert_eq!(r["error"]["code"], -32001, "{r}");
            assert!(message(&r).contains("broken"), "{r}");
        } else {
            let names: Vec<&str> = r["result"]["tools"]
                .as_array()
                .unwrap_or_else(|| panic!("{r}"))
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["good_add", "good_sleep"], "{r}");
        }
        let r = c
            .rpc(
                "tools/call",
                json!({"name": "good_add", "arguments": {"a": 1, "b": 1}}),
            )
            .await;
        assert_eq!(text_of(&r), "2");
        gw.stop().await;
    }
}

/// A backend that is gone (connection refused) opens its circuit through the calls alone
/// (no health checks run), and its tools then answer -32001 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_opens_the_circuit_and_its_tools_answer_unavailable() {
    let mut victim = Everything::start("streamableHttp").await;
    let cfg = config(&format!(
        "backends:\n\
         - {{name: victim, url: \"{}\", transport: streamable-http}}\n\
         operational:\n  timeouts: {{default: 5s}}\n  failureHandling: {{healthCheckInterval: 1h, unhealthyThreshold: 2}}\n",
        victim.url()
    ));
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    let echo = json!({"name": "victim_echo", "arguments": {"message": "a"}});
    assert_eq!(text_of(&c.rpc("tools/call", echo.clone()).await), "Echo: a");
    victim.kill();
    for _ in 0..2 {
        let r = c.rpc("tools/call", echo.clone()).await;
        assert_eq!(r["error"]["code"], -32001, "{r}");
        assert!(message(&r).contains("victim"), "{r}");
    }
    wait_open(&c, "victim").await;
    let r = c.rpc("tools/call", echo).await;
    assert_circuit_open(&r, "victim");
    gw.stop().await;
}
