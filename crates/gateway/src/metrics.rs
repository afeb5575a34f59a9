//! The gateway's metrics, made with OpenTelemetry and served at `/metrics` by its Prometheus
//! exporter: request counters and latency histograms per (method, tool, backend), ToolHive's
//! `toolhive_vmcp_*` backend series beside them, and gauges and counters read from the
//! gateway's state when scraped (backend health, sessions, token-exchange caches, refusals,
//! the trace and audit pipelines).
//!
//! Names are today's (dashboards exist): each is written in full (`_total`, `_seconds`) and
//! the exporter adds no suffix of its own. Label values come only from the aggregated view
//! (tool names that exist) or a fixed set, so a client sending random names cannot blow up
//! cardinality.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::authz::Kind;

/// Bucket bounds of the latency histograms, in seconds.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The Cedar actions whose denials are counted, in `Metrics::denied` order.
const DENIED_ACTIONS: [Kind; 3] = [Kind::Tool, Kind::Prompt, Kind::Resource];

/// What the scrape-time instruments read: the gateway's state at that moment.
#[derive(Default)]
pub struct Gauges {
    pub backends: Vec<BackendGauges>,
    pub sessions: usize,
    pub relayed: Vec<RelayCount>,
    /// (dropped, written) audit events, with audit on.
    pub audit: Option<(u64, u64)>,
}

/// Where [`Gauges`] come from (set once the gateway's parts exist).
pub type GaugeSource = Box<dyn Fn() -> Gauges + Send + Sync>;

/// Request metrics and the scrape-time instruments.
pub struct Metrics {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    requests: Counter<u64>,
    duration: Histogram<f64>,
    backend_requests: Counter<u64>,
    backend_errors: Counter<u64>,
    backend_duration: Histogram<f64>,
    /// Requests refused by the authorization policy, per Cedar action (counted here so that
    /// the zeros are served too: an alert on a rate needs the series before the first one).
    denied: Arc<[AtomicU64; 3]>,
    /// Requests refused by client authentication, per reason (a fixed set:
    /// `oidc::AuthFailure::reason`).
    auth_refused: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Arc::new(OnceLock::new()))
    }
}

/// A reader that pushes the metrics elsewhere too (OTLP), beside `/metrics`.
pub type OtlpReader =
    opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader<
        opentelemetry_otlp::MetricExporter,
    >;

/// A label with a borrowed value, copied (OpenTelemetry keeps attribute values owned).
fn label(key: &'static str, value: &str) -> KeyValue {
    KeyValue::new(key, value.to_owned())
}

impl Metrics {
    /// The instruments, reading scrape-time state from `source` once it is set.
    pub fn new(source: Arc<OnceLock<GaugeSource>>) -> Self {
        Metrics::with_otlp(source, None)
    }

    /// [`Metrics::new`], the same instruments also pushed by `otlp` (the values a scrape
    /// and the collector see come from one set of instruments, so they agree).
    pub fn with_otlp(
        source: Arc<OnceLock<GaugeSource>>,
        otlp: Option<(OtlpReader, opentelemetry_sdk::Resource)>,
    ) -> Self {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_counter_suffixes()
            .without_units()
            .without_target_info()
            .scope_info_enabled(false)
            .build();
        let mut builder = SdkMeterProvider::builder();
        if let Some((reader, resource)) = otlp {
            builder = builder.with_reader(reader).with_resource(resource);
        }
        let provider = match exporter {
            Ok(e) => builder.with_reader(e).build(),
            Err(e) => {
                tracing::error!(error = %e, "the Prometheus exporter could not be built; /metrics is empty");
                builder.build()
            }
        };
        let meter = provider.meter("vmcp");
        let denied: Arc<[AtomicU64; 3]> = Arc::default();
        let auth_refused: Arc<Mutex<BTreeMap<&'static str, u64>>> = Arc::default();
        register_scraped(&meter, source, denied.clone(), auth_refused.clone());
        Metrics {
            requests: meter
                .u64_counter("vmcp_requests_total")
                .with_description("MCP requests handled, by method, tool, backend and outcome.")
                .build(),
            duration: meter
                .f64_histogram("vmcp_request_duration_seconds")
                .with_description("Latency of MCP requests through the gateway.")
                .with_boundaries(BUCKETS.to_vec())
                .build(),
            backend_requests: meter
                .u64_counter("toolhive_vmcp_backend_requests_total")
                .with_description("Requests routed to a backend (ToolHive's name).")
                .build(),
            backend_errors: meter
                .u64_counter("toolhive_vmcp_backend_errors_total")
                .with_description("Requests routed to a backend that failed (ToolHive's name).")
                .build(),
            backend_duration: meter
                .f64_histogram("toolhive_vmcp_backend_requests_duration_seconds")
                .with_description("Latency of requests routed to a backend (ToolHive's name).")
                .with_boundaries(BUCKETS.to_vec())
                .build(),
            registry,
            provider,
            denied,
            auth_refused,
        }
    }

    /// Records one client request. `tool` and `backend` are empty when not applicable.
    pub fn observe(&self, method: &'static str, tool: &str, backend: &str, ok: bool, seconds: f64) {
        let outcome = if ok { "ok" } else { "error" };
        let series = [
            KeyValue::new("method", method),
            label("tool", tool),
            label("backend", backend),
        ];
        self.duration.record(seconds, &series);
        let [m, t, b] = series;
        self.requests
            .add(1, &[m, t, b, KeyValue::new("outcome", outcome)]);
        if backend.is_empty() {
            return;
        }
        // ToolHive's attributes (`target.workload_name`, `mcp.method.name`, `gen_ai.tool.name`).
        let th = [
            label("target.workload_name", backend),
            KeyValue::new("mcp.method.name", method),
            label("gen_ai.tool.name", tool),
        ];
        self.backend_requests.add(1, &th);
        self.backend_duration.record(seconds, &th);
        if !ok {
            self.backend_errors.add(1, &th);
        }
    }

    /// Records a request the authorization policy refused.
    pub fn denied(&self, kind: Kind) {
        if let Some(i) = DENIED_ACTIONS.iter().position(|k| *k == kind) {
            self.denied[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a request refused by client authentication; `issuer_unavailable` is the
    /// one to alert on (the issuer's keys cannot be fetched, every client gets 503).
    pub fn auth_refused(&self, reason: &'static str) {
        *self
            .auth_refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason)
            .or_default() += 1;
    }

    /// Everything, in the Prometheus text format (the scrape-time instruments read the
    /// gateway's state now).
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| format!("# encoding the metrics failed: {e}\n"))
    }

    /// Pushes what the OTLP reader has not sent yet, and stops it.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "metrics shutdown");
        }
    }
}

/// The instruments read when scraped: each callback asks `source` for the state it shows.
fn register_scraped(
    meter: &Meter,
    source: Arc<OnceLock<GaugeSource>>,
    denied: Arc<[AtomicU64; 3]>,
    auth_refused: Arc<Mutex<BTreeMap<&'static str, u64>>>,
) {
    let read = move |f: &dyn Fn(&Gauges)| {
        if let Some(s) = source.get() {
            f(&s());
        }
    };
    let read = Arc::new(read);
    let r = read.clone();
    meter
        .u64_observable_gauge("vmcp_backend_healthy")
        .with_description("Whether a backend is healthy (1) or not (0).")
        .with_callback(move |o| {
            r(&|g| {
                for b in &g.backends {
                    o.observe(u64::from(b.healthy), &[label("backend", &b.name)]);
                }
            })
        })
        .build();
    let r = read.clone();
    meter
        .u64_observable_gauge("vmcp_backend_state")
        .with_description("Backend state machine (1 for the current state).")
        .with_callback(move |o| {
            r(&|g| {
                for b in &g.backends {
                    for cand in ["connecting", "healthy", "degraded", "open"] {
                        o.observe(
                            u64::from(b.state == cand),
                            &[label("backend", &b.name), KeyValue::new("state", cand)],
                        );
                    }
                }
            })
        })
        .build();
    let r = read.clone();
    meter
        .u64_observable_gauge("vmcp_backend_client_sessions")
        .with_description("Backend sessions held for clients that need their own.")
        .with_callback(move |o| {
            r(&|g| {
                for b in &g.backends {
                    o.observe(b.client_sessions as u64, &[label("backend", &b.name)]);
                }
            })
        })
        .build();
    let r = read.clone();
    meter
        .u64_observable_gauge("toolhive_vmcp_backends_discovered")
        .with_description("Backends the gateway serves (ToolHive's name).")
        .with_callback(move |o| r(&|g| o.observe(g.backends.len() as u64, &[])))
        .build();
    let r = read.clone();
    meter
        .u64_observable_counter("vmcp_token_exchange_total")
        .with_description("Per-call tokens of token_exchange backends: served from the cache (hit) or asked of the token endpoint (exchange).")
        .with_callback(move |o| {
            r(&|g| {
                for b in &g.backends {
                    if let Some(e) = &b.exchange {
                        let name = label("backend", &b.name);
                        o.observe(e.hits, &[name.clone(), KeyValue::new("result", "hit")]);
                        o.observe(e.exchanges, &[name, KeyValue::new("result", "exchange")]);
                    }
                }
            })
        })
        .build();
    let r = read.clone();
    meter
        .u64_observable_counter("vmcp_token_exchange_failures_total")
        .with_description("Token exchanges that gave no token, by reason (subject_refused: the caller's token; refused: the gateway's client or request; unavailable: the endpoint).")
        .with_callback(move |o| {
            r(&|g| {
                for b in &g.backends {
                    for (reason, n) in b.exchange.iter().flat_map(|e| &e.failures) {
                        o.observe(
                            *n,
                            &[label("backend", &b.name), KeyValue::new("reason", *reason)],
                        );
                    }
                }
            })
        })
        .build();
    meter
        .u64_observable_counter("vmcp_authz_denied_total")
        .with_description(
            "Requests refused by the authorization policy (HTTP 403), by Cedar action.",
        )
        .with_callback(move |o| {
            for (kind, n) in DENIED_ACTIONS.iter().zip(denied.iter()) {
                o.observe(
                    n.load(Ordering::Relaxed),
                    &[KeyValue::new("action", kind.action())],
                );
            }
        })
        .build();
    meter
        .u64_observable_counter("vmcp_auth_refused_total")
        .with_description("Requests refused by client authentication (401, 403 insufficient_scope, 503 issuer_unavailable), by reason.")
        .with_callback(move |o| {
            let refused = auth_refused.lock().unwrap_or_else(PoisonError::into_inner);
            for (reason, n) in refused.iter() {
                o.observe(*n, &[KeyValue::new("reason", *reason)]);
            }
        })
        .build();
    let r = read.clone();
    meter
        .u64_observable_gauge("vmcp_client_sessions")
        .with_description("Open client sessions.")
        .with_callback(move |o| r(&|g| o.observe(g.sessions as u64, &[])))
        .build();
    let r = read.clone();
    meter
        .u64_observable_counter("vmcp_server_requests_total")
        .with_description("Server-to-client requests from backends (sampling, elicitation, roots), by what became of them.")
        .with_callback(move |o| {
            r(&|g| {
                for (method, outcome, n) in &g.relayed {
                    o.observe(
                        *n,
                        &[
                            KeyValue::new("method", *method),
                            KeyValue::new("outcome", *outcome),
                        ],
                    );
                }
            })
        })
        .build();
    meter
        .u64_observable_counter("vmcp_limit_refusals_total")
        .with_description("Requests, sessions, replies and connections refused or cut by one of the gateway's bounds, by the flag that sets it.")
        .with_callback(|o| {
            for (flag, n) in crate::limits::refusals() {
                o.observe(n, &[KeyValue::new("limit", flag)]);
            }
        })
        .build();
    meter
        .u64_observable_counter("vmcp_trace_spans_total")
        .with_description("Sampled spans of the OpenTelemetry trace pipeline, by what became of them (dropped: the export queue was full; failed: the collector did not take them).")
        .with_callback(|o| {
            let c = &crate::telemetry::export::COUNTS;
            for (result, n) in [
                ("exported", &c.exported),
                ("dropped", &c.dropped),
                ("failed", &c.failed),
            ] {
                o.observe(n.load(Ordering::Relaxed), &[KeyValue::new("result", result)]);
            }
        })
        .build();
    let r = read.clone();
    meter
        .u64_observable_counter("vmcp_audit_events_written_total")
        .with_description("Audit events written.")
        .with_callback(move |o| {
            r(&|g| {
                if let Some((_, written)) = g.audit {
                    o.observe(written, &[]);
                }
            })
        })
        .build();
    meter
        .u64_observable_counter("vmcp_audit_events_dropped_total")
        .with_description("Audit events dropped because the writer fell behind.")
        .with_callback(move |o| {
            read(&|g| {
                if let Some((dropped, _)) = g.audit {
                    o.observe(dropped, &[]);
                }
            })
        })
        .build();
}

/// The per-backend gauges of `/metrics`.
pub struct BackendGauges {
    pub name: String,
    pub state: &'static str,
    pub healthy: bool,
    pub client_sessions: usize,
    /// For `token_exchange` backends.
    pub exchange: Option<ExchangeCounts>,
}

/// What a `token_exchange` backend's cache did since start.
pub struct ExchangeCounts {
    pub hits: u64,
    pub exchanges: u64,
    pub failures: Vec<(&'static str, u64)>,
}

/// (method, outcome, count) of server-to-client requests (see `relay::counts`).
pub type RelayCount = (&'static str, &'static str, u64);

/// The value of the sample `name{labels}` in Prometheus text, whatever the order of its
/// labels; `None` when there is no such sample. For tests and the dashboard check.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let have: Vec<(&str, &str)> = rest
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once("=\"")?;
                    Some((k, v.trim_end_matches('"')))
                })
                .collect();
            let all = labels.iter().all(|w| have.contains(w)) && have.len() == labels.len();
            all.then(|| value.parse().ok()).flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_gauges(g: impl Fn() -> Gauges + Send + Sync + 'static) -> Metrics {
        let source = Arc::new(OnceLock::new());
        let _ = source.set(Box::new(g) as GaugeSource);
        Metrics::new(source)
    }

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = with_gauges(|| Gauges {
            backends: vec![
                BackendGauges {
                    name: "a".into(),
                    state: "healthy",
                    healthy: true,
                    client_sessions: 2,
                    exchange: None,
                },
                BackendGauges {
                    name: "x".into(),
                    state: "healthy",
                    healthy: true,
                    client_sessions: 0,
                    exchange: Some(ExchangeCounts {
                        hits: 9,
                        exchanges: 2,
                        failures: vec![("unavailable", 1)],
                    }),
                },
            ],
            sessions: 3,
            relayed: vec![("roots/list", "answered", 4)],
            audit: None,
        });
        m.observe("tools/call", "a_echo", "a", true, 0.02);
        m.observe("tools/call", "a_echo", "a", false, 7.0);
        m.observe("tools/list", "", "", true, 0.001);
        m.denied(Kind::Tool);
        let out = m.render();
        let s = |name: &str, labels: &[(&str, &str)]| sample(&out, name, labels);
        let call = [
            ("method", "tools/call"),
            ("tool", "a_echo"),
            ("backend", "a"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut l = call.to_vec();
            l.push(extra);
            l
        };
        assert_eq!(
            s("vmcp_requests_total", &with(("outcome", "ok"))),
            Some(1.0),
            "{out}"
        );
        assert_eq!(
            s("vmcp_requests_total", &with(("outcome", "error"))),
            Some(1.0)
        );
        assert_eq!(
            s(
                "vmcp_request_duration_seconds_bucket",
                &with(("le", "0.025"))
            ),
            Some(1.0),
            "{out}"
        );
        assert_eq!(s("vmcp_request_duration_seconds_count", &call), Some(2.0));
        let list = [
            ("method", "tools/list"),
            ("tool", ""),
            ("backend", ""),
            ("outcome", "ok"),
        ];
        assert_eq!(s("vmcp_requests_total", &list), Some(1.0));
        let th = [
            ("target_workload_name", "a"),
            ("mcp_method_name", "tools/call"),
            ("gen_ai_tool_name", "a_echo"),
        ];
        assert_eq!(
            s("toolhive_vmcp_backend_requests_total", &th),
            Some(2.0),
            "{out}"
        );
        assert_eq!(s("toolhive_vmcp_backend_errors_total", &th), Some(1.0));
        assert_eq!(
            s("toolhive_vmcp_backend_requests_duration_seconds_count", &th),
            Some(2.0)
        );
        assert_eq!(s("toolhive_vmcp_backends_discovered", &[]), Some(2.0));
        assert_eq!(
            s(
                "vmcp_token_exchange_total",
                &[("backend", "x"), ("result", "hit")]
            ),
            Some(9.0)
        );
        assert_eq!(
            s(
                "vmcp_token_exchange_total",
                &[("backend", "x"), ("result", "exchange")]
            ),
            Some(2.0)
        );
        assert_eq!(
            s(
                "vmcp_token_exchange_failures_total",
                &[("backend", "x"), ("reason", "unavailable")]
            ),
            Some(1.0)
        );
        assert!(!out.contains(r#"vmcp_token_exchange_total{backend="a""#));
        assert_eq!(s("vmcp_backend_healthy", &[("backend", "a")]), Some(1.0));
        assert_eq!(s("vmcp_client_sessions", &[]), Some(3.0));
        assert_eq!(
            s(
                "vmcp_backend_state",
                &[("backend", "a"), ("state", "healthy")]
            ),
            Some(1.0)
        );
        assert_eq!(
            s("vmcp_backend_state", &[("backend", "a"), ("state", "open")]),
            Some(0.0)
        );
        assert_eq!(
            s("vmcp_backend_client_sessions", &[("backend", "a")]),
            Some(2.0)
        );
        assert_eq!(
            s(
                "vmcp_server_requests_total",
                &[("method", "roots/list"), ("outcome", "answered")]
            ),
            Some(4.0)
        );
        assert_eq!(
            s("vmcp_authz_denied_total", &[("action", "call_tool")]),
            Some(1.0)
        );
        assert_eq!(
            s("vmcp_authz_denied_total", &[("action", "get_prompt")]),
            Some(0.0)
        );
        assert!(out.contains("# HELP vmcp_requests_total MCP requests handled"));
        assert!(out.contains("# TYPE vmcp_requests_total counter"));
        assert!(!out.contains("otel_scope"), "no scope labels: {out}");
    }

    #[test]
    fn without_a_source_only_the_request_series_and_fixed_counters_show() {
        let m = Metrics::default();
        m.observe("ping", "", "", true, 0.0);
        let out = m.render();
        assert!(sample(&out, "vmcp_client_sessions", &[]).is_none());
        assert_eq!(
            sample(&out, "vmcp_trace_spans_total", &[("result", "dropped")]),
            Some(0.0)
        );
    }

    /// The Grafana dashboard in `deploy/grafana/` queries only metrics the gateway serves,
    /// and groups only by labels those metrics have (a renamed metric or label would leave a
    /// panel empty without an error anywhere).
    #[test]
    fn every_metric_and_label_the_dashboard_queries_is_served() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../deploy/grafana/vmcp-gateway.json"))
                .unwrap();
        let m = with_gauges(|| Gauges {
            backends: vec![BackendGauges {
                name: "b".into(),
                state: "healthy",
                healthy: true,
                client_sessions: 1,
                exchange: Some(ExchangeCounts {
                    hits: 1,
                    exchanges: 1,
                    failures: vec![("unavailable", 1)],
                }),
            }],
            sessions: 1,
            relayed: vec![("roots/list", "answered", 1)],
            audit: Some((0, 1)),
        });
        m.observe("tools/call", "b_t", "b", false, 0.1);
        m.auth_refused("inactive");
        let out = m.render();
        // Each family's label names, from its samples.
        let mut labels: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let series = line.rsplit_once(' ').map_or(line, |(s, _)| s);
            let (name, rest) = series.split_once('{').unwrap_or((series, ""));
            let entry = labels.entry(name.to_owned()).or_default();
            for pair in rest
                .trim_end_matches('}')
                .split("\",")
                .filter(|p| !p.is_empty())
            {
                if let Some((k, _)) = pair.split_once('=') {
                    entry.push(k.to_owned());
                }
            }
        }
        let mut checked = 0;
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let grouped: Vec<&str> = expr
                    .split("by (")
                    .skip(1)
                    .flat_map(|r| r.split(')').next().unwrap_or_default().split(','))
                    .map(str::trim)
                    .filter(|l| *l != "le")
                    .collect();
                let names: Vec<&str> = expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("vmcp_") || w.starts_with("toolhive_vmcp_"))
                    .collect();
                assert!(!names.is_empty(), "{expr}: no vmcp metric");
                for name in names {
                    let have = labels
                        .get(name)
                        .unwrap_or_else(|| panic!("{expr}: {name} is not served:\n{out}"));
                    for l in &grouped {
                        assert!(
                            have.iter().any(|h| h == l),
                            "{expr}: {name} has no label {l}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 20, "{checked}");
    }

    #[test]
    fn sample_matches_labels_in_any_order_and_only_all_of_them() {
        let text = "# HELP x y\nx{b=\"2\",a=\"1\"} 3\nx 4\n";
        assert_eq!(sample(text, "x", &[("a", "1"), ("b", "2")]), Some(3.0));
        assert_eq!(sample(text, "x", &[]), Some(4.0));
        assert_eq!(sample(text, "x", &[("a", "1")]), None);
    }
}
