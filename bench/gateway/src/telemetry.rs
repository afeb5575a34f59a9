//! What traces and audit events cost per call: four release gateways on the same backend,
//! started with the same flags and differing only in their config — no `telemetry` section
//! (the baseline), a trace of every request (`samplingRate: "1.0"`), of one request in a
//! hundred (`"0.01"`), and audit events to a file without traces. Spans go to a real Jaeger
//! on 127.0.0.1 (vmcp-testenv's, OTLP/HTTP into in-memory storage), so an export costs what
//! it costs against a collector that parses and keeps them. Measured side by side by
//! [`crate::compare::compare`]; then, from each gateway's `/metrics`, what became of its
//! spans (exported, dropped because the export queue was full, failed) and of its audit
//! events, so that a pipeline that fell behind shows instead of looking cheap.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vmcp_testenv::jaeger::Jaeger;

use crate::compare::compare;
use crate::{Gateway, Opts, backend, unique};

/// Every gateway gets them, so that only the config differs: the exporter may reach a
/// collector on loopback.
const FLAGS: &[&str] = &["--allow-loopback-endpoints"];

/// The `telemetry` section: traces of `rate` of new requests, to the OTLP/HTTP collector
/// at `endpoint` (`host:port`, ToolHive's form).
fn tracing_section(endpoint: &str, rate: &str) -> String {
    format!(
        "telemetry:\n  endpoint: \"{endpoint}\"\n  insecure: true\n  tracingEnabled: true\n  samplingRate: \"{rate}\"\n  allowPrivateEndpoint: true\n"
    )
}

/// The `audit` section: every event type, without request or response data, appended to
/// `log` (an absolute path).
fn audit_section(log: &Path) -> String {
    format!("audit:\n  logFile: \"{}\"\n", log.display())
}

/// A directory of this run's (the audit log), removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!(
            "vmcp-bench-telemetry-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn run(o: &Opts) -> anyhow::Result<()> {
    let jaeger = Jaeger::shared().await?;
    let scratch = Scratch::new()?;
    let be = backend::start("b0_".into(), 2).await?;
    let backends = [("b0".to_owned(), be)];
    let configs = [
        ("tracing off", String::new()),
        (
            "tracing, sampling 1.0",
            tracing_section(&jaeger.otlp_http, "1.0"),
        ),
        (
            "tracing, sampling 0.01",
            tracing_section(&jaeger.otlp_http, "0.01"),
        ),
        (
            "audit to a file",
            audit_section(&scratch.0.join("audit.log")),
        ),
    ];
    let mut gws = Vec::new();
    for (name, sections) in &configs {
        gws.push((
            *name,
            Gateway::start_sections(o, &backends, sections, FLAGS).await?,
        ));
    }
    compare(o, "Traces and audit", &gws).await?;
    pipelines(&gws).await
}

/// The samples whose counts say what became of the spans and audit events: metric name
/// and labels.
const PIPELINE: [(&str, &[(&str, &str)]); 5] = [
    ("vmcp_trace_spans_total", &[("result", "exported")]),
    ("vmcp_trace_spans_total", &[("result", "dropped")]),
    ("vmcp_trace_spans_total", &[("result", "failed")]),
    ("vmcp_audit_events_written_total", &[]),
    ("vmcp_audit_events_dropped_total", &[]),
];

/// Prints, per gateway, the `tools/call` requests it answered over the whole run and what
/// became of the spans and audit events they made.
async fn pipelines(gws: &[(&str, Gateway)]) -> anyhow::Result<()> {
    println!("\n### Traces and audit: what became of the spans and events (whole run)\n");
    println!(
        "| gateway | tools/call answered (errors) | spans exported | spans dropped (queue full) | spans failed | spans per call | audit events written | audit events dropped |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, gw) in gws {
        let text = settled_metrics(gw).await?;
        let [exported, dropped, failed, written, lost] =
            PIPELINE.map(|(name, labels)| sample(&text, name, labels));
        let calls = |outcome| {
            let labels = [("method", "tools/call"), ("outcome", outcome)];
            sample(&text, "vmcp_requests_total", &labels).unwrap_or(0)
        };
        let (ok, errors) = (calls("ok"), calls("error"));
        let spans = exported.unwrap_or(0) + dropped.unwrap_or(0) + failed.unwrap_or(0);
        let cell = |v: Option<u64>| v.map_or("—".to_owned(), |v| v.to_string());
        println!(
            "| {name} | {} ({errors}) | {} | {} | {} | {:.2} | {} | {} |",
            ok + errors,
            cell(exported),
            cell(dropped),
            cell(failed),
            spans as f64 / (ok + errors).max(1) as f64,
            cell(written),
            cell(lost)
        );
    }
    Ok(())
}

/// The gateway's `/metrics` once its pipelines are idle: read until the [`PIPELINE`] counts
/// stop moving for a second (bounded), so that spans still queued when the calls ended are
/// counted as what became of them rather than left out.
async fn settled_metrics(gw: &Gateway) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let counts = |text: &str| PIPELINE.map(|(name, labels)| sample(text, name, labels));
    let mut last = gw.metrics().await?;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = gw.metrics().await?;
        if counts(&now) == counts(&last) || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// The sum of the samples of metric `name` in `/metrics` text whose labels include each of
/// `labels` (among others, in any order: the Prometheus encoder sorts them); `None` when the
/// gateway serves no such sample (the audit counts without an `audit` section).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    let mut sum = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (set, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ").unwrap_or(("", "")),
            None => ("", rest.strip_prefix(' ').unwrap_or("")),
        };
        let has = |(k, v): &(&str, &str)| set.split(',').any(|kv| kv == format!("{k}=\"{v}\""));
        if let Ok(v) = value.trim().parse::<f64>()
            && labels.iter().all(has)
        {
            *sum.get_or_insert(0) += v as u64;
        }
    }
    sum
}
