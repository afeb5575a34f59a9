//! ToolHive's operational and aggregation defaults, applied only where the user left a gap.
//!
//! The operator can serialise what the user wrote; the gateway calls
//! [`Config::apply_defaults`] to get the effective configuration it runs with. Values the user
//! set, including ones validation would reject, are never overwritten.

use std::time::Duration;

use crate::aggregation::{Aggregation, ConflictResolutionConfig, DEFAULT_PREFIX_FORMAT};
use crate::duration::GoDuration;
use crate::model::Config;
use crate::operational::{
    CircuitBreaker, FailureHandling, Operational, PartialFailureMode, Timeouts,
};

/// Backend request timeout when none is configured.
pub const DEFAULT_TIMEOUT: GoDuration = GoDuration::from_secs(30);
/// Interval between health checks of a backend.
pub const DEFAULT_HEALTH_CHECK_INTERVAL: GoDuration = GoDuration::from_secs(30);
/// Consecutive failed checks before a backend is unhealthy.
pub const DEFAULT_UNHEALTHY_THRESHOLD: i64 = 3;
/// Interval between status reports.
pub const DEFAULT_STATUS_REPORTING_INTERVAL: GoDuration = GoDuration::from_secs(30);
/// Partial-failure mode when none is configured.
pub const DEFAULT_PARTIAL_FAILURE_MODE: PartialFailureMode = PartialFailureMode::Fail;
/// Failures before the circuit opens.
pub const DEFAULT_CIRCUIT_BREAKER_FAILURE_THRESHOLD: i64 = 5;
/// How long an open circuit waits before a trial request.
pub const DEFAULT_CIRCUIT_BREAKER_TIMEOUT: GoDuration = GoDuration::from_secs(60);

impl Config {
    /// Fills unset operational and aggregation fields with ToolHive's defaults.
    ///
    /// `operational.failureHandling.healthCheckTimeout` is left alone, as in ToolHive's Go
    /// defaults (only its CRD defaults it, to 10s).
    pub fn apply_defaults(&mut self) {
        let op = self.operational.get_or_insert_with(Operational::default);

        let timeouts = op.timeouts.get_or_insert_with(Timeouts::default);
        timeouts.default.get_or_insert(DEFAULT_TIMEOUT);

        let fh = op
            .failure_handling
            .get_or_insert_with(FailureHandling::default);
        fh.health_check_interval
            .get_or_insert(DEFAULT_HEALTH_CHECK_INTERVAL);
        fh.unhealthy_threshold
            .get_or_insert(DEFAULT_UNHEALTHY_THRESHOLD);
        fh.status_reporting_interval
            .get_or_insert(DEFAULT_STATUS_REPORTING_INTERVAL);
        fh.partial_failure_mode
            .get_or_insert(DEFAULT_PARTIAL_FAILURE_MODE);
        let cb = fh
            .circuit_breaker
            .get_or_insert_with(CircuitBreaker::default);
        cb.failure_threshold
            .get_or_insert(DEFAULT_CIRCUIT_BREAKER_FAILURE_THRESHOLD);
        cb.timeout.get_or_insert(DEFAULT_CIRCUIT_BREAKER_TIMEOUT);

        // conflictResolution itself defaults to prefix when read. The prefix format is filled
        // into every conflictResolutionConfig, as the CRD's default does on the API server, so
        // a config defaulted there and one defaulted here are the same.
        let agg = self.aggregation.get_or_insert_with(Aggregation::default);
        if agg.conflict_resolution == crate::aggregation::ConflictResolution::Prefix {
            agg.conflict_resolution_config
                .get_or_insert_with(ConflictResolutionConfig::default);
        }
        if let Some(crc) = &mut agg.conflict_resolution_config
            && crc.prefix_format.is_empty()
        {
            crc.prefix_format = DEFAULT_PREFIX_FORMAT.to_owned();
        }
    }

    /// A copy with [`Config::apply_defaults`] applied.
    pub fn with_defaults(mut self) -> Config {
        self.apply_defaults();
        self
    }

    /// The request timeout for a backend: its `perWorkload` entry, else `timeouts.default`,
    /// else 30s.
    pub fn timeout_for(&self, backend: &str) -> Duration {
        let timeouts = self.operational.as_ref().and_then(|o| o.timeouts.as_ref());
        timeouts
            .and_then(|t| t.per_workload.get(backend).copied().or(t.default))
            .unwrap_or(DEFAULT_TIMEOUT)
            .as_std()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregation::ConflictResolution;

    #[test]
    fn fills_an_empty_config() {
        let cfg = Config::default().with_defaults();
        let fh = cfg
            .operational
            .as_ref()
            .unwrap()
            .failure_handling
            .as_ref()
            .unwrap();
        assert_eq!(fh.health_check_interval, Some(GoDuration::from_secs(30)));
        assert_eq!(fh.unhealthy_threshold, Some(3));
        assert_eq!(
            fh.status_reporting_interval,
            Some(GoDuration::from_secs(30))
        );
        assert_eq!(fh.partial_failure_mode, Some(PartialFailureMode::Fail));
        assert_eq!(fh.health_check_timeout, None);
        let cb = fh.circuit_breaker.as_ref().unwrap();
        assert!(!cb.enabled);
        assert_eq!(cb.failure_threshold, Some(5));
        assert_eq!(cb.timeout, Some(GoDuration::from_secs(60)));
        let agg = cfg.aggregation.as_ref().unwrap();
        assert_eq!(agg.conflict_resolution, ConflictResolution::Prefix);
        assert_eq!(agg.prefix_format(), "{workload}_");
        assert_eq!(
            agg.conflict_resolution_config
                .as_ref()
                .unwrap()
                .prefix_format,
            "{workload}_"
        );
        assert_eq!(cfg.timeout_for("anything"), Duration::from_secs(30));
    }

    #[test]
    fn keeps_user_values() {
        let mut cfg = Config {
            operational: Some(Operational {
                timeouts: Some(Timeouts {
                    default: Some(GoDuration::from_secs(5)),
                    per_workload: [("slow".to_owned(), GoDuration::from_secs(90))].into(),
                }),
                failure_handling: Some(FailureHandling {
                    unhealthy_threshold: Some(0),
                    partial_failure_mode: Some(PartialFailureMode::BestEffort),
                    circuit_breaker: Some(CircuitBreaker {
                        enabled: true,
                        failure_threshold: None,
                        timeout: Some(GoDuration::from_secs(2)),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            aggregation: Some(Aggregation {
                conflict_resolution: ConflictResolution::Priority,
                ..Default::default()
            }),
            ..Default::default()
        };
        cfg.apply_defaults();
        let fh = cfg
            .operational
            .as_ref()
            .unwrap()
            .failure_handling
            .as_ref()
            .unwrap();
        assert_eq!(fh.unhealthy_threshold, Some(0));
        assert_eq!(
            fh.partial_failure_mode,
            Some(PartialFailureMode::BestEffort)
        );
        assert_eq!(fh.health_check_interval, Some(GoDuration::from_secs(30)));
        let cb = fh.circuit_breaker.as_ref().unwrap();
        assert!(cb.enabled);
        assert_eq!(cb.failure_threshold, Some(5));
        assert_eq!(cb.timeout, Some(GoDuration::from_secs(2)));
        assert_eq!(
            cfg.aggregation.as_ref().unwrap().conflict_resolution_config,
            None
        );
        assert_eq!(cfg.timeout_for("slow"), Duration::from_secs(90));
        assert_eq!(cfg.timeout_for("other"), Duration::from_secs(5));
    }

    #[test]
    fn is_idempotent() {
        let once = Config::default().with_defaults();
        assert_eq!(once.clone().with_defaults(), once);
    }
}
