//! Legacy HTTP+SSE backend client (MCP 2024-11-05): a long-lived GET stream whose first event
//! names the endpoint to POST requests to; every response arrives on the stream.
//!
//! Responses are matched to waiting callers by the gateway-chosen id. When the stream ends the
//! session is closed and every waiting caller fails at once instead of waiting for its timeout.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use http::{HeaderValue, StatusCode, header};
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::events::Decoder;
use super::{
    ACCEPT_SSE, BackendError, CancelOnDrop, Common, Http, InboundTx, JSON, PerCall,
    cancelled_params, content_type_is, handle_incoming, initialize_params, read_initialize,
};
use crate::jsonrpc;
use crate::relay::Downstream;

type Waiter = oneshot::Sender<Result<Box<RawValue>, BackendError>>;

struct Shared {
    pending: Mutex<HashMap<u64, Waiter>>,
}

pub struct Session {
    pub common: Arc<Common>,
    endpoint: url::Url,
    shared: Arc<Shared>,
    reader: AbortHandle,
    pub capabilities: serde_json::Value,
}

impl Session {
    /// Opens the stream and initializes. With `owner`, the session is that client's own (see
    /// `relay`): every server-to-client request on the stream is that client's.
    pub async fn connect(
        http: Arc<Http>,
        credential: Option<&HeaderValue>,
        inbound: InboundTx,
        owner: Option<&Arc<dyn Downstream>>,
    ) -> Result<Session, BackendError> {
        let headers = http.session_headers(credential).await?;
        let resp = http
            .client
            .get(http.url.clone())
            .headers(headers.clone())
            .header(header::ACCEPT, ACCEPT_SSE)
            .send()
            .await
            .map_err(|e| http.send_failed(e))?;
        if !resp.status().is_success() {
            return Err(http.status_error("the GET stream", &resp));
        }
        if !content_type_is(resp.headers(), "text/event-stream") {
            return Err(http.protocol("GET stream is not text/event-stream"));
        }
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
        });
        let common = Arc::new(Common::new(http.clone(), headers, inbound, owner));
        let (endpoint_tx, endpoint_rx) = oneshot::channel();
        let reader = tokio::spawn(read_loop(common.clone(), shared.clone(), resp, endpoint_tx))
            .abort_handle();
        let raw_endpoint = match endpoint_rx.await {
            Ok(e) => e,
            Err(_) => {
                reader.abort();
                return Err(http.protocol("stream ended before the endpoint event"));
            }
        };
        // The endpoint receives every request with the session's headers (secrets included),
        // so it must be where the checked URL is: same scheme, host and port. Anything else
        // would be a redirect by other means.
        let endpoint = match http.url.join(&raw_endpoint) {
            Ok(u) if u.origin() == http.url.origin() => u,
            Ok(u) => {
                reader.abort();
                let what = format!(
                    "endpoint event names {:?}, outside the backend's origin {}; refused",
                    crate::outbound::shown_url(u.as_str()),
                    http.url.origin().ascii_serialization()
                );
                tracing::warn!(backend = %http.name, "{what}");
                return Err(http.protocol(what));
            }
            Err(e) => {
                reader.abort();
                return Err(http.protocol(format!(
                    "endpoint event {:?}: {e}",
                    crate::outbound::shown_url(&raw_endpoint)
                )));
            }
        };
        let _ = common.post_url.set(endpoint.clone());
        let mut session = Session {
            common,
            endpoint,
            shared,
            reader,
            capabilities: serde_json::Value::Null,
        };
        let params = initialize_params(&session.common.declared_capabilities());
        let result = session
            .call("initialize", Some(&params), PerCall::default())
            .await?;
        let (_version, caps) = read_initialize(&http, &result)?;
        session.capabilities = caps;
        session
            .post(&jsonrpc::notification("notifications/initialized", None))
            .await?;
        Ok(session)
    }

    pub async fn call(
        &self,
        method: &str,
        params: Option<&RawValue>,
        call: PerCall<'_>,
    ) -> Result<Box<RawValue>, BackendError> {
        let c = &self.common;
        let id = c.next_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared).insert(id, tx);
        let shared = self.shared.clone();
        let mut guard = CancelOnDrop {
            id,
            done: false,
            cancel: |id| {
                lock(&shared).remove(&id);
                let req = self.post_request(
                    jsonrpc::notification("notifications/cancelled", Some(&cancelled_params(id))),
                    call,
                );
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(std::time::Duration::from_secs(5), req.send()).await;
                });
            },
        };
        if let Err(e) = self
            .post_with(&jsonrpc::request(id, method, params), call)
            .await
        {
            guard.done = true;
            lock(&self.shared).remove(&id);
            return Err(e);
        }
        let r = rx
            .await
            .unwrap_or_else(|_| Err(c.http.unavailable("stream closed")));
        guard.done = true;
        r
    }

    fn post_request(&self, body: String, call: PerCall<'_>) -> reqwest::RequestBuilder {
        let mut headers = self.common.headers.clone();
        call.apply(&mut headers);
        self.common
            .http
            .client
            .post(self.endpoint.clone())
            .headers(headers)
            .header(header::CONTENT_TYPE, JSON)
            .body(body)
    }

    pub(super) async fn post(&self, body: &str) -> Result<(), BackendError> {
        self.post_with(body, PerCall::default()).await
    }

    /// POSTs one message with what the call adds to the session's headers.
    async fn post_with(&self, body: &str, call: PerCall<'_>) -> Result<(), BackendError> {
        let http = &self.common.http;
        let resp = self
            .post_request(body.to_owned(), call)
            .send()
            .await
            .map_err(|e| http.send_failed(e))?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            self.close();
            return Err(BackendError::SessionExpired(http.name.to_string()));
        }
        if !status.is_success() {
            return Err(http.status_error("a POST", &resp));
        }
        Ok(())
    }

    pub fn close(&self) {
        self.common.closed.store(true, Ordering::Relaxed);
        self.reader.abort();
        fail_all(&self.shared, &self.common.http);
    }

    /// Whether the session is unusable (closed by us or the stream ended).
    pub fn closed(&self) -> bool {
        self.common.closed.load(Ordering::Relaxed)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
    s.pending.lock().unwrap_or_else(|p| p.into_inner())
}

fn fail_all(shared: &Shared, http: &Http) {
    for (_, w) in lock(shared).drain() {
        let _ = w.send(Err(http.unavailable("stream closed")));
    }
}

async fn read_loop(
    c: Arc<Common>,
    shared: Arc<Shared>,
    mut resp: reqwest::Response,
    endpoint: oneshot::Sender<String>,
) {
    let http = &c.http;
    let mut endpoint = Some(endpoint);
    let mut dec = Decoder::new(super::MAX_BACKEND_MESSAGE);
    // Every reply of the session arrives on this one stream: the event being decoded is held
    // to the reply budget and --max-reply-bytes like a call's own reply. The event's id is
    // only known once it is whole, so a refusal fails every call waiting on the stream and
    // ends the session (the next call opens a new one).
    let mut held = http.replies.reservation();
    let mut failure = None;
    'outer: loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            _ => break,
        };
        if let Err(e) = held.cover(dec.buffered() + chunk.len()) {
            tracing::warn!(backend = %http.name, error = %e, "event on the SSE stream refused");
            failure = Some(http.reply_refused(e));
            break;
        }
        let events = match dec.push(&chunk) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(backend = %http.name, error = %e, "bad event stream");
                break;
            }
        };
        for ev in events {
            if ev.event == "endpoint" {
                if let Some(tx) = endpoint.take() {
                    let _ = tx.send(ev.data.trim().to_owned());
                }
                continue;
            }
            if !(ev.event.is_empty() || ev.event == "message") || ev.data.is_empty() {
                continue;
            }
            match handle_incoming(&c, &ev.data, None) {
                Ok(Some((id, r))) => {
                    if let Some(w) = lock(&shared).remove(&id) {
                        let _ = w.send(r);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    // Garbage on the stream: the session cannot be trusted any more.
                    tracing::warn!(backend = %http.name, error = %e, "invalid message on the event stream");
                    for (_, w) in lock(&shared).drain() {
                        let _ = w.send(Err(e.clone()));
                    }
                    break 'outer;
                }
            }
        }
        // The events are handed on; what stays is the next one's beginning.
        held.shrink_to(dec.buffered());
    }
    c.closed.store(true, Ordering::Relaxed);
    match failure {
        Some(e) => {
            for (_, w) in lock(&shared).drain() {
                let _ = w.send(Err(e.clone()));
            }
        }
        None => fail_all(&shared, http),
    }
}
