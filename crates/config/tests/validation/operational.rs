use super::*;

#[test]
fn operational_rules() {
    let ps = with(
        r#"operational:
  timeouts:
    default: 0s
    perWorkload: {alpha: 10s, omega: 0s}
  failureHandling:
    healthCheckInterval: 10s
    healthCheckTimeout: 10s
    unhealthyThreshold: 0
    statusReportingInterval: 0s
    circuitBreaker: {enabled: true, failureThreshold: -1, timeout: 500ms}
"#,
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "operational.timeouts.default: must be greater than 0s",
            ),
            (
                Severity::Warning,
                "operational.timeouts.perWorkload.omega: no backend named \"omega\" is listed in backends",
            ),
            (
                Severity::Error,
                "operational.timeouts.perWorkload.omega: must be greater than 0s",
            ),
            (
                Severity::Error,
                "operational.failureHandling.unhealthyThreshold: must be at least 1, got 0",
            ),
            (
                Severity::Error,
                "operational.failureHandling.statusReportingInterval: must be greater than 0s",
            ),
            (
                Severity::Error,
                "operational.failureHandling.healthCheckTimeout: must be shorter than healthCheckInterval (10s), got 10s",
            ),
            (
                Severity::Error,
                "operational.failureHandling.circuitBreaker.failureThreshold: must be at least 1, got -1",
            ),
            (
                Severity::Error,
                "operational.failureHandling.circuitBreaker.timeout: must be at least 1s, got 500ms",
            ),
        ],
    );
    // The health-check timeout is compared with the default interval when none is set.
    let ps = with("operational:\n  failureHandling: {healthCheckTimeout: 1m0s}\n");
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "operational.failureHandling.healthCheckTimeout: must be shorter than healthCheckInterval (30s), got 1m0s",
        )],
    );
}

#[test]
fn a_per_workload_timeout_names_its_backend() {
    let ps = with("operational:\n  timeouts:\n    perWorkload: {\"\": 5s}\n");
    assert_single(
        &ps,
        Severity::Error,
        r#"operational.timeouts.perWorkload[""]"#,
        "backend name must not be empty",
    );
}

#[test]
fn the_health_check_interval_must_be_positive() {
    let ps = with("operational:\n  failureHandling: {healthCheckInterval: 0s}\n");
    assert_single(
        &ps,
        Severity::Error,
        "operational.failureHandling.healthCheckInterval",
        "must be greater than 0s",
    );
}
