//! W3C trace context across the gateway: read from the client's HTTP headers (`traceparent`,
//! `tracestate`, `baggage`) or, when those are absent, from the request's `_meta` (where the
//! 2026-07-28 revision puts them for transports without headers); written into each backend
//! request's headers and `_meta`, naming the gateway's client span as the parent.

use std::collections::HashMap;

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The keys carried, in headers and in `_meta` alike.
const KEYS: [&str; 3] = ["traceparent", "tracestate", "baggage"];

fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// `_meta`'s trace keys, as an extractor.
struct MetaExtractor(HashMap<String, String>);

impl Extractor for MetaExtractor {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The caller's trace context: from `headers` when they carry a `traceparent`, else from
/// `params._meta`; `None` when neither does (the server span starts a trace).
pub fn extract_parent(headers: Option<&HeaderMap>, params: Option<&RawValue>) -> Option<Context> {
    use opentelemetry::trace::TraceContextExt;
    let p = propagator();
    if let Some(h) = headers.filter(|h| h.contains_key("traceparent")) {
        let cx = p.extract(&HeaderExtractor(h));
        if cx.span().span_context().is_valid() {
            return Some(cx);
        }
    }
    #[derive(serde::Deserialize)]
    struct Params {
        #[serde(rename = "_meta", default)]
        meta: Option<Map<String, Value>>,
    }
    let meta = serde_json::from_str::<Params>(params?.get()).ok()?.meta?;
    let found: HashMap<String, String> = KEYS
        .iter()
        .filter_map(|k| Some((k.to_string(), meta.get(*k)?.as_str()?.to_owned())))
        .collect();
    if !found.contains_key("traceparent") {
        return None;
    }
    let cx = p.extract(&MetaExtractor(found));
    cx.span().span_context().is_valid().then_some(cx)
}

/// The trace keys of `headers`, kept for a request answered later than its headers live.
pub fn trace_keys(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for k in KEYS {
        if let Some(v) = headers.get(k) {
            kept.insert(k, v.clone());
        }
    }
    kept
}

/// The headers that name `span` as the parent of what a backend does.
pub fn trace_headers(span: &tracing::Span) -> HeaderMap {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut h = HeaderMap::new();
    propagator().inject_context(&span.context(), &mut HeaderInjector(&mut h));
    h
}

/// `params` with `_meta` carrying the trace keys of `headers` (made by [`trace_headers`]),
/// replacing any the client sent (they named the client's span, not the gateway's). `None`
/// when params are not an object (nothing to carry them in) or there is nothing to add.
pub fn with_trace_meta(params: Option<&RawValue>, headers: &HeaderMap) -> Option<Box<RawValue>> {
    if headers.is_empty() {
        return None;
    }
    let mut obj: Map<String, Value> = match params {
        Some(p) => match serde_json::from_str::<Value>(p.get()).ok()? {
            Value::Object(o) => o,
            _ => return None,
        },
        None => Map::new(),
    };
    let meta = obj
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else {
        return None;
    };
    for k in KEYS {
        meta.remove(k);
        if let Some(v) = headers.get(k).and_then(|v| v.to_str().ok()) {
            meta.insert(k.to_owned(), Value::String(v.to_owned()));
        }
    }
    serde_json::value::to_raw_value(&obj).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

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
        assert!(out["_meta"].get("tracestate").is_none(), "stale keys go");
        assert_eq!(out["arguments"]["a"], 1);
        let none: Value = serde_json::from_str(with_trace_meta(None, &h).unwrap().get()).unwrap();
        assert_eq!(none["_meta"]["traceparent"], TP);
        let list = RawValue::from_string("[1]".into()).unwrap();
        assert!(with_trace_meta(Some(&list), &h).is_none());
    }
}
