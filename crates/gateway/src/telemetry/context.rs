//! W3C trace context across the gateway: read from the client's HTTP headers (`traceparent`,
//! `tracestate`, `baggage`) or, when those are absent, from the request's `_meta` (where the
//! 2026-07-28 revision puts them for transports without headers); written into each backend
//! request's headers and `_meta`, naming the gateway's client span as the parent.

use std::collections::HashMap;

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceState};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The one key carried, in headers and in `_meta` alike. `tracestate` and `baggage` are the
/// client's own data: forwarded, they would reach every backend past `passthroughHeaders`
/// (and `baggage` is what meshes trust for identity), so they are read by nobody and sent to
/// nobody.
const KEY: &str = "traceparent";

/// `_meta`'s trace key, as an extractor.
struct MetaExtractor(HashMap<String, String>);

impl Extractor for MetaExtractor {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The caller's trace and span id (and sampled flag): from `headers` when they carry a
/// `traceparent`, else from `params._meta`; `None` when neither does (the server span starts
/// a trace). Whatever `tracestate` came with it is dropped.
pub fn extract_parent(headers: Option<&HeaderMap>, params: Option<&RawValue>) -> Option<Context> {
    let p = TraceContextPropagator::new();
    let from_headers = headers
        .filter(|h| h.contains_key(KEY))
        .map(|h| p.extract(&HeaderExtractor(h)));
    let cx = match from_headers {
        Some(cx) => cx,
        None => {
            #[derive(serde::Deserialize)]
            struct Params {
                #[serde(rename = "_meta", default)]
                meta: Option<Map<String, Value>>,
            }
            let meta = serde_json::from_str::<Params>(params?.get()).ok()?.meta?;
            let tp = meta.get(KEY)?.as_str()?.to_owned();
            p.extract(&MetaExtractor(HashMap::from([(KEY.to_owned(), tp)])))
        }
    };
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| {
        Context::new().with_remote_span_context(SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags(),
            true,
            TraceState::default(),
        ))
    })
}

/// The trace keys of `headers`, kept for a request answered later than its headers live.
pub fn trace_keys(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    if let Some(v) = headers.get(KEY) {
        kept.insert(KEY, v.clone());
    }
    kept
}

/// The header that names `span` as the parent of what a backend does.
pub fn trace_headers(span: &tracing::Span) -> HeaderMap {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut h = HeaderMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(&mut h));
    h.remove("tracestate");
    h
}

/// `params` with `_meta.traceparent` set to the one of `headers` (made by [`trace_headers`]),
/// replacing the client's (it named the client's span, not the gateway's), and the client's
/// `tracestate` and `baggage` there removed. Only the `_meta` member is rewritten: every other
/// member travels as the bytes the client sent. `None` when params are not an object, or
/// there is nothing to set.
pub fn with_trace_meta(params: Option<&RawValue>, headers: &HeaderMap) -> Option<Box<RawValue>> {
    let tp = headers.get(KEY)?.to_str().ok()?;
    let members = match params {
        Some(p) => crate::jsonrpc::object_members(p).ok()?,
        None => Vec::new(),
    };
    let mut meta: Map<String, Value> = match members.iter().find(|(k, _)| k == "_meta") {
        Some((_, v)) => serde_json::from_str(v.get()).ok()?,
        None => Map::new(),
    };
    meta.remove("tracestate");
    meta.remove("baggage");
    meta.insert(KEY.to_owned(), Value::String(tp.to_owned()));
    let meta = crate::jsonrpc::raw(Value::Object(meta).to_string());
    Some(crate::jsonrpc::with_member(&members, "_meta", &meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn tracestate_and_baggage_are_not_carried() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", TP.parse().unwrap());
        h.insert("tracestate", "vendor=secret".parse().unwrap());
        h.insert("baggage", "user.id=admin".parse().unwrap());
        let cx = extract_parent(Some(&h), None).unwrap();
        assert_eq!(cx.span().span_context().trace_state().header(), "");
        assert_eq!(trace_keys(&h).len(), 1);
    }

    fn trace_id(cx: &Context) -> String {
        cx.span().span_context().trace_id().to_string()
    }

    #[test]
    fn headers_win_and_meta_is_the_fallback() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", TP.parse().unwrap());
        let meta = RawValue::from_string(
            r#"{"name":"t","_meta":{"traceparent":"00-11111111111111111111111111111111-2222222222222222-01"}}"#.into(),
        )
        .unwrap();
        let cx = extract_parent(Some(&h), Some(&meta)).unwrap();
        assert_eq!(trace_id(&cx), "4bf92f3577b34da6a3ce929d0e0e4736");
        let cx = extract_parent(None, Some(&meta)).unwrap();
        assert_eq!(trace_id(&cx), "11111111111111111111111111111111");
        assert!(extract_parent(None, None).is_none());
        let bad = RawValue::from_string(r#"{"_meta":{"traceparent":"junk"}}"#.into()).unwrap();
        assert!(extract_parent(None, Some(&bad)).is_none());
    }

    #[test]
    fn meta_injection_replaces_the_clients_keys_and_keeps_the_rest() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", TP.parse().unwrap());
        let params = RawValue::from_string(
            r#"{"name":"t","arguments":{"a":1},"_meta":{"progressToken":7,"traceparent":"old","tracestate":"x=y"}}"#.into(),
        )
        .unwrap();
        let out: Value =
            serde_json::from_str(with_trace_meta(Some(&params), &h).unwrap().get()).unwrap();
        assert_eq!(out["_meta"]["traceparent"], TP);
        assert_eq!(out["_meta"]["progressToken"], 7);
        assert!(
            out["_meta"].get("tracestate").is_none(),
            "the client's state goes"
        );
        assert_eq!(out["arguments"]["a"], 1);
        // Every other member is the client's bytes: a big integer stays as written.
        let big = RawValue::from_string(
            r#"{"arguments":{"n":12345678901234567890123,"f":1e2},"name":"t"}"#.into(),
        )
        .unwrap();
        let out = with_trace_meta(Some(&big), &h).unwrap();
        assert!(
            out.get()
                .contains(r#""arguments":{"n":12345678901234567890123,"f":1e2}"#),
            "{}",
            out.get()
        );
        let none: Value = serde_json::from_str(with_trace_meta(None, &h).unwrap().get()).unwrap();
        assert_eq!(none["_meta"]["traceparent"], TP);
        let list = RawValue::from_string("[1]".into()).unwrap();
        assert!(with_trace_meta(Some(&list), &h).is_none());
    }
}
