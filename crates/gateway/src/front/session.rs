//! Client sessions (`Mcp-Session-Id`): what the gateway remembers about each connected client.
//!
//! A session is small (ids, one optional stream sender, in-flight requests, resource
//! subscriptions). Most clients share backend sessions per identity, which is what lets one
//! replica hold very many clients; a client that declares sampling, elicitation or roots, or sets
//! a log level, is a [`Downstream`] with backend sessions of its own (see `relay`).
//!
//! Sessions are bounded ([`SessionLimits`]): a global cap, a cap on the dedicated ones (each
//! may hold a backend session per backend), and a short life for a session that never made a
//! request after `initialize`, so a client looping on `initialize` cannot fill the gateway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::{Notify, mpsc};

use crate::backend::RelatedTx;
use crate::relay::Downstream;

/// One request in flight: its cancel signal and, when the client accepts an SSE reply, the
/// sender that turns the reply into a stream (where server-to-client messages can go).
struct Inflight {
    cancel: Arc<Notify>,
    reply: Option<RelatedTx>,
}

/// Who created a session: the issuer and subject of the token of its `initialize`. Every
/// later request naming the session must come from the same pair, so a leaked or guessed
/// session id is worth nothing without that caller's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub issuer: String,
    pub subject: String,
}

pub struct ClientSession {
    pub id: String,
    pub protocol_version: String,
    /// `None` for gateways without client authentication (every caller is anonymous).
    pub owner: Option<Owner>,
    /// The client's `sampling`, `elicitation` and `roots` capabilities as a JSON object, if it
    /// declared any.
    relay_capabilities: Option<String>,
    log_level: Mutex<Option<String>>,
    last_seen: Mutex<Instant>,
    /// Whether a request named this session after `initialize` (see
    /// [`SessionLimits::unused_ttl`]).
    used: AtomicBool,
    /// Whether this session holds one of the dedicated places counted by `dedicated`.
    holds_dedicated: AtomicBool,
    dedicated: Arc<Dedicated>,
    /// The server-to-client SSE stream opened by GET, if any.
    stream: Mutex<Option<mpsc::Sender<String>>>,
    /// Raw JSON-RPC id → the request in flight.
    inflight: Mutex<HashMap<String, Inflight>>,
    /// Subscribed resource URIs, each with whether the subscription was made on the client's
    /// own backend session (`true`) or on the shared one.
    subscriptions: Mutex<HashMap<String, bool>>,
    ended: AtomicBool,
}

/// Picks the capabilities that need a backend session of the client's own out of the
/// `capabilities` of its initialize request; `None` if it declared none of them.
pub fn relay_capabilities(client_capabilities: &serde_json::Value) -> Option<String> {
    let picked: serde_json::Map<String, serde_json::Value> = crate::relay::RELAYED_CAPABILITIES
        .iter()
        .filter_map(|k| {
            let v = client_capabilities.get(*k)?;
            v.is_object().then(|| ((*k).to_owned(), v.clone()))
        })
        .collect();
    (!picked.is_empty()).then(|| serde_json::Value::Object(picked).to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientSession {
    pub fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    /// Replaces the GET stream (a reconnecting client gets the new one).
    pub fn open_stream(&self, capacity: usize) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(capacity);
        *lock(&self.stream) = Some(tx);
        rx
    }

    /// Whether a client is connected to the GET stream (the connection closing drops the
    /// receiver).
    fn has_open_stream(&self) -> bool {
        lock(&self.stream)
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Sends a message on the GET stream; dropped when there is none or it is full (a slow
    /// client must not hold the gateway's memory hostage).
    pub fn push(&self, msg: String) -> bool {
        let mut s = lock(&self.stream);
        match s.as_ref().map(|tx| tx.try_send(msg)) {
            Some(Ok(())) => true,
            Some(Err(mpsc::error::TrySendError::Closed(_))) => {
                *s = None;
                false
            }
            _ => false,
        }
    }

    /// Records a request in flight; `reply` is its reply stream's sender, if it may stream.
    pub fn register(&self, id: &str, reply: Option<RelatedTx>) -> Arc<Notify> {
        let cancel = Arc::new(Notify::new());
        let entry = Inflight {
            cancel: cancel.clone(),
            reply,
        };
        lock(&self.inflight).insert(id.to_owned(), entry);
        cancel
    }

    /// Records a subscription to `uri`, made on the client's own backend session or the shared
    /// one; returns false if it already had one.
    pub fn subscribe(&self, uri: &str, own: bool) -> bool {
        let mut subs = lock(&self.subscriptions);
        if subs.contains_key(uri) {
            return false;
        }
        subs.insert(uri.to_owned(), own);
        true
    }

    /// Forgets a subscription; returns where it was made (`Some(own)`), or `None` if there was
    /// none.
    pub fn unsubscribe(&self, uri: &str) -> Option<bool> {
        lock(&self.subscriptions).remove(uri)
    }

    fn subscribed_shared(&self, uri: &str) -> bool {
        lock(&self.subscriptions).get(uri) == Some(&false)
    }

    /// Whether calls of this client go through backend sessions of its own.
    pub fn is_dedicated(&self) -> bool {
        self.relay_capabilities.is_some() || lock(&self.log_level).is_some()
    }

    /// Sets the client's log level, which makes its backend sessions dedicated from now on;
    /// refused when that would exceed [`SessionLimits::max_dedicated`].
    pub fn set_log_level(&self, level: &str) -> Result<(), SessionRefused> {
        if !self.holds_dedicated.load(Ordering::Acquire) {
            self.dedicated.reserve()?;
            if self.holds_dedicated.swap(true, Ordering::AcqRel) {
                // A concurrent setLevel of the same client took the place first.
                self.dedicated.release();
            }
        }
        *lock(&self.log_level) = Some(level.to_owned());
        Ok(())
    }

    /// Gives back the dedicated place, once.
    fn release_dedicated(&self) {
        if self.holds_dedicated.swap(false, Ordering::AcqRel) {
            self.dedicated.release();
        }
    }

    /// Sends on the reply stream of some request in flight.
    fn push_reply(&self, msg: &RawValue) -> bool {
        lock(&self.inflight)
            .values()
            .filter_map(|i| i.reply.as_ref())
            .any(|tx| tx.send(crate::jsonrpc::raw(msg.get().to_owned())).is_ok())
    }

    pub fn finish(&self, id: &str) {
        lock(&self.inflight).remove(id);
    }

    /// Cancels an in-flight request by its raw id; unknown ids are ignored, as MCP asks.
    pub fn cancel(&self, id: &str) {
        if let Some(i) = lock(&self.inflight).get(id) {
            i.cancel.notify_one();
        }
    }

    fn close(&self) {
        self.ended.store(true, Ordering::Relaxed);
        self.release_dedicated();
        *lock(&self.stream) = None;
        for i in lock(&self.inflight).values() {
            i.cancel.notify_one();
        }
    }
}

impl Downstream for ClientSession {
    fn id(&self) -> &str {
        &self.id
    }

    fn capabilities(&self) -> &str {
        self.relay_capabilities.as_deref().unwrap_or("{}")
    }

    fn log_level(&self) -> Option<String> {
        lock(&self.log_level).clone()
    }

    fn send(&self, msg: &RawValue, reply_first: bool) -> bool {
        if reply_first && self.push_reply(msg) {
            return true;
        }
        self.push(msg.get().to_owned()) || (!reply_first && self.push_reply(msg))
    }

    fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

/// Called with the id of every session that ends (DELETE, expiry, shutdown), so the backend
/// sessions it owned are closed.
pub type OnEnd = Box<dyn Fn(&str) + Send + Sync>;

/// Bounds on client sessions (`vmcp serve` flags; see `crate::limits::Limits`).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Sessions held at once.
    pub max: usize,
    /// Sessions with backend sessions of their own held at once.
    pub max_dedicated: usize,
    /// How long a session that never made a request after `initialize` lives.
    pub unused_ttl: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max: crate::limits::DEFAULT_MAX_SESSIONS,
            max_dedicated: crate::limits::DEFAULT_MAX_DEDICATED_SESSIONS,
            unused_ttl: crate::limits::DEFAULT_UNUSED_SESSION_TTL,
        }
    }
}

/// Why a session, or a session's own backend sessions, were refused: a limit, named by its flag
/// so an operator knows which to raise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefused {
    #[error(
        "the vmcp gateway holds its maximum of {0} client sessions (--max-sessions); end unused sessions or retry later"
    )]
    Full(usize),
    #[error(
        "the vmcp gateway holds its maximum of {0} client sessions with backend sessions of their own (--max-dedicated-sessions), which sampling, elicitation, roots and logging/setLevel need; retry later or connect without them"
    )]
    DedicatedFull(usize),
}

/// The count of dedicated sessions, shared by every session so that one setting a log level
/// can take a place.
struct Dedicated {
    count: AtomicUsize,
    max: usize,
}

impl Dedicated {
    fn reserve(&self) -> Result<(), SessionRefused> {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| {
                crate::limits::refused(crate::limits::Refusal::MaxDedicatedSessions);
                SessionRefused::DedicatedFull(self.max)
            })
    }

    fn release(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct Sessions {
    map: RwLock<HashMap<String, Arc<ClientSession>>>,
    on_end: Option<OnEnd>,
    limits: SessionLimits,
    dedicated: Arc<Dedicated>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_limits(None, SessionLimits::default())
    }
}

impl Sessions {
    pub fn new(on_end: OnEnd, limits: SessionLimits) -> Self {
        Sessions::with_limits(Some(on_end), limits)
    }

    fn with_limits(on_end: Option<OnEnd>, limits: SessionLimits) -> Self {
        Sessions {
            map: RwLock::default(),
            on_end,
            limits,
            dedicated: Arc::new(Dedicated {
                count: AtomicUsize::new(0),
                max: limits.max_dedicated,
            }),
        }
    }

    /// A new session; `relay_capabilities` as picked by [`relay_capabilities`]. Refused when
    /// the gateway holds [`SessionLimits::max`] sessions, or when the client would need
    /// backend sessions of its own and [`SessionLimits::max_dedicated`] are taken.
    pub fn create(
        &self,
        protocol_version: &str,
        relay_capabilities: Option<String>,
    ) -> Result<Arc<ClientSession>, SessionRefused> {
        self.create_owned(protocol_version, relay_capabilities, None)
    }

    /// A session for one stateless (2026-07-28) request: it is not kept, holds no backend
    /// session of its own, and ends with the request. The router needs a session for every
    /// request (in-flight registration, subscriptions); this one is thrown away after.
    pub fn ephemeral(&self, protocol_version: &str, owner: Option<Owner>) -> Arc<ClientSession> {
        Arc::new(self.session(String::new(), protocol_version, None, owner))
    }

    fn session(
        &self,
        id: String,
        protocol_version: &str,
        relay_capabilities: Option<String>,
        owner: Option<Owner>,
    ) -> ClientSession {
        ClientSession {
            id,
            protocol_version: protocol_version.to_owned(),
            owner,
            holds_dedicated: AtomicBool::new(relay_capabilities.is_some()),
            relay_capabilities,
            log_level: Mutex::new(None),
            ended: AtomicBool::new(false),
            last_seen: Mutex::new(Instant::now()),
            used: AtomicBool::new(false),
            dedicated: self.dedicated.clone(),
            stream: Mutex::new(None),
            inflight: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
        }
    }

    /// [`Sessions::create`] for an authenticated caller, who alone may use the session.
    pub fn create_owned(
        &self,
        protocol_version: &str,
        relay_capabilities: Option<String>,
        owner: Option<Owner>,
    ) -> Result<Arc<ClientSession>, SessionRefused> {
        let dedicated = relay_capabilities.is_some();
        if dedicated {
            self.dedicated.reserve()?;
        }
        let s = Arc::new(self.session(
            uuid::Uuid::new_v4().to_string(),
            protocol_version,
            relay_capabilities,
            owner,
        ));
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.limits.max {
            drop(map);
            s.release_dedicated();
            crate::limits::refused(crate::limits::Refusal::MaxSessions);
            return Err(SessionRefused::Full(self.limits.max));
        }
        map.insert(s.id.clone(), s.clone());
        Ok(s)
    }

    /// The session a request names; it counts as used from now on.
    pub fn get(&self, id: &str) -> Option<Arc<ClientSession>> {
        self.get_for(id, None)
    }

    /// The session a request of `caller` names, if it is theirs. Another caller's session
    /// is answered exactly as an unknown one, so session ids cannot be probed.
    pub fn get_for(&self, id: &str, caller: Option<&Owner>) -> Option<Arc<ClientSession>> {
        let s = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .filter(|s| s.owner.as_ref() == caller)
            .cloned();
        if let Some(s) = &s {
            s.touch();
            s.used.store(true, Ordering::Relaxed);
        }
        s
    }

    /// How often [`Sessions::expire`] should run so that unused sessions end close to their
    /// TTL: a few times per TTL, at most once a minute.
    pub fn sweep_interval(&self) -> Duration {
        (self.limits.unused_ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(60))
    }

    /// Ends a session, whoever owns it (expiry, shutdown, tests).
    pub fn remove(&self, id: &str) -> bool {
        let s = self
            .map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.ended(s)
    }

    /// Ends the session `id` if it is `caller`'s (a client's DELETE; see
    /// [`Sessions::get_for`]).
    pub fn remove_for(&self, id: &str, caller: Option<&Owner>) -> bool {
        let s = {
            let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
            if map.get(id).is_none_or(|s| s.owner.as_ref() != caller) {
                return false;
            }
            map.remove(id)
        };
        self.ended(s)
    }

    fn ended(&self, s: Option<Arc<ClientSession>>) -> bool {
        if let Some(s) = &s {
            s.close();
            if s.is_dedicated()
                && let Some(f) = &self.on_end
            {
                f(&s.id);
            }
        }
        s.is_some()
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn all(&self) -> Vec<Arc<ClientSession>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Sends a notification to every session with an open stream.
    pub fn broadcast(&self, msg: &str) {
        for s in self.all() {
            s.push(msg.to_owned());
        }
    }

    /// Sends an update from a shared backend session to the clients subscribed to `uri` through
    /// it. Clients subscribed on their own backend session get that session's updates instead.
    pub fn to_subscribers(&self, uri: &str, msg: &str) {
        for s in self.all() {
            if s.subscribed_shared(uri) {
                s.push(msg.to_owned());
            }
        }
    }

    /// How many clients are subscribed to `uri` through the shared backend session.
    pub fn shared_subscribers(&self, uri: &str) -> usize {
        self.all()
            .iter()
            .filter(|s| s.subscribed_shared(uri))
            .count()
    }

    /// Ends sessions idle for longer than `ttl`, and sessions that never made a request after
    /// `initialize` once [`SessionLimits::unused_ttl`] passed. A session whose client holds
    /// its GET stream open is not idle: an agent may listen for hours between calls.
    pub fn expire(&self, ttl: Duration) {
        let unused_ttl = self.limits.unused_ttl;
        let stale: Vec<String> = self
            .all()
            .into_iter()
            .filter(|s| {
                let idle = lock(&s.last_seen).elapsed();
                let limit = if s.used.load(Ordering::Relaxed) {
                    ttl
                } else {
                    unused_ttl.min(ttl)
                };
                idle > limit && !s.has_open_stream()
            })
            .map(|s| s.id.clone())
            .collect();
        for id in stale {
            self.remove(&id);
        }
    }

    /// Ends every session (shutdown): their streams close so connections drain.
    pub fn clear(&self) {
        for s in self.all() {
            self.remove(&s.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_only_relayed_capabilities_verbatim() {
        let caps = json!({
            "sampling": {"tools": {}},
            "roots": {"listChanged": true},
            "experimental": {"x": {}},
            "elicitation": true,
        });
        let picked: serde_json::Value =
            serde_json::from_str(&relay_capabilities(&caps).unwrap()).unwrap();
        assert_eq!(
            picked,
            json!({"sampling": {"tools": {}}, "roots": {"listChanged": true}}),
            "kept verbatim; non-objects and other capabilities dropped"
        );
        assert_eq!(relay_capabilities(&json!({"experimental": {}})), None);
        assert_eq!(relay_capabilities(&serde_json::Value::Null), None);
    }

    #[test]
    fn sessions_with_own_backend_sessions_report_their_end() {
        let ended = Arc::new(Mutex::new(Vec::<String>::new()));
        let e = ended.clone();
        let sessions = Sessions::new(
            Box::new(move |id| e.lock().unwrap().push(id.to_owned())),
            SessionLimits::default(),
        );
        let plain = sessions.create("2025-11-25", None).unwrap();
        let relaying = sessions
            .create("2025-11-25", Some(r#"{"roots":{}}"#.into()))
            .unwrap();
        let logging = sessions.create("2025-11-25", None).unwrap();
        assert!(!plain.is_dedicated() && relaying.is_dedicated());
        logging.set_log_level("debug").unwrap();
        assert!(logging.is_dedicated());
        for s in [&plain, &relaying, &logging] {
            assert!(sessions.remove(&s.id));
        }
        assert!(relaying.is_ended());
        assert_eq!(
            *ended.lock().unwrap(),
            vec![relaying.id.clone(), logging.id.clone()]
        );
    }

    #[test]
    fn shared_updates_go_only_to_clients_subscribed_through_the_shared_session() {
        let sessions = Sessions::default();
        let shared = sessions.create("2025-11-25", None).unwrap();
        let own = sessions
            .create("2025-11-25", Some(r#"{"roots":{}}"#.into()))
            .unwrap();
        let (mut shared_rx, mut own_rx) = (shared.open_stream(4), own.open_stream(4));
        assert!(shared.subscribe("r://x", false));
        assert!(
            !shared.subscribe("r://x", false),
            "second subscribe is a no-op"
        );
        assert!(own.subscribe("r://x", true));
        assert_eq!(sessions.shared_subscribers("r://x"), 1);
        sessions.to_subscribers("r://x", "update");
        assert_eq!(shared_rx.try_recv().ok().as_deref(), Some("update"));
        assert!(
            own_rx.try_recv().is_err(),
            "own-session subscribers get their own updates"
        );
        assert_eq!(shared.unsubscribe("r://x"), Some(false));
        assert_eq!(own.unsubscribe("r://x"), Some(true));
        assert_eq!(own.unsubscribe("r://x"), None);
        assert_eq!(sessions.shared_subscribers("r://x"), 0);
    }

    #[test]
    fn idle_sessions_expire_unless_their_get_stream_is_open() {
        let sessions = Sessions::default();
        let listening = sessions.create("2025-11-25", None).unwrap();
        let idle = sessions.create("2025-11-25", None).unwrap();
        let stream = listening.open_stream(1);
        std::thread::sleep(Duration::from_millis(5));
        sessions.expire(Duration::from_millis(1));
        assert!(
            sessions.get(&listening.id).is_some(),
            "kept while listening"
        );
        assert!(sessions.get(&idle.id).is_none(), "idle one expired");
        drop(stream);
        std::thread::sleep(Duration::from_millis(5));
        sessions.expire(Duration::from_millis(1));
        assert!(
            sessions.get(&listening.id).is_none(),
            "expired once the stream closed"
        );
    }

    #[test]
    fn caps_refuse_new_sessions_and_dedicated_places_until_one_ends() {
        let sessions = Sessions::new(
            Box::new(|_| {}),
            SessionLimits {
                max: 3,
                max_dedicated: 1,
                unused_ttl: Duration::from_secs(60),
            },
        );
        let relaying = sessions
            .create("2025-11-25", Some(r#"{"roots":{}}"#.into()))
            .unwrap();
        let err = sessions
            .create("2025-11-25", Some(r#"{"sampling":{}}"#.into()))
            .err()
            .unwrap();
        assert_eq!(err, SessionRefused::DedicatedFull(1));
        assert!(
            err.to_string().contains("--max-dedicated-sessions"),
            "{err}"
        );
        let plain = sessions.create("2025-11-25", None).unwrap();
        assert_eq!(
            plain.set_log_level("debug"),
            Err(SessionRefused::DedicatedFull(1))
        );
        assert!(!plain.is_dedicated(), "a refused setLevel changes nothing");
        let third = sessions.create("2025-11-25", None).unwrap();
        let full = sessions.create("2025-11-25", None).err().unwrap();
        assert_eq!(full, SessionRefused::Full(3));
        assert!(
            full.to_string()
                .contains("maximum of 3 client sessions (--max-sessions)")
        );
        assert_eq!(sessions.len(), 3);

        assert!(sessions.remove(&relaying.id));
        plain.set_log_level("debug").unwrap();
        plain.set_log_level("info").unwrap();
        assert!(plain.is_dedicated());
        assert!(sessions.remove(&third.id));
        assert_eq!(
            sessions
                .create("2025-11-25", Some(r#"{"roots":{}}"#.into()))
                .err(),
            Some(SessionRefused::DedicatedFull(1)),
            "the log level holds the one place"
        );
        assert!(sessions.remove(&plain.id));
        assert!(
            sessions
                .create("2025-11-25", Some(r#"{"roots":{}}"#.into()))
                .is_ok()
        );
    }

    #[test]
    fn sessions_never_used_after_initialize_end_after_the_short_ttl() {
        let sessions = Sessions::new(
            Box::new(|_| {}),
            SessionLimits {
                unused_ttl: Duration::from_millis(20),
                ..SessionLimits::default()
            },
        );
        let unused = sessions.create("2025-11-25", None).unwrap();
        let used = sessions.create("2025-11-25", None).unwrap();
        assert!(sessions.get(&used.id).is_some());
        std::thread::sleep(Duration::from_millis(40));
        sessions.expire(Duration::from_secs(30 * 60));
        assert!(unused.is_ended(), "never used: ended after 20 ms");
        assert!(sessions.get(&used.id).is_some(), "used: keeps the idle TTL");
        assert_eq!(sessions.len(), 1);
    }

    #[tokio::test]
    async fn messages_prefer_the_stream_asked_for() {
        let sessions = Sessions::default();
        let s = sessions
            .create("2025-11-25", Some(r#"{"sampling":{}}"#.into()))
            .unwrap();
        let msg = crate::jsonrpc::raw(r#"{"jsonrpc":"2.0","method":"m"}"#.into());
        assert!(!s.send(&msg, true), "no stream at all");
        let mut get = s.open_stream(4);
        let (tx, mut reply) = mpsc::unbounded_channel();
        let _cancel = s.register("1", Some(tx));
        assert!(s.send(&msg, true));
        assert!(reply.try_recv().is_ok() && get.try_recv().is_err());
        assert!(s.send(&msg, false));
        assert!(get.try_recv().is_ok() && reply.try_recv().is_err());
        s.finish("1");
        assert!(s.send(&msg, true), "falls back to the GET stream");
        assert!(get.try_recv().is_ok());
    }
}
