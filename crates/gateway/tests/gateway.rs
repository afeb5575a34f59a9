//! End-to-end tests of the gateway against real MCP peers on loopback.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Streamable HTTP, legacy SSE and a TLS backend with a test CA, behind one endpoint: lists
/// are aggregated with prefixes, and calls, reads and prompts reach every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_and_routes_streamable_sse_and_tls_backends() {
    let stream = Everything::start("streamableHttp").await;
    let legacy = Everything::start("sse").await;
    let tls = LoopbackTls::new("vmcp test CA").unwrap();
    let tls_port = tls.forward_to(stream.port).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = tls.write_ca(dir.path()).unwrap();
    let cfg = config(&format!(
        "backends:\n\
         - {{name: stream, url: \"{}\", transport: streamable-http}}\n\
         - {{name: legacy, url: \"{}\", transport: sse}}\n\
         - {{name: secure, url: \"https://127.0.0.1:{tls_port}/mcp\", transport: streamable-http, type: entry, allowPrivateEndpoint: true, caBundlePath: \"{}\"}}\n\
         aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n",
        stream.url(),
        legacy.url(),
        ca_path.display()
    ));
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;

    let tools = c.tool_names().await;
    for want in [
        "stream_echo",
        "legacy_echo",
        "secure_echo",
        "stream_get-sum",
    ] {
        assert!(
            tools.contains(&want.to_owned()),
            "{want} missing from {tools:?}"
        );
    }
    let mut sorted = tools.clone();
    sorted.sort();
    assert_eq!(tools, sorted, "tool list is sorted");

    for backend in ["stream", "legacy", "secure"] {
        let r = c
            .rpc(
                "tools/call",
                json!({"name": format!("{backend}_echo"), "arguments": {"message": backend}}),
            )
            .await;
        assert_eq!(text_of(&r), format!("Echo: {backend}"));
    }

    let r = c
        .rpc(
            "resources/read",
            json!({"uri": "demo://resource/dynamic/text/1"}),
        )
        .await;
    assert!(
        r["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Resource 1"),
        "{r}"
    );
    let r = c
        .rpc("prompts/get", json!({"name": "legacy_simple-prompt"}))
        .await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"],
        "This is a simple prompt without arguments."
    );
    let r = c.rpc("prompts/list", json!({})).await;
    assert!(
        r["result"]["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "secure_simple-prompt")
    );

    // Progress notifications pass through: the reply switches to SSE.
    let id = 99;
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "stream_trigger-long-running-operation", "arguments": {"duration": 1, "steps": 2},
        "_meta": {"progressToken": "tok"}}});
    let resp = c.post().body(body.to_string()).send().await.unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("notifications/progress") && text.contains("\"tok\""),
        "{text}"
    );
    assert!(text.contains("Long running operation completed"), "{text}");

    let status = c.get_json("/status").await;
    assert_eq!(status["ready"], true);
    for b in status["backends"].as_array().unwrap() {
        assert_eq!(b["health"], "healthy", "{b}");
    }
    let metrics = c.get_text("/metrics").await;
    let call = [
        ("method", "tools/call"),
        ("tool", "legacy_echo"),
        ("backend", "legacy"),
        ("outcome", "ok"),
    ];
    assert_eq!(
        vmcp_gateway::metrics::sample(&metrics, "vmcp_requests_total", &call),
        Some(1.0),
        "{metrics}"
    );
    assert!(metrics.contains("vmcp_request_duration_seconds_bucket"));
    assert!(metrics.contains(r#"vmcp_backend_healthy{backend="secure"} 1"#));

    // The official Python SDK as a client.
    let script = r#"
import asyncio, json, sys
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

async def main(url):
    async with streamablehttp_client(url) as (r, w, _):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = await s.list_tools()
            res = await s.call_tool("secure_get-sum", {"a": 2, "b": 40})
            prompt = await s.get_prompt("stream_simple-prompt")
            print(json.dumps({"tools": [t.name for t in tools.tools],
                              "sum": res.content[0].text,
                              "prompt": prompt.messages[0].content.text}))

asyncio.run(main(sys.argv[1]))
"#;
    let url = format!("http://{}/mcp", gw.addr);
    let v = python_json(script, &url, Duration::from_secs(60)).await;
    assert!(
        v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "legacy_echo")
    );
    assert_eq!(v["sum"], "The sum of 2 and 40 is 42.");
    assert_eq!(v["prompt"], "This is a simple prompt without arguments.");
    gw.stop().await;
}

/// Without the CA the TLS backend is refused with a certificate error; a missing CA file is a
/// startup error naming the backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_backend_without_its_ca_is_refused() {
    let b = rust_backend(Behaviour::Normal).await;
    let tls = LoopbackTls::new("vmcp test CA").unwrap();
    let port = tls.forward_to(b.port()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&format!(
        "backends:\n- {{name: secure, url: \"https://127.0.0.1:{port}/mcp\", transport: streamable-http, type: entry, allowPrivateEndpoint: true}}\n\
         operational: {{failureHandling: {{partialFailureMode: best_effort}}}}\n"
    ));
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    assert!(c.tool_names().await.is_empty());
    let s = wait_health(&c, "secure", "degraded").await;
    let err = s["lastError"].as_str().unwrap().to_lowercase();
    assert!(
        err.contains("certificate") || err.contains("unknownissuer") || err.contains("tls"),
        "{err}"
    );
    gw.stop().await;

    let missing = config(&format!(
        "backends:\n- {{name: secure, url: \"https://127.0.0.1:{port}/mcp\", transport: streamable-http, type: entry, allowPrivateEndpoint: true, caBundlePath: \"{}\"}}\n",
        dir.path().join("absent.crt").display()
    ));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = vmcp_config::Config::from_yaml_str(&missing)
        .unwrap()
        .with_defaults();
    let e = vmcp_gateway::start(cfg, l, loopback_entries())
        .await
        .err()
        .expect("startup fails")
        .to_string();
    assert!(e.contains("\"secure\"") && e.contains("absent.crt"), "{e}");
}

/// A slow tool times out as configured while other backends keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_backend_times_out_without_stalling_others() {
    let slow = rust_backend(Behaviour::Normal).await;
    let fast = rust_backend(Behaviour::Normal).await;
    let cfg = config(&format!(
        "backends:\n\
         - {{name: slow, url: \"http://{slow}/mcp\", transport: streamable-http}}\n\
         - {{name: fast, url: \"http://{fast}/mcp\", transport: streamable-http}}\n\
         operational:\n  timeouts: {{default: 30s, perWorkload: {{slow: 1s}}}}\n  failureHandling: {{healthCheckInterval: 1h}}\n"
    ));
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    assert_eq!(c.tool_names().await.len(), 4);
    let mut c2 = Client::connect(gw.addr).await;
    let slow_call = tokio::spawn(async move {
        c2.rpc(
            "tools/call",
            json!({"name": "slow_sleep", "arguments": {"seconds": 10}}),
        )
        .await
    });
    // While the slow call is in flight, the other backend answers.
    for i in 0..3 {
        let r = c
            .rpc(
                "tools/call",
                json!({"name": "fast_add", "arguments": {"a": i, "b": 1}}),
            )
            .await;
        assert_eq!(text_of(&r), (i + 1).to_string());
    }
    let r = slow_call.await.unwrap();
    assert_eq!(r["error"]["code"], -32003, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{r}"
    );
    // A short sleep within the timeout succeeds over the same backend session.
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "slow_sleep", "arguments": {"seconds": 0.1}}),
        )
        .await;
    assert_eq!(text_of(&r), "slept 0.1");
    gw.stop().await;
}

/// A backend replying with garbage gives the caller an error and marks that backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_backend_is_an_error_and_marked() {
    let bad = rust_backend(Behaviour::Garbage).await;
    let good = rust_backend(Behaviour::Normal).await;
    let cfg = config(&format!(
        "backends:\n\
         - {{name: bad, url: \"http://{bad}/mcp\", transport: streamable-http}}\n\
         - {{name: good, url: \"http://{good}/mcp\", transport: streamable-http}}\n\
         operational: {{failureHandling: {{healthCheckInterval: 1h, unhealthyThreshold: 5}}}}\n"
    ));
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    let r = c
        .rpc("tools/call", json!({"name": "bad_add", "arguments": {}}))
        .await;
    assert_eq!(r["error"]["code"], -32004, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid reply"),
        "{r}"
    );
    let bad_status = status_of(&c, "bad").await.expect("bad in /status");
    assert_eq!(bad_status["health"], "degraded", "{bad_status}");
    assert_eq!(bad_status["consecutiveFailures"], 1);
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "good_add", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(text_of(&r), "5");
    // Unknown tools are a clean error, not a crash.
    let r = c
        .rpc("tools/call", json!({"name": "nope", "arguments": {}}))
        .await;
    assert_eq!(r["error"]["code"], -32602);
    gw.stop().await;
}

/// Killing a backend: others keep answering, it turns unhealthy, and it recovers on restart.
/// `best_effort` keeps lists working meanwhile; `fail` refuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backend_turns_unhealthy_and_recovers() {
    let mut victim = Everything::start("streamableHttp").await;
    let other = rust_backend(Behaviour::Normal).await;
    let body = |mode: &str| {
        format!(
            "backends:\n\
             - {{name: victim, url: \"{}\", transport: streamable-http}}\n\
             - {{name: other, url: \"http://{other}/mcp\", transport: streamable-http}}\n\
             operational:\n  timeouts: {{default: 5s}}\n  failureHandling: {{healthCheckInterval: 200ms, unhealthyThreshold: 2, partialFailureMode: {mode}}}\n",
            victim.url()
        )
    };
    let gw = gateway(&config(&body("best_effort"))).await;
    let strict = gateway(&config(&body("fail"))).await;
    let mut c = Client::connect(gw.addr).await;
    let mut cs = Client::connect(strict.addr).await;
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "victim_echo", "arguments": {"message": "a"}}),
        )
        .await;
    assert_eq!(text_of(&r), "Echo: a");
    assert!(cs.tool_names().await.contains(&"victim_echo".to_owned()));

    victim.kill();
    wait_health(&c, "victim", "unhealthy").await;
    wait_health(&cs, "victim", "unhealthy").await;
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "other_add", "arguments": {"a": 1, "b": 1}}),
        )
        .await;
    assert_eq!(text_of(&r), "2");
    let tools = c.tool_names().await;
    assert!(
        tools.contains(&"other_add".to_owned()) && !tools.contains(&"victim_echo".to_owned()),
        "{tools:?}"
    );
    let r = cs.rpc("tools/list", json!({})).await;
    assert_eq!(r["error"]["code"], -32001, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("victim"),
        "{r}"
    );

    victim.restart().await;
    wait_health(&c, "victim", "healthy").await;
    let mut tools = Vec::new();
    for _ in 0..100 {
        tools = c.tool_names().await;
        if tools.contains(&"victim_echo".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tools.contains(&"victim_echo".to_owned()), "{tools:?}");
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "victim_echo", "arguments": {"message": "back"}}),
        )
        .await;
    assert_eq!(text_of(&r), "Echo: back");
    gw.stop().await;
    strict.stop().await;
}

/// Malformed and hostile input gets bounded, precise rejections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_precisely() {
    let b = rust_backend(Behaviour::Normal).await;
    let cfg = config(&format!(
        "backends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n"
    ));
    let opts = vmcp_gateway::serve::FrontOptions {
        body_limit: 64 * 1024,
        ..Default::default()
    };
    let gw = gateway_with(&cfg, opts).await;
    let c = {
        let mut c = Client::connect(gw.addr).await;
        assert_eq!(c.tool_names().await.len(), 2);
        c
    };
    let send = |body: Vec<u8>| {
        let req = c.post().body(body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let (s, v) = send(b"{not json".to_vec()).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32700)));
    let (s, v) = send(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}".to_vec()).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32700)));
    let (s, v) = send(br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#.to_vec()).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32600)));
    let (s, v) =
        send(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}"#.to_vec()).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32600)));
    let (s, v) = send(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.to_vec()).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(-32600)));
    let (s, v) =
        send(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":3}}"#.to_vec())
            .await;
    assert_eq!((s, v["error"]["code"].as_i64()), (200, Some(-32602)));
    let (s, v) = send(br#"{"jsonrpc":"2.0","id":1,"method":"no/such"}"#.to_vec()).await;
    assert_eq!((s, v["error"]["code"].as_i64()), (200, Some(-32601)));
    for params in [r#"{"level":"loud"}"#, r#"{"level":3}"#, "{}"] {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{params}}}"#);
        let (s, v) = send(body.into_bytes()).await;
        assert_eq!(
            (s, v["error"]["code"].as_i64()),
            (200, Some(-32602)),
            "{params}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("params.level"),
            "{v}"
        );
    }
    // An answer to a server-to-client request nobody sent is accepted and dropped.
    let (s, _) =
        send(br#"{"jsonrpc":"2.0","id":"vmcp-forged","result":{"roots":[]}}"#.to_vec()).await;
    assert_eq!(s, 202);

    // Oversized: rejected with 413 from the Content-Length, and when streamed without one.
    let big = vec![b' '; 200 * 1024];
    let (s, _) = send(big.clone()).await;
    assert_eq!(s, 413);
    assert_eq!(chunked_post_status(gw.addr, 64, 8 * 1024).await, 413);

    // Sessions: missing → 400, unknown → 404, DELETE ends one.
    let url = format!("{}/mcp", c.base);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let sid = c.session.clone().unwrap();
    let json_post = || {
        c.http
            .post(&url)
            .header("content-type", "application/json")
            .body(ping.clone())
    };
    let cases = [
        ("no session", json_post(), 400),
        (
            "unknown session",
            json_post().header("mcp-session-id", "nope"),
            404,
        ),
        (
            "unsupported protocol version",
            c.post()
                .header("mcp-protocol-version", "1999-01-01")
                .body(ping.clone()),
            400,
        ),
        // GET needs Accept: text/event-stream.
        (
            "GET without SSE",
            c.http
                .get(&url)
                .header("mcp-session-id", &sid)
                .header("accept", "application/json"),
            406,
        ),
        // DNS rebinding: a foreign Origin or Host is refused on a loopback-bound gateway.
        (
            "foreign origin",
            c.post()
                .header("origin", "http://evil.example")
                .body(ping.clone()),
            403,
        ),
        (
            "foreign host",
            c.post().header("host", "evil.example").body(ping.clone()),
            403,
        ),
        (
            "loopback origin",
            c.post()
                .header("origin", "http://localhost:3000")
                .body(ping.clone()),
            200,
        ),
    ];
    for (what, req, want) in cases {
        assert_eq!(req.send().await.unwrap().status(), want, "{what}");
    }
    let r = c
        .http
        .delete(&url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c.post().body(ping).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // The gateway is unharmed.
    let mut fresh = Client::connect(gw.addr).await;
    assert_eq!(fresh.tool_names().await.len(), 2);
    gw.stop().await;
}

/// initialize negotiates each supported protocol version and falls back to the latest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiates_protocol_versions_and_notifies_list_changes() {
    let gw = gateway(&config("")).await;
    for (asked, want) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let mut c = Client::new(gw.addr);
        let r = c.rpc("initialize", json!({"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}})).await;
        assert_eq!(r["result"]["protocolVersion"], want);
        assert_eq!(r["result"]["capabilities"]["tools"]["listChanged"], true);
        assert!(c.session.is_some());
    }
    let c = Client::new(gw.addr);
    let ready = c
        .http
        .get(format!("http://{}/readyz", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let health = c
        .http
        .get(format!("http://{}/health", gw.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    gw.stop().await;
}

/// Streams a chunked body with no Content-Length over a raw socket; returns the status code.
async fn chunked_post_status(addr: std::net::SocketAddr, chunks: usize, size: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_string();
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
    for _ in 0..chunks {
        // The server may answer and close before we finish sending.
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// A client that declares sampling, elicitation and roots gets backend sessions of its own, so
/// every server-to-client request reaches it whichever way the backend sends it: on a call's
/// reply stream, on the backend's GET stream (server-everything asks for roots there) or on a
/// legacy SSE stream. Its roots changes, log level and log messages travel too, its own
/// sessions end with its session, and a client that declared nothing is answered by the
/// gateway instead of being asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_server_requests_to_clients_with_sessions_of_their_own() {
    let stream = Everything::start("streamableHttp").await;
    let legacy = Everything::start("sse").await;
    let cfg = config(&format!(
        "backends:\n\
         - {{name: stream, url: \"{}\", transport: streamable-http}}\n\
         - {{name: legacy, url: \"{}\", transport: sse}}\n\
         aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n",
        stream.url(),
        legacy.url()
    ));
    let gw = gateway(&cfg).await;
    let script = r#"
import asyncio, json, sys, time
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.types import CreateMessageResult, ElicitResult, ListRootsResult, Root, TextContent

roots = [Root(uri="file:///work/alpha", name="alpha")]
logs = []
prompts = []

async def sample(ctx, params):
    prompts.append(params.messages[0].content.text)
    return CreateMessageResult(role="assistant", model="canned",
                               content=TextContent(type="text", text="relayed completion"))

async def elicit(ctx, params):
    return ElicitResult(action="accept", content={"name": "Ada"})

async def list_roots(ctx):
    return ListRootsResult(roots=roots)

async def on_log(params):
    logs.append(params.level)

def text(res):
    return "\n".join(c.text for c in res.content if c.type == "text")

async def until(s, tool, want, seconds):
    deadline = time.monotonic() + seconds
    while True:
        t = text(await s.call_tool(tool, {}))
        if want in t or time.monotonic() > deadline:
            return t
        await asyncio.sleep(0.2)

async def main(base):
    out = {}
    async with streamablehttp_client(base + "/mcp") as (r, w, _):
        async with ClientSession(r, w, sampling_callback=sample, elicitation_callback=elicit,
                                 list_roots_callback=list_roots, logging_callback=on_log) as s:
            await s.initialize()
            for b in ["stream", "legacy"]:
                res = await s.call_tool(b + "_trigger-sampling-request",
                                        {"prompt": "hello", "maxTokens": 5})
                out[b + "_sampling"] = text(res)
                out[b + "_roots"] = await until(s, b + "_get-roots-list", "alpha", 10)
            out["legacy_elicitation"] = text(await s.call_tool("legacy_trigger-elicitation-request", {}))
            roots[0] = Root(uri="file:///work/beta", name="beta")
            await s.send_roots_list_changed()
            out["stream_roots_changed"] = await until(s, "stream_get-roots-list", "beta", 10)
            await s.set_logging_level("debug")
            await s.call_tool("stream_toggle-simulated-logging", {})
            deadline = time.monotonic() + 12
            while not logs and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            out["logs"] = logs
            out["prompts"] = prompts
            status = httpx.get(base + "/status").json()
            out["client_sessions"] = {b["name"]: b["clientSessions"] for b in status["backends"]}
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"#;
    let v = python_json(
        script,
        &format!("http://{}", gw.addr),
        Duration::from_secs(90),
    )
    .await;
    for b in ["stream", "legacy"] {
        let s = v[format!("{b}_sampling")].as_str().unwrap();
        assert!(s.contains("relayed completion"), "{b}: {v}");
        let r = v[format!("{b}_roots")].as_str().unwrap();
        assert!(r.contains("file:///work/alpha"), "{b}: {v}");
    }
    let prompts = v["prompts"].as_array().unwrap();
    assert!(
        prompts.len() == 2
            && prompts
                .iter()
                .all(|p| p.as_str().unwrap().contains("hello")),
        "each backend's sampling request reached the client once: {v}"
    );
    let e = v["legacy_elicitation"].as_str().unwrap();
    assert!(e.contains("Name: Ada"), "{v}");
    let r = v["stream_roots_changed"].as_str().unwrap();
    assert!(
        r.contains("file:///work/beta") && !r.contains("alpha"),
        "{v}"
    );
    assert!(!v["logs"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(
        v["client_sessions"],
        json!({"stream": 1, "legacy": 1}),
        "{v}"
    );

    // The client ended its session (DELETE on exit): its backend sessions are gone.
    let c = Client::connect(gw.addr).await;
    let status = c.get_json("/status").await;
    for b in status["backends"].as_array().unwrap() {
        assert_eq!(b["clientSessions"], 0, "{status}");
    }

    // A client that declared no sampling is not asked: the shared session declines at once.
    let mut c = c;
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        c.rpc(
            "tools/call",
            json!({"name": "stream_trigger-sampling-request", "arguments": {"prompt": "x", "maxTokens": 1}}),
        ),
    )
    .await
    .expect("a call needing sampling fails promptly for a client without it");
    assert!(r.to_string().contains("did not declare"), "{r}");

    // What became of the server-to-client requests, in /metrics. Counters are per process and
    // other tests' backends send roots/list on shared sessions too, so: at least.
    let metrics = c.get_text("/metrics").await;
    let counter = |method: &str, outcome: &str| -> u64 {
        let key =
            format!("vmcp_server_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0, |n| n.parse().unwrap())
    };
    assert!(
        counter("sampling/createMessage", "answered") >= 2,
        "{metrics}"
    );
    assert!(counter("elicitation/create", "answered") >= 1, "{metrics}");
    assert!(counter("roots/list", "answered") >= 2, "{metrics}");
    assert!(
        counter("sampling/createMessage", "shared_session") >= 1,
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"vmcp_backend_client_sessions{backend="stream"} 0"#),
        "{metrics}"
    );
    gw.stop().await;
}

/// Two clients on the shared backend session subscribe to one resource; when one unsubscribes
/// the other keeps getting `notifications/resources/updated` (the shared session stays
/// subscribed until its last client leaves), and the one that left gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscriptions_last_until_the_last_client_unsubscribes() {
    let stream = Everything::start("streamableHttp").await;
    let cfg = config(&format!(
        "backends:\n- {{name: stream, url: \"{}\", transport: streamable-http}}\n\
         aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n",
        stream.url()
    ));
    let gw = gateway(&cfg).await;
    let uri = "demo://resource/dynamic/text/1";
    let mut a = Client::connect(gw.addr).await;
    let mut b = Client::connect(gw.addr).await;
    let mut a_events = a.stream().await;
    let mut b_events = b.stream().await;
    for c in [&mut a, &mut b] {
        let r = c.rpc("resources/subscribe", json!({ "uri": uri })).await;
        assert_eq!(r["result"], json!({}), "{r}");
    }
    let r = a.rpc("resources/unsubscribe", json!({ "uri": uri })).await;
    assert_eq!(r["result"], json!({}), "{r}");
    // server-everything sends updates for the session's subscriptions once at once, then
    // every 5 s, after this tool is called on that (the shared) session.
    let r = b
        .rpc(
            "tools/call",
            json!({"name": "stream_toggle-subscriber-updates", "arguments": {}}),
        )
        .await;
    assert!(r["result"].is_object(), "{r}");
    let updated =
        |data: &str| data.contains("notifications/resources/updated") && data.contains(uri);
    let got = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(d) = b_events.recv().await {
            if updated(&d) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "the client still subscribed gets the update");
    while let Ok(d) = a_events.try_recv() {
        assert!(!updated(&d), "the client that unsubscribed got {d}");
    }
    gw.stop().await;
}

/// A backend whose tool list changes without any notification (it promises none) shows the
/// change through the gateway after its next health check: lists are refreshed in the
/// background, not only on `list_changed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_of_backends_that_never_notify_are_refreshed_in_the_background() {
    let be = rust_backend(Behaviour::AddsToolAfterMs(2000)).await;
    let cfg = config(&format!(
        "backends:\n- {{name: quiet, url: \"http://{be}/mcp\", transport: streamable-http}}\n\
         aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n\
         operational: {{failureHandling: {{healthCheckInterval: 300ms}}}}\n"
    ));
    let started = std::time::Instant::now();
    let gw = gateway(&cfg).await;
    let mut c = Client::connect(gw.addr).await;
    let first = c.tool_names().await;
    assert!(first.contains(&"quiet_add".to_owned()), "{first:?}");
    if started.elapsed() < Duration::from_millis(1500) {
        assert!(!first.contains(&"quiet_late".to_owned()), "{first:?}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let tools = c.tool_names().await;
        if tools.contains(&"quiet_late".to_owned()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new tool never showed: {tools:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    gw.stop().await;
}

/// Polls the tool list until `want` holds (bounded; no timing assertion).
async fn wait_tool_names(c: &mut Client, what: &str, want: impl Fn(&[String]) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tools = c.tool_names().await;
        if want(&tools) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {tools:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A capability fetch still in flight when its backend is removed (dynamic mode: the
/// entry was deleted) writes nothing when it lands: neither the removed backend's tools,
/// nor its failure. A failure left behind was inherited by the next backend of that name,
/// which then counted as failed instead of pending until its own first fetch, so tools/list
/// (partialFailureMode fail) answered "backends unavailable" meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_lands_after_its_backend_was_removed_writes_nothing() {
    let stable = rust_backend(Behaviour::Normal).await;
    let (gated, gate) = gated_backend().await;
    let stable_line =
        format!("- {{name: stable, url: \"http://{stable}/mcp\", transport: streamable-http}}\n");
    let x_line =
        format!("- {{name: x, url: \"http://{gated}/mcp\", transport: streamable-http}}\n");
    let tail = "aggregation: {conflictResolution: prefix, conflictResolutionConfig: {prefixFormat: \"{workload}_\"}}\n";
    let gw = gateway(&config(&format!("backends:\n{stable_line}{tail}"))).await;
    let both = vmcp_config::Config::from_yaml_str(&config(&format!(
        "backends:\n{stable_line}{x_line}{tail}"
    )))
    .unwrap()
    .with_defaults();
    let with_x = vmcp_gateway::backend::build::specs_from_config(&both);
    let without_x: Vec<_> = with_x.iter().filter(|s| s.name != "x").cloned().collect();
    let mut c = Client::connect(gw.addr).await;
    let has_x = |t: &[String]| t.iter().any(|n| n.starts_with("x_"));
    // Adds x (its first fetch finds the usual tools), starts a re-fetch of x and removes x
    // while that re-fetch is held; returns the re-fetch and its held tools/list.
    let remove_during_refetch = async |c: &mut Client| {
        assert!(gw.members.apply(with_x.clone()).is_empty());
        gate.next().await.answer(Answer::Tools(vec![]));
        wait_tool_names(c, "x added", |t| has_x(t)).await;
        let agg = gw.aggregator.clone();
        let refresh = tokio::spawn(async move { agg.refresh("x").await });
        let held = gate.next().await;
        assert!(gw.members.apply(without_x.clone()).is_empty());
        let tools = c.tool_names().await;
        assert!(!has_x(&tools), "removed at once: {tools:?}");
        (refresh, held)
    };

    // The re-fetch lands with new tools.
    let (refresh, held) = remove_during_refetch(&mut c).await;
    held.answer(Answer::Tools(vec!["late"]));
    refresh.await.unwrap();
    let tools = c.tool_names().await;
    assert!(
        !has_x(&tools),
        "a removed backend's tools came back: {tools:?}"
    );
    assert!(!gw.aggregator.has_part("x"));

    // The re-fetch fails.
    let (refresh, held) = remove_during_refetch(&mut c).await;
    held.answer(Answer::Error);
    refresh.await.unwrap();
    assert_eq!(
        gw.aggregator.fetch_error("x"),
        None,
        "the failure of a removed backend was kept"
    );

    // x comes back (the entry is created again); while its first fetch is held it is
    // pending, not failed: tools/list answers with what is there.
    assert!(gw.members.apply(with_x).is_empty());
    let held = gate.next().await;
    let r = c.rpc("tools/list", json!({})).await;
    assert!(
        r["error"].is_null(),
        "x counted as failed while pending: {r}"
    );
    let x = status_of(&c, "x").await.expect("x in /status");
    assert!(x["capabilityError"].is_null(), "{x}");
    held.answer(Answer::Tools(vec![]));
    wait_tool_names(&mut c, "x back", |t| has_x(t)).await;
    gw.stop().await;
}
