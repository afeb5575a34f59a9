//! What the gateway reads of a request is exactly what the backend gets (docs/AUTHZ.md,
//! "Duplicate keys"): a params object holding a key twice is refused with -32600 naming the
//! key, for every method a policy gates, on shared and on per-client backend sessions, and
//! the backend never sees it. Before, the policy decided on the first value while backends
//! (and serde's maps) act on the last, so `{"uri":"allowed","uri":"forbidden"}` read a
//! forbidden resource.
//!
//! The backend is a small recording MCP server of the test's own: the point is to see every
//! message that reaches it, and on which backend session, which server-everything cannot
//! show. `authz.rs` shows the same refusals against server-everything.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use common::*;
use http::HeaderMap;
use serde_json::{Value, json};

/// Every message the recording backend received, and what each of its sessions declared.
#[derive(Default)]
struct Seen {
    /// (backend session id, method, raw body) in arrival order.
    messages: Vec<(String, String, String)>,
    /// Backend session id → the client capabilities its `initialize` declared.
    sessions: HashMap<String, Value>,
}

impl Seen {
    /// Raw bodies of the `method` requests received so far.
    fn bodies(&self, method: &str) -> Vec<String> {
        self.messages
            .iter()
            .filter(|(_, m, _)| m == method)
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    /// Whether the last `method` request came on the dedicated client's own session: the
    /// shared sessions declare sampling, elicitation and roots, that client only sampling.
    fn last_on_dedicated(&self, method: &str) -> bool {
        let (sid, _, _) = self
            .messages
            .iter()
            .rev()
            .find(|(_, m, _)| m == method)
            .unwrap_or_else(|| panic!("no {method} received"));
        let caps = &self.sessions[sid];
        caps.get("sampling").is_some() && caps.get("elicitation").is_none()
    }
}

/// A streamable-HTTP MCP server with session ids, one tool `t`, prompts `allowed` and
/// `forbidden`, resources `mem://allowed` and `mem://forbidden`, subscriptions and
/// completion; it answers each call with the params it received, and records everything.
async fn recording_backend() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = s.clone();
            async move { record(&seen, &headers, &body) }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, seen)
}

fn record(seen: &Mutex<Seen>, headers: &HeaderMap, body: &[u8]) -> Response {
    let text = String::from_utf8_lossy(body).into_owned();
    let Ok(msg) = serde_json::from_str::<Value>(&text) else {
        return (http::StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    let method = msg["method"].as_str().unwrap_or("").to_owned();
    let mut seen = seen.lock().unwrap();
    let sid = match headers.get("mcp-session-id") {
        Some(v) => v.to_str().unwrap().to_owned(),
        None if method == "initialize" => {
            let sid = format!("s{}", seen.sessions.len() + 1);
            seen.sessions
                .insert(sid.clone(), msg["params"]["capabilities"].clone());
            sid
        }
        None => String::new(),
    };
    seen.messages
        .push((sid.clone(), method.clone(), text.clone()));
    drop(seen);
    let Some(id) = msg.get("id").cloned() else {
        return http::StatusCode::ACCEPTED.into_response();
    };
    let echo = msg["params"].to_string();
    let result = match method.as_str() {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}, "prompts": {}, "resources": {"subscribe": true}, "completions": {}},
            "serverInfo": {"name": "recording-backend", "version": "0"}
        }),
        "ping" | "resources/subscribe" | "resources/unsubscribe" => json!({}),
        "tools/list" => json!({"tools": [{"name": "t", "inputSchema": {"type": "object"}}]}),
        "prompts/list" => json!({"prompts": [{"name": "allowed"}, {"name": "forbidden"}]}),
        "resources/list" => json!({"resources": [
            {"uri": "mem://allowed", "name": "allowed"},
            {"uri": "mem://forbidden", "name": "forbidden"}
        ]}),
        "resources/templates/list" => json!({"resourceTemplates": []}),
        "tools/call" => json!({"content": [{"type": "text", "text": echo}]}),
        "prompts/get" => {
            json!({"messages": [{"role": "user", "content": {"type": "text", "text": echo}}]})
        }
        "resources/read" => json!({"contents": [{"uri": msg["params"]["uri"], "text": echo}]}),
        "completion/complete" => json!({"completion": {"values": [echo]}}),
        _ => {
            let e = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}});
            return (
                [(http::header::CONTENT_TYPE, "application/json")],
                e.to_string(),
            )
                .into_response();
        }
    };
    let reply = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    (
        [
            (http::header::CONTENT_TYPE, "application/json".to_owned()),
            (
                http::HeaderName::from_static("mcp-session-id"),
                sid.to_owned(),
            ),
        ],
        reply,
    )
        .into_response()
}

/// The backend is named `rec`: its tool is `rec_t`, its prompts `rec_allowed` and
/// `rec_forbidden`. Only `mode: safe` (or no mode), the `allowed` prompt and the
/// `mem://allowed` resource are permitted.
const POLICIES: &[&str] = &[
    r#"permit(principal, action == Action::"call_tool", resource == Tool::"rec_t") when { !(context has arg_mode) || context.arg_mode == "safe" };"#,
    r#"permit(principal, action == Action::"get_prompt", resource == Prompt::"rec_allowed");"#,
    r#"permit(principal, action == Action::"read_resource", resource) when { resource.uri == "mem://allowed" };"#,
];

fn backend_yaml(addr: SocketAddr) -> String {
    format!("backends:\n- {{name: rec, url: \"http://{addr}/mcp\", transport: streamable-http}}\n")
}

fn authz_config(addr: SocketAddr) -> String {
    let list: Vec<String> = POLICIES
        .iter()
        .map(|p| format!("      - '{}'", p.replace('\'', "''")))
        .collect();
    format!(
        "name: test\ngroupRef: g\nincomingAuth:\n  type: anonymous\n  authz:\n    type: cedar\n    policies:\n{}\noutgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n{}",
        list.join("\n"),
        backend_yaml(addr)
    )
}

/// A client that declares `sampling`, so its calls travel on backend sessions of its own.
async fn connect_dedicated(addr: SocketAddr) -> Client {
    let mut c = Client::new(addr);
    let r = c.rpc("initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {"sampling": {}}, "clientInfo": {"name": "t", "version": "0"}})).await;
    assert_eq!(r["result"]["protocolVersion"], "2025-06-18", "{r}");
    c.notify("notifications/initialized").await;
    c
}

/// Requests with a duplicated key in what is routed or decided on, one per gated method and
/// place: (method, params, the key's path in the error).
const DUPLICATES: &[(&str, &str, &str)] = &[
    // The decision read the first arguments object, the backend the second.
    (
        "tools/call",
        r#"{"name":"rec_t","arguments":{"mode":"safe"},"arguments":{"mode":"unsafe"}}"#,
        "params.arguments",
    ),
    // Inside arguments: serde keeps the last (decided on "safe"), a first-wins backend
    // would act on "unsafe".
    (
        "tools/call",
        r#"{"name":"rec_t","arguments":{"mode":"unsafe","mode":"safe"}}"#,
        "params.arguments.mode",
    ),
    // Deeper inside arguments, where the policy sees only that `opts` is present.
    (
        "tools/call",
        r#"{"name":"rec_t","arguments":{"mode":"safe","opts":{"path":"/a","path":"/etc"}}}"#,
        "params.arguments.opts.path",
    ),
    (
        "tools/call",
        r#"{"name":"rec_nope","name":"rec_t","arguments":{}}"#,
        "params.name",
    ),
    (
        "prompts/get",
        r#"{"name":"rec_allowed","name":"rec_forbidden"}"#,
        "params.name",
    ),
    (
        "prompts/get",
        r#"{"name":"rec_allowed","arguments":{},"arguments":{"x":"y"}}"#,
        "params.arguments",
    ),
    (
        "resources/read",
        r#"{"uri":"mem://allowed","uri":"mem://forbidden"}"#,
        "params.uri",
    ),
    // An escaped key is the same key.
    (
        "resources/read",
        r#"{"uri":"mem://allowed","ur\u0069":"mem://forbidden"}"#,
        "params.uri",
    ),
    (
        "resources/subscribe",
        r#"{"uri":"mem://allowed","uri":"mem://forbidden"}"#,
        "params.uri",
    ),
    (
        "completion/complete",
        r#"{"ref":{"type":"ref/resource","uri":"mem://allowed","uri":"mem://forbidden"},"argument":{"name":"a","value":"b"}}"#,
        "params.ref.uri",
    ),
    (
        "completion/complete",
        r#"{"ref":{"type":"ref/resource","uri":"mem://allowed"},"ref":{"type":"ref/resource","uri":"mem://forbidden"},"argument":{"name":"a","value":"b"}}"#,
        "params.ref",
    ),
    (
        "completion/complete",
        r#"{"ref":{"type":"ref/prompt","name":"rec_allowed","name":"rec_forbidden"},"argument":{"name":"a","value":"b"}}"#,
        "params.ref.name",
    ),
];

/// Permitted requests of every gated method: they reach the backend, on the session the
/// client's capabilities call for.
const PERMITTED: &[(&str, &str)] = &[
    (
        "tools/call",
        r#"{"name":"rec_t","arguments":{"mode":"safe","opts":{"path":"/a"}}}"#,
    ),
    ("prompts/get", r#"{"name":"rec_allowed"}"#),
    ("resources/read", r#"{"uri":"mem://allowed"}"#),
    ("resources/subscribe", r#"{"uri":"mem://allowed"}"#),
    (
        "completion/complete",
        r#"{"ref":{"type":"ref/resource","uri":"mem://allowed"},"argument":{"name":"a","value":"b"}}"#,
    ),
];

/// Sends every duplicate on `c` and checks it is refused by the key's path and never reaches
/// the backend; then the permitted requests reach it, on a dedicated session or not.
async fn refuses_duplicates_on(c: &Client, seen: &Mutex<Seen>, dedicated: bool) {
    for (i, (method, params, path)) in DUPLICATES.iter().enumerate() {
        let id = 100 + i as u64;
        let before = seen.lock().unwrap().bodies(method).len();
        let (status, reply) = c.raw_call(id, method, params).await;
        assert_eq!(
            (status, &reply),
            (
                200,
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": format!("duplicate key {path}")}})
            ),
            "{method} {params}"
        );
        let after = seen.lock().unwrap().bodies(method);
        assert_eq!(
            after.len(),
            before,
            "{method} {params} reached the backend: {:?}",
            after.last()
        );
    }
    for (i, (method, params)) in PERMITTED.iter().enumerate() {
        let id = 200 + i as u64;
        let (status, reply) = c.raw_call(id, method, params).await;
        assert_eq!(status, 200, "{method}: {reply}");
        assert!(reply["result"].is_object(), "{method}: {reply}");
        let seen = seen.lock().unwrap();
        let last = seen
            .bodies(method)
            .pop()
            .expect("the permitted request arrived");
        assert!(last.contains(r#""params":"#), "{last}");
        assert_eq!(seen.last_on_dedicated(method), dedicated, "{method}");
    }
    // The policy is in force: the forbidden resource itself is refused.
    let (status, _) = c
        .raw_call(300, "resources/read", r#"{"uri":"mem://forbidden"}"#)
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_are_refused_for_every_gated_method_on_shared_and_dedicated_sessions() {
    let (addr, seen) = recording_backend().await;
    let gw = gateway(&authz_config(addr)).await;
    let shared = Client::connect(gw.addr).await;
    refuses_duplicates_on(&shared, &seen, false).await;
    let dedicated = connect_dedicated(gw.addr).await;
    refuses_duplicates_on(&dedicated, &seen, true).await;
    // Nothing the backend received holds a key twice: it only ever got what was decided on.
    for (_, method, body) in &seen.lock().unwrap().messages {
        assert!(
            !body.contains("forbidden") && !body.contains("unsafe") && !body.contains("/etc"),
            "{method}: {body}"
        );
    }
    gw.stop().await;
}

/// Without policies, what is routed on (the name, the URI, the completion ref) still may not
/// be duplicated; arguments are not parsed (nothing decides on them), so their content goes
/// to the backend untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_policies_routing_keys_are_unique_and_arguments_pass_verbatim() {
    let (addr, seen) = recording_backend().await;
    let gw = gateway(&config(&backend_yaml(addr))).await;
    let c = Client::connect(gw.addr).await;
    for (i, (method, params, path)) in DUPLICATES.iter().enumerate() {
        if path.starts_with("params.arguments.") {
            continue;
        }
        let id = 100 + i as u64;
        let (status, reply) = c.raw_call(id, method, params).await;
        assert_eq!(
            (status, &reply["error"]),
            (
                200,
                &json!({"code": -32600, "message": format!("duplicate key {path}")})
            ),
            "{method} {params}"
        );
    }
    assert!(seen.lock().unwrap().bodies("resources/read").is_empty());
    let args = r#"{"name":"rec_t","arguments":{"mode":"safe","opts":{"k":1,"k":2}}}"#;
    let (status, reply) = c.raw_call(1, "tools/call", args).await;
    assert_eq!(status, 200, "{reply}");
    let got = seen.lock().unwrap().bodies("tools/call").pop().unwrap();
    assert!(got.contains(r#""opts":{"k":1,"k":2}"#), "{got}");
    gw.stop().await;
}

/// The front's smaller rules: a null id is a request to refuse, not a notification; the
/// Content-Type is `application/json` with any parameters, nothing that merely starts so; a
/// long unknown tool name is not echoed whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_ids_content_types_and_long_names() {
    let (addr, seen) = recording_backend().await;
    let gw = gateway(&config(&backend_yaml(addr))).await;
    let c = Client::connect(gw.addr).await;
    // The harness's `post` sets a Content-Type already; this one sets only `ct`.
    let post = |ct: &'static str, body: String| {
        c.http
            .post(format!("{}/mcp", c.base))
            .header("content-type", ct)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", c.session.as_deref().unwrap())
            .body(body)
            .send()
    };

    let r = post(
        "application/json",
        r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"rec_t"}}"#.into(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "invalid request: id must be a string or an integer"}})
    );
    assert!(seen.lock().unwrap().bodies("tools/call").is_empty());

    let ping = |id: u32| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ] {
        let r = post(ct, ping(1)).await.unwrap();
        assert_eq!(r.status(), 200, "{ct}");
    }
    for ct in [
        "application/jsonp",
        "application/json-seq",
        "application/json+x; charset=utf-8",
        "text/plain",
    ] {
        let r = post(ct, ping(2)).await.unwrap();
        assert_eq!(r.status(), 415, "{ct}");
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["error"]["code"], -32600, "{ct}");
    }

    let name = format!("rec_{}", "x".repeat(100_000));
    let (status, reply) = c
        .raw_call(
            3,
            "tools/call",
            &json!({"name": name, "arguments": {}}).to_string(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    let msg = reply["error"]["message"].as_str().unwrap();
    assert!(msg.len() < 200, "{} bytes echoed", msg.len());
    assert!(msg.starts_with(r#"unknown tool "rec_xxx"#), "{msg}");
    assert!(msg.ends_with("(100004 bytes)"), "{msg}");
    gw.stop().await;
}

/// A number Cedar cannot hold reached the policy only as `arg_mode_present`, so the
/// `!(context has arg_mode) || ...` rule permitted it and the backend got a `mode` nobody
/// decided on. It is refused like the other arguments the decision cannot read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_the_policy_cannot_compare_are_refused_before_the_backend() {
    let (addr, seen) = recording_backend().await;
    let gw = gateway(&authz_config(addr)).await;
    let c = Client::connect(gw.addr).await;
    for (i, n) in ["18446744073709551615", "1e300", "-1e300"]
        .iter()
        .enumerate()
    {
        let id = 400 + i as u64;
        let params = format!(r#"{{"name":"rec_t","arguments":{{"mode":{n}}}}}"#);
        let before = seen.lock().unwrap().bodies("tools/call").len();
        let (status, reply) = c.raw_call(id, "tools/call", &params).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["error"]["code"], -32602, "{n}: {reply}");
        let msg = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("params.arguments"), "{msg}");
        assert_eq!(
            seen.lock().unwrap().bodies("tools/call").len(),
            before,
            "{n} reached the backend"
        );
    }
    // A number it can hold is decided on as before: not "safe", so denied.
    let (status, _) = c
        .raw_call(
            410,
            "tools/call",
            r#"{"name":"rec_t","arguments":{"mode":7}}"#,
        )
        .await;
    assert_eq!(status, 403);
    gw.stop().await;
}
