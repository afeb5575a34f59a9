//! Backend handles: lazily opened, reused sessions per (backend, outgoing identity), the
//! per-call deadline and the circuit breaker on the request path.
//!
//! The fast path is a lock-free load of the current session. Opening a session takes a
//! per-slot async lock so concurrent first callers share one handshake, never one each.
//!
//! Clients that need protocol state of their own — server-to-client requests (sampling,
//! elicitation, roots) or a log level — get a dedicated backend session per backend, opened on
//! their first call to it and closed when their client session ends ([`Backend::end_client`]).
//! Every other caller shares its identity's session, which is what lets one replica hold very
//! many clients.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde_json::value::RawValue;

use super::auth::{Identity, Subject};
use super::{
    BackendError, Connection, Http, InboundTx, Origin, PerCall, RelatedTx, Verdict, sse, streamable,
};
use crate::health::{Admission, State, Tracker};
use crate::relay::Downstream;
use vmcp_config::Transport;

/// Most callers with sessions of their own on one per-user backend (see
/// [`Outgoing::per_user`](super::auth::Outgoing::per_user)); beyond it, slots unused for
/// [`IDLE_SLOT`] are closed, and if none is, the call is refused as overloaded.
pub const MAX_IDENTITY_SLOTS: usize = 10_000;

/// How long a per-user session may stay unused before a full table closes it.
pub const IDLE_SLOT: Duration = Duration::from_secs(600);

/// One slot per identity: the current session, and the lock that serialises opening one.
struct Slot {
    current: ArcSwapOption<Connection>,
    opening: tokio::sync::Mutex<()>,
    /// When a call last took this slot.
    used: Mutex<std::time::Instant>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            current: ArcSwapOption::empty(),
            opening: tokio::sync::Mutex::new(()),
            used: Mutex::new(std::time::Instant::now()),
        }
    }
}

impl Slot {
    fn touch(&self) {
        *self.used.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }
}

/// Who a call is made for: the authenticated caller, if any (a per-user backend keys its
/// sessions by it and exchanges its token), for a client with a session of its own, that
/// client, and the client's headers `passthroughHeaders` forwards (empty when none are).
#[derive(Clone, Default)]
pub struct Caller {
    pub subject: Option<Subject>,
    pub client: Option<Arc<dyn Downstream>>,
    pub forwarded: http::HeaderMap,
}

impl Caller {
    /// The gateway itself (health checks, capability lists): no caller, shared sessions.
    pub fn gateway() -> Self {
        Caller::default()
    }
}

/// Callback for health transitions (rebuild the view, update metrics).
pub type OnTransition = Arc<dyn Fn(&str, State, State) + Send + Sync>;

pub struct Backend {
    pub name: Arc<str>,
    pub transport: Transport,
    pub url: String,
    pub timeout: Duration,
    pub health: Tracker,
    http: Arc<Http>,
    slots: Mutex<HashMap<Identity, Arc<Slot>>>,
    /// Dedicated sessions by client session id.
    clients: Mutex<HashMap<String, Arc<Slot>>>,
    inbound: InboundTx,
    on_transition: OnTransition,
    /// Set when the backend refused one of the gateway's own requests for want of a user
    /// token (see [`Backend::needs_user_token`]); cleared when the gateway's own capability
    /// fetch succeeds.
    needs_user: AtomicBool,
}

impl Backend {
    pub fn new(
        http: Http,
        transport: Transport,
        timeout: Duration,
        health: Tracker,
        inbound: InboundTx,
        on_transition: OnTransition,
    ) -> Self {
        Backend {
            name: http.name.clone(),
            url: http.url.to_string(),
            transport,
            timeout,
            health,
            http: Arc::new(http),
            slots: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            inbound,
            on_transition,
            needs_user: AtomicBool::new(false),
        }
    }

    /// Whether the backend answers only callers: a per-user backend without client
    /// credentials of the gateway's that refused the gateway's own request with 401 or 403.
    /// It is alive (it answered), so it stays healthy; its capabilities are listed from the
    /// first authenticated caller's view (`aggregate::Aggregator::fetch_user_views`).
    pub fn needs_user_token(&self) -> bool {
        self.needs_user.load(Ordering::Relaxed)
    }

    /// The gateway's own capability fetch succeeded: the backend serves the gateway.
    pub fn served_the_gateway(&self) {
        self.needs_user.store(false, Ordering::Relaxed);
    }

    /// Whether `e`, to one of the gateway's own requests, is the refusal of a backend that
    /// answers only callers.
    fn refuses_the_gateway(&self, e: &BackendError) -> bool {
        self.http.auth.gateway_goes_without()
            && matches!(e, BackendError::Status(_, _, s)
                if *s == http::StatusCode::UNAUTHORIZED || *s == http::StatusCode::FORBIDDEN)
    }

    /// The protocol version of the backend's latest session: `2026-07-28` for a modern
    /// backend, the negotiated one for a 2025 backend; `None` before the first session.
    pub fn revision(&self) -> Option<String> {
        self.http
            .revision
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn auth_kind(&self) -> &'static str {
        self.http.auth.kind()
    }

    /// Whom the backend's sessions for `caller` belong to: on a per-user backend the caller
    /// (the gateway's own requests are the anonymous one), on the others everyone shares.
    fn identity_of(&self, caller: &Caller) -> Identity {
        match &caller.subject {
            Some(s) if self.http.auth.per_user() => s.identity.clone(),
            _ => Identity::anonymous(),
        }
    }

    fn slot(&self, caller: &Caller) -> Result<Arc<Slot>, BackendError> {
        match &caller.client {
            None => {
                let identity = self.identity_of(caller);
                let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(s) = slots.get(&identity) {
                    s.touch();
                    return Ok(s.clone());
                }
                if slots.len() >= MAX_IDENTITY_SLOTS {
                    slots.retain(|_, s| {
                        let keep = s.idle_for() < IDLE_SLOT;
                        if !keep && let Some(c) = s.current.swap(None) {
                            c.close();
                        }
                        keep
                    });
                    if slots.len() >= MAX_IDENTITY_SLOTS {
                        return Err(BackendError::Overloaded(
                            self.name.to_string(),
                            format!(
                                "{MAX_IDENTITY_SLOTS} callers already have sessions of their own"
                            ),
                        ));
                    }
                }
                Ok(slots.entry(identity).or_default().clone())
            }
            Some(c) => {
                let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(s) = clients.get(c.id()) {
                    return Ok(s.clone());
                }
                Ok(clients.entry(c.id().to_owned()).or_default().clone())
            }
        }
    }

    /// The live session for `caller`, opening one if needed with `credential` (the call's
    /// per-user credential, if any).
    async fn connection(
        &self,
        caller: &Caller,
        credential: Option<&http::HeaderValue>,
    ) -> Result<Arc<Connection>, BackendError> {
        let slot = self.slot(caller)?;
        if let Some(c) = slot.current.load_full()
            && !c.is_closed()
        {
            return Ok(c);
        }
        let _guard = slot.opening.lock().await;
        if let Some(c) = slot.current.load_full()
            && !c.is_closed()
        {
            return Ok(c);
        }
        let (http, inbound) = (self.http.clone(), self.inbound.clone());
        let owner = caller.client.as_ref();
        let conn = match self.transport {
            Transport::StreamableHttp => Connection::Streamable(
                streamable::Session::connect(http, credential, inbound, owner).await?,
            ),
            Transport::Sse => {
                Connection::Sse(sse::Session::connect(http, credential, inbound, owner).await?)
            }
        };
        if let Some(level) = caller.client.as_ref().and_then(|c| c.log_level()) {
            set_level(&self.name, &conn, &level).await;
        }
        tracing::debug!(backend = %self.name, dedicated = caller.client.is_some(), "backend session opened");
        let conn = Arc::new(conn);
        slot.current.store(Some(conn.clone()));
        if let Some(c) = &caller.client
            && c.is_ended()
        {
            // The client ended while we were opening: do not keep a session nobody will close.
            self.end_client(c.id());
        }
        Ok(conn)
    }

    /// Drops a session that misbehaved, so the next call opens a fresh one.
    fn discard(&self, caller: &Caller, conn: &Arc<Connection>) {
        let Ok(slot) = self.slot(caller) else {
            conn.close();
            return;
        };
        let cur = slot.current.load();
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            slot.current.store(None);
        }
        conn.close();
    }

    /// Closes the dedicated session of a client whose session ended.
    pub fn end_client(&self, client: &str) {
        let slot = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(client);
        if let Some(c) = slot.and_then(|s| s.current.swap(None)) {
            c.close();
        }
    }

    /// The client's open dedicated session, if it has one (no session is opened).
    fn client_connection(&self, client: &str) -> Option<Arc<Connection>> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .get(client)
            .and_then(|s| s.current.load_full())
            .filter(|c| !c.is_closed())
    }

    /// Passes a client's new log level on to its dedicated session, if open; later sessions
    /// get it when they open.
    pub async fn client_log_level(&self, client: &str, level: &str) {
        if let Some(conn) = self.client_connection(client) {
            set_level(&self.name, &conn, level).await;
        }
    }

    /// Passes a client's notification (`roots/list_changed`) on to its dedicated session.
    pub async fn client_notify(&self, client: &str, method: &str) {
        if let Some(conn) = self.client_connection(client) {
            let r = tokio::time::timeout(self.timeout, conn.notify(method, None)).await;
            if !matches!(r, Ok(Ok(()))) {
                tracing::debug!(backend = %self.name, method, "could not pass a client notification on");
            }
        }
    }

    /// Number of dedicated sessions (for `/status`).
    pub fn dedicated_sessions(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The backend's advertised capabilities (opening the session if needed).
    pub async fn capabilities(&self, caller: &Caller) -> Result<serde_json::Value, BackendError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let conn = match self.credential_by(caller, deadline).await {
            Ok(credential) => {
                self.connection_by(caller, deadline, credential.as_ref())
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &conn {
            self.record::<()>(&Err(e.clone()), Origin::Gateway);
        }
        Ok(conn?.capabilities().clone())
    }

    /// A client's request, bounded by the backend's timeout end to end (session opening
    /// included), through the circuit breaker. Only what says something about the backend
    /// is recorded (see [`BackendError::verdict`]): the call timing out or being refused is
    /// the caller's alone.
    pub async fn call(
        &self,
        caller: &Caller,
        method: &str,
        params: Option<&RawValue>,
        related: Option<&RelatedTx>,
    ) -> Result<Box<RawValue>, BackendError> {
        self.call_as(Origin::Client, caller, method, params, related)
            .await
    }

    /// One of the gateway's own requests (capability lists): through the breaker like a
    /// client's, but every failure of it counts against the backend.
    pub async fn own_call(
        &self,
        caller: &Caller,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, BackendError> {
        self.call_as(Origin::Gateway, caller, method, params, None)
            .await
    }

    async fn call_as(
        &self,
        origin: Origin,
        caller: &Caller,
        method: &str,
        params: Option<&RawValue>,
        related: Option<&RelatedTx>,
    ) -> Result<Box<RawValue>, BackendError> {
        let mut trial = match self.health.admit() {
            Admission::Rejected => return Err(BackendError::CircuitOpen(self.name.to_string())),
            Admission::Trial => TrialSlot(Some(&self.health)),
            Admission::Go => TrialSlot(None),
        };
        let r = if crate::telemetry::in_span() {
            use tracing::Instrument;
            let span = crate::telemetry::span::client(
                &self.name,
                method,
                self.transport.as_str(),
                &self.url,
            );
            let trace = crate::telemetry::trace_headers(&span);
            let meta = crate::telemetry::with_trace_meta(params, &trace);
            let params = meta.as_deref().or(params);
            let r = self
                .call_unchecked(caller, method, params, related, self.timeout, Some(&trace))
                .instrument(span.clone())
                .await;
            crate::telemetry::span::finish_client(&span, r.as_ref().err());
            r
        } else {
            self.call_unchecked(caller, method, params, related, self.timeout, None)
                .await
        };
        if self.record(&r, origin) != Verdict::Neutral {
            // The verdict settled the trial; releasing it later could free another one's.
            trial.0 = None;
        }
        r
    }

    /// A ping health check: bypasses the breaker (it is how an open circuit closes again).
    pub async fn check(&self, timeout: Duration) -> Result<(), BackendError> {
        let r = self
            .call_unchecked(&Caller::gateway(), "ping", None, None, timeout, None)
            .await
            .map(|_| ());
        let r = match r {
            // A backend that answers ping with an error is alive.
            Err(BackendError::Remote(_)) => Ok(()),
            other => other,
        };
        self.record(&r, Origin::Gateway);
        r
    }

    /// Feeds the outcome of one request to the health state; returns what it said.
    fn record<T>(&self, r: &Result<T, BackendError>, origin: Origin) -> Verdict {
        let verdict = match r {
            Ok(_) => Verdict::Up,
            // The backend answered, and wants a user: alive, not failing.
            Err(e) if origin == Origin::Gateway && self.refuses_the_gateway(e) => {
                if !self.needs_user.swap(true, Ordering::Relaxed) {
                    tracing::info!(backend = %self.name, "backend refuses the gateway's own requests without a user token: listed from the first authenticated caller's view");
                }
                Verdict::Up
            }
            Err(e) => e.verdict(origin),
        };
        let change = match (verdict, r) {
            (Verdict::Up, _) => self.health.success(),
            (Verdict::Down, Err(e)) => self.health.failure(&e.to_string()),
            _ => None,
        };
        if let Some(prev) = change {
            let now = self.health.state();
            tracing::info!(backend = %self.name, from = prev.as_str(), to = now.as_str(), "backend state changed");
            (self.on_transition)(&self.name, prev, now);
        }
        verdict
    }

    async fn call_unchecked(
        &self,
        caller: &Caller,
        method: &str,
        params: Option<&RawValue>,
        related: Option<&RelatedTx>,
        timeout: Duration,
        trace: Option<&http::HeaderMap>,
    ) -> Result<Box<RawValue>, BackendError> {
        // Opening the session and the request share one deadline, but a session that cannot
        // be opened in time is told apart from a request that takes long (see `verdict`).
        let deadline = tokio::time::Instant::now() + timeout;
        let work = async {
            let credential = self.credential_by(caller, deadline).await?;
            let credential = credential.as_ref();
            let per_call = PerCall {
                credential,
                forwarded: (!caller.forwarded.is_empty()).then_some(&caller.forwarded),
                trace,
            };
            let conn = self.connection_by(caller, deadline, credential).await?;
            match conn.call(method, params, related, per_call).await {
                Err(BackendError::SessionExpired(_)) => {
                    // The backend restarted or dropped us: one fresh session, one retry.
                    self.discard(caller, &conn);
                    let conn = self.connection_by(caller, deadline, credential).await?;
                    if trace.is_some() {
                        tracing::Span::current().record("vmcp.retries", 1u64);
                    }
                    let r = conn.call(method, params, related, per_call).await;
                    if r.as_ref().is_err_and(session_is_suspect) {
                        self.discard(caller, &conn);
                    }
                    r
                }
                Err(e) if session_is_suspect(&e) => {
                    self.discard(caller, &conn);
                    Err(e)
                }
                r => r,
            }
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Timeout(self.name.to_string(), timeout)),
        }
    }

    /// [`Backend::connection`], bounded by `deadline`.
    async fn connection_by(
        &self,
        caller: &Caller,
        deadline: tokio::time::Instant,
        credential: Option<&http::HeaderValue>,
    ) -> Result<Arc<Connection>, BackendError> {
        let timeout = self.timeout;
        tokio::time::timeout_at(deadline, self.connection(caller, credential))
            .await
            .map_err(|_| BackendError::ConnectTimeout(self.name.to_string(), timeout))?
    }

    /// The call's per-user credential (a cached exchanged token, usually), bounded by
    /// `deadline`; `None` on backends whose credential is in the session's headers.
    async fn credential_by(
        &self,
        caller: &Caller,
        deadline: tokio::time::Instant,
    ) -> Result<Option<http::HeaderValue>, BackendError> {
        let timeout = self.timeout;
        tokio::time::timeout_at(
            deadline,
            self.http.auth.call_header(caller.subject.as_ref()),
        )
        .await
        .map_err(|_| BackendError::ConnectTimeout(self.name.to_string(), timeout))?
        .map_err(BackendError::Auth)
    }

    /// The backend's outgoing auth (metrics read its exchange counts).
    pub fn outgoing(&self) -> &super::auth::Outgoing {
        &self.http.auth
    }

    /// Closes every session (shutdown).
    pub fn close_all(&self) {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for s in slots.values().chain(clients.values()) {
            if let Some(c) = s.current.swap(None) {
                c.close();
            }
        }
    }
}

/// Whether a session that failed a request this way should be dropped and a fresh one
/// opened: after transport trouble, a malformed reply or a server error, not after the
/// backend refused one request (4xx), which leaves the session as good as it was.
fn session_is_suspect(e: &BackendError) -> bool {
    match e {
        BackendError::Protocol(..) | BackendError::Unavailable(..) => true,
        BackendError::Status(_, _, s) => !s.is_client_error(),
        _ => false,
    }
}

/// Releases the trial slot of an open circuit if the trial request is dropped before it
/// finished (the client went away): otherwise no other request would be let through until a
/// health check closes the circuit.
struct TrialSlot<'a>(Option<&'a Tracker>);

impl Drop for TrialSlot<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            t.neutral();
        }
    }
}

/// Sends `logging/setLevel` to a backend that offers logging; a refusal is only logged, as the
/// client's request to the gateway itself succeeded.
async fn set_level(backend: &str, conn: &Connection, level: &str) {
    if conn.capabilities().get("logging").is_none() {
        return;
    }
    let params = crate::jsonrpc::raw(format!(
        r#"{{"level":{}}}"#,
        serde_json::Value::String(level.to_owned())
    ));
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        conn.call("logging/setLevel", Some(&params), None, PerCall::default()),
    )
    .await;
    if !matches!(r, Ok(Ok(_))) {
        tracing::debug!(
            backend,
            level,
            "backend did not take the client's log level"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Policy;

    #[test]
    fn a_trial_dropped_unfinished_frees_the_slot_and_a_settled_one_does_not() {
        let t = Tracker::new(Policy {
            unhealthy_threshold: 1,
            open_after: 1,
            open_for: Duration::ZERO,
        });
        t.failure("down");
        assert_eq!(t.admit(), Admission::Trial);
        // The trial's caller went away before an answer: the next request may try.
        drop(TrialSlot(Some(&t)));
        assert_eq!(t.admit(), Admission::Trial);
        assert_eq!(t.admit(), Admission::Rejected, "one trial at a time");
        // Settled by a verdict (the slot was disarmed): dropping it frees nothing.
        t.failure("still down");
        assert_eq!(t.admit(), Admission::Trial);
        drop(TrialSlot(None));
        assert_eq!(t.admit(), Admission::Rejected);
    }

    #[test]
    fn only_transport_trouble_and_server_errors_cost_the_session() {
        let status = |c: u16| {
            BackendError::Status(
                "b".into(),
                "tools/call".into(),
                http::StatusCode::from_u16(c).unwrap(),
            )
        };
        assert!(session_is_suspect(&status(502)));
        assert!(!session_is_suspect(&status(413)));
        assert!(session_is_suspect(&BackendError::Protocol(
            "b".into(),
            "x".into()
        )));
        assert!(!session_is_suspect(&BackendError::Timeout(
            "b".into(),
            Duration::from_secs(1)
        )));
    }
}
