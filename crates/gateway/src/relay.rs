//! Relay of server-to-client requests (sampling, elicitation, roots) between backends and the
//! client they belong to.
//!
//! A client that declares any of those capabilities (or sets a log level) gets backend sessions
//! of its own ([`Downstream`]), so whatever such a session's backend sends outside a response —
//! on a request's reply stream, on the GET stream or on a legacy SSE stream — belongs to that one
//! client. The request goes out to the client under an id the gateway chose; the client's answer,
//! POSTed later, comes back here and is handed to the backend under the backend's original id.
//!
//! Gateway ids are `"vmcp-<uuid>"` strings: unique across all backends and client sessions, so
//! answers never collide, and unguessable, so one client cannot answer another's request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::oneshot;

/// Server-to-client methods relayed to the client. Anything else is declined.
pub const RELAYED_METHODS: [&str; 3] =
    ["sampling/createMessage", "elicitation/create", "roots/list"];

/// The client capabilities that make backend sessions per client necessary: each lets a backend
/// send the client requests of its own.
pub const RELAYED_CAPABILITIES: [&str; 3] = ["sampling", "elicitation", "roots"];

/// What the shared backend sessions declare: everything the gateway can relay, so backends that
/// offer tools only to capable clients (server-everything's sampling and roots tools) list them
/// for the aggregated view. Requests that still arrive on a shared session are answered by the
/// gateway (see `backend::dispatch_incoming`).
pub const SHARED_CAPABILITIES: &str = r#"{"sampling":{},"elicitation":{},"roots":{}}"#;

/// What became of one server-to-client request, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Relayed; the client answered with a result.
    Answered,
    /// Relayed; the client answered with an error.
    ClientError,
    /// Relayed; no answer in time (or the client went away).
    Unanswered,
    /// The client had no open stream to carry it.
    NoStream,
    /// It arrived on a shared session: the gateway answered it itself.
    SharedSession,
    /// Too many requests were waiting for answers.
    OverLimit,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Answered,
        Outcome::ClientError,
        Outcome::Unanswered,
        Outcome::NoStream,
        Outcome::SharedSession,
        Outcome::OverLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::ClientError => "client_error",
            Outcome::Unanswered => "unanswered",
            Outcome::NoStream => "no_stream",
            Outcome::SharedSession => "shared_session",
            Outcome::OverLimit => "over_limit",
        }
    }
}

static COUNTS: [[AtomicU64; 6]; 3] = [const { [const { AtomicU64::new(0) }; 6] }; 3];

/// Counts one server-to-client request of a relayed method (others are not counted).
pub fn count(method: &str, outcome: Outcome) {
    if let Some(m) = RELAYED_METHODS.iter().position(|r| *r == method) {
        let o = Outcome::ALL.iter().position(|x| *x == outcome).unwrap_or(0);
        COUNTS[m][o].fetch_add(1, Ordering::Relaxed);
    }
}

/// Every (method, outcome, count) seen so far, in a fixed order.
pub fn counts() -> Vec<(&'static str, &'static str, u64)> {
    let mut out = Vec::new();
    for (m, method) in RELAYED_METHODS.iter().enumerate() {
        for (o, outcome) in Outcome::ALL.iter().enumerate() {
            let n = COUNTS[m][o].load(Ordering::Relaxed);
            if n > 0 {
                out.push((*method, outcome.as_str(), n));
            }
        }
    }
    out
}

/// The client end of dedicated backend sessions.
pub trait Downstream: Send + Sync {
    /// The client session id: backend sessions are keyed by it.
    fn id(&self) -> &str;
    /// The capabilities to declare to backends for this client: its own `sampling`,
    /// `elicitation` and `roots` objects, verbatim, as a JSON object.
    fn capabilities(&self) -> &str;
    /// The level the client asked for with `logging/setLevel`, if any.
    fn log_level(&self) -> Option<String>;
    /// Sends a message to the client; `reply_first` prefers the reply stream of a request in
    /// flight over the GET stream. Returns whether any stream took it.
    fn send(&self, msg: &RawValue, reply_first: bool) -> bool;
    /// Whether the client session has ended (its backend sessions must not outlive it).
    fn is_ended(&self) -> bool;
}

/// How long the gateway waits for a client's answer (a human may be filling in a form).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// Most relayed requests waiting for answers at once, over all clients: a backend that floods
/// requests gets the excess declined instead of growing the gateway's memory.
pub const MAX_PENDING: usize = 4096;

/// The client's answer: its `result`, or its `error` object.
pub type Answer = Result<Box<RawValue>, Box<RawValue>>;

fn table() -> &'static Mutex<HashMap<String, oneshot::Sender<Answer>>> {
    static T: OnceLock<Mutex<HashMap<String, oneshot::Sender<Answer>>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<String, oneshot::Sender<Answer>>> {
    table().lock().unwrap_or_else(|p| p.into_inner())
}

/// A relayed request waiting for the client's answer. Dropping it forgets the id.
pub struct Pending {
    /// The gateway's id, as raw JSON (a quoted string).
    pub id: Box<RawValue>,
    key: String,
    rx: Option<oneshot::Receiver<Answer>>,
}

impl Pending {
    /// The client's answer, or `None` on timeout or if the gateway forgot the id.
    pub async fn answer(mut self, timeout: Duration) -> Option<Answer> {
        let rx = self.rx.take()?;
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock().remove(&self.key);
    }
}

/// Allocates a gateway id for one relayed request; `None` when [`MAX_PENDING`] requests are
/// already waiting.
pub fn register() -> Option<Pending> {
    let key = format!("vmcp-{}", uuid::Uuid::new_v4());
    let (tx, rx) = oneshot::channel();
    {
        let mut t = lock();
        if t.len() >= MAX_PENDING {
            return None;
        }
        t.insert(key.clone(), tx);
    }
    Some(Pending {
        id: crate::jsonrpc::raw(format!("\"{key}\"")),
        key,
        rx: Some(rx),
    })
}

/// Hands a client's answer (a JSON-RPC response with raw `id`) to the waiting relay. Returns
/// whether anyone was waiting for it.
pub fn deliver(id: &RawValue, answer: Answer) -> bool {
    let Ok(key) = serde_json::from_str::<String>(id.get()) else {
        return false;
    };
    match lock().remove(&key) {
        Some(tx) => tx.send(answer).is_ok(),
        None => false,
    }
}

/// A request with the gateway's id and the backend's method and params, copied verbatim.
pub fn request(id: &RawValue, method: &str, params: Option<&RawValue>) -> Box<RawValue> {
    let method = serde_json::to_string(method).unwrap_or_else(|_| "\"\"".to_owned());
    crate::jsonrpc::raw(match params {
        Some(p) => format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":{method},"params":{}}}"#,
            id.get(),
            p.get()
        ),
        None => format!(r#"{{"jsonrpc":"2.0","id":{},"method":{method}}}"#, id.get()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_answers_once_and_only_to_known_ids() {
        let p = register().unwrap();
        let id = p.id.clone();
        assert!(id.get().starts_with("\"vmcp-"));
        assert!(!deliver(
            &crate::jsonrpc::raw("\"vmcp-nope\"".into()),
            Ok(crate::jsonrpc::empty_object())
        ));
        assert!(!deliver(
            &crate::jsonrpc::raw("7".into()),
            Ok(crate::jsonrpc::empty_object())
        ));
        assert!(deliver(
            &id,
            Ok(crate::jsonrpc::raw(r#"{"action":"accept"}"#.into()))
        ));
        assert!(
            !deliver(&id, Ok(crate::jsonrpc::empty_object())),
            "second answer is dropped"
        );
        let a = p.answer(Duration::from_secs(1)).await.unwrap().unwrap();
        assert_eq!(a.get(), r#"{"action":"accept"}"#);
    }

    #[tokio::test]
    async fn forgets_ids_on_drop_and_times_out() {
        let p = register().unwrap();
        let id = p.id.clone();
        drop(p);
        assert!(!deliver(&id, Ok(crate::jsonrpc::empty_object())));
        let p = register().unwrap();
        assert!(p.answer(Duration::from_millis(20)).await.is_none());
    }

    #[test]
    fn builds_requests_verbatim() {
        let id = crate::jsonrpc::raw("\"vmcp-1\"".into());
        let params = crate::jsonrpc::raw(r#"{"maxTokens":1}"#.into());
        assert_eq!(
            request(&id, "sampling/createMessage", Some(&params)).get(),
            r#"{"jsonrpc":"2.0","id":"vmcp-1","method":"sampling/createMessage","params":{"maxTokens":1}}"#
        );
    }
}
