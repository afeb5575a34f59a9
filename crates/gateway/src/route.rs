//! Request routing: answers list calls from the view and sends calls to the owning backend
//! under the backend's own name. Only the member routed on is rewritten; the rest of the
//! params and the whole result travel as raw JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use vmcp_config::PartialFailureMode;

use crate::aggregate::Aggregator;
use crate::aggregate::view::{Listing, View};
use crate::authz::{Authorizer, Kind, Principal, Target, ToolHints};
use crate::backend::auth::{AuthError, Subject};
use crate::backend::exchange::ExchangeFailure;
use crate::backend::pool::Caller;
use crate::backend::{BackendError, RelatedTx};
use crate::front::session::ClientSession;
use crate::jsonrpc::{self, FrameError, code};
use crate::metrics::Metrics;

pub struct Router {
    pub agg: Arc<Aggregator>,
    /// The client sessions, for subscriptions shared between clients.
    pub sessions: Arc<crate::front::session::Sessions>,
    pub metrics: Arc<Metrics>,
    pub partial_failure: PartialFailureMode,
    /// How long a list call may wait for backends still being tried for the first time.
    pub first_fetch_wait: Duration,
    /// The Cedar policies, when `incomingAuth.authz` is `cedar`; `None` costs nothing.
    pub authz: Option<Arc<Authorizer>>,
    /// Entries per page of the lists answered (`--list-page-size`).
    pub page_size: usize,
    /// Audit events (`audit` section); `None` costs nothing.
    pub audit: Option<Arc<crate::audit::Auditor>>,
}

/// Who asks: the Cedar principal (`None` for the anonymous one, which only a gateway
/// without client authentication passes), the authenticated caller, whose token
/// backends that act for the user are given (exchanged), never anyone else's, and the
/// caller's headers `passthroughHeaders` forwards to backends.
#[derive(Clone, Copy, Default)]
pub struct Who<'a> {
    pub principal: Option<&'a Principal>,
    pub subject: Option<&'a Subject>,
    pub forwarded: Option<&'a http::HeaderMap>,
    /// The issuer and subject of the caller's token (audit events name them).
    pub owner: Option<&'a crate::front::session::Owner>,
    /// The request's HTTP headers, read for W3C trace context when tracing is on.
    pub headers: Option<&'a http::HeaderMap>,
}

/// The outcome of one request: a full JSON-RPC response text.
pub type Reply = String;

/// A request refused before anything reached a backend, with the JSON-RPC error to send;
/// the variant decides the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The authorization policy said no: HTTP 403.
    Policy(Reply),
    /// The token endpoint of a backend that acts for the user refused the caller's token
    /// (RFC 6749 `invalid_grant`/`invalid_token`: revoked, or not exchangeable): HTTP 401
    /// with a challenge, so the client fetches a fresh token instead of retrying this one.
    Token(Reply),
}

impl Refused {
    pub fn into_reply(self) -> Reply {
        match self {
            Refused::Policy(r) | Refused::Token(r) => r,
        }
    }
}

/// Why `dispatch` stopped short of a reply of its own.
enum Stop {
    Policy(Kind),
    /// The named backend's token endpoint refused the caller's token.
    Token(String),
}

impl From<Kind> for Stop {
    fn from(k: Kind) -> Self {
        Stop::Policy(k)
    }
}

/// A reply with its metric labels: the tool name (empty if none), the backend (if any) and
/// whether it succeeded.
type Outcome = (Reply, String, Option<Arc<str>>, bool);

impl Router {
    /// Answers one request of `session` for `who`.
    pub async fn handle(
        &self,
        session: &Arc<ClientSession>,
        who: Who<'_>,
        id: &RawValue,
        method: &str,
        params: Option<&RawValue>,
        related: Option<RelatedTx>,
    ) -> Result<Reply, Refused> {
        let started = Instant::now();
        let work = self.dispatch(session, who, id, method, params, related);
        let parent =
            crate::telemetry::on().then(|| crate::telemetry::extract_parent(who.headers, params));
        let span = parent
            .filter(|p| crate::telemetry::sampled(p.as_ref()))
            .map(|parent| {
                // A 2026-07-28 request has no session: its stand-in's id means nothing.
                let sid = (!session.id.is_empty()).then_some(session.id.as_str());
                // The method as the metrics name it (a fixed set, `other` for the rest): a client's
                // made-up method must not become a span name of its size.
                crate::telemetry::span::server(
                    metric_method(method),
                    params,
                    sid,
                    &session.protocol_version,
                    parent,
                )
            });
        let outcome = match &span {
            Some(s) => tracing::Instrument::instrument(work, s.clone()).await,
            None => work.await,
        };
        let duration = started.elapsed();
        let elapsed = duration.as_secs_f64();
        let (result, tool, backend, outcome) = match outcome {
            Ok((reply, tool, backend, ok)) => {
                let b = backend.as_deref().unwrap_or("");
                self.metrics
                    .observe(metric_method(method), &tool, b, ok, elapsed);
                let o = if ok { "success" } else { "error" };
                (Ok(reply), tool, backend, o)
            }
            Err(Stop::Policy(kind)) => {
                self.metrics
                    .observe(metric_method(method), "", "", false, elapsed);
                self.metrics.denied(kind);
                let reply = jsonrpc::response_error(Some(id), code::DENIED, kind.denial());
                (Err(Refused::Policy(reply)), String::new(), None, "denied")
            }
            Err(Stop::Token(backend)) => {
                self.metrics
                    .observe(metric_method(method), "", &backend, false, elapsed);
                let reply = jsonrpc::response_error(
                    Some(id),
                    code::BACKEND_ERROR,
                    &subject_refused(&backend),
                );
                (
                    Err(Refused::Token(reply)),
                    String::new(),
                    Some(Arc::from(backend)),
                    "failure",
                )
            }
        };
        if let Some(s) = &span {
            let (reply, refusal) = match &result {
                Ok(r) => (r.as_str(), None),
                Err(Refused::Policy(r)) => (r.as_str(), Some("denied")),
                Err(Refused::Token(r)) => (r.as_str(), Some("token_refused")),
            };
            crate::telemetry::span::finish_server(
                s,
                method,
                backend.as_deref(),
                reply,
                outcome == "success",
                refusal,
            );
        }
        if let Some(a) = &self.audit {
            let reply = match &result {
                Ok(r) | Err(Refused::Policy(r) | Refused::Token(r)) => r.as_str(),
            };
            a.record(crate::audit::Record {
                method,
                params,
                tool: &tool,
                backend: backend.as_deref(),
                outcome,
                duration,
                owner: who.owner,
                reply,
            });
        }
        result
    }

    /// Whether the caller may do what `target` describes; always true without policies.
    /// `target` is only built when there are policies (arguments are parsed for it).
    fn admits<'t>(
        &self,
        who: Option<&Principal>,
        target: impl FnOnce() -> Target<'t>,
    ) -> Result<(), Kind> {
        let Some(a) = &self.authz else {
            return Ok(());
        };
        let target = target();
        if a.allows(who.unwrap_or(a.anonymous()), &target) {
            Ok(())
        } else {
            Err(target.kind)
        }
    }

    async fn dispatch(
        &self,
        session: &Arc<ClientSession>,
        asker: Who<'_>,
        id: &RawValue,
        method: &str,
        params: Option<&RawValue>,
        related: Option<RelatedTx>,
    ) -> Result<Outcome, Stop> {
        let who = asker.principal;
        let none = || (String::new(), None);
        let list = |r: Result<Reply, Reply>| match r {
            Ok(s) => (s, String::new(), None, true),
            Err(s) => (s, String::new(), None, false),
        };
        let caller = caller(session, asker);
        Ok(match method {
            "logging/setLevel" => self.set_level(session, id, params).await,
            "ping" => {
                let (t, b) = none();
                (
                    jsonrpc::response_ok(id, &jsonrpc::empty_object()),
                    t,
                    b,
                    true,
                )
            }
            "tools/list" => list(
                self.list(&caller, who, id, params, Kind::Tool, |v| &v.tools_list)
                    .await,
            ),
            "resources/list" => list(
                self.list(&caller, who, id, params, Kind::Resource, |v| {
                    &v.resources_list
                })
                .await,
            ),
            "resources/templates/list" => list(
                self.list(&caller, who, id, params, Kind::Resource, |v| {
                    &v.templates_list
                })
                .await,
            ),
            "prompts/list" => list(
                self.list(&caller, who, id, params, Kind::Prompt, |v| &v.prompts_list)
                    .await,
            ),
            "tools/call" | "prompts/get" => {
                self.by_name(&caller, who, id, method, params, related)
                    .await?
            }
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                self.by_uri(asker, session, id, method, params, related)
                    .await?
            }
            "completion/complete" => self.completion(&caller, who, id, params).await?,
            _ => {
                let msg = format!("method {method:?} is not supported");
                (
                    jsonrpc::response_error(Some(id), code::METHOD_NOT_FOUND, &msg),
                    String::new(),
                    None,
                    false,
                )
            }
        })
    }

    /// A list from the view. With policies, only the entries the caller may use are listed,
    /// by the same decision that gates the call (an entry whose decision fails is left
    /// out); templates are decided on their template string.
    async fn list(
        &self,
        caller: &Caller,
        who: Option<&Principal>,
        id: &RawValue,
        params: Option<&RawValue>,
        kind: Kind,
        pick: impl Fn(&View) -> &Listing,
    ) -> Result<Reply, Reply> {
        let after = match cursor_param(params) {
            Ok(c) => c,
            Err(msg) => {
                return Err(jsonrpc::response_error(
                    Some(id),
                    code::INVALID_PARAMS,
                    &msg,
                ));
            }
        };
        self.first_fetch(caller).await;
        let view = self.agg.view();
        if self.partial_failure == PartialFailureMode::Fail && !view.missing.is_empty() {
            let msg = format!(
                "backends unavailable: {} (partialFailureMode is fail)",
                view.missing.join(", ")
            );
            return Err(jsonrpc::response_error(
                Some(id),
                code::BACKEND_UNAVAILABLE,
                &msg,
            ));
        }
        let listing = pick(&view);
        let list = listing.kind();
        let after = match after.map(|c| cursor::decode(&c, list)).transpose() {
            Ok(a) => a,
            Err(()) => {
                return Err(jsonrpc::response_error(
                    Some(id),
                    code::INVALID_PARAMS,
                    "invalid cursor: pass back the nextCursor of the previous page unchanged",
                ));
            }
        };
        let Some(a) = &self.authz else {
            if after.is_none() && listing.fits(self.page_size) {
                return Ok(jsonrpc::response_ok(id, &listing.json));
            }
            let page = listing.page(
                after.as_deref(),
                self.page_size,
                |_| true,
                |last| cursor::encode(list, last),
            );
            return Ok(jsonrpc::response_ok(id, &page));
        };
        let who = who.unwrap_or(a.anonymous());
        let filtered = listing.page(
            after.as_deref(),
            self.page_size,
            |name| {
                let hints = match kind {
                    Kind::Tool => view.tools.get(name).map(|r| r.hints).unwrap_or_default(),
                    Kind::Prompt | Kind::Resource => ToolHints::default(),
                };
                let target = Target {
                    kind,
                    name,
                    hints,
                    args: None,
                };
                a.allows(who, &target)
            },
            |last| cursor::encode(list, last),
        );
        Ok(jsonrpc::response_ok(id, &filtered))
    }

    /// Waits (bounded) until every backend was fetched once: a request right after initialize
    /// may name a tool, prompt or resource of a backend still being listed.
    async fn first_fetch(&self, caller: &Caller) {
        if !self.agg.is_ready() {
            let _ = tokio::time::timeout(self.first_fetch_wait, self.agg.wait_ready()).await;
        }
        // Backends that answer only callers are listed from the first caller's view.
        let _ =
            tokio::time::timeout(self.first_fetch_wait, self.agg.fetch_user_views(caller)).await;
    }

    async fn by_name(
        &self,
        caller: &Caller,
        who: Option<&Principal>,
        id: &RawValue,
        method: &str,
        params: Option<&RawValue>,
        related: Option<RelatedTx>,
    ) -> Result<Outcome, Stop> {
        let Keyed {
            members,
            value: name,
            ..
        } = match keyed(id, params, "name") {
            Ok(k) => k,
            Err(reply) => return Ok(reply),
        };
        self.first_fetch(caller).await;
        let view = self.agg.view();
        let route = if method == "tools/call" {
            view.tools.get(&name)
        } else {
            view.prompts.get(&name)
        };
        // Decided before the name is looked up, so a denial reads the same for a tool that
        // exists and one that does not.
        if self.authz.is_some() {
            let tool = method == "tools/call";
            let args = if tool {
                match arguments(&members) {
                    Ok(args) => args,
                    Err(e) => return Ok(refused(id, "params.arguments", e)),
                }
            } else {
                None
            };
            self.admits(who, || {
                if tool {
                    let hints = route.map(|r| r.hints).unwrap_or_default();
                    Target::tool(&name, hints, args.as_ref())
                } else {
                    Target::prompt(&name)
                }
            })?;
        }
        let Some(route) = route else {
            let what = if method == "tools/call" {
                "tool"
            } else {
                "prompt"
            };
            let name = jsonrpc::shown(&name);
            return Ok(invalid(id, &format!("unknown {what} {name}")));
        };
        let backend = route.backend.clone();
        let params =
            jsonrpc::with_member(&members, "name", &jsonrpc::string_value(&route.original));
        drop(view);
        let (reply, ok) = self
            .forward(caller, id, &backend, method, &params, related)
            .await?;
        let label = if method == "tools/call" {
            name
        } else {
            String::new()
        };
        Ok((reply, label, Some(backend), ok))
    }

    async fn by_uri(
        &self,
        asker: Who<'_>,
        session: &Arc<ClientSession>,
        id: &RawValue,
        method: &str,
        params: Option<&RawValue>,
        related: Option<RelatedTx>,
    ) -> Result<Outcome, Stop> {
        let Keyed {
            params, value: uri, ..
        } = match keyed(id, params, "uri") {
            Ok(k) => k,
            Err(reply) => return Ok(reply),
        };
        // Reading and subscribing are decided on the URI asked for (a template's expansion),
        // before it is looked up; unsubscribing only ever takes something away.
        if method != "resources/unsubscribe" {
            self.admits(asker.principal, || Target::resource(&uri))?;
        }
        let mut caller = caller(session, asker);
        self.first_fetch(&caller).await;
        let Some(backend) = self.agg.view().resource_backend(&uri) else {
            let msg = format!("resource {} not found", jsonrpc::shown(&uri));
            return Ok((
                // `data.uri` names it, as both revisions ask.
                jsonrpc::response_error_data(
                    Some(id),
                    code::RESOURCE_NOT_FOUND,
                    &msg,
                    &serde_json::json!({ "uri": uri }),
                ),
                String::new(),
                None,
                false,
            ));
        };
        // Subscriptions are tracked per client session here: the shared backend session fans
        // `resources/updated` out to exactly the clients subscribed through it, and stays
        // subscribed until the last of them unsubscribes.
        let ok_here = |backend| {
            let reply = jsonrpc::response_ok(id, &jsonrpc::empty_object());
            (reply, String::new(), Some(backend), true)
        };
        match method {
            "resources/subscribe" if !session.subscribe(&uri, caller.client.is_some()) => {
                return Ok(ok_here(backend));
            }
            "resources/unsubscribe" => match session.unsubscribe(&uri) {
                None => return Ok(ok_here(backend)),
                Some(false) if self.sessions.shared_subscribers(&uri) > 0 => {
                    return Ok(ok_here(backend));
                }
                // Undo it where it was made, even if the client has its own sessions by now.
                Some(false) => caller.client = None,
                Some(true) => {}
            },
            _ => {}
        }
        let r = self
            .forward(&caller, id, &backend, method, params, related)
            .await;
        if method == "resources/subscribe" && !matches!(r, Ok((_, true))) {
            session.unsubscribe(&uri);
        }
        let (reply, ok) = r?;
        Ok((reply, String::new(), Some(backend), ok))
    }

    async fn completion(
        &self,
        caller: &Caller,
        who: Option<&Principal>,
        id: &RawValue,
        params: Option<&RawValue>,
    ) -> Result<Outcome, Stop> {
        let Some(params) = params else {
            return Ok(invalid(id, "params are required"));
        };
        let members = match jsonrpc::object_members(params) {
            Ok(m) => m,
            Err(e) => return Ok(refused(id, "params", e)),
        };
        let Some((_, r)) = members.iter().find(|(k, _)| k == "ref") else {
            return Ok(invalid(id, "params.ref is required"));
        };
        let ref_members = match jsonrpc::object_members(r) {
            Ok(m) => m,
            Err(e) => return Ok(refused(id, "params.ref", e)),
        };
        let kind = jsonrpc::string_member(&ref_members, "type").unwrap_or_default();
        self.first_fetch(caller).await;
        let view = self.agg.view();
        // Completing a prompt's or resource's arguments is using it: the same decision as
        // getting the prompt or reading the resource.
        let (backend, params) = match kind.as_str() {
            "ref/prompt" => {
                let name = jsonrpc::string_member(&ref_members, "name").unwrap_or_default();
                self.admits(who, || Target::prompt(&name))?;
                let Some(route) = view.prompts.get(&name) else {
                    let name = jsonrpc::shown(&name);
                    return Ok(invalid(id, &format!("unknown prompt {name}")));
                };
                let new_ref = jsonrpc::with_member(
                    &ref_members,
                    "name",
                    &jsonrpc::string_value(&route.original),
                );
                (
                    route.backend.clone(),
                    jsonrpc::with_member(&members, "ref", &new_ref),
                )
            }
            "ref/resource" => {
                let uri = jsonrpc::string_member(&ref_members, "uri").unwrap_or_default();
                self.admits(who, || Target::resource(&uri))?;
                let Some(b) = view.resource_backend(&uri) else {
                    let uri = jsonrpc::shown(&uri);
                    return Ok(invalid(id, &format!("unknown resource {uri}")));
                };
                (b, jsonrpc::raw(params.get().to_owned()))
            }
            _ => {
                return Ok(invalid(
                    id,
                    "params.ref.type must be ref/prompt or ref/resource",
                ));
            }
        };
        drop(view);
        let (reply, ok) = self
            .forward(caller, id, &backend, "completion/complete", &params, None)
            .await?;
        Ok((reply, String::new(), Some(backend), ok))
    }

    /// Sends to a backend and maps its answer back onto the client's id.
    /// `logging/setLevel`: the client gets backend sessions of its own from now on, each told
    /// the level, so log messages reach exactly the clients that asked for them.
    async fn set_level(
        &self,
        session: &Arc<ClientSession>,
        id: &RawValue,
        params: Option<&RawValue>,
    ) -> Outcome {
        use jsonrpc::LOG_LEVELS as LEVELS;
        let members = match params.map(jsonrpc::object_members).transpose() {
            Ok(m) => m,
            Err(e) => return refused(id, "params", e),
        };
        let level = members.and_then(|m| jsonrpc::string_member(&m, "level"));
        let Some(level) = level.filter(|l| LEVELS.contains(&l.as_str())) else {
            return invalid(
                id,
                &format!("params.level must be one of {}", LEVELS.join(", ")),
            );
        };
        if let Err(e) = session.set_log_level(&level) {
            return (
                jsonrpc::response_error(Some(id), code::LIMIT_REACHED, &e.to_string()),
                String::new(),
                None,
                false,
            );
        }
        let backends = self.agg.backends();
        futures::future::join_all(
            backends
                .values()
                .map(|b| b.client_log_level(&session.id, &level)),
        )
        .await;
        (
            jsonrpc::response_ok(id, &jsonrpc::empty_object()),
            String::new(),
            None,
            true,
        )
    }

    async fn forward(
        &self,
        caller: &Caller,
        id: &RawValue,
        backend: &str,
        method: &str,
        params: &RawValue,
        related: Option<RelatedTx>,
    ) -> Result<(Reply, bool), Stop> {
        let Some(b) = self.agg.backend(backend) else {
            return Ok((
                jsonrpc::response_error(
                    Some(id),
                    code::INTERNAL_ERROR,
                    "route to an unknown backend",
                ),
                false,
            ));
        };
        Ok(
            match b.call(caller, method, Some(params), related.as_ref()).await {
                Ok(result) => (jsonrpc::response_ok(id, &result), true),
                Err(BackendError::Remote(e)) => (jsonrpc::response_raw_error(id, &e), false),
                Err(BackendError::Auth(AuthError::Exchange {
                    failure: ExchangeFailure::SubjectRefused(_),
                    ..
                })) => return Err(Stop::Token(backend.to_owned())),
                // An open circuit included: the name still routes to its backend (see `view`).
                Err(e) => {
                    let c = match e {
                        BackendError::Timeout(..) | BackendError::ConnectTimeout(..) => {
                            code::BACKEND_TIMEOUT
                        }
                        BackendError::Protocol(..) => code::BACKEND_ERROR,
                        BackendError::Overloaded(..) => code::LIMIT_REACHED,
                        ref e if e.is_refusal() => code::BACKEND_ERROR,
                        _ => code::BACKEND_UNAVAILABLE,
                    };
                    (jsonrpc::response_error(Some(id), c, &e.to_string()), false)
                }
            },
        )
    }
}

/// The `cursor` of a list request, if any; the message naming what is wrong otherwise.
fn cursor_param(params: Option<&RawValue>) -> Result<Option<String>, String> {
    let Some(p) = params else {
        return Ok(None);
    };
    let members = jsonrpc::object_members(p).map_err(|e| format!("params: {e}"))?;
    match members.iter().find(|(k, _)| k == "cursor") {
        None => Ok(None),
        Some((_, v)) => match serde_json::from_str::<Option<String>>(v.get()) {
            Ok(c) => Ok(c),
            Err(_) => Err("params.cursor must be a string".into()),
        },
    }
}

/// The gateway's own list cursors: opaque to clients, naming the list they belong to and
/// the key to continue after (see `Listing::page`).
mod cursor {
    use base64::Engine as _;
    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    const VERSION: &str = "vmcp1";

    pub fn encode(list: &str, last: &str) -> String {
        B64.encode(format!("{VERSION}\0{list}\0{last}"))
    }

    /// The key to continue after; `Err` for anything but a cursor of `list` made by
    /// [`encode`].
    pub fn decode(cursor: &str, list: &str) -> Result<String, ()> {
        let bytes = B64.decode(cursor).map_err(|_| ())?;
        let text = String::from_utf8(bytes).map_err(|_| ())?;
        let mut parts = text.splitn(3, '\0');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(VERSION), Some(l), Some(last)) if l == list => Ok(last.to_owned()),
            _ => Err(()),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn cursors_round_trip_and_belong_to_their_list() {
            let c = encode("tools", "b_add");
            assert_eq!(decode(&c, "tools"), Ok("b_add".into()));
            assert_eq!(decode(&c, "prompts"), Err(()));
            assert_eq!(decode("not a cursor", "tools"), Err(()));
            assert_eq!(decode(&B64.encode("vmcp0\0tools\0x"), "tools"), Err(()));
        }
    }
}

/// What a caller whose token a backend's token endpoint refused is told.
fn subject_refused(backend: &str) -> String {
    format!(
        "backend {backend:?}: its token endpoint refused to exchange your token (expired, revoked or not exchangeable); authenticate again"
    )
}

/// Who the backends see a client's calls come from: its own backend sessions when it needs
/// them (see `relay`), the shared ones otherwise.
fn caller(session: &Arc<ClientSession>, who: Who<'_>) -> Caller {
    Caller {
        subject: who.subject.cloned(),
        forwarded: who.forwarded.cloned().unwrap_or_default(),
        client: session
            .is_dedicated()
            .then(|| session.clone() as Arc<dyn crate::relay::Downstream>),
    }
}

/// A params object read for routing: its raw text, its members, and the string member routed
/// on (`name` or `uri`).
struct Keyed<'p> {
    params: &'p RawValue,
    members: Vec<(String, &'p RawValue)>,
    value: String,
}

/// Reads params for routing on string member `key`, or gives the reply naming what is wrong
/// (a duplicated member is an invalid request, see [`jsonrpc::FrameError::Duplicate`]).
fn keyed<'p>(id: &RawValue, params: Option<&'p RawValue>, key: &str) -> Result<Keyed<'p>, Outcome> {
    let params = params.ok_or_else(|| invalid(id, "params are required"))?;
    let members = jsonrpc::object_members(params).map_err(|e| refused(id, "params", e))?;
    let value = jsonrpc::string_member(&members, key)
        .ok_or_else(|| invalid(id, &format!("params.{key} must be a string")))?;
    Ok(Keyed {
        params,
        members,
        value,
    })
}

/// A `tools/call`'s `arguments` object, for policies that read `context.arg_<name>`: `None`
/// when absent or `null`. Read only when there are policies, and then strictly: what the
/// policy decides on must be what the backend acts on, so arguments that are not an object,
/// that this parser cannot read although a backend might (nested deeper than 128 levels, a
/// number out of range), or that hold a key twice at any depth are refused rather than
/// decided on as if there were none.
fn arguments(members: &[(String, &RawValue)]) -> Result<Option<Map<String, Value>>, FrameError> {
    let Some((_, raw)) = members.iter().find(|(k, _)| k == "arguments") else {
        return Ok(None);
    };
    match jsonrpc::unique_value(raw.get())? {
        // A number Cedar cannot hold (beyond its 64-bit longs and decimals) would reach the
        // policy only as `arg_<name>_present`, so `!(context has arg_n) || context.arg_n < 100`
        // would let 18446744073709551615 through: refused, like the other unreadable values.
        Value::Object(m) if m.values().any(|v| !crate::authz::value::decidable(v)) => Err(
            FrameError::Invalid("holds a number outside what the authorization policy can compare"),
        ),
        Value::Object(m) => Ok(Some(m)),
        Value::Null => Ok(None),
        _ => Err(FrameError::Invalid("must be an object")),
    }
}

/// The `method` label of a request's metrics: one of the methods the gateway serves, or
/// `other`. The name comes from the client, so taken as it is, every made-up method would be a
/// new series held for the life of the process (and its text would be echoed into `/metrics`).
fn metric_method(method: &str) -> &'static str {
    const SERVED: &[&str] = &[
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
    ];
    SERVED
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

fn invalid(id: &RawValue, msg: &str) -> Outcome {
    (
        jsonrpc::response_error(Some(id), code::INVALID_PARAMS, msg),
        String::new(),
        None,
        false,
    )
}

/// The reply for an object at `at` that could not be read: a duplicate key is an invalid
/// request naming the key's path; anything else is invalid params.
fn refused(id: &RawValue, at: &str, e: FrameError) -> Outcome {
    let (code, msg) = match e.under(at) {
        FrameError::Duplicate(path) => (code::INVALID_REQUEST, format!("duplicate key {path}")),
        FrameError::Invalid(why) => (code::INVALID_PARAMS, format!("{at} {why}")),
        other => (
            code::INVALID_PARAMS,
            format!("{at} could not be read: {other}"),
        ),
    };
    (
        jsonrpc::response_error(Some(id), code, &msg),
        String::new(),
        None,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::metric_method;

    #[test]
    fn made_up_methods_share_one_metric_label() {
        assert_eq!(metric_method("tools/call"), "tools/call");
        assert_eq!(metric_method("logging/setLevel"), "logging/setLevel");
        assert_eq!(metric_method("x\"} 1\nvmcp_fake{a=\"b"), "other");
        assert_eq!(metric_method("tools/call2"), "other");
    }
}
