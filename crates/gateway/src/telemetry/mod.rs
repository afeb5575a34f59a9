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

/// The sampling ratio as a threshold on the low 64 bits of a trace id (what
/// OpenTelemetry's `TraceIdRatioBased` compares), set with [`ON`].
static THRESHOLD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether spans are being made (the process installed an exporter).
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Whether a trace entering the gateway is kept: the ratio decides on the caller's trace id
/// (so gateways and backends sampling by ratio keep the same traces), or on a fresh random
/// number for a request without one. Decided before any span exists: a request not kept
/// makes no span at all and pays nothing more than this.
pub fn sampled(parent: Option<&opentelemetry::Context>) -> bool {
    use opentelemetry::trace::TraceContextExt;
    let threshold = THRESHOLD.load(Ordering::Relaxed);
    if threshold == u64::MAX {
        return true;
    }
    let low = match parent {
        Some(cx) => {
            let id = cx.span().span_context().trace_id().to_bytes();
            u64::from_be_bytes(id[8..16].try_into().unwrap_or_default())
        }
        None => random_low(),
    };
    (low >> 1) < threshold
}

/// 64 random bits from a v4 UUID. Not its low half as it is: a v4 UUID's variant bits are
/// the top two of that half (`0b10`), which would put every draw above any ratio under 0.5.
fn random_low() -> u64 {
    let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
    (lo << 2) | (hi & 0b11)
}

/// The threshold of a ratio, as OpenTelemetry computes it (`u64::MAX` for 1).
fn threshold(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        u64::MAX
    } else if ratio <= 0.0 {
        0
    } else {
        (ratio * (1u64 << 63) as f64) as u64
    }
}

/// Whether the current span is one of ours (a kept request's, or a capability fetch's):
/// spans below it are made; without one, nothing is.
pub fn in_span() -> bool {
    on() && tracing::Span::current()
        .metadata()
        .is_some_and(|m| m.target() == TARGET)
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

/// The sampler of the SDK. The ratio is applied before a span is made ([`sampled`]): every
/// span that reaches the SDK belongs to a kept request, so a span without a local parent is
/// kept, whatever the caller's sampled flag says (a client setting it on every request would
/// otherwise sample itself at 100 % and crowd everyone else's spans out of the queue; one
/// clearing it would hide its calls); spans under a span of the gateway's own follow that
/// span. The caller's trace id is kept either way.
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
            .with_sampler(Sampling(Sampler::AlwaysOn))
            .with_span_processor(queue)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("vmcp");
        THRESHOLD.store(threshold(settings.sampling_rate), Ordering::Relaxed);
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
    fn spans_without_a_local_parent_are_kept_and_local_children_follow_their_parent() {
        // Only kept requests make spans: a caller's cleared flag does not drop them.
        let s = Sampling(Sampler::AlwaysOn);
        assert_eq!(
            decide(&s, &parent(false, true)),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(&s, &parent(true, false)),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(decide(&s, &parent(false, false)), SamplingDecision::Drop);
    }

    #[test]
    fn new_traces_are_kept_at_the_ratio() {
        for (ratio, low, high) in [(0.5, 4500, 5500), (0.01, 40, 170)] {
            let t = threshold(ratio);
            let kept = (0..10_000).filter(|_| (random_low() >> 1) < t).count();
            assert!(
                (low..=high).contains(&kept),
                "{ratio}: {kept} of 10000 kept"
            );
        }
    }

    #[test]
    fn the_ratio_is_opentelemetrys_on_the_trace_id() {
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(0.0), 0);
        // The same decision as the SDK's ratio sampler, for many trace ids and two ratios.
        for ratio in [0.01, 0.5] {
            let sdk = Sampler::TraceIdRatioBased(ratio);
            let t = threshold(ratio);
            let mut kept = 0;
            for i in 0u64..2000 {
                let low = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut bytes = [0u8; 16];
                bytes[8..].copy_from_slice(&low.to_be_bytes());
                let id = TraceId::from_bytes(bytes);
                let ours = (low >> 1) < t;
                let theirs = sdk
                    .should_sample(None, id, "x", &SpanKind::Server, &[], &[])
                    .decision
                    == SamplingDecision::RecordAndSample;
                assert_eq!(ours, theirs, "{ratio} {i}");
                kept += usize::from(ours);
            }
            assert!(kept > 0);
        }
    }
}
