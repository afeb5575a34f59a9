//! HTTP handlers: `/mcp` (POST, GET, DELETE), `/health`, `/readyz`, `/status`, `/metrics`,
//! and with client authentication `/.well-known/oauth-protected-resource[/mcp]`.
//!
//! Every input is untrusted: bodies are bounded before they are read (413 without buffering an
//! oversized body), malformed JSON is a JSON-RPC parse error, batches are rejected, and
//! unknown sessions are 404. There is no write deadline on responses: a slow tool is bounded
//! by its backend timeout, not by the HTTP server.

// Handlers return a ready `Response` as their error: it is the value sent, not a cause to
// inspect, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::auth::{Caller, ClientAuth, METADATA_PATH};
use super::origin::HostPolicy;
use super::session::{ClientSession, Sessions};
use super::sse;
use crate::aggregate::Aggregator;
use crate::jsonrpc::{self, Message, code};
use crate::metrics::Metrics;
use crate::route;

/// Protocol versions served with the initialize handshake and sessions, newest first (the
/// stateless era is in [`super::modern`]).
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
pub const LEGACY_VERSIONS: [&str; 3] = SUPPORTED_VERSIONS;
pub const LATEST_VERSION: &str = SUPPORTED_VERSIONS[0];
/// Default request body limit.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

pub struct Front {
    pub router: route::Router,
    pub sessions: Arc<Sessions>,
    pub metrics: Arc<Metrics>,
    pub agg: Arc<Aggregator>,
    pub body_limit: usize,
    /// How long a request body may take to arrive once its head did.
    pub body_timeout: Duration,
    /// The Host and Origin allow-lists (DNS-rebinding defence), applied on every bind address.
    pub hosts: HostPolicy,
    pub name: String,
    pub group_ref: String,
    /// `incomingAuth.type: oidc`; `None` serves every client as the anonymous identity.
    pub auth: Option<Arc<ClientAuth>>,
    /// `passthroughHeaders`: client headers sent on to backends with each request (the
    /// config validator keeps credentials and hop-by-hop headers out of it).
    pub passthrough: Vec<HeaderName>,
}

impl Front {
    /// The client headers of one request that `passthroughHeaders` forwards; `None` when
    /// none is configured or present, so the common case costs nothing.
    fn forwarded(&self, headers: &HeaderMap) -> Option<HeaderMap> {
        if self.passthrough.is_empty() {
            return None;
        }
        let mut out = HeaderMap::new();
        for name in &self.passthrough {
            for v in headers.get_all(name) {
                out.append(name.clone(), v.clone());
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// The routes. `/mcp`'s handlers check Host and Origin first themselves; `/status` and
/// `/metrics` (backend URLs, errors, traffic) get the same check from a layer. The probes
/// check only Origin: kubelet sends whatever Host a probe was given, and they reveal nothing.
/// No route sends `Access-Control-Allow-*` headers, so a cross-origin page cannot read any
/// answer even where a request got through.
pub fn app(front: Arc<Front>) -> Router {
    let admin = Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(
            front.clone(),
            host_and_origin,
        ));
    let probes = Router::new()
        .route(
            "/health",
            get(|| async { json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned()) }),
        )
        .route("/readyz", get(readyz))
        .route_layer(middleware::from_fn_with_state(front.clone(), origin_only));
    let mut r = Router::new()
        .route("/mcp", get(mcp_get).post(mcp_post).delete(mcp_delete))
        .merge(admin)
        .merge(probes);
    // Public by design (RFC 9728): a client that got a 401 reads it to find the issuer.
    if front.auth.is_some() {
        r = r
            .route(METADATA_PATH, get(protected_resource))
            .route(&format!("{METADATA_PATH}/mcp"), get(protected_resource));
    }
    r.with_state(front)
}

async fn protected_resource(State(front): State<Arc<Front>>, headers: HeaderMap) -> Response {
    match &front.auth {
        Some(a) => a.metadata(&headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The caller of a request: authenticated when the gateway checks tokens (the refusal
/// otherwise), the anonymous identity when it does not.
async fn caller(front: &Front, headers: &HeaderMap) -> Result<Caller, Response> {
    let Some(a) = &front.auth else {
        return Ok(Caller::default());
    };
    let started = std::time::Instant::now();
    let r = a
        .authenticate(headers, front.router.authz.as_deref(), &front.metrics)
        .await;
    if let (Err(refusal), Some(audit)) = (&r, &front.router.audit) {
        audit.refused(refusal.status().as_u16(), started.elapsed());
    }
    r
}

async fn host_and_origin(State(front): State<Arc<Front>>, req: Request, next: Next) -> Response {
    match check_origin(&front, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(r) => r,
    }
}

async fn origin_only(State(front): State<Arc<Front>>, req: Request, next: Next) -> Response {
    match check_origin_header(&front, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(r) => r,
    }
}

pub(super) fn json(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn rpc_error(status: StatusCode, id: Option<&RawValue>, code: i64, msg: &str) -> Response {
    json(status, jsonrpc::response_error(id, code, msg))
}

fn header_str<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn accepts(h: &HeaderMap, what: &str) -> bool {
    h.get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            let v = v.split(';').next().unwrap_or("").trim();
            v == what || v == "*/*"
        })
}

/// Whether a Content-Type names `application/json`, with any parameters (`; charset=utf-8`).
/// The media type itself must match whole: `application/jsonp` or `application/json-seq`
/// are other formats, not JSON-RPC bodies.
fn is_json_content_type(ct: &str) -> bool {
    let media = ct.split(';').next().unwrap_or("");
    media.trim().eq_ignore_ascii_case("application/json")
}

/// DNS-rebinding defence (the rules are in [`super::origin`]): the Host must be one the
/// gateway answers to and any Origin one it trusts. A header sent twice or not readable as
/// text is refused, so it cannot hide a foreign value behind an acceptable one. No Host at
/// all (HTTP/1.0) comes from no browser and is judged on its Origin alone.
fn check_origin(front: &Front, h: &HeaderMap) -> Result<(), Response> {
    match single_header(h, header::HOST) {
        Ok(None) => {}
        Ok(Some(host)) if front.hosts.host_allowed(host) => {}
        Ok(Some(_)) | Err(()) => {
            return Err(rpc_error(
                StatusCode::FORBIDDEN,
                None,
                code::INVALID_REQUEST,
                "host not allowed (a name the gateway answers to must be listed in --allowed-hosts)",
            ));
        }
    }
    check_origin_header(front, h)
}

/// The Origin half of [`check_origin`].
fn check_origin_header(front: &Front, h: &HeaderMap) -> Result<(), Response> {
    match single_header(h, header::ORIGIN) {
        Ok(None) => Ok(()),
        Ok(Some(origin)) if front.hosts.origin_allowed(origin) => Ok(()),
        Ok(Some(_)) | Err(()) => Err(rpc_error(
            StatusCode::FORBIDDEN,
            None,
            code::INVALID_REQUEST,
            "origin not allowed (a browser origin must be listed in --allowed-origins)",
        )),
    }
}

/// The header's only value; `Err` when it is repeated or not visible ASCII.
pub(super) fn single_header(h: &HeaderMap, name: header::HeaderName) -> Result<Option<&str>, ()> {
    let mut values = h.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    first.to_str().map(Some).map_err(|_| ())
}

/// The session named by the request, or the error response for a missing/unknown one. A
/// session of another caller is unknown to this one.
fn session_of(
    front: &Front,
    h: &HeaderMap,
    caller: &Caller,
) -> Result<Arc<ClientSession>, Response> {
    let Some(id) = header_str(h, "mcp-session-id") else {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            "missing Mcp-Session-Id header",
        ));
    };
    front
        .sessions
        .get_for(id, caller.owner.as_ref())
        .ok_or_else(|| {
            rpc_error(
                StatusCode::NOT_FOUND,
                None,
                code::INVALID_REQUEST,
                "unknown or expired session",
            )
        })
}

/// Reads a body up to the limit; larger bodies are refused before or while reading.
async fn read_body(front: &Front, headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            code::INVALID_REQUEST,
            "request body too large",
        )
    };
    if let Some(len) = header_str(headers, "content-length").and_then(|v| v.parse::<u64>().ok())
        && len > front.body_limit as u64
    {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, front.body_limit);
    let Ok(collected) = tokio::time::timeout(front.body_timeout, limited.collect()).await else {
        crate::limits::refused(crate::limits::Refusal::BodyReadTimeout);
        return Err(rpc_error(
            StatusCode::REQUEST_TIMEOUT,
            None,
            code::INVALID_REQUEST,
            &format!(
                "request body not received within {:?} (--body-read-timeout)",
                front.body_timeout
            ),
        ));
    };
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(_) => Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::PARSE_ERROR,
            "could not read the request body",
        )),
    }
}

async fn mcp_post(State(front): State<Arc<Front>>, req: Request) -> Response {
    // Take the headers out of the request instead of copying them.
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    if let Err(r) = check_origin(&front, &headers) {
        return r;
    }
    // Before the body is read: an unauthenticated client costs a header check.
    let caller = match caller(&front, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(ct) = header_str(&headers, "content-type")
        && !is_json_content_type(ct)
    {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            code::INVALID_REQUEST,
            "Content-Type must be application/json",
        );
    }
    if headers.contains_key(header::ACCEPT)
        && !accepts(&headers, "application/json")
        && !accepts(&headers, "text/event-stream")
    {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            code::INVALID_REQUEST,
            "Accept must allow application/json or text/event-stream",
        );
    }
    let body = match read_body(&front, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let msg = match jsonrpc::parse(&body) {
        Ok(m) => m,
        Err(e) => {
            return rpc_error(StatusCode::BAD_REQUEST, None, e.code(), &e.to_string());
        }
    };
    if super::modern::is_modern(&headers) {
        let forwarded = front.forwarded(&headers);
        return super::modern::post(front, caller, &headers, msg, forwarded).await;
    }
    if let Message::Request { id, method, params } = &msg
        && method == "initialize"
    {
        let started = std::time::Instant::now();
        let r = initialize(&front, &caller, id, *params);
        if let Some(a) = &front.router.audit {
            a.record(crate::audit::Record {
                method,
                params: *params,
                tool: "",
                backend: None,
                outcome: if r.status().is_success() {
                    "success"
                } else {
                    "failure"
                },
                duration: started.elapsed(),
                owner: caller.owner.as_ref(),
                reply: "",
            });
        }
        return r;
    }
    // A request of the stateless era sent without its version header.
    if let Message::Request { id, params, .. } = &msg
        && !headers.contains_key("mcp-session-id")
        && super::modern::has_modern_envelope(*params)
    {
        return super::modern::error(
            Some(id),
            super::modern::codes::HEADER_MISMATCH,
            "Header mismatch: MCP-Protocol-Version header is required and must match the request envelope's protocol version",
            None,
        );
    }
    let session = match session_of(&front, &headers, &caller) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(v) = header_str(&headers, "mcp-protocol-version")
        && !SUPPORTED_VERSIONS.contains(&v)
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            &format!("unsupported MCP-Protocol-Version {v:?}"),
        );
    }
    match msg {
        Message::Notification { method, params } => {
            if let Some(a) = &front.router.audit {
                a.record(crate::audit::Record {
                    method: &method,
                    params,
                    tool: "",
                    backend: None,
                    outcome: "success",
                    duration: std::time::Duration::ZERO,
                    owner: caller.owner.as_ref(),
                    reply: "",
                });
            }
            if method == "notifications/cancelled"
                && let Some(p) = params
                && let Ok(m) = jsonrpc::object_members(p)
                && let Some((_, rid)) = m.iter().find(|(k, _)| k == "requestId")
            {
                session.cancel(rid.get());
            }
            // The client's roots changed: tell the backends that hold sessions of its own.
            if method == "notifications/roots/list_changed" {
                for b in front.agg.backends().values() {
                    let b = b.clone();
                    let id = session.id.clone();
                    tokio::spawn(async move {
                        b.client_notify(&id, "notifications/roots/list_changed")
                            .await
                    });
                }
            }
            accepted()
        }
        // Answers to relayed server-to-client requests; an answer nobody waits for is dropped.
        Message::Response { id, outcome } => {
            crate::relay::deliver(id, outcome.map(|r| r.to_owned()).map_err(|e| e.to_owned()));
            accepted()
        }
        Message::Request { id, method, params } => {
            let stream_ok = accepts(&headers, "text/event-stream");
            let forwarded = front.forwarded(&headers);
            request(
                front,
                session,
                Asker {
                    caller,
                    forwarded,
                    headers: &headers,
                },
                id.to_owned(),
                method,
                params.map(|p| p.to_owned()),
                stream_ok,
            )
            .await
        }
    }
}

/// GET and DELETE in the stateless era: there is no stream or session to open or end.
fn only_post() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

fn accepted() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

fn initialize(
    front: &Front,
    caller: &Caller,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Init {
        #[serde(default)]
        protocol_version: Option<String>,
        #[serde(default)]
        capabilities: serde_json::Value,
    }
    let init = params.and_then(|p| serde_json::from_str::<Init>(p.get()).ok());
    let relay_caps = init
        .as_ref()
        .and_then(|i| super::session::relay_capabilities(&i.capabilities));
    let requested = init.and_then(|i| i.protocol_version);
    let version = requested
        .as_deref()
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .unwrap_or(LATEST_VERSION);
    let session = match front
        .sessions
        .create_owned(version, relay_caps, caller.owner.clone())
    {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "initialize refused");
            return rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(id),
                code::LIMIT_REACHED,
                &e.to_string(),
            );
        }
    };
    let result = serde_json::json!({
        "protocolVersion": version,
        "capabilities": super::modern::server_capabilities(),
        "serverInfo": super::modern::server_info(front),
    });
    let result = jsonrpc::raw(result.to_string());
    let mut r = json(StatusCode::OK, jsonrpc::response_ok(id, &result));
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        r.headers_mut().insert("mcp-session-id", v);
    }
    tracing::debug!(session = %session.id, version, "client session created");
    r
}

/// Who sends one request, as the router needs it: the authenticated caller, the headers
/// `passthroughHeaders` forwards, and the request's headers (for a 401's challenge).
struct Asker<'h> {
    caller: Caller,
    forwarded: Option<HeaderMap>,
    headers: &'h HeaderMap,
}

/// Runs one request. With SSE allowed, the reply switches to a stream as soon as the backend
/// sends a related notification (progress, log) before the response; otherwise it is JSON.
async fn request(
    front: Arc<Front>,
    session: Arc<ClientSession>,
    asker: Asker<'_>,
    id: Box<RawValue>,
    method: String,
    params: Option<Box<RawValue>>,
    stream_ok: bool,
) -> Response {
    let (tx, rx) = mpsc::unbounded_channel::<Box<RawValue>>();
    let related = stream_ok.then_some(tx);
    let cancel = session.register(id.get(), related.clone());
    let Asker {
        caller,
        forwarded,
        headers,
    } = asker;
    // Only the trace keys outlive the request's headers (the call may outlast them).
    let trace = crate::telemetry::on().then(|| crate::telemetry::trace_keys(headers));
    let fut = {
        let front = front.clone();
        let session = session.clone();
        let id = id.clone();
        async move {
            let r = tokio::select! {
                r = front.router.handle(&session, route::Who { principal: caller.principal.as_deref(), subject: caller.subject.as_ref(), forwarded: forwarded.as_ref(), owner: caller.owner.as_ref(), headers: trace.as_ref() }, &id, &method, params.as_deref(), related) => r,
                _ = cancel.notified() => Ok(jsonrpc::response_error(Some(&id), code::INTERNAL_ERROR, "request cancelled")),
            };
            session.finish(id.get());
            r
        }
    };
    sse::reply_or_stream(
        fut,
        rx,
        |reply| answer(&front, headers, reply),
        |_| true,
        // A refusal is decided before anything is forwarded, so it never comes after a
        // related message; were it to, the stream's status is sent.
        |reply| reply.unwrap_or_else(route::Refused::into_reply),
    )
    .await
}

/// A reply as JSON: HTTP 200; 403 for a request the authorization policy refused; 401 with
/// an `invalid_token` challenge when a backend's token endpoint refused the caller's token,
/// the one answer that makes an OAuth client fetch a new token.
pub(super) fn answer(
    front: &Front,
    headers: &HeaderMap,
    reply: Result<route::Reply, route::Refused>,
) -> Response {
    match reply {
        Ok(text) => json(StatusCode::OK, text),
        Err(route::Refused::Policy(text)) => json(StatusCode::FORBIDDEN, text),
        Err(route::Refused::Token(text)) => {
            let mut r = json(StatusCode::UNAUTHORIZED, text);
            if let Some(auth) = &front.auth
                && let Ok(v) = HeaderValue::from_str(&auth.token_refused_challenge(headers))
            {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            r
        }
    }
}

async fn mcp_get(State(front): State<Arc<Front>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_origin(&front, &headers) {
        return r;
    }
    if super::modern::is_modern(&headers) {
        return only_post();
    }
    let caller = match caller(&front, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !accepts(&headers, "text/event-stream") {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            code::INVALID_REQUEST,
            "GET requires Accept: text/event-stream",
        );
    }
    let session = match session_of(&front, &headers, &caller) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut rx = session.open_stream(256);
    let stream = async_stream::stream! {
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        tick.tick().await;
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => yield sse::event(&m),
                    None => break,
                },
                _ = tick.tick() => yield sse::keepalive(),
            }
        }
    };
    sse::response(stream, Some(&session.id))
}

async fn mcp_delete(State(front): State<Arc<Front>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_origin(&front, &headers) {
        return r;
    }
    if super::modern::is_modern(&headers) {
        return only_post();
    }
    let caller = match caller(&front, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(id) = header_str(&headers, "mcp-session-id") else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            "missing Mcp-Session-Id header",
        );
    };
    if front.sessions.remove_for(id, caller.owner.as_ref()) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        rpc_error(
            StatusCode::NOT_FOUND,
            None,
            code::INVALID_REQUEST,
            "unknown or expired session",
        )
    }
}

async fn readyz(State(front): State<Arc<Front>>) -> Response {
    if front.agg.is_ready() {
        json(StatusCode::OK, r#"{"status":"ready"}"#.to_owned())
    } else {
        // Say which wait it is: a gateway stuck before its first discovery (a watch the
        // ServiceAccount may not make, an unreachable API server) looks very different in
        // its log from one whose backends are slow.
        let reason = if front.agg.is_synced() {
            "backends not tried yet"
        } else {
            "backends not discovered yet (waiting for the Kubernetes watches to sync)"
        };
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "not_ready", "reason": reason}).to_string(),
        )
    }
}

async fn status(State(front): State<Arc<Front>>) -> Response {
    let view = front.agg.view();
    let backends: Vec<serde_json::Value> = front
        .agg
        .backends()
        .values()
        .map(|b| {
            let snap = b.health.snapshot();
            let tools = view.tools.values().filter(|r| r.backend == b.name).count();
            serde_json::json!({
                "name": &*b.name,
                "url": b.url,
                "transport": b.transport.as_str(),
                "authType": b.auth_kind(),
                "health": snap.health,
                "state": snap.state,
                "consecutiveFailures": snap.consecutive_failures,
                "lastError": snap.last_error,
                "lastCheckUnix": snap.last_check_unix,
                "tools": tools,
                // Open circuit: `tools` are kept from the last good fetch and still route
                // (calls answer -32001), but lists leave them out.
                "stale": snap.state == "open" && tools > 0,
                // Sessions held for clients that need their own (sampling, roots, log level).
                "clientSessions": b.dedicated_sessions(),
                "capabilityError": front.agg.fetch_error(&b.name),
                // Refuses the gateway's own requests without a user token (a per-user
                // backend without client credentials): listed from the first
                // authenticated caller's view, and healthy as long as it answers.
                "needsUserToken": b.needs_user_token(),
                // The MCP revision spoken with it (2026-07-28: stateless).
                "mcpRevision": b.revision(),
            })
        })
        .collect();
    let healthy = backends.iter().any(|b| b["health"] == "healthy");
    let body = serde_json::json!({
        "name": front.name,
        "groupRef": front.group_ref,
        "version": env!("CARGO_PKG_VERSION"),
        "ready": front.agg.is_ready(),
        "healthy": healthy,
        "sessions": front.sessions.len(),
        "backends": backends,
        // Backends that should be served but could not be built, with why.
        "leftOut": front.agg.left_out(),
        // Group members dynamic discovery found and does not serve, with why.
        "membersNotServed": front.agg.not_served(),
    });
    json(StatusCode::OK, body.to_string())
}

/// The state `/metrics` shows at the moment it is scraped (read by the metrics' callbacks).
pub fn gauges(front: &Front) -> crate::metrics::Gauges {
    let backends = front
        .agg
        .backends()
        .values()
        .map(|b| {
            let s = b.health.snapshot();
            crate::metrics::BackendGauges {
                name: b.name.to_string(),
                state: s.state,
                healthy: s.health == "healthy",
                client_sessions: b.dedicated_sessions(),
                exchange: b.outgoing().exchanger().map(|e| {
                    use std::sync::atomic::Ordering::Relaxed;
                    crate::metrics::ExchangeCounts {
                        hits: e.counts.hits.load(Relaxed),
                        exchanges: e.counts.exchanges.load(Relaxed),
                        failures: e.counts.failures(),
                    }
                }),
            }
        })
        .collect();
    crate::metrics::Gauges {
        backends,
        sessions: front.sessions.len(),
        relayed: crate::relay::counts(),
        audit: front.router.audit.as_ref().map(|a| a.counts()),
    }
}

async fn metrics(State(front): State<Arc<Front>>) -> Response {
    let body = front.metrics.render();
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_is_json_with_any_parameters() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " application/json ;charset=UTF-8",
        ] {
            assert!(is_json_content_type(ct), "{ct}");
        }
        for ct in [
            "application/js",
            "application/jsonp",
            "application/json-seq",
            "application/json+evil; charset=utf-8",
            "text/plain",
            "",
        ] {
            assert!(!is_json_content_type(ct), "{ct}");
        }
    }
}
