//! Prometheus text exposition, hand-rolled: request counters and latency histograms per
//! (method, tool, backend), and backend health gauges.
//!
//! Label values come only from the aggregated view (tool names that exist) or a fixed set, so
//! a client sending random names cannot blow up cardinality.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

type Key = (String, String, String);

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, String, &'static str), u64>,
    latency: BTreeMap<Key, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records one client request. `tool` and `backend` are empty when not applicable.
    pub fn observe(&self, method: &str, tool: &str, backend: &str, ok: bool, seconds: f64) {
        let mut i = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = if ok { "ok" } else { "error" };
        *i.requests
            .entry((
                method.to_owned(),
                tool.to_owned(),
                backend.to_owned(),
                outcome,
            ))
            .or_default() += 1;
        let h = i
            .latency
            .entry((method.to_owned(), tool.to_owned(), backend.to_owned()))
            .or_default();
        for (n, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[n] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// Renders everything; `backends` gives (name, state, is_healthy).
    pub fn render(&self, backends: &[(String, &'static str, bool)], sessions: usize) -> String {
        let i = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP vmcp_requests_total MCP requests handled, by method, tool, backend and outcome."
        );
        let _ = writeln!(s, "# TYPE vmcp_requests_total counter");
        for ((m, t, b, o), n) in &i.requests {
            let _ = writeln!(
                s,
                "vmcp_requests_total{{method=\"{}\",tool=\"{}\",backend=\"{}\",outcome=\"{o}\"}} {n}",
                esc(m),
                esc(t),
                esc(b)
            );
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_request_duration_seconds Latency of MCP requests through the gateway."
        );
        let _ = writeln!(s, "# TYPE vmcp_request_duration_seconds histogram");
        for ((m, t, b), h) in &i.latency {
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
        for (b, _, ok) in backends {
            let _ = writeln!(
                s,
                "vmcp_backend_healthy{{backend=\"{}\"}} {}",
                esc(b),
                u8::from(*ok)
            );
        }
        let _ = writeln!(
            s,
            "# HELP vmcp_backend_state Backend state machine (1 for the current state)."
        );
        let _ = writeln!(s, "# TYPE vmcp_backend_state gauge");
        for (b, st, _) in backends {
            for cand in ["connecting", "healthy", "degraded", "open"] {
                let _ = writeln!(
                    s,
                    "vmcp_backend_state{{backend=\"{}\",state=\"{cand}\"}} {}",
                    esc(b),
                    u8::from(*st == cand)
                );
            }
        }
        let _ = writeln!(s, "# HELP vmcp_client_sessions Open client sessions.");
        let _ = writeln!(s, "# TYPE vmcp_client_sessions gauge");
        let _ = writeln!(s, "vmcp_client_sessions {sessions}");
        s
    }
}

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
        let out = m.render(&[("a".into(), "healthy", true)], 3);
        assert!(out.contains(
            r#"vmcp_requests_total{method="tools/call",tool="a_echo",backend="a",outcome="ok"} 1"#
        ));
        assert!(out.contains(r#"vmcp_request_duration_seconds_bucket{method="tools/call",tool="a_echo",backend="a",le="0.025"} 1"#));
        assert!(out.contains(r#"vmcp_request_duration_seconds_count{method="tools/call",tool="a_echo",backend="a"} 2"#));
        assert!(out.contains(r#"vmcp_backend_healthy{backend="a"} 1"#));
        assert!(out.contains("vmcp_client_sessions 3"));
    }
}
