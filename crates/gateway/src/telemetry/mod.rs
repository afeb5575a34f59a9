//! OpenTelemetry traces (the `telemetry` section): one server span per MCP request, one
//! client span per backend call under it, spans for capability fetches and token exchanges,
//! W3C trace context taken from the client (HTTP headers, else `_meta`) and handed to
//! backends (headers and `_meta`).
//!
//! Spans are ordinary `tracing` spans of target [`TARGET`], bridged to OpenTelemetry by
//! `tracing-opentelemetry`; the JSON log never sees them (its filter leaves the target out)
//! and nothing but them reaches the exporter. With tracing off (the default) no such span is
//! made at all: every site asks [`on`], one relaxed atomic load, before building anything,
//! so the request path costs what it did before traces existed.
//!
//! Export never blocks a request: ended spans go into a bounded queue ([`export`]) that a
//! task drains in batches to the collector; a full queue drops the span and counts it
//! (`vmcp_trace_spans_dropped_total` on `/metrics`).

mod context;
pub mod export;
pub mod span;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use vmcp_config::TelemetrySettings;

pub use context::{extract_parent, trace_headers, trace_keys, with_trace_meta};

/// The `tracing` target of every span meant for export.
pub const TARGET: &str = "vmcp::otel";

/// The log filter directive that leaves [`TARGET`] out of the log.
pub const TARGET_OFF: &str = "vmcp::otel=off";

static ON: AtomicBool = AtomicBool::new(false);

/// Whether spans are being made (the process installed an exporter).
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Why traces could not be set up (a startup error: the config asked for them).
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry.caCertPath: {0}")]
    Ca(String),
    #[error("telemetry: the OTLP exporter could not be built: {0}")]
    Exporter(String),
    /// The variable is named, never its value.
    #[error(
        "telemetry.headersFromEnv.{header}: the environment variable {var} is not set, empty or not one line"
    )]
    Env { header: String, var: String },
}

/// The sampler: the ratio decides for every trace that enters the gateway, whatever the
/// caller's sampled flag says (a client setting it on every request would otherwise sample
/// itself at 100 % and crowd everyone else's spans out of the queue; one clearing it would
/// hide its calls). Spans under a span of the gateway's own follow that span, so a trace is
/// kept or dropped whole; the caller's trace id is kept either way.
#[derive(Debug, Clone)]
struct Sampling(Sampler);

impl opentelemetry_sdk::trace::ShouldSample for Sampling {
    fn should_sample(
        &self,
        parent: Option<&opentelemetry::Context>,
        trace_id: opentelemetry::trace::TraceId,
        name: &str,
        kind: &opentelemetry::trace::SpanKind,
        attributes: &[opentelemetry::KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        use opentelemetry::trace::TraceContextExt;
        use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult};
        let local = parent
            .map(|cx| cx.span().span_context().clone())
            .filter(|sc| sc.is_valid() && !sc.is_remote());
        match local {
            Some(sc) => SamplingResult {
                decision: if sc.is_sampled() {
                    SamplingDecision::RecordAndSample
                } else {
                    SamplingDecision::Drop
                },
                attributes: Vec::new(),
                trace_state: sc.trace_state().clone(),
            },
            None => self
                .0
                .should_sample(parent, trace_id, name, kind, attributes, links),
        }
    }
}

/// What every span and metric pushed says about where it comes from: `service.name`,
/// `service.version` and the `customAttributes`.
pub fn resource(settings: &TelemetrySettings) -> opentelemetry_sdk::Resource {
    let mut resource =
        opentelemetry_sdk::Resource::builder().with_service_name(settings.service_name.clone());
    if let Some(v) = &settings.service_version {
        resource =
            resource.with_attribute(opentelemetry::KeyValue::new("service.version", v.clone()));
    }
    resource
        .with_attributes(
            settings
                .custom_attributes
                .iter()
                .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone())),
        )
        .build()
}

/// The installed trace pipeline; ending it flushes what is queued.
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Builds the pipeline of `settings` (which must have [`TelemetrySettings::traces`]),
    /// spawning the export task on the current runtime, and returns it with the tracer the
    /// `tracing` layer uses. `allow_loopback` is the gateway's `--allow-loopback-endpoints`.
    pub fn start(
        settings: &TelemetrySettings,
        allow_loopback: bool,
    ) -> Result<(Tracing, opentelemetry_sdk::trace::SdkTracer), TelemetryError> {
        let mut exporter = export::exporter(settings, allow_loopback)?;
        let resource = resource(settings);
        // The SDK hands the resource to processors; ours passes nothing on, so the exporter
        // (which writes it into every request) gets it here.
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
        let queue = export::Queue::spawn(exporter, export::QUEUE_SPANS);
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampling(Sampler::TraceIdRatioBased(settings.sampling_rate)))
            .with_span_processor(queue)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("vmcp");
        ON.store(true, Ordering::Relaxed);
        Ok((Tracing { provider }, tracer))
    }

    /// Exports what is queued (bounded by the exporter's timeout) and stops.
    pub fn shutdown(self) {
        ON.store(false, Ordering::Relaxed);
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "trace export did not finish cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};

    use super::*;

    fn parent(sampled: bool, remote: bool) -> opentelemetry::Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            flags,
            remote,
            TraceState::default(),
        ))
    }

    fn decide(s: &Sampling, cx: &opentelemetry::Context) -> SamplingDecision {
        let id = cx.span().span_context().trace_id();
        s.should_sample(Some(cx), id, "x", &SpanKind::Server, &[], &[])
            .decision
    }

    #[test]
    fn the_ratio_decides_for_callers_and_local_children_follow_their_parent() {
        let never = Sampling(Sampler::TraceIdRatioBased(0.0));
        let always = Sampling(Sampler::TraceIdRatioBased(1.0));
        // A caller's sampled flag does not force sampling; a cleared one does not hide.
        assert_eq!(decide(&never, &parent(true, true)), SamplingDecision::Drop);
        assert_eq!(
            decide(&always, &parent(false, true)),
            SamplingDecision::RecordAndSample
        );
        // Under a span of the gateway's own, the parent's decision holds.
        assert_eq!(
            decide(&never, &parent(true, false)),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(&always, &parent(false, false)),
            SamplingDecision::Drop
        );
    }
}
