//! `passthroughHeaders`: the client headers it lists reach the backend with that client's
//! own calls, and nothing else does. Each call carries its own client's values (never those
//! of the client that opened the shared backend session), a forwarded header never replaces
//! one the gateway sets (here an injected credential of the same name), unlisted headers
//! stay behind, and the gateway's own requests (initialize, lists, pings) carry none.

mod common;

use common::*;
use http::HeaderMap;
use serde_json::{Value, json};

fn config(b: std::net::SocketAddr) -> String {
    format!(
        "name: test\ngroupRef: g\nincomingAuth: {{type: anonymous}}\n\
         passthroughHeaders: [X-Request-Id, X-Tenant, X-Api-Key]\n\
         outgoingAuth:\n  source: inline\n  backends:\n    \
         b: {{type: header_injection, headerInjection: {{headerName: X-Api-Key, headerValue: injected}}}}\n\
         backends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n"
    )
}

/// Every value of `name` in `h`.
fn values(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// A `tools/call` of `b_add` with extra request headers; its result text.
async fn call_with(c: &Client, headers: &[(&str, &str)]) -> String {
    let mut req = c.post();
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "b_add", "arguments": {"a": 2, "b": 3}}});
    let r = req.body(body.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_client_headers_reach_the_backend_with_that_clients_calls_only() {
    let (b, seen) = recording_backend().await;
    let gw = gateway(&config(b)).await;
    let mut alice = Client::connect(gw.addr).await;
    let mut bob = Client::connect(gw.addr).await;
    assert!(alice.tool_names().await.contains(&"b_add".to_owned()));
    let _ = bob.tool_names().await;

    let alice_headers = [
        ("X-Request-Id", "r-1"),
        ("X-Request-Id", "r-2"),
        ("X-Tenant", "alice-corp"),
        ("X-Api-Key", "forged"),
        ("X-Not-Listed", "private"),
    ];
    assert_eq!(call_with(&alice, &alice_headers).await, "5");
    assert_eq!(call_with(&bob, &[("X-Tenant", "bob-corp")]).await, "5");

    let seen = seen.lock().unwrap();
    let calls: Vec<&HeaderMap> = seen
        .iter()
        .filter(|h| values(h, RECORDED_METHOD) == ["tools/call"])
        .collect();
    assert_eq!(calls.len(), 2, "one tools/call each");
    let (a, b) = (calls[0], calls[1]);
    assert_eq!(values(a, "x-request-id"), ["r-1", "r-2"]);
    assert_eq!(values(a, "x-tenant"), ["alice-corp"]);
    assert_eq!(
        values(a, "x-api-key"),
        ["injected"],
        "the gateway's credential wins over a forwarded header of the same name"
    );
    assert!(a.get("x-not-listed").is_none());
    assert_eq!(values(b, "x-tenant"), ["bob-corp"]);
    assert!(
        b.get("x-request-id").is_none(),
        "alice's headers stay with alice's call"
    );
    assert_eq!(values(b, "x-api-key"), ["injected"]);
    for h in seen
        .iter()
        .filter(|h| values(h, RECORDED_METHOD) != ["tools/call"])
    {
        assert!(
            h.get("x-tenant").is_none() && h.get("x-request-id").is_none(),
            "the gateway's own {:?} carries no client header",
            values(h, RECORDED_METHOD)
        );
        assert_eq!(values(h, "x-api-key"), ["injected"]);
    }
}

/// Without `passthroughHeaders` no client header is forwarded at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_forwarded_unless_listed() {
    let (b, seen) = recording_backend().await;
    let yaml = format!(
        "name: test\ngroupRef: g\nincomingAuth: {{type: anonymous}}\nbackends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n"
    );
    let gw = gateway(&yaml).await;
    let mut c = Client::connect(gw.addr).await;
    let _ = c.tool_names().await;
    assert_eq!(
        call_with(&c, &[("X-Request-Id", "r-1"), ("X-Tenant", "t")]).await,
        "5"
    );
    for h in seen.lock().unwrap().iter() {
        assert!(h.get("x-request-id").is_none() && h.get("x-tenant").is_none());
    }
}
