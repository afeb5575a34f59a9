//! Backend handles: lazily opened, reused sessions per (backend, outgoing identity), the
//! per-call deadline and the circuit breaker on the request path.
//!
//! The fast path is a lock-free load of the current session. Opening a session takes a
//! per-identity async lock so concurrent first callers share one handshake, never one each.
//! A client session that needs protocol state of its own (subscriptions, log level,
//! server-to-client requests) can get a dedicated backend session by using its own
//! [`Identity`]-scoped key; today every caller shares the identity's session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde_json::value::RawValue;

use super::auth::Identity;
use super::{BackendError, Connection, Http, InboundTx, RelatedTx, sse, streamable};
use crate::health::{Admission, State, Tracker};
use vmcp_config::Transport;

/// One slot per identity: the current session, and the lock that serialises opening one.
#[derive(Default)]
struct Slot {
    current: ArcSwapOption<Connection>,
    opening: tokio::sync::Mutex<()>,
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
    inbound: InboundTx,
    on_transition: OnTransition,
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
            inbound,
            on_transition,
        }
    }

    pub fn auth_kind(&self) -> &'static str {
        self.http.auth.kind()
    }

    fn slot(&self, identity: &Identity) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(identity.clone()).or_default().clone()
    }

    /// The live session for `identity`, opening one if needed.
    async fn connection(&self, identity: &Identity) -> Result<Arc<Connection>, BackendError> {
        let slot = self.slot(identity);
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
        let conn = match self.transport {
            Transport::StreamableHttp => Connection::Streamable(
                streamable::Session::connect(self.http.clone(), identity, self.inbound.clone())
                    .await?,
            ),
            Transport::Sse => Connection::Sse(
                sse::Session::connect(self.http.clone(), identity, self.inbound.clone()).await?,
            ),
        };
        tracing::debug!(backend = %self.name, "backend session opened");
        let conn = Arc::new(conn);
        slot.current.store(Some(conn.clone()));
        Ok(conn)
    }

    /// Drops a session that misbehaved, so the next call opens a fresh one.
    fn discard(&self, identity: &Identity, conn: &Arc<Connection>) {
        let slot = self.slot(identity);
        let cur = slot.current.load();
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            slot.current.store(None);
        }
        conn.close();
    }

    /// The backend's advertised capabilities (opening the session if needed).
    pub async fn capabilities(
        &self,
        identity: &Identity,
    ) -> Result<serde_json::Value, BackendError> {
        let conn = tokio::time::timeout(self.timeout, self.connection(identity))
            .await
            .map_err(|_| BackendError::Timeout(self.name.to_string(), self.timeout))??;
        Ok(conn.capabilities().clone())
    }

    /// One request to the backend, bounded by the backend's timeout end to end (session
    /// opening included), through the circuit breaker.
    pub async fn call(
        &self,
        identity: &Identity,
        method: &str,
        params: Option<&RawValue>,
        related: Option<&RelatedTx>,
    ) -> Result<Box<RawValue>, BackendError> {
        if self.health.admit() == Admission::Rejected {
            return Err(BackendError::CircuitOpen(self.name.to_string()));
        }
        let r = self
            .call_unchecked(identity, method, params, related, self.timeout)
            .await;
        self.record(&r);
        r
    }

    /// A ping health check: bypasses the breaker (it is how an open circuit closes again).
    pub async fn check(&self, identity: &Identity, timeout: Duration) -> Result<(), BackendError> {
        let r = self
            .call_unchecked(identity, "ping", None, None, timeout)
            .await
            .map(|_| ());
        let r = match r {
            // A backend that answers ping with an error is alive.
            Err(BackendError::Remote(_)) => Ok(()),
            other => other,
        };
        self.record(&r);
        r
    }

    fn record<T>(&self, r: &Result<T, BackendError>) {
        let change = match r {
            Ok(_) => self.health.success(),
            Err(e) if e.is_health_failure() => self.health.failure(&e.to_string()),
            Err(BackendError::Remote(_)) => {
                // The backend answered: it is reachable.
                self.health.success()
            }
            Err(_) => {
                self.health.neutral();
                None
            }
        };
        if let Some(prev) = change {
            let now = self.health.state();
            tracing::info!(backend = %self.name, from = prev.as_str(), to = now.as_str(), "backend state changed");
            (self.on_transition)(&self.name, prev, now);
        }
    }

    async fn call_unchecked(
        &self,
        identity: &Identity,
        method: &str,
        params: Option<&RawValue>,
        related: Option<&RelatedTx>,
        timeout: Duration,
    ) -> Result<Box<RawValue>, BackendError> {
        let work = async {
            let conn = self.connection(identity).await?;
            match conn.call(method, params, related).await {
                Err(BackendError::SessionExpired(_)) => {
                    // The backend restarted or dropped us: one fresh session, one retry.
                    self.discard(identity, &conn);
                    let conn = self.connection(identity).await?;
                    let r = conn.call(method, params, related).await;
                    if matches!(
                        r,
                        Err(BackendError::Protocol(..) | BackendError::Unavailable(..))
                    ) {
                        self.discard(identity, &conn);
                    }
                    r
                }
                Err(e @ (BackendError::Protocol(..) | BackendError::Unavailable(..))) => {
                    self.discard(identity, &conn);
                    Err(e)
                }
                r => r,
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Timeout(self.name.to_string(), timeout)),
        }
    }

    /// Closes every session (shutdown).
    pub fn close_all(&self) {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for s in slots.values() {
            if let Some(c) = s.current.swap(None) {
                c.close();
            }
        }
    }
}
