//! The Streamable HTTP transport (sessions, POST with JSON or SSE replies, GET stream, DELETE)
//! and the conformance scenarios' capabilities.
// Early-return helpers hand back a ready HTTP response as their error, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

const IMAGE: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const AUDIO: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";
const VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// One client session: its outstanding server-to-client requests, by the id we gave them.
#[derive(Default)]
struct Session {
    pending: Mutex<HashMap<i64, oneshot::Sender<Value>>>,
    next_id: AtomicI64,
}

#[derive(Default, Clone)]
struct App {
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
    next_event: Arc<AtomicI64>,
}

pub fn router() -> Router {
    Router::new()
        .route("/mcp", post(on_post).get(on_get).delete(on_delete))
        .with_state(App::default())
}

/// DNS-rebinding protection: a loopback server accepts only loopback Host and Origin headers.
fn local_only(headers: &HeaderMap) -> Result<(), Response> {
    fn is_local(authority: &str) -> bool {
        let host = if let Some(rest) = authority.strip_prefix('[') {
            rest.split(']')
                .next()
                .map(|h| format!("[{h}]"))
                .unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or("").to_owned()
        };
        matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
    }
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_none_or(is_local);
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        .is_none_or(|o| {
            let a = o.split("://").nth(1).unwrap_or(o);
            is_local(a.split('/').next().unwrap_or(a))
        });
    if host_ok && origin_ok {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            "non-localhost Host or Origin refused",
        )
            .into_response())
    }
}

fn session_of(app: &App, headers: &HeaderMap) -> Result<(String, Arc<Session>), Response> {
    let Some(id) = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) else {
        return Err(rpc_http_error(
            StatusCode::BAD_REQUEST,
            "missing Mcp-Session-Id",
        ));
    };
    match app.sessions.lock().unwrap().get(id) {
        Some(s) => Ok((id.to_owned(), s.clone())),
        None => Err(rpc_http_error(StatusCode::NOT_FOUND, "unknown session")),
    }
}

fn rpc_http_error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32000, "message": msg}})
            .to_string(),
    )
        .into_response()
}

fn json_reply(body: Value, session: Option<&str>) -> Response {
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(s) = session
        && let Ok(v) = s.parse()
    {
        r.headers_mut().insert("mcp-session-id", v);
    }
    r
}

async fn on_post(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = local_only(&headers) {
        return r;
    }
    let msg: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}}).to_string(),
            )
                .into_response();
        }
    };
    let method = msg.get("method").and_then(Value::as_str).map(str::to_owned);
    let id = msg.get("id").cloned();

    if method.as_deref() == Some("initialize") {
        let sid = uuid::Uuid::new_v4().to_string();
        app.sessions
            .lock()
            .unwrap()
            .insert(sid.clone(), Arc::new(Session::default()));
        let asked = msg["params"]["protocolVersion"].as_str().unwrap_or("");
        let version = VERSIONS
            .iter()
            .find(|v| **v == asked)
            .unwrap_or(&VERSIONS[0]);
        let result = json!({
            "protocolVersion": version,
            "serverInfo": {"name": "vmcp-conformance-server", "version": env!("CARGO_PKG_VERSION")},
            "capabilities": {
                "tools": {"listChanged": true},
                "resources": {"subscribe": true, "listChanged": true},
                "prompts": {"listChanged": true},
                "logging": {},
                "completions": {}
            }
        });
        return json_reply(
            json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Some(&sid),
        );
    }

    let (sid, session) = match session_of(&app, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };

    let Some(method) = method else {
        // A response to one of our requests.
        if let Some(n) = id.as_ref().and_then(Value::as_i64)
            && let Some(tx) = session.pending.lock().unwrap().remove(&n)
        {
            let _ = tx.send(msg);
        }
        return StatusCode::ACCEPTED.into_response();
    };
    let Some(id) = id else {
        return StatusCode::ACCEPTED.into_response(); // a notification
    };
    let params = msg.get("params").cloned().unwrap_or(json!({}));

    if method == "tools/call" {
        let name = params["name"].as_str().unwrap_or("").to_owned();
        if STREAMED_TOOLS.contains(&name.as_str()) {
            return streamed_call(app, sid, session, id, name, params);
        }
    }
    let reply = match handle(&method, &params) {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        }
    };
    json_reply(reply, Some(&sid))
}

async fn on_get(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(r) = local_only(&headers) {
        return r;
    }
    if let Err(r) = session_of(&app, &headers) {
        return r;
    }
    // Nothing is ever sent unsolicited; the stream stays open until the client leaves.
    let (tx, rx) = mpsc::channel::<String>(1);
    let stream = futures::stream::unfold((rx, tx), |(mut rx, tx)| async move {
        rx.recv()
            .await
            .map(|s| (Ok::<_, std::convert::Infallible>(s), (rx, tx)))
    });
    sse_response(Body::from_stream(stream))
}

async fn on_delete(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(r) = local_only(&headers) {
        return r;
    }
    match headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) {
        Some(id) if app.sessions.lock().unwrap().remove(id).is_some() => {
            StatusCode::OK.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn sse_response(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, "no-cache".parse().unwrap());
    r
}

const STREAMED_TOOLS: [&str; 7] = [
    "test_tool_with_logging",
    "test_tool_with_progress",
    "test_reconnection",
    "test_sampling",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
];

/// Sends events on the POST's SSE stream, and sends server-to-client requests whose responses
/// arrive as separate POSTs of the same session.
struct Stream {
    tx: mpsc::UnboundedSender<String>,
    session: Arc<Session>,
    events: Arc<AtomicI64>,
}

impl Stream {
    fn send(&self, msg: Value) {
        let n = self.events.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .tx
            .send(format!("event: message\nid: {n}\ndata: {msg}\n\n"));
    }
    fn notify(&self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }
    async fn request(&self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.session.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.session.pending.lock().unwrap().insert(id, tx);
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let reply = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| format!("{method}: no response in 30s"))?
            .map_err(|_| format!("{method}: session gone"))?;
        if let Some(e) = reply.get("error") {
            return Err(format!("{method}: {e}"));
        }
        Ok(reply.get("result").cloned().unwrap_or(Value::Null))
    }
}

fn streamed_call(
    app: App,
    sid: String,
    session: Arc<Session>,
    id: Value,
    name: String,
    params: Value,
) -> Response {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let n = app.next_event.fetch_add(1, Ordering::Relaxed);
    // Priming event (SEP-1699): an id and empty data, with a retry hint.
    let _ = tx.send(format!("id: p{n}\nretry: 500\ndata: \n\n"));
    let s = Stream {
        tx,
        session,
        events: app.next_event.clone(),
    };
    tokio::spawn(async move {
        let result = run_streamed(&s, &name, &params).await;
        s.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
    });
    let body = async_stream(rx);
    let mut r = sse_response(body);
    if let Ok(v) = sid.parse() {
        r.headers_mut().insert("mcp-session-id", v);
    }
    r
}

/// The stream ends once the tool task has sent its result and dropped its sender.
fn async_stream(rx: mpsc::UnboundedReceiver<String>) -> Body {
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|s| (Ok::<_, std::convert::Infallible>(s), rx))
    }))
}

fn text(t: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": t.into()}]})
}

async fn run_streamed(s: &Stream, name: &str, params: &Value) -> Value {
    let args = &params["arguments"];
    match name {
        "test_tool_with_logging" => {
            for (i, m) in [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ]
            .iter()
            .enumerate()
            {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                s.notify(
                    "notifications/message",
                    json!({"level": "info", "logger": "conformance", "data": m}),
                );
            }
            text("Tool with logging executed successfully")
        }
        "test_tool_with_progress" => {
            let token = params["_meta"]["progressToken"].clone();
            let token = if token.is_null() { json!(0) } else { token };
            for (i, p) in [0, 50, 100].iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                s.notify(
                    "notifications/progress",
                    json!({"progressToken": token, "progress": p, "total": 100, "message": format!("Completed step {p} of 100")}),
                );
            }
            text(token.to_string().trim_matches('"').to_owned())
        }
        "test_reconnection" => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            text(
                "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.",
            )
        }
        "test_sampling" => {
            let prompt = args["prompt"].as_str().unwrap_or("").to_owned();
            let r = s
                .request(
                    "sampling/createMessage",
                    json!({"messages": [{"role": "user", "content": {"type": "text", "text": prompt}}], "maxTokens": 100}),
                )
                .await;
            match r {
                Ok(r) => {
                    let t = r["content"]["text"].as_str().unwrap_or("No response");
                    text(format!("LLM response: {t}"))
                }
                Err(e) => text(format!("Sampling not supported or error: {e}")),
            }
        }
        "test_elicitation"
        | "test_elicitation_sep1034_defaults"
        | "test_elicitation_sep1330_enums" => {
            let params = match name {
                "test_elicitation" => json!({
                    "mode": "form",
                    "message": args["message"].as_str().unwrap_or(""),
                    "requestedSchema": {"type": "object", "properties": {"response": {"type": "string", "description": "User's response"}}, "required": ["response"]}
                }),
                "test_elicitation_sep1034_defaults" => json!({
                    "mode": "form",
                    "message": "Please review and update the form fields with defaults",
                    "requestedSchema": {"type": "object", "properties": {
                        "name": {"type": "string", "description": "User name", "default": "John Doe"},
                        "age": {"type": "integer", "description": "User age", "default": 30},
                        "score": {"type": "number", "description": "User score", "default": 95.5},
                        "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "description": "Verification status", "default": true}
                    }, "required": []}
                }),
                _ => json!({
                    "mode": "form",
                    "message": "Please select options from the enum fields",
                    "requestedSchema": {"type": "object", "properties": {
                        "untitledSingle": {"type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "description": "Select one option with titles", "oneOf": [
                            {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"}, {"const": "value3", "title": "Third Option"}]},
                        "legacyEnum": {"type": "string", "description": "Select one option (legacy)", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "description": "Select multiple options", "minItems": 1, "maxItems": 3, "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "description": "Select multiple options with titles", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
                            {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"}, {"const": "value3", "title": "Third Choice"}]}}
                    }, "required": []}
                }),
            };
            match s.request("elicitation/create", params).await {
                Ok(r) => text(format!(
                    "User response: action={}, content={}",
                    r["action"].as_str().unwrap_or(""),
                    r.get("content").cloned().unwrap_or(json!({}))
                )),
                Err(e) => text(format!("Elicitation not supported or error: {e}")),
            }
        }
        _ => text("unreachable"),
    }
}

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn tools() -> Value {
    let t = |name: &str, description: &str| json!({"name": name, "description": description, "inputSchema": empty_schema()});
    json!([
        t("test_simple_text", "Tests simple text content response"),
        t("test_image_content", "Tests image content response"),
        t("test_audio_content", "Tests audio content response"),
        t("test_embedded_resource", "Tests embedded resource content response"),
        t("test_multiple_content_types", "Tests response with multiple content types (text, image, resource)"),
        t("test_tool_with_logging", "Tests tool that emits log messages during execution"),
        t("test_tool_with_progress", "Tests tool that reports progress notifications"),
        t("test_error_handling", "Tests error response handling"),
        t("test_reconnection", "Tests SSE stream disconnection and client reconnection (SEP-1699)"),
        {"name": "test_sampling", "description": "Tests server-initiated sampling (LLM completion request)",
         "inputSchema": {"type": "object", "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}}, "required": ["prompt"]}},
        {"name": "test_elicitation", "description": "Tests server-initiated elicitation (user input request)",
         "inputSchema": {"type": "object", "properties": {"message": {"type": "string", "description": "The message to show the user"}}, "required": ["message"]}},
        t("test_elicitation_sep1034_defaults", "Tests elicitation with default values per SEP-1034"),
        t("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements per SEP-1330"),
        {"name": "json_schema_2020_12_tool", "description": "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
         "inputSchema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": false
         }}
    ])
}

type RpcError = (i64, String);

fn handle(method: &str, params: &Value) -> Result<Value, RpcError> {
    match method {
        "ping" | "logging/setLevel" | "resources/subscribe" | "resources/unsubscribe" => {
            Ok(json!({}))
        }
        "completion/complete" => {
            Ok(json!({"completion": {"values": [], "total": 0, "hasMore": false}}))
        }
        "tools/list" => Ok(json!({"tools": tools()})),
        "tools/call" => call(params),
        "resources/list" => Ok(json!({"resources": [
            {"uri": "test://static-text", "name": "static-text", "title": "Static Text Resource", "description": "A static text resource for testing", "mimeType": "text/plain"},
            {"uri": "test://static-binary", "name": "static-binary", "title": "Static Binary Resource", "description": "A static binary resource (image) for testing", "mimeType": "image/png"},
            {"uri": "test://watched-resource", "name": "watched-resource", "title": "Watched Resource", "description": "A resource that auto-updates every 3 seconds", "mimeType": "text/plain"}
        ]})),
        "resources/templates/list" => Ok(json!({"resourceTemplates": [
            {"uriTemplate": "test://template/{id}/data", "name": "template", "title": "Resource Template", "description": "A resource template with parameter substitution", "mimeType": "application/json"}
        ]})),
        "resources/read" => read(params["uri"].as_str().unwrap_or("")),
        "prompts/list" => Ok(json!({"prompts": [
            {"name": "test_simple_prompt", "title": "Simple Test Prompt", "description": "A simple prompt without arguments"},
            {"name": "test_prompt_with_arguments", "title": "Prompt With Arguments", "description": "A prompt with required arguments", "arguments": [
                {"name": "arg1", "description": "First test argument", "required": true},
                {"name": "arg2", "description": "Second test argument", "required": true}]},
            {"name": "test_prompt_with_embedded_resource", "title": "Prompt With Embedded Resource", "description": "A prompt that includes an embedded resource", "arguments": [
                {"name": "resourceUri", "description": "URI of the resource to embed", "required": true}]},
            {"name": "test_prompt_with_image", "title": "Prompt With Image", "description": "A prompt that includes image content"}
        ]})),
        "prompts/get" => prompt(params),
        other => Err((-32601, format!("method not found: {other}"))),
    }
}

fn call(params: &Value) -> Result<Value, RpcError> {
    let name = params["name"].as_str().unwrap_or("");
    Ok(match name {
        "test_simple_text" => text("This is a simple text response for testing."),
        "test_image_content" => {
            json!({"content": [{"type": "image", "data": IMAGE, "mimeType": "image/png"}]})
        }
        "test_audio_content" => {
            json!({"content": [{"type": "audio", "data": AUDIO, "mimeType": "audio/wav"}]})
        }
        "test_embedded_resource" => json!({"content": [{"type": "resource", "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain", "text": "This is an embedded resource content."}}]}),
        "test_multiple_content_types" => json!({"content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": IMAGE, "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "test://mixed-content-resource", "mimeType": "application/json",
                "text": json!({"test": "data", "value": 123}).to_string()}}]}),
        "test_error_handling" => {
            json!({"content": [{"type": "text", "text": "This tool intentionally returns an error for testing"}], "isError": true})
        }
        "json_schema_2020_12_tool" => text(format!(
            "JSON Schema 2020-12 tool called with: {}",
            params.get("arguments").cloned().unwrap_or(json!({}))
        )),
        other => return Err((-32602, format!("unknown tool: {other}"))),
    })
}

fn read(uri: &str) -> Result<Value, RpcError> {
    let c = |mime: &str, text: String| json!({"contents": [{"uri": uri, "mimeType": mime, "text": text}]});
    match uri {
        "test://static-text" => Ok(c(
            "text/plain",
            "This is the content of the static text resource.".into(),
        )),
        "test://watched-resource" => Ok(c("text/plain", "Watched resource content".into())),
        "test://static-binary" => {
            Ok(json!({"contents": [{"uri": uri, "mimeType": "image/png", "blob": IMAGE}]}))
        }
        _ => {
            if let Some(id) = uri
                .strip_prefix("test://template/")
                .and_then(|r| r.strip_suffix("/data"))
                .filter(|id| !id.is_empty() && !id.contains('/'))
            {
                let body =
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                return Ok(c("application/json", body.to_string()));
            }
            Err((-32002, format!("resource not found: {uri}")))
        }
    }
}

fn prompt(params: &Value) -> Result<Value, RpcError> {
    let args = &params["arguments"];
    let arg = |k: &str| args[k].as_str().unwrap_or("").to_owned();
    let user = |content: Value| json!({"role": "user", "content": content});
    let messages = match params["name"].as_str().unwrap_or("") {
        "test_simple_prompt" => json!([user(
            json!({"type": "text", "text": "This is a simple prompt for testing."})
        )]),
        "test_prompt_with_arguments" => json!([user(json!({"type": "text",
            "text": format!("Prompt with arguments: arg1='{}', arg2='{}'", arg("arg1"), arg("arg2"))}))]),
        "test_prompt_with_embedded_resource" => json!([
            user(
                json!({"type": "resource", "resource": {"uri": arg("resourceUri"), "mimeType": "text/plain", "text": "Embedded resource content for testing."}})
            ),
            user(json!({"type": "text", "text": "Please process the embedded resource above."}))
        ]),
        "test_prompt_with_image" => json!([
            user(json!({"type": "image", "data": IMAGE, "mimeType": "image/png"})),
            user(json!({"type": "text", "text": "Please analyze the image above."}))
        ]),
        other => return Err((-32602, format!("unknown prompt: {other}"))),
    };
    Ok(json!({"messages": messages}))
}
