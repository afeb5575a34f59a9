//! JSON-RPC 2.0 framing for the hot path.
//!
//! The gateway routes on a handful of fields (method, id, a tool name or URI) and nothing else,
//! so messages are parsed into borrowed views whose payloads stay [`RawValue`]s. Params and
//! results are copied through as bytes, never re-serialised, which keeps a 1 MB tool result a
//! memcpy rather than a tree walk.

use std::cell::RefCell;
use std::collections::HashSet;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::map::Entry;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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

/// MCP logging levels (RFC 5424 severities), least severe first.
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Why an incoming message could not be accepted, with the JSON-RPC code to answer with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    #[error("batch requests are not supported")]
    Batch,
    /// A key appears twice in an object the gateway reads. JSON parsers disagree on which
    /// of the two counts (serde's maps and most backends keep the last, a lookup in document
    /// order finds the first), so a gateway that decided on one value while the backend acted
    /// on the other would be bypassed: such a message is refused, never guessed at. Holds the
    /// key's path, e.g. `params.arguments.mode`, already shortened for display.
    #[error("invalid request: duplicate key {0}")]
    Duplicate(String),
}

impl FrameError {
    pub fn code(&self) -> i64 {
        match self {
            FrameError::Parse(_) => code::PARSE_ERROR,
            FrameError::Invalid(_) | FrameError::Batch | FrameError::Duplicate(_) => {
                code::INVALID_REQUEST
            }
        }
    }

    /// The same error for an object found at `parent` (a duplicate's path gains the prefix).
    pub fn under(self, parent: &str) -> FrameError {
        match self {
            FrameError::Duplicate(key) if key.starts_with('[') => {
                FrameError::Duplicate(format!("{parent}{key}"))
            }
            FrameError::Duplicate(key) => FrameError::Duplicate(format!("{parent}.{key}")),
            other => other,
        }
    }
}

/// The fields of any JSON-RPC message, borrowed from the input buffer.
///
/// Read by hand rather than derived for two reasons: a present `"id": null` must stay
/// visible (a derived `Option` reads it as absent, which turned a request into a
/// notification), and a duplicated member must be refused by name.
#[derive(Default)]
struct Envelope<'a> {
    jsonrpc: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    method: Option<String>,
    params: Option<&'a RawValue>,
    result: Option<&'a RawValue>,
    error: Option<&'a RawValue>,
}

/// The envelope members the gateway reads; others are skipped unread.
enum Field {
    Jsonrpc,
    Id,
    Method,
    Params,
    Result,
    Error,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Field;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "jsonrpc" => Field::Jsonrpc,
                    "id" => Field::Id,
                    "method" => Field::Method,
                    "params" => Field::Params,
                    "result" => Field::Result,
                    "error" => Field::Error,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Reads an [`Envelope`]; a duplicated member's name is left in `dup`.
struct EnvelopeSeed<'s> {
    dup: &'s RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Envelope<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Envelope<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Envelope<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON-RPC message")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Envelope<'de>, M::Error> {
        let mut env = Envelope::default();
        let mut seen = [false; 6];
        let mut first = |field: usize, name: &str| -> Result<(), M::Error> {
            if std::mem::replace(&mut seen[field], true) {
                *self.dup.borrow_mut() = Some(name.to_owned());
                Err(serde::de::Error::custom("duplicate member"))
            } else {
                Ok(())
            }
        };
        // `null` params, result or error read as absent, as they always have; only the id
        // keeps its null (see `check_id`).
        while let Some(field) = m.next_key::<Field>()? {
            match field {
                Field::Jsonrpc => {
                    first(0, "jsonrpc")?;
                    env.jsonrpc = Some(m.next_value()?);
                }
                Field::Id => {
                    first(1, "id")?;
                    env.id = Some(m.next_value()?);
                }
                Field::Method => {
                    first(2, "method")?;
                    env.method = Some(m.next_value()?);
                }
                Field::Params => {
                    first(3, "params")?;
                    env.params = m.next_value()?;
                }
                Field::Result => {
                    first(4, "result")?;
                    env.result = m.next_value()?;
                }
                Field::Error => {
                    first(5, "error")?;
                    env.error = m.next_value()?;
                }
                Field::Other => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(env)
    }
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
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let env = EnvelopeSeed { dup: &dup }
        .deserialize(&mut de)
        .and_then(|env| de.end().map(|()| env))
        .map_err(|e| {
            if let Some(name) = dup.take() {
                FrameError::Duplicate(name)
            } else if e.is_data() {
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

/// An id is a string or an integer. `null` is refused: JSON-RPC discourages it, and a request
/// with a null id is not a notification (that has no id at all); the gateway writes `null`
/// only in its own error responses to messages it could not read.
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

/// [`response_error`] with `data`.
pub fn response_error_data(
    id: Option<&RawValue>,
    code: i64,
    message: &str,
    data: &Value,
) -> String {
    let msg = serde_json::to_string(message).unwrap_or_else(|_| "\"error\"".to_owned());
    let id = id.map_or("null", RawValue::get);
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{msg},"data":{data}}}}}"#
    )
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
/// (a tool name) and copy the rest verbatim. A key that appears twice is
/// [`FrameError::Duplicate`]: the gateway routes and decides on these members, and must not
/// read a different one than the backend does.
pub fn object_members(params: &RawValue) -> Result<Vec<(String, &RawValue)>, FrameError> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(params.get());
    MembersSeed { dup: &dup }
        .deserialize(&mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|_| match dup.take() {
            Some(key) => FrameError::Duplicate(key),
            None => FrameError::Invalid("must be an object"),
        })
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

/// Past this many members, duplicates are found with a set rather than by comparing with
/// each earlier key (params objects are small; a hostile one must not cost quadratic time).
const LINEAR_MEMBERS: usize = 16;

/// Reads an object's members in document order, without building a map; the path of a
/// duplicated key is left in `dup`.
struct MembersSeed<'s> {
    dup: &'s RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for MembersSeed<'_> {
    type Value = Vec<(String, &'de RawValue)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MembersSeed<'_> {
    type Value = Vec<(String, &'de RawValue)>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
        let mut out: Vec<(String, &'de RawValue)> = Vec::new();
        let mut many: Option<HashSet<String>> = None;
        while let Some(k) = m.next_key::<String>()? {
            let repeated = match &mut many {
                Some(set) => !set.insert(k.clone()),
                None => out.iter().any(|(seen, _)| *seen == k),
            };
            if repeated {
                *self.dup.borrow_mut() = Some(key_path(&[Seg::Key(&k)]));
                return Err(serde::de::Error::custom("duplicate key"));
            }
            if many.is_none() && out.len() >= LINEAR_MEMBERS {
                let mut set: HashSet<String> = out.iter().map(|(k, _)| k.clone()).collect();
                set.insert(k.clone());
                many = Some(set);
            }
            let v = m.next_value::<&'de RawValue>()?;
            out.push((k, v));
        }
        Ok(out)
    }
}

/// Parses a JSON value as [`serde_json::Value`] does, but refuses an object holding a key
/// twice at any depth. This is what the authorization decision reads (tool arguments), so it
/// costs the one parse that decision needs anyway: each key is one map lookup, as in an
/// ordinary parse. Other errors (too deep, a number out of range, a lone surrogate) are
/// [`FrameError::Parse`]; the caller decides what to answer.
pub fn unique_value(text: &str) -> Result<Value, FrameError> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    UniqueSeed {
        at: None,
        dup: &dup,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| match dup.take() {
        Some(path) => FrameError::Duplicate(path),
        None => FrameError::Parse(e.to_string()),
    })
}

/// One step of a path into a JSON value.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A path as a borrowed chain from the innermost step outwards: nothing is allocated unless a
/// duplicate is found.
struct Crumb<'a> {
    up: Option<&'a Crumb<'a>>,
    seg: Seg<'a>,
}

struct UniqueSeed<'a> {
    at: Option<&'a Crumb<'a>>,
    dup: &'a RefCell<Option<String>>,
}

impl UniqueSeed<'_> {
    fn duplicate<E: serde::de::Error>(&self, key: &str) -> E {
        let mut segs = vec![Seg::Key(key)];
        let mut at = self.at;
        while let Some(c) = at {
            segs.push(c.seg);
            at = c.up;
        }
        segs.reverse();
        *self.dup.borrow_mut() = Some(key_path(&segs));
        E::custom("duplicate key")
    }
}

impl<'de> DeserializeSeed<'de> for UniqueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let crumb = Crumb {
                up: self.at,
                seg: Seg::Index(out.len()),
            };
            let seed = UniqueSeed {
                at: Some(&crumb),
                dup: self.dup,
            };
            match a.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Value, M::Error> {
        let mut out = Map::new();
        while let Some(k) = m.next_key::<String>()? {
            match out.entry(k) {
                Entry::Occupied(o) => return Err(self.duplicate(o.key())),
                Entry::Vacant(slot) => {
                    let crumb = Crumb {
                        up: self.at,
                        seg: Seg::Key(slot.key()),
                    };
                    let v = m.next_value_seed(UniqueSeed {
                        at: Some(&crumb),
                        dup: self.dup,
                    })?;
                    slot.insert(v);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Longest key shown whole in a path, and longest path shown whole: keys come from clients,
/// and an error message must not echo a megabyte back.
const SHOWN_KEY_CHARS: usize = 64;
const SHOWN_PATH_CHARS: usize = 256;

/// `a.b[2]["odd key"]`: plain keys dotted, others quoted, each shortened.
fn key_path(segs: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                let plain = !k.is_empty()
                    && k.len() <= SHOWN_KEY_CHARS
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'));
                if plain {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                } else {
                    out.push('[');
                    out.push_str(&shown(k));
                    out.push(']');
                }
            }
        }
    }
    if out.chars().count() > SHOWN_PATH_CHARS {
        let head: String = out.chars().take(SHOWN_PATH_CHARS / 2).collect();
        let tail: Vec<char> = out.chars().rev().take(SHOWN_PATH_CHARS / 2).collect();
        let tail: String = tail.into_iter().rev().collect();
        out = format!("{head}…{tail}");
    }
    out
}

/// A client-supplied string for an error message: quoted, and cut after
/// [`SHOWN_KEY_CHARS`] characters with its full length in bytes, so a 1 MB tool name is not
/// sent back whole.
pub fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN_KEY_CHARS) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], s.len()),
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
            // A null id is a request with a bad id, not a notification.
            (
                br#"{"jsonrpc":"2.0","id":null,"method":"tools/call"}"#,
                code::INVALID_REQUEST,
            ),
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

    #[test]
    fn a_null_id_is_refused_not_read_as_a_notification() {
        let err = parse(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).unwrap_err();
        assert_eq!(
            err,
            FrameError::Invalid("id must be a string or an integer")
        );
        // Null params still read as absent; an absent id is a notification.
        let m = parse(br#"{"jsonrpc":"2.0","method":"notifications/x","params":null}"#).unwrap();
        assert!(matches!(m, Message::Notification { params: None, .. }));
    }

    #[test]
    fn duplicated_envelope_members_are_refused_by_name() {
        for (input, key) in [
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#,
                "method",
            ),
            (r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#, "id"),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{},"params":{"a":1}}"#,
                "params",
            ),
            // A null first value is still a first value.
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","params":null,"params":{}}"#,
                "params",
            ),
            (
                r#"{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"x"}"#,
                "jsonrpc",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":{},"result":{}}"#,
                "result",
            ),
            // Escapes are undone before keys are compared, as every parser does.
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","meth\u006fd":"y"}"#,
                "method",
            ),
        ] {
            let err = parse(input.as_bytes()).unwrap_err();
            assert_eq!(err, FrameError::Duplicate(key.to_owned()), "{input}");
            assert_eq!(err.code(), code::INVALID_REQUEST);
        }
        // Members the gateway does not read may repeat; they are not looked at.
        assert!(parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping","x":1,"x":2}"#).is_ok());
    }

    fn raw_of(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn duplicated_params_members_are_refused_by_name() {
        let err = object_members(&raw_of(r#"{"uri":"a","x":1,"uri":"b"}"#)).unwrap_err();
        assert_eq!(err, FrameError::Duplicate("uri".into()));
        assert_eq!(
            err.under("params").to_string(),
            "invalid request: duplicate key params.uri"
        );
        let err = object_members(&raw_of(r#"{"n\u0061me":"a","name":"b"}"#)).unwrap_err();
        assert_eq!(err, FrameError::Duplicate("name".into()));
        // Past the linear scan, the set finds them too.
        let mut many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        many.push("\"k3\":0".into());
        let text = format!("{{{}}}", many.join(","));
        assert_eq!(
            object_members(&raw_of(&text)).unwrap_err(),
            FrameError::Duplicate("k3".into())
        );
        many.pop();
        let text = format!("{{{}}}", many.join(","));
        assert_eq!(object_members(&raw_of(&text)).unwrap().len(), 40);
        // Keys that are not plain are quoted, and a long one is cut.
        let long = "x".repeat(10_000);
        let text = format!(r#"{{"{long}":1,"{long}":2}}"#);
        let FrameError::Duplicate(path) = object_members(&raw_of(&text)).unwrap_err() else {
            panic!()
        };
        assert!(path.len() < 200, "{path}");
        assert!(path.contains("(10000 bytes)"), "{path}");
        assert_eq!(
            object_members(&raw_of(r#"{"a b":1,"a b":2}"#)).unwrap_err(),
            FrameError::Duplicate(r#"["a b"]"#.into())
        );
    }

    #[test]
    fn unique_value_reads_what_serde_reads_and_refuses_duplicates_at_any_depth() {
        let text = r#"{"a":1,"b":[true,null,{"c":"d"}],"e":{"f":-2.5,"g":18446744073709551615}}"#;
        assert_eq!(
            unique_value(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        for (text, path) in [
            (r#"{"mode":"safe","mode":"unsafe"}"#, "mode"),
            (r#"{"a":{"b":{"c":1,"c":2}}}"#, "a.b.c"),
            (r#"{"a":[0,{"x":1},{"x":1,"x":2}]}"#, "a[2].x"),
            (r#"{"a b":{"x\u0079":1,"xy":2}}"#, r#"["a b"].xy"#),
        ] {
            assert_eq!(
                unique_value(text).unwrap_err(),
                FrameError::Duplicate(path.into()),
                "{text}"
            );
        }
        // What a decision cannot be made on is an error, not an empty object.
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(unique_value(&deep), Err(FrameError::Parse(_))));
        assert!(matches!(
            unique_value(r#"{"a":1e400}"#),
            Err(FrameError::Parse(_))
        ));
        assert!(matches!(
            unique_value(r#"{"a":"\ud800"}"#),
            Err(FrameError::Parse(_))
        ));
    }

    #[test]
    fn shown_cuts_long_client_strings() {
        assert_eq!(shown("echo"), "\"echo\"");
        let long = "é".repeat(1000);
        let s = shown(&long);
        assert!(s.starts_with(&format!("\"{}\"…", "é".repeat(64))), "{s}");
        assert!(s.ends_with("(2000 bytes)"), "{s}");
    }
}
