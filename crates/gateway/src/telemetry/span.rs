//! The spans, named and attributed after the OpenTelemetry semantic conventions for MCP
//! (`mcp.method.name`, `gen_ai.tool.name`, `mcp.resource.uri`, `mcp.session.id`,
//! `mcp.protocol.version`, `error.type`). Callers build them only when [`super::on`].

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::TARGET;

/// What the request names: a tool or prompt name, or a resource URI.
#[derive(serde::Deserialize, Default)]
struct Named<'a> {
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    uri: Option<std::borrow::Cow<'a, str>>,
}

/// The most of a client-sent name or URI a span repeats: they come before any check (a name
/// that exists nowhere is traced too), so their size is the client's to choose.
const MAX_NAME_SHOWN: usize = 256;

/// `text` cut to [`MAX_NAME_SHOWN`] bytes on a character boundary.
fn shown(text: &str) -> &str {
    if text.len() <= MAX_NAME_SHOWN {
        return text;
    }
    let mut end = MAX_NAME_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The session id as a span shows it: hashed (the id is a bearer capability; a trace store is
/// read by more people than the gateway's memory), still the same for every request of it.
pub fn hashed_session(id: &str) -> String {
    let d = Sha256::digest(id.as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The server span of one MCP request. `session` is `None` for a 2026-07-28 request (no
/// session); `parent` is the caller's context, if it sent one.
pub fn server(
    method: &str,
    params: Option<&RawValue>,
    session: Option<&str>,
    protocol_version: &str,
    parent: Option<opentelemetry::Context>,
) -> tracing::Span {
    let named: Named<'_> = params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_default();
    let target = match method {
        "tools/call" | "prompts/get" => named.name.as_deref(),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => named.uri.as_deref(),
        _ => None,
    }
    .map(shown);
    let name = match target {
        Some(t) => format!("{method} {t}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        target: TARGET,
        "mcp.request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        mcp.method.name = %method,
        mcp.protocol.version = %protocol_version,
        mcp.session.id = Empty,
        gen_ai.tool.name = Empty,
        gen_ai.prompt.name = Empty,
        mcp.resource.uri = Empty,
        gen_ai.operation.name = Empty,
        vmcp.backend = Empty,
        error.type = Empty,
    );
    if let Some(id) = session {
        span.record("mcp.session.id", hashed_session(id));
    }
    match (method, target) {
        ("tools/call", Some(t)) => {
            span.record("gen_ai.tool.name", t);
            span.record("gen_ai.operation.name", "execute_tool");
        }
        ("prompts/get", Some(t)) => {
            span.record("gen_ai.prompt.name", t);
        }
        (_, Some(uri)) => {
            span.record("mcp.resource.uri", uri);
        }
        _ => {}
    }
    if let Some(cx) = parent {
        let _ = span.set_parent(cx);
    }
    span
}

/// Records how a request ended on its server span: the backend that served it, and for a
/// failure `error.type` (the JSON-RPC error code, `tool_error` for a tool result with
/// `isError`, or the refusal: `denied`, `token_refused`).
pub fn finish_server(
    span: &tracing::Span,
    method: &str,
    backend: Option<&str>,
    reply: &str,
    ok: bool,
    refusal: Option<&str>,
) {
    if let Some(b) = backend {
        span.record("vmcp.backend", b);
    }
    let error = match refusal {
        Some(r) => Some(r.to_owned()),
        None if ok && method == "tools/call" && tool_failed(reply) => Some("tool_error".to_owned()),
        None if ok => None,
        None => Some(error_type(reply)),
    };
    if let Some(e) = error {
        span.record("error.type", e.as_str());
        span.record("otel.status_code", "error");
    }
}

/// Whether a tool call's reply is a result with `isError: true` (an answer for the
/// metrics, a failure for the trace, as the semantic conventions have it).
fn tool_failed(reply: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Reply {
        result: Option<Result>,
    }
    #[derive(serde::Deserialize)]
    struct Result {
        #[serde(rename = "isError", default)]
        is_error: bool,
    }
    matches!(
        serde_json::from_str::<Reply>(reply),
        Ok(Reply {
            result: Some(Result { is_error: true })
        })
    )
}

/// The `error.type` of a failed reply: its JSON-RPC error code, else `tool_error`.
fn error_type(reply: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Reply {
        error: Option<Code>,
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: i64,
    }
    match serde_json::from_str::<Reply>(reply) {
        Ok(Reply { error: Some(c) }) => c.code.to_string(),
        _ => "tool_error".to_owned(),
    }
}

/// The client span of one call to a backend (session opening and the one retry after an
/// expired session included); a child of the current span.
pub fn client(backend: &str, method: &str, transport: &str, url: &str) -> tracing::Span {
    let address = url::Url::parse(url).ok();
    let host = address
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let port = address
        .as_ref()
        .and_then(url::Url::port_or_known_default)
        .unwrap_or_default();
    tracing::info_span!(
        target: TARGET,
        "mcp.backend",
        otel.name = %format_args!("{method} {backend}"),
        otel.kind = "client",
        otel.status_code = Empty,
        mcp.method.name = %method,
        target.workload_name = %backend,
        target.transport_type = %transport,
        server.address = %host,
        server.port = port,
        vmcp.retries = 0u64,
        error.type = Empty,
    )
}

/// Records a backend call's failure on its client span.
pub fn finish_client(span: &tracing::Span, error: Option<&crate::backend::BackendError>) {
    if let Some(e) = error {
        fail(span, &e.class());
    }
}

/// A span around a capability fetch of `backend` (a root of its own when the gateway fetches
/// on its own account).
pub fn capabilities(backend: &str) -> tracing::Span {
    tracing::info_span!(
        target: TARGET,
        "vmcp.capabilities",
        otel.name = %format_args!("capabilities {backend}"),
        otel.kind = "internal",
        target.workload_name = %backend,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// A span around one request to a token endpoint (an exchange, not a cache hit).
pub fn token_exchange(grant: &'static str) -> tracing::Span {
    tracing::info_span!(
        target: TARGET,
        "vmcp.token",
        otel.name = "token exchange",
        otel.kind = "client",
        oauth.grant_type = grant,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// Records a failure class on a span made here.
pub fn fail(span: &tracing::Span, class: &str) {
    span.record("error.type", class);
    span.record("otel.status_code", "error");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(200);
        let cut = shown(&long);
        assert!(cut.len() <= MAX_NAME_SHOWN && long.starts_with(cut));
        assert_eq!(shown("short"), "short");
        assert_eq!(hashed_session("abc"), hashed_session("abc"));
        assert_ne!(hashed_session("abc"), hashed_session("abd"));
        assert_eq!(hashed_session("abc").len(), 32);
    }

    #[test]
    fn error_types_come_from_the_reply() {
        assert_eq!(
            error_type(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}"#),
            "-32602"
        );
        assert!(tool_failed(
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}"#
        ));
        assert!(!tool_failed(
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#
        ));
    }
}
