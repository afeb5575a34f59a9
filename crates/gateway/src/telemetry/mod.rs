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
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sampling_rate,
            ))))
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
