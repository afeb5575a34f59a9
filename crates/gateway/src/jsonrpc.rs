//! JSON-RPC 2.0 framing for the hot path.
//!
//! The gateway routes on a handful of fields (method, id, a tool name or URI) and nothing else,
//! so messages are parsed into borrowed views whose payloads stay [`RawValue`]s. Params and
//! results are copied through as bytes, never re-serialised, which keeps a 1 MB tool result a
//! memcpy rather than a tree walk.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Standard JSON-RPC error codes the gateway emits.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP: resource not found.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// Implementation-defined server errors (-32000..-32099).
    pub const BACKEND_UNAVAILABLE: i64 = -32001;
    pub const BACKEND_TIMEOUT: i64 = -32003;
    pub const BACKEND_ERROR: i64 = -32004;
    /// A bound of the gateway itself was reached (sessions, dedicated sessions, reply bytes);
    /// the message names the `vmcp serve` flag.
    pub const LIMIT_REACHED: i64 = -32005;
    /// Refused by the authorization policy; sent with HTTP 403, as ToolHive does.
    pub const DENIED: i64 = 403;
}

/// Why an incoming message could not be accepted, with the JSON-RPC code to answer with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    #[error("batch requests are not supported")]
    Batch,
}

impl FrameError {
    pub fn code(&self) -> i64 {
        match self {
            FrameError::Parse(_) => code::PARSE_ERROR,
            FrameError::Invalid(_) | FrameError::Batch => code::INVALID_REQUEST,
        }
    }
}

/// The fields of any JSON-RPC message, borrowed from the input buffer.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<String>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// One classified JSON-RPC message.
#[derive(Debug)]
pub enum Message<'a> {
    Request {
        id: &'a RawValue,
        method: String,
        params: Option<&'a RawValue>,
    },
    Notification {
        method: String,
        params: Option<&'a RawValue>,
    },
    Response {
        id: &'a RawValue,
        outcome: Result<&'a RawValue, &'a RawValue>,
    },
}

impl Message<'_> {
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request { method, .. } | Message::Notification { method, .. } => Some(method),
            Message::Response { .. } => None,
        }
    }
}

/// Parses one message. Invalid UTF-8 and malformed JSON are parse errors; arrays are batches
/// (rejected); anything else that is not a well-formed request, notification or response is an
/// invalid request.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, FrameError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        // Still make sure it is JSON, so garbage starting with '[' is a parse error.
        return match serde_json::from_slice::<&RawValue>(bytes) {
            Ok(_) => Err(FrameError::Batch),
            Err(e) => Err(FrameError::Parse(e.to_string())),
        };
    }
    if first != Some(&b'{') {
        return match serde_json::from_slice::<&RawValue>(bytes) {
            Ok(_) => Err(FrameError::Invalid("a message must be a JSON object")),
            Err(e) => Err(FrameError::Parse(e.to_string())),
        };
    }
    let env: Envelope<'_> = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            FrameError::Invalid("a field has the wrong type")
        } else {
            FrameError::Parse(e.to_string())
        }
    })?;
    match env.jsonrpc.map(RawValue::get) {
        Some("\"2.0\"") => {}
        _ => return Err(FrameError::Invalid("jsonrpc must be \"2.0\"")),
    }
    if let Some(p) = env.params
        && !matches!(p.get().as_bytes().first(), Some(b'{') | Some(b'['))
    {
        return Err(FrameError::Invalid("params must be an object or an array"));
    }
    match (env.id, env.method) {
        (Some(id), Some(method)) => {
            check_id(id)?;
            Ok(Message::Request {
                id,
                method,
                params: env.params,
            })
        }
        (None, Some(method)) => Ok(Message::Notification {
            method,
            params: env.params,
        }),
        (Some(id), None) => {
            check_id(id)?;
            match (env.result, env.error) {
                (Some(r), None) => Ok(Message::Response { id, outcome: Ok(r) }),
                (None, Some(e)) => Ok(Message::Response {
                    id,
                    outcome: Err(e),
                }),
                _ => Err(FrameError::Invalid(
                    "a response needs exactly one of result and error",
                )),
            }
        }
        (None, None) => Err(FrameError::Invalid("missing method")),
    }
}

/// An id is a string or an integer; `null` is tolerated only in responses we build ourselves.
fn check_id(id: &RawValue) -> Result<(), FrameError> {
    let s = id.get();
    match s.as_bytes().first() {
        Some(b'"') => Ok(()),
        Some(b'-' | b'0'..=b'9') if !s.contains(['.', 'e', 'E']) => Ok(()),
        _ => Err(FrameError::Invalid("id must be a string or an integer")),
    }
}

/// `{"jsonrpc":"2.0","id":<id>,"result":<result>}` by concatenation: the result is copied.
pub fn response_ok(id: &RawValue, result: &RawValue) -> String {
    let mut s = String::with_capacity(40 + id.get().len() + result.get().len());
    s.push_str(r#"{"jsonrpc":"2.0","id":"#);
    s.push_str(id.get());
    s.push_str(r#","result":"#);
    s.push_str(result.get());
    s.push('}');
    s
}

/// A response carrying an error object that came from a backend, unchanged.
pub fn response_raw_error(id: &RawValue, error: &RawValue) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{}}}"#,
        id.get(),
        error.get()
    )
}

/// A response carrying an error the gateway produced. `id` is `None` when the request's id is
/// unknown (parse errors), which JSON-RPC renders as `null`.
pub fn response_error(id: Option<&RawValue>, code: i64, message: &str) -> String {
    let msg = serde_json::to_string(message).unwrap_or_else(|_| "\"error\"".to_owned());
    let id = id.map_or("null", RawValue::get);
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{msg}}}}}"#)
}

/// A request with a numeric id the gateway chose.
pub fn request(id: u64, method: &str, params: Option<&RawValue>) -> String {
    match params {
        Some(p) => format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{}}}"#,
            p.get()
        ),
        None => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#),
    }
}

/// A notification.
pub fn notification(method: &str, params: Option<&RawValue>) -> String {
    match params {
        Some(p) => format!(
            r#"{{"jsonrpc":"2.0","method":"{method}","params":{}}}"#,
            p.get()
        ),
        None => format!(r#"{{"jsonrpc":"2.0","method":"{method}"}}"#),
    }
}

/// Turns an owned string that is known to hold JSON into a raw value.
pub fn raw(s: String) -> Box<RawValue> {
    RawValue::from_string(s).unwrap_or_else(|_| empty_object())
}

pub fn empty_object() -> Box<RawValue> {
    // A constant literal: always valid JSON.
    RawValue::from_string("{}".to_owned()).expect("'{}' is JSON")
}

/// The top-level members of a params object, values left raw. Used to rewrite one member
/// (a tool name) and copy the rest verbatim.
pub fn object_members(params: &RawValue) -> Result<Vec<(String, &RawValue)>, FrameError> {
    let map: Vec<(String, &RawValue)> = serde_json::from_str::<OrderedMembers<'_>>(params.get())
        .map_err(|_| FrameError::Invalid("params must be an object"))?
        .0;
    Ok(map)
}

/// Writes `{"k":v,...}` from members, replacing (or adding) `key` with `value`.
pub fn with_member(members: &[(String, &RawValue)], key: &str, value: &RawValue) -> Box<RawValue> {
    let mut s = String::from("{");
    let mut first = true;
    let mut push = |s: &mut String, k: &str, v: &str| {
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(&serde_json::to_string(k).unwrap_or_default());
        s.push(':');
        s.push_str(v);
    };
    let mut replaced = false;
    for (k, v) in members {
        if k == key {
            push(&mut s, k, value.get());
            replaced = true;
        } else {
            push(&mut s, k, v.get());
        }
    }
    if !replaced {
        push(&mut s, key, value.get());
    }
    s.push('}');
    raw(s)
}

/// JSON string literal as a raw value.
pub fn string_value(s: &str) -> Box<RawValue> {
    raw(serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()))
}

/// Deserialises an object's members in document order, without building a map.
struct OrderedMembers<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for OrderedMembers<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = OrderedMembers<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(OrderedMembers(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Looks up one string member of a raw object (e.g. `name`, `uri`).
pub fn string_member(members: &[(String, &RawValue)], key: &str) -> Option<String> {
    members
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let m = parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#)
            .unwrap();
        assert!(matches!(m, Message::Request { ref method, .. } if method == "tools/call"));
        let m = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(m, Message::Notification { .. }));
        let m = parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert!(matches!(m, Message::Response { outcome: Ok(_), .. }));
        let m = parse(br#"{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"x"}}"#).unwrap();
        assert!(matches!(
            m,
            Message::Response {
                outcome: Err(_),
                ..
            }
        ));
    }

    #[test]
    fn rejects_bad_input_with_the_right_code() {
        let cases: &[(&[u8], i64)] = &[
            (b"{not json", code::PARSE_ERROR),
            (b"", code::PARSE_ERROR),
            (b"\xff\xfe{}", code::PARSE_ERROR),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
                code::PARSE_ERROR,
            ),
            (
                b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
                code::INVALID_REQUEST,
            ),
            (b"[1,", code::PARSE_ERROR),
            (b"42", code::INVALID_REQUEST),
            (br#"{"id":1,"method":"ping"}"#, code::INVALID_REQUEST),
            (
                br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                code::INVALID_REQUEST,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":5}"#,
                code::INVALID_REQUEST,
            ),
            (
                br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
                code::INVALID_REQUEST,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                code::INVALID_REQUEST,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#,
                code::INVALID_REQUEST,
            ),
            (br#"{"jsonrpc":"2.0"}"#, code::INVALID_REQUEST),
            (br#"{"jsonrpc":"2.0","id":1}"#, code::INVALID_REQUEST),
        ];
        for (input, want) in cases {
            let err = parse(input).expect_err(&String::from_utf8_lossy(input));
            assert_eq!(err.code(), *want, "{}", String::from_utf8_lossy(input));
        }
        assert_eq!(parse(b"[]").unwrap_err(), FrameError::Batch);
    }

    #[test]
    fn builds_responses_without_reserialising() {
        let id = RawValue::from_string("\"abc\"".into()).unwrap();
        let result = RawValue::from_string("{ \"big\" : [1, 2,3] }".into()).unwrap();
        assert_eq!(
            response_ok(&id, &result),
            r#"{"jsonrpc":"2.0","id":"abc","result":{ "big" : [1, 2,3] }}"#
        );
        let e = response_error(None, -32700, "bad \"json\"");
        let v: serde_json::Value = serde_json::from_str(&e).unwrap();
        assert_eq!(v["id"], serde_json::Value::Null);
        assert_eq!(v["error"]["message"], "bad \"json\"");
    }

    #[test]
    fn rewrites_one_member_and_keeps_the_rest_verbatim() {
        let p = RawValue::from_string(
            r#"{"name":"be_echo","arguments":{"a": [1,2]},"_meta":{"progressToken":3}}"#.into(),
        )
        .unwrap();
        let members = object_members(&p).unwrap();
        assert_eq!(string_member(&members, "name").as_deref(), Some("be_echo"));
        let out = with_member(&members, "name", &string_value("echo"));
        assert_eq!(
            out.get(),
            r#"{"name":"echo","arguments":{"a": [1,2]},"_meta":{"progressToken":3}}"#
        );
        assert!(object_members(&RawValue::from_string("[1]".into()).unwrap()).is_err());
    }
}
