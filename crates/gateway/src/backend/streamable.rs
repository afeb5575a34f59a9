//! Streamable HTTP backend client (MCP 2025-03-26 and later).
//!
//! Each request is a POST; the answer is either one JSON message or an SSE stream that may
//! carry progress and log notifications before the response. After initialize a GET stream is
//! opened in the background for server-initiated notifications (list_changed); a backend that
//! does not offer one (405) is fine.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{HeaderValue, StatusCode, header};
use serde_json::value::RawValue;
use tokio::task::AbortHandle;

use super::events::Decoder;
use super::modern::{self, Era};
use super::{
    ACCEPT_BOTH, ACCEPT_SSE, BackendError, CancelOnDrop, Common, Handled, Http, InboundTx, JSON,
    PerCall, RelatedTx, cancelled_params, content_type_is, dispatch_incoming, handle_incoming,
    initialize_params, read_initialize,
};
use crate::jsonrpc;
use crate::relay::Downstream;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

pub struct Session {
    pub common: Arc<Common>,
    listener: Option<AbortHandle>,
    pub capabilities: serde_json::Value,
}

impl Session {
    /// Performs the initialize handshake and starts the notification stream. With `owner`,
    /// the session is that client's own (see `relay`).
    pub async fn connect(
        http: Arc<Http>,
        credential: Option<&HeaderValue>,
        inbound: InboundTx,
        owner: Option<&Arc<dyn Downstream>>,
    ) -> Result<Session, BackendError> {
        let headers = http.session_headers(credential).await?;
        if http.era.get() != Some(&Era::Legacy) {
            match connect_modern(&http, headers.clone(), inbound.clone(), owner).await {
                Ok(Some(s)) => return Ok(s),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        let mut common = Common::new(http.clone(), headers, inbound, owner);
        let _ = common.post_url.set(http.url.clone());
        let params = initialize_params(&common.declared_capabilities());
        let (result, session_id) = post(
            &common,
            "initialize",
            Some(&params),
            None,
            PerCall::default(),
            true,
        )
        .await?;
        let (version, capabilities) = read_initialize(&http, &result)?;
        *http.revision.lock().unwrap_or_else(|p| p.into_inner()) = Some(version.clone());
        if let Some(sid) = session_id {
            common.set_header(SESSION_HEADER, sid);
        }
        if let Ok(v) = HeaderValue::from_str(&version) {
            common.set_header(VERSION_HEADER, v);
        }
        let common = Arc::new(common);
        notify(&common, "notifications/initialized", None).await?;
        let listener = common.headers.contains_key(SESSION_HEADER).then(|| {
            let c = common.clone();
            tokio::spawn(async move { listen(c).await }).abort_handle()
        });
        Ok(Session {
            common,
            listener,
            capabilities,
        })
    }

    pub async fn call(
        &self,
        method: &str,
        params: Option<&RawValue>,
        related: Option<&RelatedTx>,
        call: PerCall<'_>,
    ) -> Result<Box<RawValue>, BackendError> {
        let r = post(&self.common, method, params, related, call, false)
            .await
            .map(|(r, _)| r);
        if matches!(r, Err(BackendError::SessionExpired(_))) {
            self.close();
        }
        match (r, self.common.owner()) {
            // A modern backend asks a 2025 client (its dedicated session) for input.
            (Ok(result), Some(owner)) if self.common.modern => {
                self.answer_rounds(owner, method, params, related, call, result)
                    .await
            }
            (r, _) => r,
        }
    }

    /// Turns a modern backend's `input_required` rounds into real requests to the client of
    /// a dedicated session (relayed as any server-to-client request is), and retries with
    /// its answers until the backend completes; at most [`modern::MAX_INPUT_ROUNDS`].
    async fn answer_rounds(
        &self,
        owner: Arc<dyn Downstream>,
        method: &str,
        params: Option<&RawValue>,
        related: Option<&RelatedTx>,
        call: PerCall<'_>,
        mut result: Box<RawValue>,
    ) -> Result<Box<RawValue>, BackendError> {
        let http = &self.common.http;
        for _ in 0..modern::MAX_INPUT_ROUNDS {
            let Some(ir) = modern::input_required(&result) else {
                return Ok(result);
            };
            let mut responses = serde_json::Map::new();
            for (key, m, p) in ir.requests {
                let answer = ask(&owner, related, &m, p.as_deref())
                    .await
                    .map_err(|e| http.protocol(format!("{method}: {m} for the client: {e}")))?;
                let v = serde_json::from_str(answer.get()).unwrap_or(serde_json::Value::Null);
                responses.insert(key, v);
            }
            let retry = modern::retry_params(params, &responses, ir.state.as_deref());
            result = post(&self.common, method, Some(&retry), related, call, false)
                .await
                .map(|(r, _)| r)?;
        }
        Err(http.protocol(format!(
            "{method}: still input_required after {} rounds",
            modern::MAX_INPUT_ROUNDS
        )))
    }

    pub fn close(&self) {
        if self.common.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(l) = &self.listener {
            l.abort();
        }
        // Tell the backend it can drop the session; best effort, never awaited by a caller.
        if self.common.headers.contains_key(SESSION_HEADER) {
            let c = self.common.clone();
            tokio::spawn(async move {
                let req = c
                    .http
                    .client
                    .delete(c.http.url.clone())
                    .headers(c.headers.clone());
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), req.send()).await;
            });
        }
    }
}

/// The modern session of a backend whose era is modern or not known yet: `server/discover`
/// decides (see [`super::modern`]). `Ok(None)` when the backend turned out legacy, which is
/// remembered; an unreachable backend decides nothing. A backend known to be modern is never
/// tried with the handshake.
async fn connect_modern(
    http: &Arc<Http>,
    headers: http::HeaderMap,
    inbound: InboundTx,
    owner: Option<&Arc<dyn Downstream>>,
) -> Result<Option<Session>, BackendError> {
    let mut common = Common::new(http.clone(), headers, inbound, owner);
    common.modern = true;
    let _ = common.post_url.set(http.url.clone());
    common.set_header(VERSION_HEADER, HeaderValue::from_static(modern::VERSION));
    let known = http.era.get() == Some(&Era::Modern);
    let probe = post(
        &common,
        "server/discover",
        None,
        None,
        PerCall::default(),
        false,
    )
    .await;
    let capabilities =
        match probe {
            Ok((result, _)) => modern::read_discover(&result),
            // A 2025 server answers a request without a session with an error of some kind,
            // or with something that is no JSON-RPC answer at all.
            Err(
                BackendError::Remote(_) | BackendError::Status(..) | BackendError::Protocol(..),
            ) if !known => None,
            Err(e) => return Err(e),
        };
    let Some(capabilities) = capabilities else {
        if known {
            return Err(http.protocol(
                "server/discover no longer offers 2026-07-28 (the backend was modern before)",
            ));
        }
        let _ = http.era.set(Era::Legacy);
        tracing::debug!(backend = %http.name, "backend speaks the 2025 handshake");
        return Ok(None);
    };
    if http.era.set(Era::Modern).is_ok() {
        tracing::info!(backend = %http.name, "backend speaks MCP 2026-07-28: stateless requests");
    }
    *http.revision.lock().unwrap_or_else(|p| p.into_inner()) = Some(modern::VERSION.to_owned());
    let common = Arc::new(common);
    let listener = modern::listen_filter(&capabilities).map(|f| {
        let c = common.clone();
        tokio::spawn(async move { modern::listen(c, f).await }).abort_handle()
    });
    Ok(Some(Session {
        common,
        listener,
        capabilities,
    }))
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

/// Sends a notification and expects 202 (or any 2xx).
pub(super) async fn notify(
    c: &Common,
    method: &str,
    params: Option<&RawValue>,
) -> Result<(), BackendError> {
    if c.modern {
        // 2026-07-28 has no client notifications over HTTP.
        return Ok(());
    }
    let body = jsonrpc::notification(method, params);
    let resp = c
        .http
        .client
        .execute(c.post_request(body, PerCall::default()))
        .await
        .map_err(|e| c.http.send_failed(e))?;
    if resp.status() == StatusCode::NOT_FOUND && c.headers.contains_key(SESSION_HEADER) {
        return Err(BackendError::SessionExpired(c.http.name.to_string()));
    }
    if !resp.status().is_success() {
        return Err(c.http.status_error(method, &resp));
    }
    Ok(())
}

/// Sends one request and waits for its response on the POST's reply.
async fn post(
    c: &Common,
    method: &str,
    params: Option<&RawValue>,
    related: Option<&RelatedTx>,
    call: PerCall<'_>,
    want_session: bool,
) -> Result<(Box<RawValue>, Option<HeaderValue>), BackendError> {
    let id = c.next_id();
    let enveloped = c.modern.then(|| {
        let caps = match c.owner.is_some() {
            true => std::borrow::Cow::Owned(c.declared_capabilities()),
            false => std::borrow::Cow::Borrowed("{}"),
        };
        modern::with_envelope(params, &caps)
    });
    let params = enveloped.as_deref().or(params);
    let body = jsonrpc::request(id, method, params);
    let http = &c.http;
    // If the caller gives up (timeout, client cancel), tell the backend.
    let mut guard = CancelOnDrop {
        id,
        done: false,
        cancel: |id| {
            // Closing the request's stream is the cancel in 2026-07-28.
            if c.closed.load(Ordering::Relaxed) || c.modern {
                return;
            }
            let req = http
                .client
                .post(http.url.clone())
                .headers(c.headers.clone())
                .header(header::ACCEPT, ACCEPT_BOTH)
                .header(header::CONTENT_TYPE, JSON)
                .body(jsonrpc::notification(
                    "notifications/cancelled",
                    Some(&cancelled_params(id)),
                ));
            tokio::spawn(async move {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), req.send()).await;
            });
        },
    };
    let mut req = c.post_request(body, call);
    if c.modern {
        modern::request_headers(
            req.headers_mut(),
            method,
            params.unwrap_or(&jsonrpc::empty_object()),
        );
    }
    let resp = http
        .client
        .execute(req)
        .await
        .map_err(|e| http.send_failed(e))?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND && c.headers.contains_key(SESSION_HEADER) {
        guard.done = true;
        return Err(BackendError::SessionExpired(http.name.to_string()));
    }
    if !status.is_success() {
        guard.done = true;
        // 2026-07-28 sends JSON-RPC errors with 4xx statuses: an answer, not a failure.
        if c.modern
            && status.is_client_error()
            && content_type_is(resp.headers(), "application/json")
        {
            let what = http.status_error(method, &resp);
            let bytes = http.read_body(resp).await?;
            let text = std::str::from_utf8(&bytes).map_err(|_| what.clone())?;
            return match dispatch_incoming(c, text, None) {
                Ok((Handled::Response(n, Err(e @ BackendError::Remote(_))), _)) if n == id => {
                    Err(e)
                }
                _ => Err(what),
            };
        }
        if method == "initialize"
            && status.is_client_error()
            && content_type_is(resp.headers(), "application/json")
        {
            // Say why (an unsupported version, a 2026-only server), not just the status.
            let bytes = http.read_body(resp).await?;
            return Err(http.protocol(format!(
                "initialize: HTTP {}: {}",
                status.as_u16(),
                error_message(&bytes)
            )));
        }
        return Err(http.status_error(method, &resp));
    }
    let session = if want_session {
        resp.headers().get(SESSION_HEADER).cloned()
    } else {
        None
    };
    let result = if content_type_is(resp.headers(), "text/event-stream") {
        read_stream(c, id, resp, related).await
    } else if content_type_is(resp.headers(), "application/json") {
        let bytes = http.read_body(resp).await?;
        let text = std::str::from_utf8(&bytes).map_err(|_| http.protocol("reply is not UTF-8"))?;
        match dispatch_incoming(c, text, related)? {
            (Handled::Response(n, r), _) if n == id => r,
            _ => Err(http.protocol("reply is not the response to the request")),
        }
    } else {
        Err(http.protocol(format!("{method}: unexpected content type")))
    };
    guard.done = true;
    result.map(|r| (r, session))
}

/// Sends one request of a backend to the client of a dedicated session and waits for its
/// answer (the relay's wait); the client's result, or why there is none.
async fn ask(
    owner: &Arc<dyn Downstream>,
    related: Option<&RelatedTx>,
    method: &str,
    params: Option<&RawValue>,
) -> Result<Box<RawValue>, String> {
    if !crate::relay::RELAYED_METHODS.contains(&method) {
        return Err("not a request the gateway relays".into());
    }
    let pending = crate::relay::register().ok_or("too many requests wait for client answers")?;
    let req = crate::relay::request(&pending.id, method, params);
    let sent = related.is_some_and(|tx| tx.send(req.clone()).is_ok()) || owner.send(&req, true);
    if !sent {
        crate::relay::count(method, crate::relay::Outcome::NoStream);
        return Err("the client has no open stream".into());
    }
    match pending.answer(crate::relay::ANSWER_TIMEOUT).await {
        Some(Ok(r)) => {
            crate::relay::count(method, crate::relay::Outcome::Answered);
            Ok(r)
        }
        Some(Err(e)) => {
            crate::relay::count(method, crate::relay::Outcome::ClientError);
            Err(format!("the client answered with an error: {}", e.get()))
        }
        None => {
            crate::relay::count(method, crate::relay::Outcome::Unanswered);
            Err("no answer from the client".into())
        }
    }
}

/// The `error.message` (and `error.data`) of a JSON-RPC error body, bounded and printable:
/// it is the backend's text and goes to `/status` and the log.
fn error_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let e = &v["error"];
    let mut s = match (e["code"].as_i64(), e["message"].as_str()) {
        (Some(code), Some(m)) => format!("{m} ({code})"),
        _ => "no JSON-RPC error in the answer".to_owned(),
    };
    if let Some(d) = e.get("data").filter(|d| !d.is_null()) {
        s.push_str(&format!("; data: {d}"));
    }
    let s: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    s
}

/// Reads an SSE reply until the response with `id` arrives.
async fn read_stream(
    c: &Common,
    id: u64,
    mut resp: reqwest::Response,
    related: Option<&RelatedTx>,
) -> Result<Box<RawValue>, BackendError> {
    let http = &c.http;
    let mut dec = Decoder::new(super::MAX_BACKEND_MESSAGE);
    // The decoder buffers the reply's event until it is complete; that memory is budgeted
    // like a JSON reply's, so concurrent large SSE replies cannot outgrow the budget either.
    let mut held = http.replies.reservation();
    while let Some(chunk) = resp.chunk().await.map_err(|e| http.unavailable(e))? {
        held.cover(dec.buffered() + chunk.len())
            .map_err(|e| http.reply_refused(e))?;
        for ev in dec.push(&chunk).map_err(|e| http.protocol(e))? {
            if !(ev.event.is_empty() || ev.event == "message") || ev.data.is_empty() {
                continue;
            }
            if let Some((n, r)) = handle_incoming(c, &ev.data, related)?
                && n == id
            {
                return r;
            }
        }
    }
    Err(http.protocol("stream ended before the response"))
}

/// The standalone GET stream: server-initiated notifications for the whole session.
async fn listen(c: Arc<Common>) {
    follow(&c, "GET stream", |c| {
        c.http
            .client
            .get(c.http.url.clone())
            .headers(c.headers.clone())
            .header(header::ACCEPT, ACCEPT_SSE)
    })
    .await
}

/// Keeps a long-lived SSE stream of the backend open (the 2025 GET stream, a 2026
/// `subscriptions/listen`) and hands what arrives to [`handle_incoming`]; `open` makes the
/// request. Reopened after a drop, until five tries in a row fail; a backend that answers
/// with anything but a stream offers none, and is left alone.
pub(super) async fn follow(
    c: &Arc<Common>,
    what: &str,
    open: impl Fn(&Common) -> reqwest::RequestBuilder,
) {
    let mut failures = 0u32;
    while !c.closed.load(Ordering::Relaxed) && failures < 5 {
        let Ok(mut resp) = open(c).send().await else {
            failures += 1;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        };
        if let Some(refused) = crate::outbound::refused_redirect(resp.status(), resp.headers()) {
            // Not followed. Only said here: calls on the session report their own answers.
            tracing::warn!(backend = %c.http.name, request = what, "{refused}");
            return;
        }
        if !resp.status().is_success() || !content_type_is(resp.headers(), "text/event-stream") {
            // 405: the backend offers no stream. Nothing to listen to.
            tracing::debug!(backend = %c.http.name, request = what, status = %resp.status(), "backend offers no notification stream");
            return;
        }
        let mut dec = Decoder::new(super::MAX_BACKEND_MESSAGE);
        // Held to the reply budget like the replies to calls; an event it cannot cover ends
        // this stream (notifications are lost, calls are not) and it is opened again.
        let mut held = c.http.replies.reservation();
        while let Ok(Some(chunk)) = resp.chunk().await {
            if let Err(e) = held.cover(dec.buffered() + chunk.len()) {
                crate::limits::refused(e.bound());
                tracing::warn!(backend = %c.http.name, error = %e, request = what, "event on a notification stream refused");
                break;
            }
            let Ok(evs) = dec.push(&chunk) else { break };
            for ev in evs {
                if ev.data.is_empty() {
                    continue;
                }
                let _ = handle_incoming(c, &ev.data, None);
            }
            held.shrink_to(dec.buffered());
            failures = 0;
        }
        failures += 1;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
