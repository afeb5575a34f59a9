//! The 2026-07-28 era on the client edge, on the wire: stateless requests next to 2025
//! sessions on one endpoint, every check a client can trip (envelope, headers, version),
//! this era's statuses and result members, and no session minted. The Python SDK 2.x
//! client does the same through its own code in `modern_sdk.rs`.

mod common;

use common::*;
use serde_json::{Value, json};

const V: &str = "2026-07-28";
const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": V,
           "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
           "io.modelcontextprotocol/clientCapabilities": {}})
}

/// One stateless POST: `headers` on top of Content-Type and Accept; status, the session
/// header if any, and the body as JSON.
async fn post(
    gw: std::net::SocketAddr,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Option<String>, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut req = reqwest::Client::new()
        .post(format!("http://{gw}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    let session = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    (
        status,
        session,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn request(id: u64, method: &str, mut params: Value) -> Value {
    params["_meta"] = meta();
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

async fn gw() -> (vmcp_gateway::Gateway, std::net::SocketAddr) {
    let b = rust_backend(Behaviour::Normal).await;
    let yaml = config(&format!(
        "backends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n"
    ));
    let gw = gateway(&yaml).await;
    let addr = gw.addr;
    (gw, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_requests_are_served_without_a_session() {
    let (_gw, addr) = gw().await;
    let (s, session, v) = post(
        addr,
        &[
            ("mcp-protocol-version", V),
            ("mcp-method", "server/discover"),
        ],
        request(1, "server/discover", json!({})),
    )
    .await;
    assert_eq!((s, session), (200, None), "{v}");
    let r = &v["result"];
    assert!(
        r["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!(V)),
        "{v}"
    );
    assert_eq!(r["capabilities"]["tools"]["listChanged"], true);
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["cacheScope"], "public");
    assert!(r["ttlMs"].is_u64());
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "test"
    );

    let (s, session, v) = post(
        addr,
        &[("mcp-protocol-version", V), ("mcp-method", "tools/list")],
        request(2, "tools/list", json!({})),
    )
    .await;
    assert_eq!((s, session), (200, None), "{v}");
    let names: Vec<&str> = v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"b_add"), "{v}");
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(v["result"]["ttlMs"], 0);
    assert_eq!(v["result"]["cacheScope"], "public");

    let call = request(
        3,
        "tools/call",
        json!({"name": "b_add", "arguments": {"a": 2, "b": 5}}),
    );
    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "tools/call"),
        ("mcp-name", "b_add"),
    ];
    let (s, session, v) = post(addr, &h, call.clone()).await;
    assert_eq!((s, session), (200, None), "{v}");
    assert_eq!(v["result"]["content"][0]["text"], "7");
    assert_eq!(v["result"]["resultType"], "complete");
    assert!(
        v["result"].get("ttlMs").is_none(),
        "a call is not cacheable"
    );
    // The name may come base64-encoded.
    let h64 = [
        ("mcp-protocol-version", V),
        ("mcp-method", "tools/call"),
        ("mcp-name", "=?base64?Yl9hZGQ=?="),
    ];
    let (s, _, v) = post(addr, &h64, call).await;
    assert_eq!(s, 200, "{v}");

    // A 2025 session on the same endpoint still works, and sees the same tools.
    let mut legacy = Client::connect(addr).await;
    assert!(legacy.tool_names().await.contains(&"b_add".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_names_what_is_wrong_with_this_eras_status() {
    let (_gw, addr) = gw().await;
    let call = |name: &str| {
        request(
            9,
            "tools/call",
            json!({"name": name, "arguments": {"a": 1, "b": 1}}),
        )
    };
    // No envelope: -32602.
    let bare = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}});
    let (s, _, v) = post(
        addr,
        &[("mcp-protocol-version", V), ("mcp-method", "tools/list")],
        bare,
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32602)), "{v}");
    // Mcp-Name that is not the body's name: -32020 (what a policy would decide on must be
    // what the backend is asked).
    let (s, _, v) = post(
        addr,
        &[
            ("mcp-protocol-version", V),
            ("mcp-method", "tools/call"),
            ("mcp-name", "b_sleep"),
        ],
        call("b_add"),
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32020)), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Mcp-Name"),
        "{v}"
    );
    assert_eq!(v["id"], 9);
    // Missing Mcp-Method: -32020.
    let (s, _, v) = post(addr, &[("mcp-protocol-version", V)], call("b_add")).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32020)), "{v}");
    // The header's version not the envelope's: -32020.
    let mut other = call("b_add");
    other["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let h = [
        ("mcp-protocol-version", V),
        ("mcp-method", "tools/call"),
        ("mcp-name", "b_add"),
    ];
    let (s, _, v) = post(addr, &h, other.clone()).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32020)), "{v}");
    // A version nobody speaks: -32022 with what is supported.
    let h = [
        ("mcp-protocol-version", "2099-01-01"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "b_add"),
    ];
    let (s, session, v) = post(addr, &h, other).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32022)), "{v}");
    assert_eq!(v["error"]["data"]["requested"], "2099-01-01");
    let supported = v["error"]["data"]["supported"].as_array().unwrap();
    assert!(supported.contains(&json!(V)) && supported.contains(&json!("2025-11-25")));
    assert_eq!(session, None);
    // Methods this era does not have: 404 with -32601.
    for m in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
    ] {
        let (s, _, v) = post(
            addr,
            &[("mcp-protocol-version", V), ("mcp-method", m)],
            request(4, m, json!({})),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_i64()),
            (404, Some(-32601)),
            "{m}: {v}"
        );
    }
    // A modern body without the version header is told so, not "missing session".
    let (s, _, v) = post(addr, &[("mcp-method", "tools/call")], call("b_add")).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32020)), "{v}");
    // No stream or session to GET or DELETE.
    for m in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = reqwest::Client::new()
            .request(m.clone(), format!("http://{addr}/mcp"))
            .header("mcp-protocol-version", V)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 405, "{m}");
        assert_eq!(r.headers()["allow"], "POST");
    }
    // A retry naming a state of the gateway's that does not exist: -32602, never run anew.
    let mut retry = request(
        6,
        "tools/call",
        json!({"name": "b_add", "arguments": {"a": 1, "b": 1},
               "requestState": "vmcp-state-0000", "inputResponses": {}}),
    );
    retry["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
        json!({"sampling": {}});
    let (s, _, v) = post(
        addr,
        &[
            ("mcp-protocol-version", V),
            ("mcp-method", "tools/call"),
            ("mcp-name", "b_add"),
        ],
        retry,
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32602)), "{v}");
    assert_eq!(v["error"]["message"], "Invalid or expired requestState");
    // An unknown resource is -32602 in this era.
    let (s, _, v) = post(
        addr,
        &[
            ("mcp-protocol-version", V),
            ("mcp-method", "resources/read"),
            ("mcp-name", "mem://nope"),
        ],
        request(5, "resources/read", json!({"uri": "mem://nope"})),
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32602)), "{v}");
    assert_eq!(v["error"]["data"]["uri"], "mem://nope", "{v}");
}

/// Lists come in pages of `--list-page-size` with the gateway's own cursors, in both eras;
/// a cursor that is not one of them is -32602.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_paged_with_opaque_cursors_in_both_eras() {
    let b = rust_backend(Behaviour::Normal).await;
    let yaml = config(&format!(
        "backends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n"
    ));
    let mut opts = loopback_entries();
    opts.limits.list_page_size = 1;
    let gw = gateway_with(&yaml, opts).await;
    let h = [("mcp-protocol-version", V), ("mcp-method", "tools/list")];
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let (s, _, v) = post(gw.addr, &h, request(1, "tools/list", params)).await;
        assert_eq!(s, 200, "{v}");
        let page = v["result"]["tools"].as_array().unwrap();
        assert_eq!(page.len(), 1, "{v}");
        names.push(page[0]["name"].as_str().unwrap().to_owned());
        match v["result"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["b_add", "b_sleep"], "sorted, each once");

    // A 2025 client pages the same way.
    let mut c = Client::connect(gw.addr).await;
    let first = c.rpc("tools/list", json!({})).await;
    assert_eq!(first["result"]["tools"][0]["name"], "b_add");
    let next = first["result"]["nextCursor"].as_str().unwrap().to_owned();
    let second = c.rpc("tools/list", json!({"cursor": next})).await;
    assert_eq!(second["result"]["tools"][0]["name"], "b_sleep");
    assert!(second["result"].get("nextCursor").is_none());
    // The cursor of another list, or one made up: -32602.
    let r = c.rpc("prompts/list", json!({"cursor": next})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c.rpc("tools/list", json!({"cursor": "b_add"})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let (s, _, v) = post(gw.addr, &h, request(2, "tools/list", json!({"cursor": 5}))).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32602)), "{v}");
}

/// A backend whose `tools/list` pages never end: its part fails with the reason in /status,
/// instead of the gateway serving the first hundred pages as if they were all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_whose_pages_never_end_is_an_error_not_a_truncated_list() {
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|body: String| async move {
            let msg: Value = serde_json::from_str(&body).unwrap_or_default();
            let Some(id) = msg.get("id").cloned() else {
                return (http::StatusCode::ACCEPTED, JSON, String::new());
            };
            let result = match msg["method"].as_str().unwrap_or("") {
                "initialize" => json!({"protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {}}, "serverInfo": {"name": "endless", "version": "1"}}),
                "tools/list" => {
                    let n: u64 = msg["params"]["cursor"]
                        .as_str()
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    json!({"tools": [{"name": format!("t{n}"), "inputSchema": {"type": "object"}}],
                           "nextCursor": (n + 1).to_string()})
                }
                _ => {
                    let e = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}});
                    return (http::StatusCode::OK, JSON, e.to_string());
                }
            };
            (
                http::StatusCode::OK,
                JSON,
                json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
            )
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    let yaml = config(&format!(
        "backends:\n- {{name: endless, url: \"http://{addr}/mcp\", transport: streamable-http}}\n"
    ));
    let gw = gateway(&yaml).await;
    let mut c = Client::connect(gw.addr).await;
    let r = c.rpc("tools/list", json!({})).await;
    assert_eq!(r["error"]["code"], -32001, "partialFailureMode fail: {r}");
    let status = c.get_json("/status").await;
    let err = status["backends"][0]["capabilityError"]
        .as_str()
        .unwrap_or_default();
    assert!(
        err.contains("more than 100 pages") && err.contains("not served truncated"),
        "{status}"
    );
}
