//! Cedar authorization end to end: a real server-everything backend behind the gateway,
//! driven by the harness client and by the official Python SDK. Lists show exactly what the
//! policy permits, permitted calls reach the backend, refused ones get HTTP 403 with a
//! JSON-RPC error that names only the kind.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// The backend is named `ev`, so its tools are advertised as `ev_<tool>`.
const POLICIES: &[&str] = &[
    // One tool by name.
    r#"permit(principal, action == Action::"call_tool", resource == Tool::"ev_echo");"#,
    // Arguments: listed (no arguments when listing), callable only with a small `a`.
    r#"permit(principal, action == Action::"call_tool", resource == Tool::"ev_get-sum") when { !(context has arg_a) || context.arg_a < 100 };"#,
    // Annotations: read-only tools named ev_get-t* (get-tiny-image).
    r#"permit(principal, action == Action::"call_tool", resource) when { resource has readOnlyHint && resource.readOnlyHint && resource.name like "ev_get-t*" };"#,
    // A permit that a forbid overrides.
    r#"permit(principal, action == Action::"call_tool", resource == Tool::"ev_get-env");"#,
    r#"forbid(principal, action == Action::"call_tool", resource == Tool::"ev_get-env");"#,
    r#"permit(principal == Client::"anonymous", action == Action::"get_prompt", resource) when { [Prompt::"ev_simple-prompt", Prompt::"ev_completable-prompt"].contains(resource) };"#,
    // A resource by ToolHive's sanitised id, and a template family by URI.
    r#"permit(principal, action == Action::"read_resource", resource == Resource::"demo___resource_static_document_features_md");"#,
    r#"permit(principal, action == Action::"read_resource", resource) when { resource.uri like "demo://resource/dynamic/text/*" };"#,
];

fn authz_config(backend: &Everything, policies: &[&str]) -> String {
    let list: Vec<String> = policies
        .iter()
        .map(|p| format!("      - '{}'", p.replace('\'', "''")))
        .collect();
    format!(
        "name: test\ngroupRef: g\nincomingAuth:\n  type: anonymous\n  authz:\n    type: cedar\n    policies:\n{}\noutgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\nbackends:\n- {{name: ev, url: \"{}\", transport: streamable-http}}\n",
        list.join("\n"),
        backend.url()
    )
}

/// Sends a request and returns the HTTP status with the JSON-RPC message.
async fn call(c: &Client, id: u64, method: &str, params: Value) -> (u16, Value) {
    c.rpc_status(id, method, params).await
}

/// Asserts ToolHive's denial: HTTP 403, the request's id, JSON-RPC code 403 and a message
/// that names the kind only.
#[track_caller]
fn assert_denied((status, msg): &(u16, Value), id: u64, message: &str) {
    assert_eq!(*status, 403, "{msg}");
    assert_eq!(
        *msg,
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": 403, "message": message}})
    );
}

fn names(r: &Value, list: &str, key: &str) -> Vec<String> {
    r["result"][list]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|t| t[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_filter_lists_and_gate_calls_prompts_and_resources() {
    let ev = Everything::start("streamableHttp").await;
    let gw = gateway(&authz_config(&ev, POLICIES)).await;
    let mut c = Client::connect(gw.addr).await;
    const CALL: &str = "call denied by authorization policy";
    const PROMPT: &str = "prompt denied by authorization policy";
    const READ: &str = "read denied by authorization policy";

    // Tools: exactly the permitted ones are listed (the backend offers more than a dozen).
    assert_eq!(
        c.tool_names().await,
        ["ev_echo", "ev_get-sum", "ev_get-tiny-image"]
    );
    let (s, r) = call(
        &c,
        1,
        "tools/call",
        json!({"name": "ev_echo", "arguments": {"message": "hi"}}),
    )
    .await;
    assert_eq!((s, text_of(&r)), (200, "Echo: hi".to_owned()));
    let (s, r) = call(
        &c,
        2,
        "tools/call",
        json!({"name": "ev_get-sum", "arguments": {"a": 2, "b": 40}}),
    )
    .await;
    assert_eq!(
        (s, text_of(&r)),
        (200, "The sum of 2 and 40 is 42.".to_owned())
    );
    // The same tool with an argument the policy refuses; a forbidden tool; a tool that does
    // not exist at all: the same denial each time.
    assert_denied(
        &call(
            &c,
            3,
            "tools/call",
            json!({"name": "ev_get-sum", "arguments": {"a": 500, "b": 1}}),
        )
        .await,
        3,
        CALL,
    );
    assert_denied(
        &call(
            &c,
            4,
            "tools/call",
            json!({"name": "ev_get-env", "arguments": {}}),
        )
        .await,
        4,
        CALL,
    );
    assert_denied(
        &call(&c, 5, "tools/call", json!({"name": "ev_nope"})).await,
        5,
        CALL,
    );
    let (s, r) = call(
        &c,
        6,
        "tools/call",
        json!({"name": "ev_get-tiny-image", "arguments": {}}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r["result"]["content"][0]["type"], "text", "{r}");

    // Prompts, and completion of a prompt's arguments.
    let r = c.rpc("prompts/list", json!({})).await;
    assert_eq!(
        names(&r, "prompts", "name"),
        ["ev_completable-prompt", "ev_simple-prompt"]
    );
    let (s, r) = call(&c, 7, "prompts/get", json!({"name": "ev_simple-prompt"})).await;
    assert_eq!(s, 200);
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"],
        "This is a simple prompt without arguments."
    );
    assert_denied(
        &call(
            &c,
            8,
            "prompts/get",
            json!({"name": "ev_args-prompt", "arguments": {"city": "x"}}),
        )
        .await,
        8,
        PROMPT,
    );
    let complete = |name: &str| json!({"ref": {"type": "ref/prompt", "name": name}, "argument": {"name": "department", "value": "E"}});
    let (s, r) = call(
        &c,
        9,
        "completion/complete",
        complete("ev_completable-prompt"),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert!(r["result"]["completion"]["values"].is_array(), "{r}");
    assert_denied(
        &call(&c, 10, "completion/complete", complete("ev_args-prompt")).await,
        10,
        PROMPT,
    );

    // Resources: listed by sanitised id, templates by their template string; reads are
    // decided on the URI asked for.
    let r = c.rpc("resources/list", json!({})).await;
    assert_eq!(
        names(&r, "resources", "uri"),
        ["demo://resource/static/document/features.md"]
    );
    let r = c.rpc("resources/templates/list", json!({})).await;
    assert_eq!(
        names(&r, "resourceTemplates", "uriTemplate"),
        ["demo://resource/dynamic/text/{resourceId}"]
    );
    let (s, r) = call(
        &c,
        11,
        "resources/read",
        json!({"uri": "demo://resource/static/document/features.md"}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert!(r["result"]["contents"][0]["text"].is_string(), "{r}");
    let (s, r) = call(
        &c,
        12,
        "resources/read",
        json!({"uri": "demo://resource/dynamic/text/1"}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert!(
        r["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Resource 1"),
        "{r}"
    );
    for (id, uri) in [
        (13, "demo://resource/static/document/architecture.md"),
        (14, "demo://resource/dynamic/blob/1"),
        (15, "demo://no/such/resource"),
    ] {
        assert_denied(
            &call(&c, id, "resources/read", json!({"uri": uri})).await,
            id,
            READ,
        );
    }
    assert_denied(
        &call(
            &c,
            16,
            "resources/subscribe",
            json!({"uri": "demo://resource/static/document/architecture.md"}),
        )
        .await,
        16,
        READ,
    );

    // What is not about a tool, prompt or resource passes.
    let (s, r) = call(&c, 17, "ping", json!({})).await;
    assert_eq!((s, &r["result"]), (200, &json!({})));
    let metrics = c.get_text("/metrics").await;
    for line in [
        r#"vmcp_authz_denied_total{action="call_tool"} 3"#,
        r#"vmcp_authz_denied_total{action="get_prompt"} 2"#,
        r#"vmcp_authz_denied_total{action="read_resource"} 4"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }

    // The official Python SDK sees the filtered list and can call what is permitted. It
    // treats HTTP 403 as a transport error: the refused call raises with status 403.
    let script = r#"
import asyncio, json, sys
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

def status_of(e):
    if isinstance(e, httpx.HTTPStatusError):
        return e.response.status_code
    for inner in getattr(e, "exceptions", []):
        s = status_of(inner)
        if s is not None:
            return s
    return None

async def main(url):
    out = {}
    async with streamablehttp_client(url) as (r, w, _):
        async with ClientSession(r, w) as s:
            await s.initialize()
            out["tools"] = [t.name for t in (await s.list_tools()).tools]
            out["echo"] = (await s.call_tool("ev_echo", {"message": "py"})).content[0].text
    try:
        async with streamablehttp_client(url) as (r, w, _):
            async with ClientSession(r, w) as s:
                await s.initialize()
                await asyncio.wait_for(s.call_tool("ev_get-env", {}), 20)
        out["denied"] = "no error"
    except BaseException as e:
        out["denied"] = status_of(e) or repr(e)
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"#;
    let url = format!("http://{}/mcp", gw.addr);
    let v = python_json(script, &url, Duration::from_secs(90)).await;
    assert_eq!(
        v,
        json!({"tools": ["ev_echo", "ev_get-sum", "ev_get-tiny-image"], "echo": "Echo: py", "denied": 403})
    );
    gw.stop().await;
}

/// `permit(principal, action, resource);` (every ToolHive sample's policy) serves exactly
/// what a gateway without authorization serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permit_all_serves_what_no_authorization_serves() {
    let ev = Everything::start("streamableHttp").await;
    let open = gateway(&config(&format!(
        "backends:\n- {{name: ev, url: \"{}\", transport: streamable-http}}\n",
        ev.url()
    )))
    .await;
    let permit_all = gateway(&authz_config(
        &ev,
        &["permit(principal, action, resource);"],
    ))
    .await;
    let mut a = Client::connect(open.addr).await;
    let mut b = Client::connect(permit_all.addr).await;
    for method in [
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
    ] {
        let (x, y) = (
            a.rpc(method, json!({})).await,
            b.rpc(method, json!({})).await,
        );
        assert_eq!(x["result"], y["result"], "{method}");
    }
    assert!(b.tool_names().await.len() > 12);
    for (id, method, params) in [
        (
            1,
            "tools/call",
            json!({"name": "ev_get-env", "arguments": {}}),
        ),
        (
            2,
            "prompts/get",
            json!({"name": "ev_args-prompt", "arguments": {"city": "Paris"}}),
        ),
        (
            3,
            "resources/read",
            json!({"uri": "demo://resource/dynamic/blob/1"}),
        ),
    ] {
        let (s, r) = call(&b, id, method, params).await;
        assert_eq!(s, 200, "{method}: {r}");
        assert!(r["result"].is_object(), "{method}: {r}");
    }
    open.stop().await;
    permit_all.stop().await;
}

/// A policy whose condition cannot be evaluated for an item denies that item (fail closed),
/// in lists and calls alike; a policy that does not parse stops the start, naming its index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_errors_deny_and_bad_policies_stop_the_start() {
    let ev = Everything::start("streamableHttp").await;
    // Prompts have no readOnlyHint: reading it is an error for every prompt.
    let gw = gateway(&authz_config(
        &ev,
        &["permit(principal, action, resource) when { resource.readOnlyHint == true };"],
    ))
    .await;
    let mut c = Client::connect(gw.addr).await;
    let r = c.rpc("tools/list", json!({})).await;
    let tools = r["result"]["tools"].as_array().unwrap();
    assert!(tools.len() > 3, "{r}");
    assert!(
        tools
            .iter()
            .all(|t| t["annotations"]["readOnlyHint"] == true),
        "only read-only tools: {r}"
    );
    assert!(!names(&r, "tools", "name").contains(&"ev_toggle-simulated-logging".to_owned()));
    let r = c.rpc("prompts/list", json!({})).await;
    assert_eq!(names(&r, "prompts", "name"), Vec::<String>::new());
    assert_denied(
        &call(&c, 1, "prompts/get", json!({"name": "ev_simple-prompt"})).await,
        1,
        "prompt denied by authorization policy",
    );
    gw.stop().await;

    let text = authz_config(
        &ev,
        &[
            "permit(principal, action, resource);",
            "permit(principal, action == Action::call_tool, resource);",
        ],
    );
    let cfg = vmcp_config::Config::from_yaml_str(&text)
        .unwrap()
        .with_defaults();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = vmcp_gateway::start(cfg, listener, Default::default())
        .await
        .err()
        .expect("a bad policy stops the start")
        .to_string();
    assert!(
        err.contains("incomingAuth.authz.policies[1]: expected an entity uid"),
        "{err}"
    );
}

/// The policy decides on exactly what server-everything acts on. Before, each of these was
/// permitted on one reading of the params while the backend acted on another: the policy saw
/// the first `uri` and the first `arguments`, server-everything (JSON.parse) the last; and
/// arguments the gateway's parser could not read were decided on as if there were none, so
/// `!(context has arg_a) || context.arg_a < 100` let `a: 500` through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_on_the_params_the_backend_gets() {
    let ev = Everything::start("streamableHttp").await;
    let gw = gateway(&authz_config(&ev, POLICIES)).await;
    let c = Client::connect(gw.addr).await;
    for (id, method, params, path) in [
        (
            1,
            "resources/read",
            r#"{"uri":"demo://resource/static/document/features.md","uri":"demo://resource/static/document/architecture.md"}"#,
            "params.uri",
        ),
        (
            2,
            "tools/call",
            r#"{"name":"ev_get-sum","arguments":{"a":2,"b":40},"arguments":{"a":500,"b":1}}"#,
            "params.arguments",
        ),
        (
            3,
            "tools/call",
            r#"{"name":"ev_get-sum","arguments":{"a":500,"a":2,"b":1}}"#,
            "params.arguments.a",
        ),
    ] {
        let (status, r) = c.raw_call(id, method, params).await;
        assert_eq!(
            (status, &r),
            (
                200,
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": format!("duplicate key {path}")}})
            ),
            "{params}"
        );
    }
    let deep = format!("{}0{}", "[".repeat(200), "]".repeat(200));
    for (id, args) in [
        (4, format!(r#"{{"a":500,"b":1,"deep":{deep}}}"#)),
        (5, r#"{"a":500,"b":1,"s":"\ud800"}"#.to_owned()),
        (6, r#"{"a":1e400,"b":1}"#.to_owned()),
        (7, r#""a=500""#.to_owned()),
    ] {
        let params = format!(r#"{{"name":"ev_get-sum","arguments":{args}}}"#);
        let (status, r) = c.raw_call(id, "tools/call", &params).await;
        assert_eq!((status, &r["error"]["code"]), (200, &json!(-32602)), "{r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with("params.arguments "), "{msg}");
    }
    // The same call, readable and within the policy, goes through.
    let (status, r) = c
        .raw_call(
            8,
            "tools/call",
            r#"{"name":"ev_get-sum","arguments":{"a":2,"b":40,"deep":[[1]]}}"#,
        )
        .await;
    assert_eq!(
        (status, text_of(&r)),
        (200, "The sum of 2 and 40 is 42.".to_owned())
    );
    gw.stop().await;
}
