//! The operator's `/metrics`: its counters (reconciles and failures per controller, applies,
//! changes, deletes, leadership) as OpenTelemetry instruments read when scraped, served by
//! OpenTelemetry's Prometheus exporter. The names are the ones the operator has always served
//! (written in full; the exporter adds no suffix).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::apply::ApplyStats;
use crate::controllers::{Metrics, Which};

/// The registry `/metrics` renders, and the provider whose instruments feed it.
pub struct Exposition {
    registry: prometheus::Registry,
    _provider: SdkMeterProvider,
}

impl Exposition {
    /// Instruments over `metrics` and the applier's `stats`.
    pub fn new(metrics: Arc<Metrics>, stats: Arc<ApplyStats>) -> Exposition {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_counter_suffixes()
            .without_units()
            .without_target_info()
            .scope_info_enabled(false)
            .build();
        let builder = SdkMeterProvider::builder();
        let provider = match exporter {
            Ok(e) => builder.with_reader(e).build(),
            Err(e) => {
                tracing::error!(error = %e, "the Prometheus exporter could not be built; /metrics is empty");
                builder.build()
            }
        };
        let meter = provider.meter("vmcp-operator");
        let per_controller =
            |name: &'static str, help: &'static str, pick: fn(&Metrics) -> &[AtomicU64]| {
                let m = metrics.clone();
                meter
                    .u64_observable_counter(name)
                    .with_description(help)
                    .with_callback(move |o| {
                        for w in Which::ALL {
                            o.observe(
                                pick(&m)[w as usize].load(Ordering::Relaxed),
                                &[KeyValue::new("controller", w.label())],
                            );
                        }
                    })
                    .build();
            };
        per_controller("vmcp_operator_reconciles_total", "Reconciles run.", |m| {
            &m.reconciles
        });
        per_controller(
            "vmcp_operator_reconcile_errors_total",
            "Reconciles that failed and were retried.",
            |m| &m.failures,
        );
        let applied =
            |name: &'static str, help: &'static str, pick: fn(&ApplyStats) -> &AtomicU64| {
                let s = stats.clone();
                meter
                    .u64_observable_counter(name)
                    .with_description(help)
                    .with_callback(move |o| o.observe(pick(&s).load(Ordering::Relaxed), &[]))
                    .build();
            };
        applied(
            "vmcp_operator_applies_total",
            "Server-side applies sent.",
            |s| &s.applies,
        );
        applied(
            "vmcp_operator_apply_changes_total",
            "Object applies that changed the object.",
            |s| &s.changes,
        );
        applied(
            "vmcp_operator_deletes_total",
            "Objects deleted because the operator no longer renders them.",
            |s| &s.deletes,
        );
        let m = metrics.clone();
        meter
            .u64_observable_gauge("vmcp_operator_leader")
            .with_description("Whether this replica holds the leader lease.")
            .with_callback(move |o| o.observe(m.leader.load(Ordering::Relaxed), &[]))
            .build();
        Exposition {
            registry,
            _provider: provider,
        }
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding the metrics failed: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_the_leader_gauge_are_served_under_their_names() {
        let metrics = Arc::new(Metrics::default());
        let stats = Arc::new(ApplyStats::default());
        metrics.reconciles[Which::Group as usize].fetch_add(3, Ordering::Relaxed);
        stats.changes.fetch_add(2, Ordering::Relaxed);
        metrics.leader.store(1, Ordering::Relaxed);
        let out = Exposition::new(metrics, stats).render();
        for line in [
            "vmcp_operator_reconciles_total{controller=\"mcpgroup\"} 3",
            "vmcp_operator_reconciles_total{controller=\"mcptelemetryconfig\"} 0",
            "vmcp_operator_reconcile_errors_total{controller=\"virtualmcpserver\"} 0",
            "vmcp_operator_apply_changes_total 2",
            "vmcp_operator_applies_total 0",
            "vmcp_operator_leader 1",
            "# TYPE vmcp_operator_leader gauge",
            "# HELP vmcp_operator_reconciles_total Reconciles run.",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
        }
    }
}
