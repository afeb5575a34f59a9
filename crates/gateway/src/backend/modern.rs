//! The MCP 2026-07-28 era on the backend edge: which era a backend speaks, and what a
//! request to a backend of the new era carries.
//!
//! The era is decided once per backend, by the first session it opens: `server/discover`
//! at 2026-07-28 first; a result offering that version makes the backend modern, and a
//! JSON-RPC error or an HTTP 4xx (a 2025 server without a session to put it in) makes it
//! legacy, served with the 2025 handshake as before. The answer is kept for the backend's
//! life, so health checks and reconnects never swing between eras; a backend that cannot be
//! reached is asked again on its next connect. A modern backend has no session: every
//! request carries `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` (for the methods that
//! name a target) and the `_meta` envelope — the caller's own when a 2026 client made the
//! call (so its capabilities and any `inputResponses` reach the backend as sent), else the
//! gateway's, which declares no client capabilities. List changes come from a
//! `subscriptions/listen` stream the gateway keeps open to the backend.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{HeaderMap, HeaderValue, header};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{ACCEPT_BOTH, Common, JSON};
use crate::jsonrpc;

/// The revision spoken with modern backends.
pub const VERSION: &str = "2026-07-28";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

/// The MCP era a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25 and before: the initialize handshake and sessions.
    Legacy,
    /// 2026-07-28: stateless requests.
    Modern,
}

/// The gateway's own envelope, declaring `capabilities` (a JSON object): none for its own
/// requests and shared sessions, a 2025 client's own `sampling`/`elicitation`/`roots` on
/// its dedicated sessions (their `input_required` results become requests to that client,
/// see [`input_required`]).
fn own_envelope(capabilities: &str) -> Value {
    let caps: Value = serde_json::from_str(capabilities).unwrap_or_else(|_| json!({}));
    json!({
        META_VERSION: VERSION,
        META_CAPABILITIES: caps,
        META_CLIENT_INFO: {"name": "vmcp", "version": env!("CARGO_PKG_VERSION")},
    })
}

/// `params` with the envelope in `_meta`: the caller's own if it carries one (a 2026 client's
/// call), else the gateway's (declaring `capabilities`) merged into whatever `_meta` the
/// params have (a progress token).
pub fn with_envelope(params: Option<&RawValue>, capabilities: &str) -> Box<RawValue> {
    let members = params
        .and_then(|p| jsonrpc::object_members(p).ok())
        .unwrap_or_default();
    let meta = members
        .iter()
        .find(|(k, _)| k == "_meta")
        .and_then(|(_, v)| serde_json::from_str::<serde_json::Map<String, Value>>(v.get()).ok());
    if meta.as_ref().is_some_and(|m| m.contains_key(META_VERSION)) {
        return params.map_or_else(jsonrpc::empty_object, |p| p.to_owned());
    }
    let mut meta = meta.unwrap_or_default();
    if let Value::Object(own) = own_envelope(capabilities) {
        meta.extend(own);
    }
    let meta = jsonrpc::raw(Value::Object(meta).to_string());
    jsonrpc::with_member(&members, "_meta", &meta)
}

/// The per-request headers of a modern request: `Mcp-Method`, and `Mcp-Name` for the methods
/// that name a target (base64-encoded when it is not plain visible ASCII).
pub fn request_headers(h: &mut HeaderMap, method: &str, params: &RawValue) {
    if let Ok(v) = HeaderValue::from_str(method) {
        h.insert("mcp-method", v);
    }
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return,
    };
    let Some(name) = jsonrpc::object_members(params)
        .ok()
        .and_then(|m| jsonrpc::string_member(&m, key))
    else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&encode_header_value(&name)) {
        h.insert("mcp-name", v);
    }
}

/// A header value as the revision sends it: plain when visible ASCII without surrounding
/// spaces, else `=?base64?…?=`.
pub fn encode_header_value(v: &str) -> String {
    use base64::Engine as _;
    let plain = !v.is_empty()
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !v.starts_with(' ')
        && !v.ends_with(' ')
        && !v.starts_with("=?base64?");
    if plain {
        v.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
        )
    }
}

/// What a `server/discover` result says: whether it offers [`VERSION`], and the backend's
/// capabilities.
pub fn read_discover(result: &RawValue) -> Option<Value> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Discover {
        #[serde(default)]
        supported_versions: Vec<String>,
        #[serde(default)]
        capabilities: Value,
    }
    let d: Discover = serde_json::from_str(result.get()).ok()?;
    d.supported_versions
        .iter()
        .any(|v| v == VERSION)
        .then_some(d.capabilities)
}

/// Most `input_required` rounds one call to a modern backend may take for a 2025 client.
pub const MAX_INPUT_ROUNDS: usize = 10;

/// An `input_required` result (multi round-trip requests): the requests for the client by
/// key, and the state to send back.
pub struct InputRequired {
    pub requests: Vec<(String, String, Option<Box<RawValue>>)>,
    pub state: Option<Box<RawValue>>,
}

/// The result read as `input_required`, if it is one.
pub fn input_required(result: &RawValue) -> Option<InputRequired> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Ir<'a> {
        result_type: Option<&'a str>,
        #[serde(default)]
        input_requests: Option<std::collections::BTreeMap<String, Req>>,
        request_state: Option<Box<RawValue>>,
    }
    #[derive(serde::Deserialize)]
    struct Req {
        method: String,
        params: Option<Box<RawValue>>,
    }
    let ir: Ir<'_> = serde_json::from_str(result.get()).ok()?;
    if ir.result_type != Some("input_required") {
        return None;
    }
    Some(InputRequired {
        requests: ir
            .input_requests
            .unwrap_or_default()
            .into_iter()
            .map(|(k, r)| (k, r.method, r.params))
            .collect(),
        state: ir.request_state,
    })
}

/// The params of a retry: the original ones with `inputResponses` and `requestState` (when
/// the backend gave one, echoed byte for byte).
pub fn retry_params(
    params: Option<&RawValue>,
    responses: &serde_json::Map<String, Value>,
    state: Option<&RawValue>,
) -> Box<RawValue> {
    let members = params
        .and_then(|p| jsonrpc::object_members(p).ok())
        .unwrap_or_default();
    let responses = jsonrpc::raw(Value::Object(responses.clone()).to_string());
    let with = jsonrpc::with_member(&members, "inputResponses", &responses);
    let Some(state) = state else {
        return with;
    };
    let members = jsonrpc::object_members(&with).unwrap_or_default();
    jsonrpc::with_member(&members, "requestState", state)
}

/// The list changes a modern backend can announce, as a listen filter; `None` if none.
pub fn listen_filter(capabilities: &Value) -> Option<Value> {
    let on = |k: &str| capabilities.get(k).and_then(|c| c.get("listChanged")) == Some(&json!(true));
    let mut f = serde_json::Map::new();
    for (cap, key) in [
        ("tools", "toolsListChanged"),
        ("prompts", "promptsListChanged"),
        ("resources", "resourcesListChanged"),
    ] {
        if on(cap) {
            f.insert(key.into(), Value::Bool(true));
        }
    }
    (!f.is_empty()).then_some(Value::Object(f))
}

/// Keeps a `subscriptions/listen` stream open to a modern backend for the list changes in
/// `filter`, handed to the backend-wide inbound channel as a 2025 session's GET stream's are.
pub async fn listen(c: Arc<Common>, filter: Value) {
    let n = std::sync::atomic::AtomicU64::new(0);
    super::streamable::follow(&c, "subscriptions/listen", |c| {
        let id = n.fetch_add(1, Ordering::Relaxed) + 1;
        let params = json!({"notifications": filter, "_meta": own_envelope("{}")});
        let body = json!({"jsonrpc": "2.0", "id": format!("vmcp-listen-{id}"),
            "method": "subscriptions/listen", "params": params});
        let mut headers = c.headers.clone();
        headers.insert(
            "mcp-method",
            HeaderValue::from_static("subscriptions/listen"),
        );
        headers.insert(header::ACCEPT, ACCEPT_BOTH);
        headers.insert(header::CONTENT_TYPE, JSON);
        c.http
            .client
            .post(c.http.url.clone())
            .headers(headers)
            .body(body.to_string())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2025_callers_params_get_the_gateways_envelope_and_keep_their_meta() {
        let p = jsonrpc::raw(
            r#"{"name":"add","arguments":{"a":1},"_meta":{"progressToken":7}}"#.into(),
        );
        let v: Value = serde_json::from_str(with_envelope(Some(&p), "{}").get()).unwrap();
        assert_eq!(v["_meta"]["progressToken"], 7);
        assert_eq!(v["_meta"][META_VERSION], VERSION);
        assert_eq!(v["_meta"][META_CAPABILITIES], json!({}));
        assert_eq!(v["arguments"], json!({"a": 1}));
        let none: Value =
            serde_json::from_str(with_envelope(None, r#"{"sampling":{}}"#).get()).unwrap();
        assert_eq!(none["_meta"][META_VERSION], VERSION);
        assert_eq!(none["_meta"][META_CAPABILITIES], json!({"sampling": {}}));
    }

    #[test]
    fn a_2026_callers_envelope_travels_as_sent() {
        let p = jsonrpc::raw(
            r#"{"name":"t","inputResponses":{"k":{"action":"accept"}},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}"#.into(),
        );
        assert_eq!(with_envelope(Some(&p), "{}").get(), p.get());
    }

    #[test]
    fn names_go_in_headers_encoded_when_needed() {
        let mut h = HeaderMap::new();
        request_headers(
            &mut h,
            "tools/call",
            &jsonrpc::raw(r#"{"name":"add"}"#.into()),
        );
        assert_eq!(h["mcp-method"], "tools/call");
        assert_eq!(h["mcp-name"], "add");
        let mut h = HeaderMap::new();
        request_headers(
            &mut h,
            "resources/read",
            &jsonrpc::raw(r#"{"uri":"file:///é"}"#.into()),
        );
        assert_eq!(
            h["mcp-name"].to_str().unwrap(),
            "=?base64?ZmlsZTovLy/DqQ==?="
        );
        let mut h = HeaderMap::new();
        request_headers(&mut h, "tools/list", &jsonrpc::raw("{}".into()));
        assert!(h.get("mcp-name").is_none());
    }

    #[test]
    fn discover_decides_the_era() {
        let caps = read_discover(&jsonrpc::raw(
            r#"{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{"listChanged":true}}}"#
                .into(),
        ))
        .unwrap();
        assert_eq!(
            listen_filter(&caps),
            Some(json!({"toolsListChanged": true}))
        );
        assert!(
            read_discover(&jsonrpc::raw(
                r#"{"supportedVersions":["2027-01-01"]}"#.into()
            ))
            .is_none()
        );
        assert!(read_discover(&jsonrpc::raw("[]".into())).is_none());
    }
}
