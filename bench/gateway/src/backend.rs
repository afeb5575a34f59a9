//! A minimal, fast MCP backend: Streamable HTTP, JSON replies, no sessions. It parses only
//! the envelope (id, method, tool name) so that the backend is never the bottleneck.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::TcpListener;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: &'a str,
}

/// Starts one backend on 127.0.0.1:0 serving `tools` tools named `{prefix}t{j}`.
pub async fn start(prefix: String, tools: usize) -> anyhow::Result<SocketAddr> {
    let list: Vec<serde_json::Value> = (0..tools)
        .map(|j| {
            serde_json::json!({
                "name": format!("{prefix}t{j}"),
                "description": format!("Echo tool {j} of backend {prefix}: returns its text argument."),
                "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}
            })
        })
        .collect();
    let list: &'static str = Box::leak(
        serde_json::json!({ "tools": list })
            .to_string()
            .into_boxed_str(),
    );
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| async move { handle(list, &body) }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok(addr)
}

fn json(body: String) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn handle(list: &'static str, body: &[u8]) -> Response {
    let Ok(env) = serde_json::from_slice::<Envelope>(body) else {
        return (http::StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    let Some(id) = env.id else {
        return http::StatusCode::ACCEPTED.into_response();
    };
    let id = id.get();
    let result = match env.method {
        "initialize" => {
            r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"bench-backend","version":"0"}}"#
        }
        "ping" => "{}",
        "tools/list" => list,
        "tools/call" => r#"{"content":[{"type":"text","text":"ok"}]}"#,
        _ => {
            return json(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":"no such method"}}}}"#
            ));
        }
    };
    json(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#
    ))
}
