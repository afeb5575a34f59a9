//! Getting spans to the collector without ever holding a request up: a bounded queue that
//! drops (and counts) when full, one task that exports in batches, and the OTLP/HTTP
//! exporter riding on the gateway's own outbound client (no redirects, TLS verified,
//! timeouts, private addresses refused unless `allowPrivateEndpoint`).
//!
//! Why not the SDK's `BatchSpanProcessor`: it keeps its drop count to itself (one log line at
//! shutdown), and it exports from a thread of its own, where the async client cannot run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};
use tokio::sync::mpsc;
use vmcp_config::{OtlpProtocol, TelemetrySettings};

use super::TelemetryError;
use crate::outbound::{self, Reach};

/// Spans waiting for export at most; more are dropped.
pub const QUEUE_SPANS: usize = 4096;

/// Spans per export request at most.
const BATCH: usize = 512;

/// How long a span waits for others to share its export request.
const BATCH_DELAY: Duration = Duration::from_millis(500);

/// How long one export request may take, the answer's body included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a collector's answer read (it is only looked at for an error message).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Counts of the trace pipeline, served on `/metrics`.
#[derive(Default)]
pub struct Counts {
    pub exported: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
}

/// The process's counts (there is one pipeline per process).
pub static COUNTS: Counts = Counts {
    exported: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
    failed: AtomicU64::new(0),
};

/// What both OTLP exporters send with: where the collector is, how it may be reached, the
/// headers (plain and from the environment) and the TLS roots.
struct Collector {
    base: String,
    reach: Reach,
    headers: std::collections::BTreeMap<String, String>,
    /// `caCertPath`'s certificates, added to the system and webpki roots.
    extra_ca: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// The same file as PEM, for the gRPC channel's TLS.
    ca_pem: Option<Vec<u8>>,
}

fn collector(
    settings: &TelemetrySettings,
    allow_loopback: bool,
) -> Result<Collector, TelemetryError> {
    let base = settings.endpoint.clone().unwrap_or_default();
    let (extra_ca, ca_pem) = match &settings.ca_cert_path {
        Some(p) => {
            let path = std::path::Path::new(p);
            let certs = crate::backend::tls::load_ca_bundle("telemetry", path)
                .map_err(|e| TelemetryError::Ca(e.to_string()))?;
            (certs, std::fs::read(path).ok())
        }
        None => (Vec::new(), None),
    };
    let reach = Reach {
        guarded: true,
        private: settings.allow_private_endpoint,
        loopback: allow_loopback,
    };
    check_literal(&base, reach)?;
    let mut headers = settings.headers.clone();
    for (name, var) in &settings.headers_from_env {
        // A Secret made with `--from-file` ends in a newline, which is no part of the value.
        let value = std::env::var(var).map(|v| {
            let v = v.strip_suffix('\n').unwrap_or(&v);
            v.strip_suffix('\r').unwrap_or(v).to_owned()
        });
        match value {
            Ok(v) if !v.is_empty() && !v.contains(['\r', '\n']) => {
                headers.insert(name.clone(), v);
            }
            _ => {
                return Err(TelemetryError::Env {
                    header: name.clone(),
                    var: var.clone(),
                });
            }
        }
    }
    Ok(Collector {
        base,
        reach,
        headers,
        extra_ca,
        ca_pem,
    })
}

impl Collector {
    /// The gateway's outbound client for OTLP/HTTP.
    fn http_client(&self) -> Result<Outbound, TelemetryError> {
        let tls = crate::backend::tls::client_config(
            "telemetry",
            None,
            &crate::backend::tls::base_roots(),
            &self.extra_ca,
        )
        .map_err(|e| TelemetryError::Ca(e.to_string()))?;
        let client = outbound::client(tls, self.reach)
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        Ok(Outbound(client, self.header_map()?))
    }

    /// The headers, set by our client on each export (the exporter's own header option
    /// percent-decodes values and lets `OTEL_EXPORTER_OTLP_HEADERS` override them).
    fn header_map(&self) -> Result<http::HeaderMap, TelemetryError> {
        let mut h = http::HeaderMap::new();
        for (k, v) in &self.headers {
            let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) else {
                // The value is a secret: only the name is said.
                return Err(TelemetryError::Exporter(format!(
                    "telemetry.headers: {k} cannot be sent as a header"
                )));
            };
            if h.insert(name, value).is_some() {
                return Err(TelemetryError::Exporter(format!(
                    "telemetry.headers: {k} is given twice (header names ignore case)"
                )));
            }
        }
        Ok(h)
    }

    /// A gRPC channel through the guarded connector: it resolves the collector's name itself
    /// and refuses what `reach` refuses, like every outbound connection (gRPC has no
    /// redirects to refuse). Connected lazily: a collector that is down does not stop the
    /// gateway, its exports fail and are counted.
    fn grpc_channel(&self) -> Result<tonic::transport::Channel, TelemetryError> {
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
        let bad = |e: tonic::transport::Error| TelemetryError::Exporter(e.to_string());
        let mut endpoint = Endpoint::from_shared(self.base.clone())
            .map_err(bad)?
            .connect_timeout(outbound::CONNECT_TIMEOUT)
            .timeout(EXPORT_TIMEOUT);
        if self.base.starts_with("https://") {
            let mut tls = ClientTlsConfig::new()
                .with_native_roots()
                .with_webpki_roots();
            if let Some(pem) = &self.ca_pem {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).map_err(bad)?;
        }
        Ok(endpoint.connect_with_connector_lazy(outbound::GuardedConnector(self.reach)))
    }

    fn grpc_metadata(&self) -> Result<tonic::metadata::MetadataMap, TelemetryError> {
        Ok(tonic::metadata::MetadataMap::from_headers(
            self.header_map()?,
        ))
    }
}

/// The OTLP span exporter of `settings`.
pub fn exporter(
    settings: &TelemetrySettings,
    allow_loopback: bool,
) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    use opentelemetry_otlp::WithTonicConfig;
    let c = collector(settings, allow_loopback)?;
    let built = match settings.protocol {
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(c.http_client()?)
            .with_endpoint(format!("{}/v1/traces", c.base))
            .with_timeout(EXPORT_TIMEOUT)
            .build(),
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_channel(c.grpc_channel()?)
            .with_metadata(c.grpc_metadata()?)
            .with_timeout(EXPORT_TIMEOUT)
            .build(),
    };
    built.map_err(|e| TelemetryError::Exporter(e.to_string()))
}

/// How often metrics are pushed (OpenTelemetry's `OTEL_METRIC_EXPORT_INTERVAL`, in ms,
/// overrides it).
const METRIC_INTERVAL: Duration = Duration::from_secs(30);

/// The reader that pushes the metrics of `settings` by OTLP (cumulative, as `/metrics`
/// counts), on the current runtime.
pub fn metric_reader(
    settings: &TelemetrySettings,
    allow_loopback: bool,
) -> Result<
    opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader<
        opentelemetry_otlp::MetricExporter,
    >,
    TelemetryError,
> {
    use opentelemetry_otlp::WithTonicConfig;
    let c = collector(settings, allow_loopback)?;
    let exporter = match settings.protocol {
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_http_client(c.http_client()?)
            .with_endpoint(format!("{}/v1/metrics", c.base))
            .with_timeout(EXPORT_TIMEOUT)
            .build(),
        OtlpProtocol::Grpc => opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_channel(c.grpc_channel()?)
            .with_metadata(c.grpc_metadata()?)
            .with_timeout(EXPORT_TIMEOUT)
            .build(),
    }
    .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let interval = std::env::var("OTEL_METRIC_EXPORT_INTERVAL")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(METRIC_INTERVAL, Duration::from_millis);
    Ok(
        opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_interval(interval)
        .build(),
    )
}

/// An endpoint written as an IP is never resolved, so the guarded resolver never sees it:
/// it is judged here.
fn check_literal(base: &str, reach: Reach) -> Result<(), TelemetryError> {
    let host = url::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()));
    let ip = host.and_then(|h| h.parse::<std::net::IpAddr>().ok());
    match ip.and_then(|ip| reach.refuses(ip)) {
        Some(why) => Err(TelemetryError::Exporter(format!(
            "telemetry.endpoint: {why} (set telemetry.allowPrivateEndpoint: true)"
        ))),
        None => Ok(()),
    }
}

/// The gateway's outbound client as the OTLP exporter's HTTP client, with the collector's
/// headers (kept out of `Debug`: they are credentials).
struct Outbound(reqwest::Client, http::HeaderMap);

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbound")
    }
}

#[async_trait::async_trait]
impl HttpClient for Outbound {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let mut request = reqwest::Request::try_from(request)?;
        for (k, v) in &self.1 {
            request.headers_mut().insert(k.clone(), v.clone());
        }
        let exchange = async {
            let resp = self.0.execute(request).await?;
            let status = resp.status();
            if let Some(msg) = outbound::refused_redirect(status, resp.headers()) {
                return Err::<_, HttpError>(format!("the collector answered {msg}").into());
            }
            let mut body = Vec::new();
            let mut resp = resp;
            while let Some(chunk) = resp.chunk().await? {
                let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room <= chunk.len() {
                    break;
                }
            }
            Ok(http::Response::builder()
                .status(status)
                .body(Bytes::from(body))?)
        };
        tokio::time::timeout(EXPORT_TIMEOUT, exchange)
            .await
            .map_err(|_| HttpError::from("the collector did not answer in time"))?
    }
}

enum Msg {
    Span(Box<SpanData>),
    /// Export everything queued before this, then answer.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// The span processor: ended, sampled spans into a bounded queue.
#[derive(Debug)]
pub struct Queue {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl Queue {
    /// Starts the export task on the current runtime.
    pub fn spawn<E: SpanExporter + 'static>(exporter: E, capacity: usize) -> Queue {
        let (tx, rx) = mpsc::channel(capacity);
        tokio::spawn(drain(exporter, rx));
        Queue { tx }
    }

    /// Asks the task to export what is queued and waits for it, on the calling thread
    /// (the SDK calls this at shutdown, outside any request).
    fn flush_blocking(&self, timeout: Duration) -> OTelSdkResult {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        let until = std::time::Instant::now() + timeout;
        let mut msg = Msg::Flush(done);
        // A full queue (the case under load) drains as the task exports: wait for room.
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(m)) if std::time::Instant::now() < until => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(_) => return Err(OTelSdkError::Timeout(timeout)),
            }
        }
        wait.recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.tx.try_send(Msg::Span(Box::new(span))).is_err() {
            COUNTS.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush_blocking(EXPORT_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.flush_blocking(timeout)
    }
}

/// The export task: batches of up to [`BATCH`] spans, each sent once the first of it has
/// waited [`BATCH_DELAY`] or the batch is full. A failed export is counted and logged
/// (once a minute at most: a collector that is down must not flood the log); its spans are
/// not retried, so a dead collector costs memory for one batch only.
async fn drain<E: SpanExporter>(exporter: E, mut rx: mpsc::Receiver<Msg>) {
    let mut last_warned: Option<tokio::time::Instant> = None;
    let mut batch: Vec<SpanData> = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        let mut flushed = Vec::new();
        match first {
            Msg::Span(s) => batch.push(*s),
            Msg::Flush(done) => flushed.push(done),
        }
        let deadline = tokio::time::Instant::now() + BATCH_DELAY;
        while batch.len() < BATCH && flushed.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Msg::Span(s))) => batch.push(*s),
                Ok(Some(Msg::Flush(done))) => flushed.push(done),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            match exporter.export(std::mem::take(&mut batch)).await {
                Ok(()) => {
                    COUNTS.exported.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    COUNTS.failed.fetch_add(n, Ordering::Relaxed);
                    let now = tokio::time::Instant::now();
                    if last_warned.is_none_or(|t| now - t > Duration::from_secs(60)) {
                        last_warned = Some(now);
                        tracing::warn!(error = %e, spans = n, "trace export failed; those spans are lost (said once a minute at most)");
                    }
                }
            }
        }
        for done in flushed {
            let _ = done.try_send(());
        }
    }
}
