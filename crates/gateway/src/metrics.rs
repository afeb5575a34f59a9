//! Prometheus text exposition, hand-rolled: request counters and latency histograms per
//! (method, tool, backend), and backend health gauges.
//!
//! Label values come only from the aggregated view (tool names that exist) or a fixed set, so
//! a client sending random names cannot blow up cardinality.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use crate::authz::Kind;

const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Counters and latency histogram of one (method, tool, backend).
#[derive(Default, Clone)]
struct Series {
    ok: u64,
    error: u64,
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// method -> tool -> backend -> series. Nested maps so the hot path looks a series up by
/// `&str` without building an owned key; iteration order equals that of the tuple keys.
type Tree = BTreeMap<String, BTreeMap<String, BTreeMap<String, Mutex<Series>>>>;

/// Request metrics. A request for a series seen before takes the read lock and that series'
/// own mutex and allocates nothing; only the first request of a new series writes the tree.
#[derive(Default)]
pub struct Metrics {
    series: RwLock<Tree>,
    /// Requests refused by the authorization policy, per Cedar action.
    denied: [AtomicU64; 3],
    /// Requests refused by client authentication (`incomingAuth.type: oidc`), per reason
    /// (a fixed set: `oidc::AuthFailure::reason`).
    auth_refused: Mutex<BTreeMap<&'static str, u64>>,
}

/// The Cedar actions whose denials are counted, in `Metrics::denied` order.
const DENIED_ACTIONS: [Kind; 3] = [Kind::Tool, Kind::Prompt, Kind::Resource];

impl Series {
    fn add(&mut self, ok: bool, seconds: f64) {
        if ok {
            self.ok += 1;
        } else {
            self.error += 1;
        }
        for (n, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.counts[n] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

impl Metrics {
    /// Records one client request. `tool` and `backend` are empty when not applicable.
    pub fn observe(&self, method: &str, tool: &str, backend: &str, ok: bool, seconds: f64) {
        {
            let t = self.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = t
                .get(method)
                .and_then(|m| m.get(tool))
                .and_then(|m| m.get(backend))
            {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .add(ok, seconds);
                return;
            }
        }
        let mut t = self.series.write().unwrap_or_else(PoisonError::into_inner);
        t.entry(method.to_owned())
            .or_default()
            .entry(tool.to_owned())
            .or_default()
            .entry(backend.to_owned())
            .or_default()
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .add(ok, seconds);
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

    /// Renders everything; `backends` gives (name, state, is_healthy).
    pub fn render(
        &self,
        backends: &[BackendGauges],
        sessions: usize,
        relayed: &[RelayCount],
    ) -> String {
        // Copy the counters out, each series' mutex held only for its copy. The read lock
        // held while formatting delays only the first request of a series not seen before.
        let t = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let mut series: Vec<(&str, &str, &str, Series)> = Vec::new();
        for (m, tools) in t.iter() {
            for (tl, backends) in tools {
                for (b, s) in backends {
                    let h = s.lock().unwrap_or_else(PoisonError::into_inner);
                    series.push((m, tl, b, h.clone()));
                }
            }
        }
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP vmcp_requests_total MCP requests handled, by method, tool, backend and outcome."
        );
        let _ = writeln!(s, "# TYPE vmcp_requests_total counter");
        for (m, t, b, h) in &series {
            // "error" sorts before "ok"; a series shows only the outcomes it has seen.
            for (o, n) in [("error", h.error), ("ok", h.ok)] {
                if n == 0 {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "vmcp_requests_total{{method=\"{}\",tool=\"{}\",backend=\"{}\",outcome=\"{o}\"}} {n}",
                    esc(m),
                    esc(t),
                    esc(b)
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_request_duration_seconds Latency of MCP requests through the gateway."
        );
        let _ = writeln!(s, "# TYPE vmcp_request_duration_seconds histogram");
        for (m, t, b, h) in &series {
            let labels = format!(
                "method=\"{}\",tool=\"{}\",backend=\"{}\"",
                esc(m),
                esc(t),
                esc(b)
            );
            for (n, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "vmcp_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    h.counts[n]
                );
            }
            let _ = writeln!(
                s,
                "vmcp_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(s, "vmcp_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(
                s,
                "vmcp_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_backend_healthy Whether a backend is healthy (1) or not (0)."
        );
        let _ = writeln!(s, "# TYPE vmcp_backend_healthy gauge");
        for b in backends {
            let _ = writeln!(
                s,
                "vmcp_backend_healthy{{backend=\"{}\"}} {}",
                esc(&b.name),
                u8::from(b.healthy)
            );
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_backend_state Backend state machine (1 for the current state)."
        );
        let _ = writeln!(s, "# TYPE vmcp_backend_state gauge");
        for b in backends {
            for cand in ["connecting", "healthy", "degraded", "open"] {
                let _ = writeln!(
                    s,
                    "vmcp_backend_state{{backend=\"{}\",state=\"{cand}\"}} {}",
                    esc(&b.name),
                    u8::from(b.state == cand)
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_backend_client_sessions Backend sessions held for clients that need their own."
        );
        let _ = writeln!(s, "# TYPE vmcp_backend_client_sessions gauge");
        for b in backends {
            let _ = writeln!(
                s,
                "vmcp_backend_client_sessions{{backend=\"{}\"}} {}",
                esc(&b.name),
                b.client_sessions
            );
        }
        let exchanging: Vec<(&BackendGauges, &ExchangeCounts)> = backends
            .iter()
            .filter_map(|b| Some((b, b.exchange.as_ref()?)))
            .collect();
        if !exchanging.is_empty() {
            let _ = writeln!(
                s,
                "# HELP vmcp_token_exchange_total Per-call tokens of token_exchange backends: served from the cache (hit) or asked of the token endpoint (exchange)."
            );
            let _ = writeln!(s, "# TYPE vmcp_token_exchange_total counter");
            for (b, e) in &exchanging {
                let name = esc(&b.name);
                let _ = writeln!(
                    s,
                    "vmcp_token_exchange_total{{backend=\"{name}\",result=\"hit\"}} {}",
                    e.hits
                );
                let _ = writeln!(
                    s,
                    "vmcp_token_exchange_total{{backend=\"{name}\",result=\"exchange\"}} {}",
                    e.exchanges
                );
            }
            let _ = writeln!(
                s,
                "# HELP vmcp_token_exchange_failures_total Token exchanges that gave no token, by reason (subject_refused: the caller's token; refused: the gateway's client or request; unavailable: the endpoint)."
            );
            let _ = writeln!(s, "# TYPE vmcp_token_exchange_failures_total counter");
            for (b, e) in &exchanging {
                for (reason, n) in &e.failures {
                    let _ = writeln!(
                        s,
                        "vmcp_token_exchange_failures_total{{backend=\"{}\",reason=\"{reason}\"}} {n}",
                        esc(&b.name)
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_authz_denied_total Requests refused by the authorization policy (HTTP 403), by Cedar action."
        );
        let _ = writeln!(s, "# TYPE vmcp_authz_denied_total counter");
        for (kind, n) in DENIED_ACTIONS.iter().zip(&self.denied) {
            let _ = writeln!(
                s,
                "vmcp_authz_denied_total{{action=\"{}\"}} {}",
                kind.action(),
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_auth_refused_total Requests refused by client authentication (401, 403 insufficient_scope, 503 issuer_unavailable), by reason."
        );
        let _ = writeln!(s, "# TYPE vmcp_auth_refused_total counter");
        for (reason, n) in self
            .auth_refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(s, "vmcp_auth_refused_total{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(s, "# HELP vmcp_client_sessions Open client sessions.");
        let _ = writeln!(s, "# TYPE vmcp_client_sessions gauge");
        let _ = writeln!(s, "vmcp_client_sessions {sessions}");
        let _ = writeln!(
            s,
            "# HELP vmcp_server_requests_total Server-to-client requests from backends (sampling, elicitation, roots), by what became of them."
        );
        let _ = writeln!(s, "# TYPE vmcp_server_requests_total counter");
        for (method, outcome, n) in relayed {
            let _ = writeln!(
                s,
                "vmcp_server_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_limit_refusals_total Requests, sessions, replies and connections refused or cut by one of the gateway's bounds, by the flag that sets it."
        );
        let _ = writeln!(s, "# TYPE vmcp_limit_refusals_total counter");
        for (flag, n) in crate::limits::refusals() {
            let _ = writeln!(s, "vmcp_limit_refusals_total{{limit=\"{flag}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_trace_spans_total Sampled spans of the OpenTelemetry trace pipeline, by what became of them (dropped: the export queue was full; failed: the collector did not take them)."
        );
        let _ = writeln!(s, "# TYPE vmcp_trace_spans_total counter");
        let c = &crate::telemetry::export::COUNTS;
        for (result, n) in [
            ("exported", &c.exported),
            ("dropped", &c.dropped),
            ("failed", &c.failed),
        ] {
            let _ = writeln!(
                s,
                "vmcp_trace_spans_total{{result=\"{result}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        s
    }
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

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.observe("tools/call", "a_echo", "a", true, 0.02);
        m.observe("tools/call", "a_echo", "a", false, 7.0);
        let gauges = BackendGauges {
            name: "a".into(),
            state: "healthy",
            healthy: true,
            client_sessions: 2,
            exchange: None,
        };
        let exchanging = BackendGauges {
            name: "x".into(),
            state: "healthy",
            healthy: true,
            client_sessions: 0,
            exchange: Some(ExchangeCounts {
                hits: 9,
                exchanges: 2,
                failures: vec![("unavailable", 1)],
            }),
        };
        let out = m.render(&[gauges, exchanging], 3, &[("roots/list", "answered", 4)]);
        assert!(out.contains(r#"vmcp_token_exchange_total{backend="x",result="hit"} 9"#));
        assert!(out.contains(r#"vmcp_token_exchange_total{backend="x",result="exchange"} 2"#));
        assert!(
            out.contains(
                r#"vmcp_token_exchange_failures_total{backend="x",reason="unavailable"} 1"#
            )
        );
        assert!(!out.contains(r#"vmcp_token_exchange_total{backend="a""#));
        assert!(out.contains(
            r#"vmcp_requests_total{method="tools/call",tool="a_echo",backend="a",outcome="ok"} 1"#
        ));
        assert!(out.contains(r#"vmcp_request_duration_seconds_bucket{method="tools/call",tool="a_echo",backend="a",le="0.025"} 1"#));
        assert!(out.contains(r#"vmcp_request_duration_seconds_count{method="tools/call",tool="a_echo",backend="a"} 2"#));
        assert!(out.contains(r#"vmcp_backend_healthy{backend="a"} 1"#));
        assert!(out.contains("vmcp_client_sessions 3"));
        assert!(out.contains(r#"vmcp_backend_state{backend="a",state="healthy"} 1"#));
        assert!(out.contains(r#"vmcp_backend_client_sessions{backend="a"} 2"#));
        assert!(
            out.contains(r#"vmcp_server_requests_total{method="roots/list",outcome="answered"} 4"#)
        );
    }

    #[test]
    fn series_and_outcomes_render_in_key_order() {
        let m = Metrics::default();
        m.observe("tools/call", "b_x", "b", true, 0.001);
        m.observe("tools/list", "", "", true, 0.001);
        m.observe("tools/call", "a_y", "a", true, 0.001);
        m.observe("tools/call", "a_y", "a", false, 0.001);
        let out = m.render(&[], 0, &[]);
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("vmcp_requests_total"))
            .collect();
        assert_eq!(
            lines,
            [
                r#"vmcp_requests_total{method="tools/call",tool="a_y",backend="a",outcome="error"} 1"#,
                r#"vmcp_requests_total{method="tools/call",tool="a_y",backend="a",outcome="ok"} 1"#,
                r#"vmcp_requests_total{method="tools/call",tool="b_x",backend="b",outcome="ok"} 1"#,
                r#"vmcp_requests_total{method="tools/list",tool="",backend="",outcome="ok"} 1"#,
            ]
        );
        assert!(out.contains(
            r#"vmcp_request_duration_seconds_count{method="tools/call",tool="a_y",backend="a"} 2"#
        ));
    }
}
