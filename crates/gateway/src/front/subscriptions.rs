//! `subscriptions/listen` (MCP 2026-07-28): one long-lived SSE response to a POST that
//! carries the change notifications a stateless client opted into, each tagged with the
//! subscription id (the listen request's JSON-RPC id). It replaces the 2025 GET stream and
//! `resources/subscribe`.
//!
//! A listen stream is, inside the gateway, a client session of its own that lives exactly as
//! long as the stream: list changes reach it as they reach every 2025 session's GET stream,
//! and its resource subscriptions are made and shared with the backends the same way (and
//! authorized the same way: a URI the policy refuses, or no backend serves, is left out of
//! the acknowledgement). When the client closes the stream, the subscriptions are undone and
//! the session ends.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::auth::Caller;
use super::http::Front;
use super::modern::{Envelope, error};
use super::session::ClientSession;
use super::sse;
use crate::jsonrpc::{self, code};
use crate::route;

/// Most resources one listen request may subscribe to.
pub const MAX_RESOURCE_SUBSCRIPTIONS: usize = 100;

const META_SUBSCRIPTION: &str = "io.modelcontextprotocol/subscriptionId";

/// What a listen request opted into (`SubscriptionFilter`).
#[derive(serde::Deserialize, Default, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Filter {
    pub tools_list_changed: bool,
    pub prompts_list_changed: bool,
    pub resources_list_changed: bool,
    pub resource_subscriptions: Vec<String>,
}

impl Filter {
    /// The acknowledged subset, as sent: only what was asked for and is honoured.
    fn acknowledged(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (k, on) in [
            ("toolsListChanged", self.tools_list_changed),
            ("promptsListChanged", self.prompts_list_changed),
            ("resourcesListChanged", self.resources_list_changed),
        ] {
            if on {
                m.insert(k.into(), Value::Bool(true));
            }
        }
        if !self.resource_subscriptions.is_empty() {
            m.insert(
                "resourceSubscriptions".into(),
                json!(self.resource_subscriptions),
            );
        }
        Value::Object(m)
    }

    /// The notification to send for `text` (a message of the session's stream), tagged with
    /// `id`; `None` when the client did not ask for it.
    pub fn tagged(&self, text: &str, id: &RawValue) -> Option<String> {
        let msg: Value = serde_json::from_str(text).ok()?;
        let method = msg.get("method")?.as_str()?;
        let wanted = match method {
            "notifications/tools/list_changed" => self.tools_list_changed,
            "notifications/prompts/list_changed" => self.prompts_list_changed,
            "notifications/resources/list_changed" => self.resources_list_changed,
            "notifications/resources/updated" => {
                let uri = msg.get("params")?.get("uri")?.as_str()?;
                self.resource_subscriptions.iter().any(|s| covers(s, uri))
            }
            _ => false,
        };
        if !wanted {
            return None;
        }
        let mut params = match msg.get("params") {
            Some(Value::Object(p)) => p.clone(),
            _ => serde_json::Map::new(),
        };
        let id: Value = serde_json::from_str(id.get()).ok()?;
        params.insert("_meta".into(), json!({META_SUBSCRIPTION: id}));
        Some(json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string())
    }
}

/// Whether a subscription to `subscribed` covers an update of `uri`: the same resource or
/// one below it (subscriptions, "resource updates may name sub-resources").
fn covers(subscribed: &str, uri: &str) -> bool {
    uri == subscribed
        || uri
            .strip_prefix(subscribed)
            .is_some_and(|rest| subscribed.ends_with('/') || rest.starts_with('/'))
}

/// Undoes a listen stream's subscriptions and ends its session when the stream is dropped
/// (the client closed it, or the gateway is shutting down).
struct Ending {
    front: Arc<Front>,
    caller: Caller,
    session: Arc<ClientSession>,
    uris: Vec<String>,
}

impl Drop for Ending {
    fn drop(&mut self) {
        let (front, caller, session) = (
            self.front.clone(),
            self.caller.clone(),
            self.session.clone(),
        );
        let uris = std::mem::take(&mut self.uris);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            front.sessions.remove(&session.id);
            return;
        };
        rt.spawn(async move {
            for uri in uris {
                let _ = resource_request(&front, &caller, &session, "resources/unsubscribe", &uri)
                    .await;
            }
            front.sessions.remove(&session.id);
            tracing::debug!(session = %session.id, "listen stream closed");
        });
    }
}

async fn resource_request(
    front: &Front,
    caller: &Caller,
    session: &Arc<ClientSession>,
    method: &str,
    uri: &str,
) -> bool {
    let params = jsonrpc::raw(json!({ "uri": uri }).to_string());
    let id = jsonrpc::raw("0".into());
    let who = route::Who {
        principal: caller.principal.as_deref(),
        subject: caller.subject.as_ref(),
        forwarded: None,
        owner: caller.owner.as_ref(),
        headers: None,
    };
    match front
        .router
        .handle(session, who, &id, method, Some(&params), None)
        .await
    {
        Ok(reply) => serde_json::from_str::<Value>(&reply).is_ok_and(|v| v.get("result").is_some()),
        Err(_) => false,
    }
}

pub async fn listen(
    front: Arc<Front>,
    caller: Caller,
    id: &RawValue,
    params: Option<&RawValue>,
    envelope: &Envelope,
) -> Response {
    #[derive(serde::Deserialize)]
    struct Params {
        #[serde(default)]
        notifications: Filter,
    }
    let mut filter = match params.map(|p| serde_json::from_str::<Params>(p.get())) {
        None => Filter::default(),
        Some(Ok(p)) => p.notifications,
        Some(Err(e)) => {
            return error(
                Some(id),
                code::INVALID_PARAMS,
                &format!("params.notifications: {e}"),
                None,
            );
        }
    };
    if filter.resource_subscriptions.len() > MAX_RESOURCE_SUBSCRIPTIONS {
        return error(
            Some(id),
            code::INVALID_PARAMS,
            &format!(
                "params.notifications.resourceSubscriptions: at most {MAX_RESOURCE_SUBSCRIPTIONS} URIs per listen request"
            ),
            None,
        );
    }
    let session = match front
        .sessions
        .create_owned(&envelope.version, None, caller.owner.clone())
    {
        Ok(s) => s,
        Err(e) => return error(Some(id), code::LIMIT_REACHED, &e.to_string(), None),
    };
    let mut rx = session.open_stream(256);
    let mut honoured = Vec::new();
    for uri in std::mem::take(&mut filter.resource_subscriptions) {
        if !honoured.contains(&uri)
            && resource_request(&front, &caller, &session, "resources/subscribe", &uri).await
        {
            honoured.push(uri);
        }
    }
    filter.resource_subscriptions = honoured.clone();
    let id = id.to_owned();
    let ack = json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {
            "notifications": filter.acknowledged(),
            "_meta": {META_SUBSCRIPTION: serde_json::from_str::<Value>(id.get()).unwrap_or(Value::Null)},
        },
    })
    .to_string();
    let ending = Ending {
        front,
        caller,
        session,
        uris: honoured,
    };
    let stream = async_stream::stream! {
        let _ending = ending;
        yield sse::event(&ack);
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        tick.tick().await;
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => if let Some(t) = filter.tagged(&m, &id) { yield sse::event(&t) },
                    None => break,
                },
                _ = tick.tick() => yield sse::keepalive(),
            }
        }
        // The session ended (shutdown): the graceful end is the listen request's response.
        let done = json!({"resultType": "complete", "_meta": {META_SUBSCRIPTION: serde_json::from_str::<Value>(id.get()).unwrap_or(Value::Null)}});
        yield sse::event(&jsonrpc::response_ok(&id, &jsonrpc::raw(done.to_string())));
    };
    sse::response(stream, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_was_asked_for_is_sent_and_every_message_is_tagged() {
        let f = Filter {
            tools_list_changed: true,
            resource_subscriptions: vec!["file:///docs".into()],
            ..Filter::default()
        };
        let id = jsonrpc::raw(r#""listen-1""#.into());
        let t = f
            .tagged(
                r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
                &id,
            )
            .unwrap();
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["params"]["_meta"][META_SUBSCRIPTION], "listen-1");
        assert!(
            f.tagged(
                r#"{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}"#,
                &id
            )
            .is_none()
        );
        let upd = |uri: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{{"uri":"{uri}"}}}}"#
            )
        };
        let t = f.tagged(&upd("file:///docs/a.md"), &id).unwrap();
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["params"]["uri"], "file:///docs/a.md");
        assert!(f.tagged(&upd("file:///docs"), &id).is_some());
        assert!(f.tagged(&upd("file:///docsecret"), &id).is_none());
        assert!(f.tagged(&upd("file:///other"), &id).is_none());
        assert!(
            f.tagged(
                r#"{"jsonrpc":"2.0","id":5,"method":"sampling/createMessage"}"#,
                &id
            )
            .is_none()
        );
        assert_eq!(
            f.acknowledged(),
            json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///docs"]})
        );
    }
}
