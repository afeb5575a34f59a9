//! Backend MCP clients: one persistent session per (backend, outgoing identity), over
//! Streamable HTTP or the legacy SSE transport, with TLS and outgoing auth.
//!
//! The gateway numbers every request it sends to a backend itself, so ids chosen by many
//! clients can never collide on a shared backend session; the client's own id is restored
//! when the answer goes back.

pub mod auth;
pub mod budget;
pub mod build;
pub mod events;
pub mod exchange;
pub mod modern;
pub mod pool;
pub mod sse;
pub mod streamable;
pub mod tls;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::jsonrpc::{self, Message};
use crate::relay::Downstream;
use auth::Outgoing;

/// MCP protocol version the gateway asks backends for; they may answer with an older one.
pub const BACKEND_PROTOCOL_VERSION: &str = "2025-11-25";
/// Largest single JSON-RPC message accepted from a backend.
pub const MAX_BACKEND_MESSAGE: usize = 64 * 1024 * 1024;

/// What went wrong talking to a backend, classified by whose fault it is.
#[derive(Debug, thiserror::Error, Clone)]
pub enum BackendError {
    /// The request itself was not answered in time (the session was open).
    #[error("backend {0:?} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// No session could be opened in time: the backend did not answer its initialize.
    #[error("backend {0:?} did not open a session within {1:?}")]
    ConnectTimeout(String, Duration),
    #[error("backend {0:?} is unavailable: {1}")]
    Unavailable(String, String),
    /// The backend answered a request with an HTTP error status instead of a JSON-RPC reply.
    #[error("backend {0:?} answered {1} with HTTP {2}")]
    Status(String, String, http::StatusCode),
    #[error("backend {0:?} sent an invalid reply: {1}")]
    Protocol(String, String),
    #[error("backend {0:?} is unavailable (circuit open after repeated failures)")]
    CircuitOpen(String),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// The backend forgot our session (404): reconnect and retry once.
    #[error("backend {0:?} ended the session")]
    SessionExpired(String),
    /// A JSON-RPC error object from the backend: a normal answer, not a health problem.
    #[error("backend returned an error")]
    Remote(Arc<RawValue>),
    /// The gateway's own bound refused the reply (`budget::ReplyRefused::Spent`): says
    /// nothing about the backend.
    #[error("backend {0:?}: reply not read: {1}")]
    Overloaded(String, String),
}

/// Who a request to a backend is for, which decides what its failure says about the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client's own request (`tools/call`, `resources/read`, ...) passed on. Its timing and
    /// its content are the client's: a call that takes longer than the timeout, or arguments
    /// the backend refuses, must not take the backend away from every other client.
    Client,
    /// The gateway's own requests (ping, capability lists, session opening): short, fixed
    /// and the same for everyone, so any failure of theirs is the backend's.
    Gateway,
}

/// What the outcome of one request tells the health state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The backend answered.
    Up,
    /// The backend is failing: counts towards unhealthy and the open circuit.
    Down,
    /// Says nothing about the backend (a client's call timed out or was refused).
    Neutral,
}

impl BackendError {
    /// What this failure of a request made for `origin` says about the backend's health.
    ///
    /// Transport and TLS failures, 5xx (and any other non-2xx that is not a 4xx, redirects
    /// included), malformed replies and sessions that cannot be opened in time are the
    /// backend's, whoever asked. A timeout, a 4xx (413 for oversized arguments, 400, a lost
    /// session after its one retry) or an outgoing-credential failure of a client's request
    /// is that request's: the backend stays as it was, and the gateway's own pings and
    /// lists still catch a backend that refuses or ignores everyone.
    pub fn verdict(&self, origin: Origin) -> Verdict {
        use BackendError as E;
        match self {
            E::Remote(_) => Verdict::Up,
            E::CircuitOpen(_) | E::Overloaded(..) => Verdict::Neutral,
            E::Unavailable(..) | E::Protocol(..) | E::ConnectTimeout(..) => Verdict::Down,
            E::Status(_, _, s) if !s.is_client_error() => Verdict::Down,
            E::Status(..) | E::Timeout(..) | E::SessionExpired(_) | E::Auth(_) => match origin {
                Origin::Client => Verdict::Neutral,
                Origin::Gateway => Verdict::Down,
            },
        }
    }

    /// The failure's class, as a span's `error.type` says it: the JSON-RPC error code of a
    /// remote error, else a fixed word per kind (never the message: it may hold a URL).
    pub fn class(&self) -> String {
        use BackendError as E;
        match self {
            E::Remote(raw) => {
                #[derive(serde::Deserialize)]
                struct Code {
                    code: i64,
                }
                serde_json::from_str::<Code>(raw.get())
                    .map(|c| c.code.to_string())
                    .unwrap_or_else(|_| "remote_error".to_owned())
            }
            E::Timeout(..) => "timeout".to_owned(),
            E::ConnectTimeout(..) => "connect_timeout".to_owned(),
            E::Unavailable(..) => "unavailable".to_owned(),
            E::Status(_, _, s) => format!("http_{}", s.as_u16()),
            E::Protocol(..) => "protocol_error".to_owned(),
            E::CircuitOpen(_) => "circuit_open".to_owned(),
            E::Auth(_) => "outgoing_auth".to_owned(),
            E::SessionExpired(_) => "session_expired".to_owned(),
            E::Overloaded(..) => "overloaded".to_owned(),
        }
    }

    /// Whether the backend refused the request itself with a 4xx (the JSON-RPC error a
    /// client gets differs from an unavailable backend's).
    pub fn is_refusal(&self) -> bool {
        matches!(self, BackendError::Status(_, _, s) if s.is_client_error())
    }
}

/// A message a backend sent outside any request/response pair we are waiting on.
#[derive(Debug)]
pub struct Inbound {
    pub backend: Arc<str>,
    pub method: String,
    pub params: Option<Box<RawValue>>,
}

pub type InboundTx = mpsc::UnboundedSender<Inbound>;
/// Where messages related to one in-flight request (progress, logging) go.
pub type RelatedTx = mpsc::UnboundedSender<Box<RawValue>>;

/// HTTP plumbing shared by the transports of one backend.
pub struct Http {
    pub name: Arc<str>,
    pub client: reqwest::Client,
    pub url: url::Url,
    /// Static headers from metadata, then auth headers on top.
    pub headers: HeaderMap,
    pub auth: Outgoing,
    /// Reply bytes in flight, shared by every backend of the gateway.
    pub replies: Arc<budget::ReplyBudget>,
    /// The era the backend speaks, once its first session found out (see [`modern`]).
    pub era: OnceLock<modern::Era>,
    /// The protocol version of its latest session (`/status`).
    pub revision: std::sync::Mutex<Option<String>>,
}

impl Http {
    /// Headers for one backend session; `credential` is the per-user credential of the call
    /// that opens it (see [`Outgoing::call_header`]).
    pub async fn session_headers(
        &self,
        credential: Option<&HeaderValue>,
    ) -> Result<HeaderMap, BackendError> {
        let mut h = self.headers.clone();
        for (n, v) in self.auth.headers(credential).await? {
            h.insert(n, v);
        }
        Ok(h)
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> BackendError {
        BackendError::Unavailable(self.name.to_string(), e.to_string())
    }

    /// For transport errors: the whole source chain, so "error sending request" comes with
    /// its cause (connection refused, unknown issuer, ...).
    fn send_failed(&self, e: reqwest::Error) -> BackendError {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        BackendError::Unavailable(self.name.to_string(), msg)
    }

    /// A non-2xx answer to `what` (a method, or the stream it was sent on).
    fn status(&self, what: &str, status: http::StatusCode) -> BackendError {
        BackendError::Status(self.name.to_string(), what.to_owned(), status)
    }

    fn protocol(&self, e: impl std::fmt::Display) -> BackendError {
        BackendError::Protocol(self.name.to_string(), e.to_string())
    }

    /// The error for a non-success answer to `what`. A `3xx` is a misbehaving backend, not
    /// an unreachable one: the clients follow no redirect (see [`crate::outbound`]), so the
    /// error names the status and the `Location`, and a warning says so at once.
    fn status_error(&self, what: &str, resp: &reqwest::Response) -> BackendError {
        match crate::outbound::refused_redirect(resp.status(), resp.headers()) {
            Some(refused) => {
                tracing::warn!(backend = %self.name, request = what, "{refused}");
                self.protocol(format!("{what}: {refused}"))
            }
            None => self.status(what, resp.status()),
        }
    }

    /// A reply the gateway's bounds refused: too large is the backend's (an invalid reply), a
    /// spent budget is nobody's (neutral to health).
    fn reply_refused(&self, e: budget::ReplyRefused) -> BackendError {
        crate::limits::refused(e.bound());
        match e {
            budget::ReplyRefused::TooLarge(_) => self.protocol(e),
            budget::ReplyRefused::Spent(_) => {
                BackendError::Overloaded(self.name.to_string(), e.to_string())
            }
        }
    }

    /// Reads a whole body within the per-reply cap and the gateway's reply budget; the
    /// budget stays reserved until the returned buffer is dropped.
    async fn read_body(
        &self,
        mut resp: reqwest::Response,
    ) -> Result<budget::Buffer<'_>, BackendError> {
        let refused = |e| self.reply_refused(e);
        let mut out = self
            .replies
            .buffer(resp.content_length())
            .map_err(refused)?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unavailable(e))? {
            out.extend(&chunk).map_err(refused)?;
        }
        Ok(out)
    }
}

/// Outcome of handing one message from a backend to [`dispatch_incoming`].
enum Handled {
    /// The response to `id`.
    Response(u64, Result<Box<RawValue>, BackendError>),
    /// A server-to-client request (method, backend's id) sent on to the client; answer the
    /// backend under its own id once the client's answer arrives (see [`relay_answer`]).
    Relayed(String, Box<RawValue>, crate::relay::Pending),
    Other,
}

/// Routes one message received from a backend: responses are returned to the caller;
/// progress and log notifications go to the request's reply stream when there is one, then to
/// the session's client; list changes go to the backend-wide inbound channel.
///
/// Server-to-client requests go to the client of a dedicated session (on the request's reply
/// stream if any, else any stream of that client). A shared session has no client to ask: it
/// answers `roots/list` with no roots and declines the rest, so the backend fails the call
/// cleanly instead of waiting.
fn dispatch_incoming(
    c: &Common,
    data: &str,
    related: Option<&RelatedTx>,
) -> Result<(Handled, Option<String>), BackendError> {
    let http = &c.http;
    let msg = jsonrpc::parse(data.as_bytes()).map_err(|e| http.protocol(e))?;
    match msg {
        Message::Response { id, outcome } => {
            let n: u64 = serde_json::from_str(id.get())
                .map_err(|_| http.protocol("response id is not ours"))?;
            let r = match outcome {
                Ok(r) => Ok(r.to_owned()),
                Err(e) => Err(BackendError::Remote(Arc::from(e.to_owned()))),
            };
            Ok((Handled::Response(n, r), None))
        }
        Message::Notification { method, params } => {
            let is_related = matches!(
                method.as_str(),
                "notifications/progress" | "notifications/message"
            );
            if is_related
                && let Some(tx) = related
                && tx.send(jsonrpc::raw(data.to_owned())).is_ok()
            {
                return Ok((Handled::Other, None));
            }
            // A dedicated session's notifications are its client's (log messages at the level
            // it set, progress of its calls, updates of its subscriptions); list changes are
            // everyone's and refresh the view.
            if !method.ends_with("/list_changed")
                && let Some(owner) = c.owner()
            {
                owner.send(&jsonrpc::raw(data.to_owned()), is_related);
                return Ok((Handled::Other, None));
            }
            let _ = c.inbound.send(Inbound {
                backend: http.name.clone(),
                method,
                params: params.map(|p| p.to_owned()),
            });
            Ok((Handled::Other, None))
        }
        Message::Request { id, method, params } => {
            let relayed = crate::relay::RELAYED_METHODS.contains(&method.as_str());
            let reply = match (method.as_str(), c.owner()) {
                ("ping", _) => jsonrpc::response_ok(id, &jsonrpc::empty_object()),
                (m, Some(owner)) if relayed => {
                    let Some(pending) = crate::relay::register() else {
                        crate::relay::count(m, crate::relay::Outcome::OverLimit);
                        tracing::warn!(backend = %http.name, method = m, "too many relayed requests waiting for answers; declining");
                        let reply = jsonrpc::response_error(
                            Some(id),
                            jsonrpc::code::INTERNAL_ERROR,
                            "too many requests waiting for client answers at the vmcp gateway",
                        );
                        return Ok((Handled::Other, Some(reply)));
                    };
                    let req = crate::relay::request(&pending.id, m, params);
                    let sent = related.is_some_and(|tx| tx.send(req.clone()).is_ok())
                        || owner.send(&req, true);
                    if sent {
                        return Ok((Handled::Relayed(m.to_owned(), id.to_owned(), pending), None));
                    }
                    crate::relay::count(m, crate::relay::Outcome::NoStream);
                    jsonrpc::response_error(
                        Some(id),
                        jsonrpc::code::INTERNAL_ERROR,
                        &format!("the client has no open stream to receive {m} (vmcp gateway)"),
                    )
                }
                ("roots/list", None) => {
                    crate::relay::count("roots/list", crate::relay::Outcome::SharedSession);
                    jsonrpc::response_ok(id, &jsonrpc::raw(r#"{"roots":[]}"#.to_owned()))
                }
                (m, None) if relayed => {
                    crate::relay::count(m, crate::relay::Outcome::SharedSession);
                    jsonrpc::response_error(
                        Some(id),
                        jsonrpc::code::METHOD_NOT_FOUND,
                        &format!(
                            "{m}: the calling client did not declare this capability to the vmcp gateway"
                        ),
                    )
                }
                _ => jsonrpc::response_error(
                    Some(id),
                    jsonrpc::code::METHOD_NOT_FOUND,
                    "not supported by the vmcp gateway",
                ),
            };
            Ok((Handled::Other, Some(reply)))
        }
    }
}

/// A POST of one message to the session (the backend URL, or a legacy SSE stream's endpoint).
fn session_post(c: &Common) -> Option<reqwest::RequestBuilder> {
    let url = c.post_url.get()?;
    Some(
        c.http
            .client
            .post(url.clone())
            .headers(c.post_headers.clone()),
    )
}

/// Posts an answer to a server-to-client request, bounded; best effort, never awaited by a
/// caller.
async fn post_answer(req: reqwest::RequestBuilder, reply: String) {
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), req.body(reply).send()).await;
}

/// Sends the gateway's own answer to a server-to-client request.
fn answer(c: &Common, reply: String) {
    let Some(req) = session_post(c) else { return };
    tokio::spawn(post_answer(req, reply));
}

/// Waits for the client's answer to a relayed request and posts it to the backend under the
/// backend's own id; no answer in time becomes an error answer, so the backend never hangs.
fn relay_answer(
    c: &Common,
    method: String,
    backend_id: Box<RawValue>,
    pending: crate::relay::Pending,
) {
    use crate::relay::{Outcome, count};
    let Some(req) = session_post(c) else { return };
    tokio::spawn(async move {
        let answer = pending.answer(crate::relay::ANSWER_TIMEOUT).await;
        let outcome = match &answer {
            Some(Ok(_)) => Outcome::Answered,
            Some(Err(_)) => Outcome::ClientError,
            None => Outcome::Unanswered,
        };
        count(&method, outcome);
        let reply = match answer {
            Some(Ok(result)) => jsonrpc::response_ok(&backend_id, &result),
            Some(Err(error)) => jsonrpc::response_raw_error(&backend_id, &error),
            None => jsonrpc::response_error(
                Some(&backend_id),
                jsonrpc::code::INTERNAL_ERROR,
                "the client did not answer through the vmcp gateway",
            ),
        };
        post_answer(req, reply).await;
    });
}

/// A response from a backend: the id the gateway gave the request, and its outcome.
type Reply = (u64, Result<Box<RawValue>, BackendError>);

/// Acts on one message from a stream — a call's SSE reply (with that call's `related` sink),
/// the GET stream or a legacy SSE stream: answers or relays server-to-client requests, and
/// returns a response for a caller.
fn handle_incoming(
    c: &Common,
    data: &str,
    related: Option<&RelatedTx>,
) -> Result<Option<Reply>, BackendError> {
    match dispatch_incoming(c, data, related)? {
        (Handled::Response(n, r), _) => Ok(Some((n, r))),
        (Handled::Relayed(method, backend_id, pending), _) => {
            relay_answer(c, method, backend_id, pending);
            Ok(None)
        }
        (_, Some(reply)) => {
            answer(c, reply);
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// An established backend session.
pub enum Connection {
    Streamable(streamable::Session),
    Sse(sse::Session),
}

impl Connection {
    /// One request, with what the call adds to the session's headers ([`PerCall`]).
    pub async fn call(
        &self,
        method: &str,
        params: Option<&RawValue>,
        related: Option<&RelatedTx>,
        call: PerCall<'_>,
    ) -> Result<Box<RawValue>, BackendError> {
        match self {
            Connection::Streamable(s) => s.call(method, params, related, call).await,
            Connection::Sse(s) => s.call(method, params, call).await,
        }
    }

    /// Sends a notification on the session (e.g. the client's `roots/list_changed`).
    pub async fn notify(
        &self,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<(), BackendError> {
        match self {
            Connection::Streamable(s) => streamable::notify(&s.common, method, params).await,
            Connection::Sse(s) => s.post(&jsonrpc::notification(method, params)).await,
        }
    }

    pub fn is_closed(&self) -> bool {
        match self {
            Connection::Streamable(s) => s.common.closed.load(Ordering::Relaxed),
            Connection::Sse(s) => s.closed(),
        }
    }

    pub fn close(&self) {
        match self {
            Connection::Streamable(s) => s.close(),
            Connection::Sse(s) => s.close(),
        }
    }

    /// The `capabilities` object of the backend's initialize result.
    pub fn capabilities(&self) -> &serde_json::Value {
        match self {
            Connection::Streamable(s) => &s.capabilities,
            Connection::Sse(s) => &s.capabilities,
        }
    }
}

/// What one call adds to its session's headers: the caller's own credential on a per-user
/// backend (it replaces the one the session was opened with: exchanged tokens expire long
/// before sessions do), and the client headers `passthroughHeaders` lets through. Forwarded
/// headers never replace one the session sets (auth, static headers, session id): what the
/// gateway decided to send is what is sent.
#[derive(Clone, Copy, Default)]
pub struct PerCall<'a> {
    pub credential: Option<&'a HeaderValue>,
    pub forwarded: Option<&'a HeaderMap>,
    /// W3C trace context naming the gateway's client span (`telemetry::trace_headers`);
    /// it replaces a forwarded one, which named the client's.
    pub trace: Option<&'a HeaderMap>,
}

impl PerCall<'_> {
    fn apply(&self, h: &mut HeaderMap) {
        if let Some(f) = self.forwarded {
            for name in f.keys() {
                if !h.contains_key(name) {
                    for v in f.get_all(name) {
                        h.append(name.clone(), v.clone());
                    }
                }
            }
        }
        if let Some(t) = self.trace {
            for (name, v) in t {
                h.insert(name.clone(), v.clone());
            }
        }
        if let Some(c) = self.credential {
            h.insert(header::AUTHORIZATION, c.clone());
        }
    }
}

/// State every transport session keeps.
pub struct Common {
    pub http: Arc<Http>,
    pub headers: HeaderMap,
    /// `headers` plus Accept and Content-Type, the full header set of a POST, kept so a
    /// request costs one map clone instead of a clone and a merge.
    post_headers: HeaderMap,
    pub next_id: AtomicU64,
    pub closed: AtomicBool,
    pub inbound: InboundTx,
    /// Where messages to the backend's session are POSTed: the backend URL, or the endpoint a
    /// legacy SSE stream named.
    post_url: OnceLock<url::Url>,
    /// The client of a dedicated session; `None` for a shared one. Weak: the client session
    /// ends the backend sessions, not the other way round.
    owner: Option<Weak<dyn Downstream>>,
    /// A 2026-07-28 backend: no session; every request carries the era's headers and
    /// envelope (see [`modern`]).
    modern: bool,
}

impl Common {
    fn new(
        http: Arc<Http>,
        headers: HeaderMap,
        inbound: InboundTx,
        owner: Option<&Arc<dyn Downstream>>,
    ) -> Self {
        let mut post_headers = headers.clone();
        post_headers.append(header::ACCEPT, ACCEPT_BOTH);
        post_headers.append(header::CONTENT_TYPE, JSON);
        Common {
            http,
            headers,
            post_headers,
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            inbound,
            post_url: OnceLock::new(),
            owner: owner.map(Arc::downgrade),
            modern: false,
        }
    }

    /// The client of a dedicated session, while it is connected.
    fn owner(&self) -> Option<Arc<dyn Downstream>> {
        self.owner.as_ref().and_then(Weak::upgrade)
    }

    /// The capabilities to declare in initialize: the client's own for a dedicated session,
    /// everything the gateway relays for a shared one.
    fn declared_capabilities(&self) -> String {
        match &self.owner {
            Some(w) => w
                .upgrade()
                .map_or_else(|| "{}".to_owned(), |o| o.capabilities().to_owned()),
            None => crate::relay::SHARED_CAPABILITIES.to_owned(),
        }
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sets a session header (session id, protocol version) for every later request.
    fn set_header(&mut self, name: &'static str, value: HeaderValue) {
        self.headers.insert(name, value.clone());
        self.post_headers.insert(name, value);
    }

    /// A JSON POST to the backend URL with the session's headers, Accept and Content-Type,
    /// and what the call adds.
    fn post_request(&self, body: String, call: PerCall<'_>) -> reqwest::Request {
        let mut req = reqwest::Request::new(http::Method::POST, self.http.url.clone());
        *req.headers_mut() = self.post_headers.clone();
        call.apply(req.headers_mut());
        *req.body_mut() = Some(body.into());
        req
    }
}

/// Params of the initialize request the gateway sends, declaring `caps` (see
/// [`Common::declared_capabilities`]).
fn initialize_params(caps: &str) -> Box<RawValue> {
    jsonrpc::raw(format!(
        r#"{{"protocolVersion":"{BACKEND_PROTOCOL_VERSION}","capabilities":{caps},"clientInfo":{{"name":"vmcp-gateway","version":"{}"}}}}"#,
        env!("CARGO_PKG_VERSION")
    ))
}

/// Reads what the gateway needs from an initialize result.
fn read_initialize(
    http: &Http,
    result: &RawValue,
) -> Result<(String, serde_json::Value), BackendError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Init {
        protocol_version: String,
        #[serde(default)]
        capabilities: serde_json::Value,
    }
    let init: Init = serde_json::from_str(result.get())
        .map_err(|e| http.protocol(format!("initialize result: {e}")))?;
    Ok((init.protocol_version, init.capabilities))
}

fn content_type_is(headers: &HeaderMap, want: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // `want` is lowercase; compare without lowercasing a copy of the header.
            v.trim_start()
                .as_bytes()
                .get(..want.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(want.as_bytes()))
        })
}

const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const ACCEPT_SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Sends `notifications/cancelled` for a request whose caller went away (client cancel,
/// disconnect or timeout), so the backend can stop working on it.
struct CancelOnDrop<F: Fn(u64) + Send> {
    id: u64,
    done: bool,
    cancel: F,
}

impl<F: Fn(u64) + Send> Drop for CancelOnDrop<F> {
    fn drop(&mut self) {
        if !self.done {
            (self.cancel)(self.id);
        }
    }
}

fn cancelled_params(id: u64) -> Box<RawValue> {
    jsonrpc::raw(format!(
        r#"{{"requestId":{id},"reason":"cancelled by the vmcp gateway"}}"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn status(code: u16) -> BackendError {
        BackendError::Status(
            "b".into(),
            "tools/call".into(),
            StatusCode::from_u16(code).unwrap(),
        )
    }

    #[test]
    fn what_a_client_call_says_about_its_backend() {
        use Verdict::*;
        let d = Duration::from_secs(1);
        let cases = [
            // The backend answered: alive, whatever it answered.
            (
                BackendError::Remote(Arc::from(jsonrpc::raw("{}".into()))),
                Up,
            ),
            // The client's own call: its duration and its content are the client's.
            (BackendError::Timeout("b".into(), d), Neutral),
            (status(413), Neutral),
            (status(400), Neutral),
            (status(404), Neutral),
            (status(401), Neutral),
            (BackendError::SessionExpired("b".into()), Neutral),
            (
                BackendError::Auth(auth::AuthError::Config {
                    backend: "b".into(),
                    what: "token exchange failed".into(),
                }),
                Neutral,
            ),
            (BackendError::CircuitOpen("b".into()), Neutral),
            // The backend's: transport, TLS, server errors, redirects, malformed replies,
            // a session it does not open in time.
            (
                BackendError::Unavailable("b".into(), "connection refused".into()),
                Down,
            ),
            (
                BackendError::Unavailable("b".into(), "invalid peer certificate".into()),
                Down,
            ),
            (status(500), Down),
            (status(503), Down),
            (status(302), Down),
            (BackendError::Protocol("b".into(), "not JSON".into()), Down),
            (BackendError::ConnectTimeout("b".into(), d), Down),
        ];
        for (e, want) in cases {
            assert_eq!(e.verdict(Origin::Client), want, "{e}");
        }
    }

    #[test]
    fn every_failure_of_the_gateways_own_requests_is_the_backends() {
        let d = Duration::from_secs(1);
        for e in [
            BackendError::Timeout("b".into(), d),
            BackendError::ConnectTimeout("b".into(), d),
            status(404),
            status(413),
            status(500),
            BackendError::SessionExpired("b".into()),
            BackendError::Unavailable("b".into(), "connection reset".into()),
            BackendError::Protocol("b".into(), "not JSON".into()),
        ] {
            assert_eq!(e.verdict(Origin::Gateway), Verdict::Down, "{e}");
        }
        let answered = BackendError::Remote(Arc::from(jsonrpc::raw("{}".into())));
        assert_eq!(answered.verdict(Origin::Gateway), Verdict::Up);
    }

    #[test]
    fn refusals_and_open_circuits_read_as_such() {
        assert!(status(413).is_refusal());
        assert!(!status(502).is_refusal());
        assert!(!BackendError::Unavailable("b".into(), "x".into()).is_refusal());
        assert_eq!(
            status(413).to_string(),
            r#"backend "b" answered tools/call with HTTP 413 Payload Too Large"#
        );
        assert_eq!(
            BackendError::CircuitOpen("b".into()).to_string(),
            r#"backend "b" is unavailable (circuit open after repeated failures)"#
        );
    }
}
