//! Multi round-trip requests (MCP 2026-07-28) bridged to 2025 backends: a backend's
//! server-to-client request (`sampling/createMessage`, `elicitation/create`, `roots/list`)
//! during a stateless client's call becomes an `input_required` result, and the client's
//! retry with `inputResponses` answers the backend's pending request.
//!
//! A 2026 client that declares any of those capabilities calls `tools/call`, `prompts/get`
//! or `resources/read` on backend sessions of its own (as a 2025 client with those
//! capabilities does), held by a client session that lives only for this call. The call runs
//! on in the gateway while the client answers: its state is the gateway's, named by an
//! unguessable `requestState` token that only the same caller can use, for the method it was
//! made for. A client that never retries loses nothing of anyone else's: the relay answers the
//! backend with an error after its usual wait (5 minutes), the call ends, and its session and
//! backend sessions close. A retry whose token is unknown, expired or not the caller's is
//! -32602, as the revision's reference implementation answers.
//!
//! The state is in this process: with several gateway replicas, the retry must reach the same
//! one (the Service's `sessionAffinity: ClientIP`, the default, does that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::auth::Caller;
use super::http::{Front, json as json_response};
use super::modern::{Envelope, error};
use super::session::{ClientSession, Owner};
use crate::jsonrpc::{self, code};
use crate::route;

/// Methods whose results may be `input_required`.
pub const METHODS: [&str; 3] = ["tools/call", "prompts/get", "resources/read"];

/// How long a call may wait for the client's next round (the relay's own wait).
const WAIT: Duration = crate::relay::ANSWER_TIMEOUT;

/// Most bridged calls waiting for a client's round at once.
const MAX_CALLS: usize = 1024;

/// A call running in the gateway between the client's rounds.
struct Call {
    owner: Option<Owner>,
    method: String,
    session: Arc<ClientSession>,
    /// Messages related to the call (the backend's requests, progress) and its outcome.
    events: tokio::sync::Mutex<Events>,
    deadline: Instant,
    /// The keys of the input requests sent to the client: its answers are taken for these
    /// only, so no answer reaches a request of another call.
    asked: Mutex<std::collections::HashSet<String>>,
}

struct Events {
    related: mpsc::UnboundedReceiver<Box<RawValue>>,
    done: oneshot::Receiver<Result<route::Reply, route::Refused>>,
}

fn calls() -> &'static Mutex<HashMap<String, Arc<Call>>> {
    static T: OnceLock<Mutex<HashMap<String, Arc<Call>>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<String, Arc<Call>>> {
    calls().lock().unwrap_or_else(|p| p.into_inner())
}

/// What a retry carries: the token and the answers by key.
pub struct Retry {
    pub state: String,
    pub responses: Vec<(String, Box<RawValue>)>,
}

/// The `requestState` and `inputResponses` of a request's params, if it carries a state.
pub fn retry_of(params: Option<&RawValue>) -> Option<Retry> {
    let members = jsonrpc::object_members(params?).ok()?;
    let state = jsonrpc::string_member(&members, "requestState")?;
    let responses = members
        .iter()
        .find(|(k, _)| k == "inputResponses")
        .and_then(|(_, v)| jsonrpc::object_members(v).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.to_owned()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Some(Retry { state, responses })
}

/// Whether the bridged path applies: a method that may need input, from a client that
/// declared a capability a backend may ask it to use.
pub fn applies(method: &str, envelope: &Envelope) -> bool {
    METHODS.contains(&method) && envelope.relay_capabilities.is_some()
}

/// What of the first request's headers a bridged call keeps for its later rounds: the ones
/// `passthroughHeaders` forwards, and (with tracing on) the W3C trace context.
pub struct Asked {
    pub forwarded: Option<HeaderMap>,
    pub trace: Option<HeaderMap>,
}

/// Starts a bridged call and answers its first round.
pub async fn start(
    front: Arc<Front>,
    caller: Caller,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    envelope: &Envelope,
    asked: Asked,
) -> Response {
    let Asked { forwarded, trace } = asked;
    if lock().len() >= MAX_CALLS {
        return error(
            Some(id),
            code::LIMIT_REACHED,
            &format!("{MAX_CALLS} calls already wait for their clients' input; retry shortly"),
            None,
        );
    }
    let session = match front.sessions.create_owned(
        &envelope.version,
        envelope.relay_capabilities.clone(),
        caller.owner.clone(),
    ) {
        Ok(s) => s,
        Err(e) => return error(Some(id), code::LIMIT_REACHED, &e.to_string(), None),
    };
    tracing::debug!(session = %session.id, method, dedicated = session.is_dedicated(), "bridged call started");
    // Counts as used: the sweeper must not end it while the client answers.
    let _ = front.sessions.get(&session.id);
    let (tx, related) = mpsc::unbounded_channel();
    let _cancel = session.register(id.get(), Some(tx.clone()));
    let (done_tx, done) = oneshot::channel();
    {
        let (front, session) = (front.clone(), session.clone());
        let (id, method, params) = (
            id.to_owned(),
            method.to_owned(),
            params.map(|p| p.to_owned()),
        );
        tokio::spawn(async move {
            let who = route::Who {
                principal: caller.principal.as_deref(),
                subject: caller.subject.as_ref(),
                forwarded: forwarded.as_ref(),
                owner: caller.owner.as_ref(),
                headers: trace.as_ref(),
            };
            let r = front
                .router
                .handle(&session, who, &id, &method, params.as_deref(), Some(tx))
                .await;
            let _ = done_tx.send(r);
        });
    }
    let call = Arc::new(Call {
        owner: session.owner.clone(),
        method: method.to_owned(),
        session,
        events: tokio::sync::Mutex::new(Events { related, done }),
        deadline: Instant::now() + WAIT,
        asked: Mutex::default(),
    });
    let state = token();
    lock().insert(state.clone(), call.clone());
    schedule_expiry(front.clone(), state.clone());
    round(front, id.to_owned(), state, call).await
}

/// A client's next round: its answers go to the backend's waiting requests, and the call
/// goes on to its next round or its end.
pub async fn resume(
    front: Arc<Front>,
    caller: &Caller,
    id: &RawValue,
    method: &str,
    retry: Retry,
) -> Option<Response> {
    let found = lock().get(&retry.state).cloned();
    let Some(call) = found else {
        // One of ours that is gone: refused, never run again from scratch.
        return retry
            .state
            .starts_with(TOKEN_PREFIX)
            .then(|| invalid_state(id));
    };
    if call.owner != caller.owner || call.method != method || Instant::now() > call.deadline {
        return Some(invalid_state(id));
    }
    for (key, answer) in retry.responses {
        // Unknown keys are ignored, as the revision says.
        if call
            .asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
        {
            crate::relay::deliver(&jsonrpc::string_value(&key), Ok(answer));
        }
    }
    Some(round(front, id.to_owned(), retry.state, call).await)
}

fn invalid_state(id: &RawValue) -> Response {
    error(
        Some(id),
        code::INVALID_PARAMS,
        "Invalid or expired requestState",
        Some(json!({"reason": "invalid_request_state"})),
    )
}

/// One thing that happened to a call while the client waits.
enum Event {
    /// A progress notification for the client.
    Progress(Box<RawValue>),
    /// Requests of the backend for the client: (gateway id, method, params).
    Input(Vec<(String, String, Value)>),
    /// The call's outcome.
    Done(Result<route::Reply, route::Refused>),
    /// The wait is over.
    Expired,
}

/// The call's next event (log messages are not passed on: the request named no level).
async fn next_event(call: &Call) -> Event {
    let mut guard = call.events.lock().await;
    let ev = &mut *guard;
    let left = call.deadline.saturating_duration_since(Instant::now());
    let sleep = tokio::time::sleep(left);
    tokio::pin!(sleep);
    loop {
        let m = tokio::select! {
            biased;
            m = ev.related.recv() => m,
            r = &mut ev.done => return match r {
                Ok(r) => Event::Done(r),
                Err(_) => Event::Expired,
            },
            _ = &mut sleep => return Event::Expired,
        };
        let Some(m) = m else {
            // Every sender is gone: only the outcome is left.
            return match (&mut ev.done).await {
                Ok(r) => Event::Done(r),
                Err(_) => Event::Expired,
            };
        };
        if let Some(req) = as_request(&m) {
            let mut requests = vec![req];
            while let Ok(m) = ev.related.try_recv() {
                if let Some(r) = as_request(&m) {
                    requests.push(r);
                }
            }
            return Event::Input(requests);
        }
        if m.get().contains("\"notifications/progress\"") {
            return Event::Progress(m);
        }
    }
}

/// The reply that ends a round: `input_required` carrying the backend's requests, keyed by
/// the gateway's ids, or the call's outcome (and the call forgotten).
fn settle(front: &Front, id: &RawValue, state: &str, call: &Call, event: Event) -> Response {
    match event {
        Event::Input(requests) => {
            let mut input = serde_json::Map::new();
            let mut asked = call.asked.lock().unwrap_or_else(|p| p.into_inner());
            for (key, method, params) in requests {
                asked.insert(key.clone());
                input.insert(key, json!({"method": method, "params": params}));
            }
            drop(asked);
            let result = json!({
                "resultType": "input_required",
                "inputRequests": input,
                "requestState": state,
            });
            json_response(
                StatusCode::OK,
                jsonrpc::response_ok(id, &jsonrpc::raw(result.to_string())),
            )
        }
        Event::Done(reply) => {
            end(front, state);
            // The reply carries the first round's id: answer under this round's.
            let reply = reply.map(|text| with_id(&text, id));
            super::modern::finish(front, &HeaderMap::new(), reply, &call.method)
        }
        Event::Expired | Event::Progress(_) => {
            end(front, state);
            error(
                Some(id),
                code::INTERNAL_ERROR,
                "the call ended without an answer while waiting for input",
                None,
            )
        }
    }
}

/// Answers one round: as JSON when nothing comes before its end, else as an SSE stream that
/// carries the call's progress notifications and then the round's end.
async fn round(front: Arc<Front>, id: Box<RawValue>, state: String, call: Arc<Call>) -> Response {
    let first = next_event(&call).await;
    let Event::Progress(first) = first else {
        return settle(&front, &id, &state, &call, first);
    };
    let stream = async_stream::stream! {
        yield super::sse::event(first.get());
        loop {
            match next_event(&call).await {
                Event::Progress(m) => yield super::sse::event(m.get()),
                other => {
                    let r = settle(&front, &id, &state, &call, other);
                    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
                        .await
                        .unwrap_or_default();
                    yield super::sse::event(&String::from_utf8_lossy(&body));
                    break;
                }
            }
        }
    };
    super::sse::response(stream, None)
}

/// A relayed request's gateway id, method and params.
fn as_request(m: &RawValue) -> Option<(String, String, Value)> {
    let v: Value = serde_json::from_str(m.get()).ok()?;
    let id = v.get("id")?.as_str()?.to_owned();
    let method = v.get("method")?.as_str()?.to_owned();
    Some((id, method, v.get("params").cloned().unwrap_or(json!({}))))
}

/// A reply with its id replaced by `id`.
fn with_id(text: &str, id: &RawValue) -> String {
    let Ok(members) = jsonrpc::object_members(&jsonrpc::raw(text.to_owned())).map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect::<Vec<_>>()
    }) else {
        return text.to_owned();
    };
    let borrowed: Vec<(String, &RawValue)> =
        members.iter().map(|(k, v)| (k.clone(), &**v)).collect();
    jsonrpc::with_member(&borrowed, "id", id).get().to_owned()
}

/// Forgets a call and ends its session (closing its backend sessions).
fn end(front: &Front, state: &str) {
    if let Some(call) = lock().remove(state) {
        front.sessions.remove(&call.session.id);
    }
}

/// Ends a call the client stopped answering, once its wait is over.
fn schedule_expiry(front: Arc<Front>, state: String) {
    tokio::spawn(async move {
        tokio::time::sleep(WAIT + Duration::from_secs(5)).await;
        end(&front, &state);
    });
}

const TOKEN_PREFIX: &str = "vmcp-state-";

/// An unguessable token naming a waiting call.
fn token() -> String {
    format!(
        "{TOKEN_PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_names_its_state_and_answers() {
        let p = jsonrpc::raw(
            r#"{"name":"t","requestState":"s1","inputResponses":{"vmcp-1":{"action":"accept"}}}"#
                .into(),
        );
        let r = retry_of(Some(&p)).unwrap();
        assert_eq!(r.state, "s1");
        assert_eq!(r.responses.len(), 1);
        assert_eq!(r.responses[0].0, "vmcp-1");
        assert_eq!(r.responses[0].1.get(), r#"{"action":"accept"}"#);
        assert!(retry_of(Some(&jsonrpc::raw(r#"{"name":"t"}"#.into()))).is_none());
    }

    #[test]
    fn relayed_requests_are_read_and_replies_renumbered() {
        let m = jsonrpc::raw(
            r#"{"jsonrpc":"2.0","id":"vmcp-9","method":"sampling/createMessage","params":{"maxTokens":5}}"#
                .into(),
        );
        let (id, method, params) = as_request(&m).unwrap();
        assert_eq!(
            (id.as_str(), method.as_str()),
            ("vmcp-9", "sampling/createMessage")
        );
        assert_eq!(params["maxTokens"], 5);
        assert!(
            as_request(&jsonrpc::raw(
                r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#.into()
            ))
            .is_none()
        );
        let t = with_id(
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            &jsonrpc::raw("7".into()),
        );
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["id"], 7);
    }
}
