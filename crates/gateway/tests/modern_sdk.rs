//! The official Python SDK 2.x client (`mcp` 2.3.0) against the gateway in the 2026-07-28
//! era, through its own code: pinned to `2026-07-28` it discovers, lists, calls, reads,
//! gets a prompt, completes and listens — the backends behind the gateway are a 2025-only
//! server-everything and our own small backend, so every answer is bridged; `auto` finds the
//! modern era by its probe; `legacy` still gets a 2025 session. A 2025 client works at the
//! same time on the same endpoint. Backends of the new era (a 2026-only server and the SDK's
//! dual-mode one) are spoken to in it, next to 2025-only ones, and serve clients of both eras;
//! their `input_required` rounds pass through to 2026 clients.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use vmcp_test_support::{Sdk2Server, modern_python_json};

const PINNED: &str = r#"
import anyio, json, os, sys
import mcp_types as types
from mcp import Client

async def main(arg):
    a = json.loads(arg)
    async with Client(a["url"], mode="2026-07-28",
                      client_info=types.Implementation(name="sdk-test", version="1")) as c:
        disc = await c.session.send_discover("2026-07-28")
        tools = await c.list_tools()
        echo = await c.call_tool("legacy_echo", {"message": "hi"})
        add = await c.call_tool("victim_get-sum", {"a": 2, "b": 3})
        res = await c.list_resources()
        first = res.resources[0]
        read = await c.read_resource(first.uri)
        prompt = await c.get_prompt("legacy_simple-prompt", {})
        comp = await c.complete(types.PromptReference(type="ref/prompt", name="legacy_completable-prompt"),
                                {"name": "department", "value": "Eng"})
        progress = []
        async def on_progress(p, total, message):
            progress.append(p)
        lr = await c.call_tool("legacy_trigger-long-running-operation", {"duration": 1, "steps": 3},
                               progress_callback=on_progress)
        events = []
        async with c.listen(tools_list_changed=True) as sub:
            open(a["marker"], "w").write(sub.subscription_id)
            with anyio.fail_after(60):
                async for ev in sub:
                    events.append(type(ev).__name__)
                    break
        after = await c.list_tools()
        print(json.dumps({
            "versions": disc["supportedVersions"],
            "server": disc["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
            "tools": [t.name for t in tools.tools],
            "echo": echo.content[0].text,
            "add": add.content[0].text,
            "read": bool(read.contents),
            "prompt": prompt.messages[0].content.text,
            "completion": comp.completion.values,
            "progress": progress,
            "long": lr.content[0].text,
            "events": events,
            "after": [t.name for t in after.tools],
        }))

anyio.run(main, sys.argv[1])
"#;

const AUTO: &str = r#"
import anyio, json, sys
from mcp import Client

async def main(url, mode):
    async with Client(url, mode=mode) as c:
        tools = await c.list_tools()
        r = await c.call_tool("victim_get-sum", {"a": 20, "b": 22})
        print(json.dumps({"version": c.session.protocol_version if hasattr(c.session, "protocol_version") else None,
                          "tools": len(tools.tools), "add": r.content[0].text}))

anyio.run(main, *sys.argv[1].split(" "))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_client_in_every_mode_through_a_gateway_of_2025_backends() {
    let legacy = Everything::start("streamableHttp").await;
    let mut victim = Everything::start("streamableHttp").await;
    let yaml = config(&format!(
        "backends:\n\
         - {{name: legacy, url: \"{}\", transport: streamable-http}}\n\
         - {{name: victim, url: \"{}\", transport: streamable-http}}\n\
         operational:\n  failureHandling: {{healthCheckInterval: 200ms, unhealthyThreshold: 2, partialFailureMode: best_effort}}\n",
        legacy.url(),
        victim.url()
    ));
    let gw = gateway(&yaml).await;
    let url = format!("http://{}/mcp", gw.addr);

    // auto finds the modern era; legacy gets a session; both call through.
    for mode in ["auto", "legacy"] {
        let v = modern_python_json(AUTO, &format!("{url} {mode}"), Duration::from_secs(60)).await;
        assert!(v["add"].as_str().unwrap().contains("42"), "{mode}: {v}");
        assert!(v["tools"].as_u64().unwrap() > 5, "{mode}: {v}");
    }

    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("listening");
    let arg = json!({"url": url, "marker": marker}).to_string();
    let client =
        tokio::spawn(
            async move { modern_python_json(PINNED, &arg, Duration::from_secs(120)).await },
        );
    // A 2025 client at the same time.
    let mut old = Client::connect(gw.addr).await;
    assert!(old.tool_names().await.contains(&"victim_echo".to_owned()));
    // Once the SDK client listens, a backend leaving changes the tool list.
    for _ in 0..600 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(marker.exists(), "the client never started listening");
    victim.kill();
    let v = client.await.unwrap();
    assert!(
        v["versions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{v}"
    );
    assert_eq!(v["server"], "test");
    let tools: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"legacy_echo") && tools.contains(&"victim_get-sum"),
        "{v}"
    );
    assert_eq!(v["echo"], "Echo: hi");
    assert!(v["add"].as_str().unwrap().contains('5'), "{v}");
    assert_eq!(v["read"], true);
    assert!(v["prompt"].as_str().unwrap().len() > 3, "{v}");
    assert_eq!(v["completion"], json!(["Engineering"]));
    // Progress of a 2025 backend's call reaches the 2026 client on the request's stream.
    assert_eq!(v["progress"], json!([1.0, 2.0, 3.0]), "{v}");
    assert!(v["long"].as_str().unwrap().contains("completed"), "{v}");
    assert_eq!(v["events"], json!(["ToolsListChanged"]));
    let after = v["after"].as_array().unwrap();
    assert!(
        !after.contains(&json!("victim_get-sum")) && after.contains(&json!("legacy_echo")),
        "{v}"
    );
    // The 2025 client saw the same change.
    assert!(!old.tool_names().await.contains(&"victim_echo".to_owned()));
}

const MODERN_CLIENT: &str = r#"
import anyio, json, sys
import mcp_types as types
from mcp import Client

asked = []

async def on_elicit(ctx, params):
    asked.append(params.message)
    return types.ElicitResult(action="accept", content={"name": "octocat"})

async def main(url):
    async with Client(url, mode="2026-07-28", elicitation_callback=on_elicit) as c:
        a = await c.call_tool("modern_add", {"a": 2, "b": 3})
        d = await c.call_tool("dual_add", {"a": 4, "b": 4})
        r = await c.read_resource("py://greeting")
        g = await c.call_tool("modern_greet", {})
        events = []
        async with c.listen(tools_list_changed=True) as sub:
            await c.call_tool("modern_grow", {})
            with anyio.fail_after(30):
                async for ev in sub:
                    events.append(type(ev).__name__)
                    break
        grown = [t.name for t in (await c.list_tools()).tools if t.name == "modern_grown"]
        print(json.dumps({"modern": a.content[0].text, "dual": d.content[0].text,
                          "read": r.contents[0].text, "greet": g.content[0].text,
                          "asked": asked, "events": events, "grown": grown}))

anyio.run(main, sys.argv[1])
"#;

/// A 2025 client (the SDK 1.x) with an elicitation handler.
const LEGACY_ELICITING: &str = r#"
import asyncio, json, sys
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.types import CreateMessageResult, ElicitResult, TextContent

asked = []

async def elicit(ctx, params):
    asked.append(params.message)
    return ElicitResult(action="accept", content={"name": "hubot"})

async def sample(ctx, params):
    asked.append(params.messages[0].content.text)
    return CreateMessageResult(role="assistant", model="test-llm", stopReason="endTurn",
                               content=TextContent(type="text", text="Paris"))

async def main(url):
    async with streamablehttp_client(url) as (r, w, _):
        async with ClientSession(r, w, elicitation_callback=elicit, sampling_callback=sample) as s:
            await s.initialize()
            res = await s.call_tool("modern_greet", {})
            cap = await s.call_tool("modern_capital", {})
            print(json.dumps({"greet": res.content[0].text, "capital": cap.content[0].text,
                              "asked": asked}))

asyncio.run(main(sys.argv[1]))
"#;

/// Backends of both eras behind one gateway: a server that refuses every 2025 request, the
/// SDK's dual-mode server (spoken to in 2026-07-28, which it offers) and 2025-only
/// server-everything. Each is served in its own era, shown in /status, and reachable from
/// clients of both eras; a modern backend's list change (announced on the listen stream the
/// gateway keeps to it) reaches a 2026 client's listen stream and a 2025 client's lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_of_both_eras_serve_clients_of_both_eras() {
    let modern = Sdk2Server::start(true).await;
    let dual = Sdk2Server::start(false).await;
    let old = Everything::start("streamableHttp").await;
    let yaml = config(&format!(
        "backends:\n\
         - {{name: modern, url: \"{}\", transport: streamable-http}}\n\
         - {{name: dual, url: \"{}\", transport: streamable-http}}\n\
         - {{name: old, url: \"{}\", transport: streamable-http}}\n",
        modern.url(),
        dual.url(),
        old.url()
    ));
    let gw = gateway(&yaml).await;
    let mut c = Client::connect(gw.addr).await;
    let tools = c.tool_names().await;
    for want in ["modern_add", "modern_grow", "dual_add", "old_echo"] {
        assert!(
            tools.contains(&want.to_owned()),
            "{want} missing: {tools:?}"
        );
    }
    let status = c.get_json("/status").await;
    let backend = |name: &str| {
        status["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .cloned()
            .unwrap()
    };
    for name in ["modern", "dual"] {
        let b = backend(name);
        assert_eq!(b["mcpRevision"], "2026-07-28", "{b}");
        assert_eq!(b["health"], "healthy", "{b}");
    }
    assert!(
        backend("old")["mcpRevision"]
            .as_str()
            .unwrap()
            .starts_with("2025-"),
        "{status}"
    );

    // A 2025 client reaches the modern backend: call, read, prompt, completion.
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "modern_add", "arguments": {"a": 20, "b": 22}}),
        )
        .await;
    assert_eq!(text_of(&r), "42", "{r}");
    let r = c
        .rpc("resources/read", json!({"uri": "py://greeting"}))
        .await;
    assert_eq!(r["result"]["contents"][0]["text"], "hello from py", "{r}");
    let r = c
        .rpc(
            "prompts/get",
            json!({"name": "modern_review", "arguments": {"code": "x=1"}}),
        )
        .await;
    assert!(
        r["result"]["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("x=1"),
        "{r}"
    );
    let r = c
        .rpc(
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "modern_review"},
                   "argument": {"name": "language", "value": "py"}}),
        )
        .await;
    assert_eq!(
        r["result"]["completion"]["values"],
        json!(["python", "pytorch"]),
        "{r}"
    );

    // A 2026 client reaches them too, and the modern backend's input_required round
    // passes through as is: the client's own elicitation handler answers, and its retry
    // completes the call.
    let url = format!("http://{}/mcp", gw.addr);
    let v = modern_python_json(MODERN_CLIENT, &url, Duration::from_secs(60)).await;
    assert_eq!(
        v,
        json!({"modern": "5", "dual": "8", "read": "hello from py",
               "greet": "hello octocat", "asked": ["Who are you?"],
               "events": ["ToolsListChanged"], "grown": ["modern_grown"]})
    );

    // The other way round: the modern backend's input_required rounds become real
    // elicitation and sampling requests to a 2025 client, whose answers complete the calls.
    let v = python_json(LEGACY_ELICITING, &url, Duration::from_secs(60)).await;
    assert_eq!(
        v,
        json!({"greet": "hello hubot", "capital": "the model said Paris",
               "asked": ["Who are you?", "Capital of France?"]})
    );

    // The modern backend's tool list grows: it says so on its listen stream, and the
    // gateway's view follows.
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "modern_grow", "arguments": {}}),
        )
        .await;
    assert_eq!(text_of(&r), "grew", "{r}");
    let mut grown = false;
    for _ in 0..100 {
        if c.tool_names().await.contains(&"modern_grown".to_owned()) {
            grown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(grown, "the gateway never saw the modern backend's new tool");
}

const BRIDGED: &str = r#"
import anyio, json, sys
import mcp_types as types
from mcp import Client

asked = []

async def on_sampling(ctx, params):
    asked.append(["sampling", params.messages[0].content.text])
    return types.CreateMessageResult(role="assistant", model="test-llm", stop_reason="endTurn",
                                     content=types.TextContent(type="text", text="Paris"))

async def on_elicit(ctx, params):
    asked.append(["elicitation", params.message])
    return types.ElicitResult(action="accept", content={"name": "octocat"})

async def main(url):
    async with Client(url, mode="2026-07-28", sampling_callback=on_sampling,
                      elicitation_callback=on_elicit) as c:
        s = await c.call_tool("legacy_trigger-sampling-request", {"prompt": "Capital of France?"})
        e = await c.call_tool("legacy_trigger-elicitation-request", {})
        print(json.dumps({"sampling": [x.text for x in s.content if x.type == "text"],
                          "elicitation": [x.text for x in e.content if x.type == "text"],
                          "asked": asked}))

anyio.run(main, sys.argv[1])
"#;

/// A 2025 backend's sampling and elicitation requests during a 2026 client's call become
/// `input_required` rounds: the SDK client's own handlers answer them, its retries reach
/// the backend's waiting requests, and the calls complete with what the handlers said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2025_backends_requests_become_input_rounds_for_a_2026_client() {
    let legacy = Everything::start("streamableHttp").await;
    let yaml = config(&format!(
        "backends:\n- {{name: legacy, url: \"{}\", transport: streamable-http}}\n",
        legacy.url()
    ));
    let gw = gateway(&yaml).await;
    let url = format!("http://{}/mcp", gw.addr);
    let v = modern_python_json(BRIDGED, &url, Duration::from_secs(90)).await;
    let asked = v["asked"].as_array().unwrap();
    assert_eq!(asked.len(), 2, "{v}");
    assert_eq!(asked[0][0], "sampling");
    assert!(
        asked[0][1].as_str().unwrap().contains("Capital of France?"),
        "{v}"
    );
    assert_eq!(asked[1][0], "elicitation");
    let sampling = v["sampling"].to_string();
    assert!(sampling.contains("Paris"), "{v}");
    let elicitation = v["elicitation"].to_string();
    assert!(
        elicitation.contains("octocat") && elicitation.contains("accept"),
        "{v}"
    );
    // Nothing is left waiting: the calls' sessions ended with them.
    let status = Client::connect(gw.addr).await.get_json("/status").await;
    assert_eq!(status["backends"][0]["clientSessions"], 0, "{status}");
}
