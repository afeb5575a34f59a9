//! The MCP 2026-07-28 era on the client edge: stateless requests on the same `/mcp` endpoint
//! as the 2025 sessions.
//!
//! A POST whose `MCP-Protocol-Version` header names no handshake version (2024-11-05 …
//! 2025-11-25) belongs to this era, as the reference SDK routes it. Such a request carries
//! its version and client capabilities in `params._meta`, names its method (and, for
//! `tools/call`, `prompts/get` and `resources/read`, its target) in `Mcp-Method`/`Mcp-Name`,
//! and is answered on its own: no session id is minted or read, nothing survives the
//! request. Checks run in the reference SDK's order, so a client sees the same error for the
//! same mistake: the `_meta` envelope (-32602), the headers against the body (-32020), the
//! version (-32022). Every result gets `resultType`; list and read results get `ttlMs` and
//! `cacheScope` (`private` when the gateway authenticates callers, whose views may differ).
//! Error codes map to HTTP statuses as the revision says (400 for malformed requests, 404
//! for an unknown method); resource-not-found is -32602 here, not -32002.
//!
//! `subscriptions/listen` is in [`super::subscriptions`].

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::auth::Caller;
use super::http::{Front, LEGACY_VERSIONS, accepts, json as json_response, single_header};
use super::sse;
use crate::jsonrpc::{self, Message, code};
use crate::route;

/// Versions of the stateless era this gateway speaks, newest first.
pub const MODERN_VERSIONS: [&str; 1] = ["2026-07-28"];

/// Every version the gateway speaks, newest first (`server/discover`'s `supportedVersions`).
pub fn all_versions() -> Vec<&'static str> {
    MODERN_VERSIONS
        .iter()
        .chain(LEGACY_VERSIONS.iter())
        .copied()
        .collect()
}

/// Error codes of 2026-07-28 (basic/index, "Error codes").
pub mod codes {
    /// A required header is missing or does not match the body.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// The request asks for something the client's capabilities did not declare.
    pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
    /// The protocol version is not one the server speaks.
    pub const UNSUPPORTED_VERSION: i64 = -32022;
}

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Methods routed to backends exactly as in the 2025 era.
const ROUTED: [&str; 8] = [
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
];

/// Results that are cacheable (`ttlMs` and `cacheScope` required).
const CACHEABLE: [&str; 5] = [
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
    "resources/read",
];

/// Whether a request belongs to the stateless era (see the module doc): decided by the
/// header alone, before the body is read. A header sent twice is this era's to refuse.
pub fn is_modern(headers: &HeaderMap) -> bool {
    match single_header(
        headers,
        http::HeaderName::from_static("mcp-protocol-version"),
    ) {
        Ok(Some(v)) => !LEGACY_VERSIONS.contains(&v) && v != "2024-11-05",
        Ok(None) => false,
        Err(()) => true,
    }
}

/// Whether `params` carry the 2026-07-28 envelope: a request of that era sent without its
/// version header (which the 2025 path would answer "missing session").
pub fn has_modern_envelope(params: Option<&RawValue>) -> bool {
    params
        .and_then(|p| jsonrpc::object_members(p).ok())
        .and_then(|m| m.into_iter().find(|(k, _)| k == "_meta").map(|(_, v)| v))
        .and_then(|meta| jsonrpc::object_members(meta).ok())
        .is_some_and(|m| m.iter().any(|(k, _)| k == META_VERSION))
}

/// An error reply of this era with the HTTP status the revision gives its code.
pub fn error(id: Option<&RawValue>, code: i64, message: &str, data: Option<Value>) -> Response {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    let id: Value = id
        .and_then(|i| serde_json::from_str(i.get()).ok())
        .unwrap_or(Value::Null);
    let body = json!({"jsonrpc": "2.0", "id": id, "error": e}).to_string();
    json_response(status_of(code), body)
}

/// The HTTP status of a reply carrying JSON-RPC error `code` (streamable-http, "Error
/// handling"): malformed requests 400, an unknown method 404, the rest 200.
pub fn status_of(code: i64) -> StatusCode {
    match code {
        code::PARSE_ERROR
        | code::INVALID_REQUEST
        | code::INVALID_PARAMS
        | codes::HEADER_MISMATCH
        | codes::MISSING_CLIENT_CAPABILITY
        | codes::UNSUPPORTED_VERSION => StatusCode::BAD_REQUEST,
        code::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// What a stateless request declared in its `_meta`.
pub struct Envelope {
    pub version: String,
    /// The `sampling`, `elicitation` and `roots` capabilities the client declared (see
    /// `session::relay_capabilities`): a backend may ask it for input during a call.
    pub relay_capabilities: Option<String>,
    /// `io.modelcontextprotocol/logLevel`: without it no log message is sent to the client.
    pub log_level: Option<String>,
}

/// Why a request was refused before it was served: a JSON-RPC error code, its message and
/// data (see [`error`] for the response).
#[derive(Debug)]
pub struct Reject {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl Reject {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Reject {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn response(self, id: Option<&RawValue>) -> Response {
        error(id, self.code, &self.message, self.data)
    }
}

/// Reads and checks the envelope and headers of one request, in the reference SDK's order.
fn check(headers: &HeaderMap, method: &str, params: Option<&RawValue>) -> Result<Envelope, Reject> {
    let mismatch = |what: &str| {
        Err(Reject::new(
            codes::HEADER_MISMATCH,
            format!("Header mismatch: {what}"),
        ))
    };
    let one = |name: &'static str| match single_header(headers, http::HeaderName::from_static(name))
    {
        Ok(v) => Ok(v),
        Err(()) => Err(name),
    };
    let (version_h, method_h, name_h) = match (
        one("mcp-protocol-version"),
        one("mcp-method"),
        one("mcp-name"),
    ) {
        (Ok(v), Ok(m), Ok(n)) => (v, m, n),
        (Err(h), _, _) | (_, Err(h), _) | (_, _, Err(h)) => {
            return mismatch(&format!(
                "{h} is sent more than once or is not visible ASCII"
            ));
        }
    };
    // Borrowed, so a request costs no copies of what it carries; a key given twice makes
    // the parse fail, which reads as a malformed envelope.
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(rename = "_meta", borrow, default)]
        meta: Option<Meta<'a>>,
        #[serde(borrow, default)]
        name: Option<&'a RawValue>,
        #[serde(borrow, default)]
        uri: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow)]
        version: Option<&'a RawValue>,
        #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow)]
        capabilities: Option<&'a RawValue>,
        #[serde(rename = "io.modelcontextprotocol/logLevel", borrow)]
        log_level: Option<&'a RawValue>,
    }
    let parsed = params.and_then(|p| serde_json::from_str::<Params<'_>>(p.get()).ok());
    let envelope = parsed.as_ref().and_then(|p| {
        let m = p.meta.as_ref()?;
        let caps = m.capabilities.filter(|c| c.get().starts_with('{'))?;
        Some((m.version?, m.log_level, caps))
    });
    let Some((version, log_level, caps)) = envelope else {
        return Err(Reject::new(
            code::INVALID_PARAMS,
            format!(
                "params._meta must be an object carrying the required '{META_VERSION}' and '{META_CAPABILITIES}' envelope keys"
            ),
        ));
    };
    let version: Value = serde_json::from_str(version.get()).unwrap_or(Value::Null);
    let log_level: Option<Value> = log_level.and_then(|l| serde_json::from_str(l.get()).ok());
    let relay_capabilities = if ["sampling", "elicitation", "roots"]
        .iter()
        .any(|k| caps.get().contains(k))
    {
        serde_json::from_str(caps.get())
            .ok()
            .and_then(|c| super::session::relay_capabilities(&c))
    } else {
        None
    };
    if version_h.is_none() || version.as_str() != version_h {
        return mismatch(
            "MCP-Protocol-Version header does not match the request envelope's protocol version",
        );
    }
    if method_h != Some(method) {
        return mismatch("Mcp-Method header does not match the request body's method");
    }
    if let Some(key) = name_key(method) {
        let raw = parsed
            .as_ref()
            .and_then(|p| if key == "name" { p.name } else { p.uri });
        let body =
            raw.and_then(|r| serde_json::from_str::<std::borrow::Cow<'_, str>>(r.get()).ok());
        if let Some(body) = body
            && name_h.map(decode_header_value).as_deref() != Some(&*body)
        {
            return mismatch(&format!(
                "Mcp-Name header does not match the request body's '{key}' parameter"
            ));
        }
    }
    let Some(version) = version.as_str().map(str::to_owned) else {
        return Err(Reject::new(
            code::INVALID_PARAMS,
            format!("{META_VERSION} must be a string"),
        ));
    };
    if !MODERN_VERSIONS.contains(&version.as_str()) {
        return Err(unsupported(&version));
    }
    let log_level = match log_level {
        None => None,
        Some(Value::String(l)) if LEVELS.contains(&l.as_str()) => Some(l),
        Some(_) => {
            return Err(Reject::new(
                code::INVALID_PARAMS,
                format!("{META_LOG_LEVEL} must be one of {}", LEVELS.join(", ")),
            ));
        }
    };
    Ok(Envelope {
        version,
        log_level,
        relay_capabilities,
    })
}

use jsonrpc::LOG_LEVELS as LEVELS;

/// -32022 naming every version the gateway speaks.
pub fn unsupported(requested: &str) -> Reject {
    Reject {
        code: codes::UNSUPPORTED_VERSION,
        message: "Unsupported protocol version".into(),
        data: Some(json!({"supported": all_versions(), "requested": requested})),
    }
}

/// The params member `Mcp-Name` mirrors for `method`, if it has one.
fn name_key(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// A header value as sent: plain, or `=?base64?<UTF-8 in base64>?=` for values that are not
/// visible ASCII without surrounding spaces (streamable-http, "Header value encoding").
pub fn decode_header_value(v: &str) -> String {
    use base64::Engine as _;
    v.strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| v.to_owned())
}

/// The capabilities the gateway offers in both eras.
pub fn server_capabilities() -> Value {
    json!({
        "tools": {"listChanged": true},
        "resources": {"subscribe": true, "listChanged": true},
        "prompts": {"listChanged": true},
        "completions": {},
        "logging": {},
    })
}

pub fn server_info(front: &Front) -> Value {
    let name = if front.name.is_empty() {
        "vmcp"
    } else {
        &front.name
    };
    json!({"name": name, "version": env!("CARGO_PKG_VERSION")})
}

/// Whether what the gateway answers may differ by caller: it authenticates callers (their
/// views differ by policy, their backends' answers by credential). Such results are
/// `cacheScope: private`.
fn per_caller(front: &Front) -> bool {
    front.auth.is_some() || front.router.authz.is_some()
}

/// One stateless POST, after Origin, authentication and body checks.
pub async fn post(
    front: Arc<Front>,
    caller: Caller,
    headers: &HeaderMap,
    msg: Message<'_>,
    forwarded: Option<HeaderMap>,
) -> Response {
    let (id, method, params) = match msg {
        // `notifications/cancelled` means nothing over HTTP in this era (closing the
        // request's stream cancels it); nothing else is sent by clients.
        Message::Notification { .. } => return StatusCode::ACCEPTED.into_response(),
        Message::Response { .. } => {
            return error(
                None,
                code::INVALID_REQUEST,
                "Body must be a single JSON-RPC request or notification object (this revision has no server-to-client requests)",
                None,
            );
        }
        Message::Request { id, method, params } => (id, method, params),
    };
    let envelope = match check(headers, &method, params) {
        Ok(e) => e,
        Err(r) => return r.response(Some(id)),
    };
    match method.as_str() {
        "server/discover" => discover(&front, id),
        "subscriptions/listen" => {
            if !accepts(headers, "text/event-stream") {
                return error(
                    Some(id),
                    code::INVALID_REQUEST,
                    "subscriptions/listen requires Accept: text/event-stream",
                    None,
                )
                .into_response()
                .with_status(StatusCode::NOT_ACCEPTABLE);
            }
            super::subscriptions::listen(front, caller, id, params, &envelope).await
        }
        m if ROUTED.contains(&m) => {
            if let Some(retry) = super::mrtr::retry_of(params)
                && let Some(r) = super::mrtr::resume(front.clone(), &caller, id, m, retry).await
            {
                return r;
            }
            if super::mrtr::applies(m, &envelope) {
                let asked = super::mrtr::Asked {
                    forwarded,
                    trace: crate::telemetry::on().then(|| crate::telemetry::trace_keys(headers)),
                };
                return super::mrtr::start(front, caller, id, m, params, &envelope, asked).await;
            }
            routed(
                front, caller, headers, id, method, params, envelope, forwarded,
            )
            .await
        }
        _ => error(
            Some(id),
            code::METHOD_NOT_FOUND,
            "Method not found",
            Some(Value::String(method)),
        ),
    }
}

trait WithStatus {
    fn with_status(self, s: StatusCode) -> Response;
}

impl WithStatus for Response {
    fn with_status(mut self, s: StatusCode) -> Response {
        *self.status_mut() = s;
        self
    }
}

fn discover(front: &Front, id: &RawValue) -> Response {
    let result = json!({
        "supportedVersions": all_versions(),
        "capabilities": server_capabilities(),
        "resultType": "complete",
        // The same for every caller, and fixed for the life of the process.
        "ttlMs": 300_000,
        "cacheScope": "public",
        "_meta": {META_SERVER_INFO: server_info(front)},
    });
    let result = jsonrpc::raw(result.to_string());
    json_response(StatusCode::OK, jsonrpc::response_ok(id, &result))
}

/// A request served by the router, as in the 2025 era, on a session that lives only as long
/// as the request. Progress notifications (and log messages when the request asked for
/// them with a `logLevel`) go on the request's own SSE stream.
#[allow(clippy::too_many_arguments)]
async fn routed(
    front: Arc<Front>,
    caller: Caller,
    headers: &HeaderMap,
    id: &RawValue,
    method: String,
    params: Option<&RawValue>,
    envelope: Envelope,
    forwarded: Option<HeaderMap>,
) -> Response {
    let session = front
        .sessions
        .ephemeral(&envelope.version, caller.owner.clone());
    let stream_ok = accepts(headers, "text/event-stream");
    let (tx, rx) = mpsc::unbounded_channel::<Box<RawValue>>();
    let related = stream_ok.then_some(tx);
    let shape = Shape {
        cacheable: CACHEABLE.contains(&method.as_str()),
        private: per_caller(&front),
    };
    let id = id.to_owned();
    let params = params.map(|p| p.to_owned());
    let trace = crate::telemetry::on().then(|| crate::telemetry::trace_keys(headers));
    let fut = {
        let front = front.clone();
        async move {
            let who = route::Who {
                principal: caller.principal.as_deref(),
                subject: caller.subject.as_ref(),
                forwarded: forwarded.as_ref(),
                owner: caller.owner.as_ref(),
                headers: trace.as_ref(),
            };
            front
                .router
                .handle(&session, who, &id, &method, params.as_deref(), related)
                .await
        }
    };
    let log_level = envelope.log_level;
    sse::reply_or_stream(
        fut,
        rx,
        |reply| answer(&front, headers, reply, shape),
        move |m| related_wanted(m.get(), log_level.as_deref()),
        move |reply| shaped(reply.unwrap_or_else(route::Refused::into_reply), shape).1,
    )
    .await
}

/// Whether a message related to a request goes to a stateless client: progress always (the
/// client asked with a `progressToken`), log messages only at or above the `logLevel` the
/// request named.
fn related_wanted(text: &str, log_level: Option<&str>) -> bool {
    #[derive(serde::Deserialize)]
    struct Note<'a> {
        #[serde(borrow)]
        method: Option<&'a str>,
        params: Option<Level>,
    }
    #[derive(serde::Deserialize)]
    struct Level {
        level: Option<String>,
    }
    let Ok(n) = serde_json::from_str::<Note<'_>>(text) else {
        return false;
    };
    match n.method {
        Some("notifications/progress") => true,
        Some("notifications/message") => {
            let rank = |l: &str| LEVELS.iter().position(|x| *x == l);
            let got = n.params.and_then(|p| p.level);
            match (log_level.and_then(rank), got.as_deref().and_then(rank)) {
                (Some(min), Some(level)) => level >= min,
                _ => false,
            }
        }
        _ => false,
    }
}

/// What decorates a result of one method.
#[derive(Clone, Copy)]
struct Shape {
    cacheable: bool,
    private: bool,
}

/// The response to a routed request of `method` in this era's shape.
pub fn finish(
    front: &Front,
    headers: &HeaderMap,
    reply: Result<route::Reply, route::Refused>,
    method: &str,
) -> Response {
    let shape = Shape {
        cacheable: CACHEABLE.contains(&method),
        private: per_caller(front),
    };
    answer(front, headers, reply, shape)
}

fn answer(
    front: &Front,
    headers: &HeaderMap,
    reply: Result<route::Reply, route::Refused>,
    shape: Shape,
) -> Response {
    match reply {
        Ok(text) => {
            let (status, text) = shaped(text, shape);
            json_response(status, text)
        }
        refused => super::http::answer(front, headers, refused),
    }
}

/// A reply of the router in this era's shape, with its HTTP status: a result gains
/// `resultType` (and `ttlMs`/`cacheScope` when cacheable) unless it has them; an error keeps
/// its code, except -32002 (resource not found in 2025), which is -32602 here.
fn shaped(text: String, shape: Shape) -> (StatusCode, String) {
    #[derive(serde::Deserialize)]
    struct Reply<'a> {
        #[serde(borrow)]
        id: &'a RawValue,
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        error: Option<Value>,
    }
    let Ok(r) = serde_json::from_str::<Reply<'_>>(&text) else {
        return (StatusCode::OK, text);
    };
    if let Some(mut e) = r.error {
        let mut code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
        if code == code::RESOURCE_NOT_FOUND {
            code = code::INVALID_PARAMS;
            e["code"] = json!(code);
        }
        let body = json!({"jsonrpc": "2.0", "id": serde_json::from_str::<Value>(r.id.get()).unwrap_or(Value::Null), "error": e});
        return (status_of(code), body.to_string());
    }
    let Some(result) = r.result else {
        return (StatusCode::OK, text);
    };
    #[derive(serde::Deserialize)]
    struct Has<'a> {
        #[serde(rename = "resultType", borrow)]
        result_type: Option<&'a RawValue>,
        #[serde(rename = "ttlMs", borrow)]
        ttl_ms: Option<&'a RawValue>,
        #[serde(rename = "cacheScope", borrow)]
        cache_scope: Option<&'a RawValue>,
    }
    let Ok(has) = serde_json::from_str::<Has<'_>>(result.get()) else {
        return (StatusCode::OK, text);
    };
    let mut extra = String::new();
    let mut add = |k: &str, v: &str| {
        extra.push('"');
        extra.push_str(k);
        extra.push_str("\":");
        extra.push_str(v);
        extra.push(',');
    };
    if has.result_type.is_none() {
        add("resultType", r#""complete""#);
    }
    if shape.cacheable {
        if has.ttl_ms.is_none() {
            add("ttlMs", "0");
        }
        if has.cache_scope.is_none() {
            add(
                "cacheScope",
                if shape.private {
                    r#""private""#
                } else {
                    r#""public""#
                },
            );
        }
    }
    if extra.is_empty() {
        return (StatusCode::OK, text);
    }
    // The result is a slice of `text`: insert after its opening brace, in place.
    let body = result.get().trim_start();
    let Some(inner) = body.strip_prefix('{') else {
        return (StatusCode::OK, text);
    };
    if inner.trim_start().starts_with('}') {
        extra.pop();
    }
    let at = inner.as_ptr() as usize - text.as_ptr() as usize;
    let mut out = String::with_capacity(text.len() + extra.len());
    out.push_str(&text[..at]);
    out.push_str(&extra);
    out.push_str(&text[at..]);
    (StatusCode::OK, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_era_is_decided_by_the_version_header() {
        assert!(is_modern(&headers(&[(
            "mcp-protocol-version",
            "2026-07-28"
        )])));
        assert!(is_modern(&headers(&[(
            "mcp-protocol-version",
            "2099-01-01"
        )])));
        assert!(!is_modern(&headers(&[(
            "mcp-protocol-version",
            "2025-11-25"
        )])));
        assert!(!is_modern(&headers(&[(
            "mcp-protocol-version",
            "2024-11-05"
        )])));
        assert!(!is_modern(&headers(&[])));
        assert!(is_modern(&headers(&[
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-protocol-version", "2026-07-28")
        ])));
    }

    #[test]
    fn header_values_may_be_base64_encoded() {
        assert_eq!(decode_header_value("add"), "add");
        assert_eq!(decode_header_value("=?base64?w6lsw6h2ZQ==?="), "élève");
        assert_eq!(
            decode_header_value("=?base64?not base64?="),
            "=?base64?not base64?="
        );
    }

    #[test]
    fn results_gain_their_type_and_cache_members_once() {
        let list = Shape {
            cacheable: true,
            private: false,
        };
        let (s, t) = shaped(
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#.into(),
            list,
        );
        assert_eq!(s, StatusCode::OK);
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["result"]["resultType"], "complete");
        assert_eq!(v["result"]["ttlMs"], 0);
        assert_eq!(v["result"]["cacheScope"], "public");
        assert_eq!(v["result"]["tools"], json!([]));
        let call = Shape {
            cacheable: false,
            private: true,
        };
        let (_, t) = shaped(
            r#"{"jsonrpc":"2.0","id":"a","result":{"resultType":"input_required","requestState":"s"}}"#.into(),
            call,
        );
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["id"], "a");
        assert_eq!(v["result"]["resultType"], "input_required");
        assert!(v["result"].get("ttlMs").is_none());
        let (_, t) = shaped(r#"{"jsonrpc":"2.0","id":2,"result":{}}"#.into(), call);
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["result"], json!({"resultType": "complete"}));
    }

    #[test]
    fn errors_keep_their_codes_and_get_this_eras_statuses() {
        let s = Shape {
            cacheable: true,
            private: true,
        };
        let (st, t) = shaped(
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32002,"message":"resource x not found"}}"#
                .into(),
            s,
        );
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["error"]["code"], -32602);
        assert_eq!(v["id"], 3);
        let (st, _) = shaped(
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32001,"message":"backend down"}}"#.into(),
            s,
        );
        assert_eq!(st, StatusCode::OK);
        assert_eq!(status_of(code::METHOD_NOT_FOUND), StatusCode::NOT_FOUND);
    }

    #[test]
    fn log_messages_follow_the_requested_level_and_progress_always_passes() {
        let log = |l: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"{l}","data":"x"}}}}"#
            )
        };
        assert!(!related_wanted(&log("error"), None));
        assert!(related_wanted(&log("error"), Some("warning")));
        assert!(!related_wanted(&log("info"), Some("warning")));
        assert!(related_wanted(
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#,
            None
        ));
    }
}
