//! Rules for `operational`: positive durations and thresholds, a health-check timeout shorter
//! than its interval, and per-backend timeouts that name real backends.

use std::time::Duration;

use super::Ctx;
use crate::defaults::DEFAULT_HEALTH_CHECK_INTERVAL;
use crate::duration::GoDuration;
use crate::operational::{CircuitBreaker, FailureHandling, Operational};
use crate::path::FieldPath;

pub(super) fn check(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, op: &Operational) {
    if let Some(t) = &op.timeouts {
        let tp = at.key("timeouts");
        positive(ctx, &tp.key("default"), t.default);
        let per = tp.key("perWorkload");
        for (name, d) in &t.per_workload {
            let entry = per.key(name);
            if name.is_empty() {
                ctx.error(&entry, "backend name must not be empty");
            }
            ctx.check_backend_ref(&entry, name);
            positive(ctx, &entry, Some(*d));
        }
    }
    if let Some(fh) = &op.failure_handling {
        check_failure_handling(ctx, &at.key("failureHandling"), fh);
    }
}

fn positive(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, d: Option<GoDuration>) {
    if d.is_some_and(GoDuration::is_zero) {
        ctx.error(at, "must be greater than 0s");
    }
}

fn at_least_one(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, v: Option<i64>) {
    if let Some(v) = v.filter(|v| *v < 1) {
        ctx.error(at, format!("must be at least 1, got {v}"));
    }
}

fn check_failure_handling(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, fh: &FailureHandling) {
    positive(
        ctx,
        &at.key("healthCheckInterval"),
        fh.health_check_interval,
    );
    at_least_one(ctx, &at.key("unhealthyThreshold"), fh.unhealthy_threshold);
    positive(
        ctx,
        &at.key("statusReportingInterval"),
        fh.status_reporting_interval,
    );
    if let Some(timeout) = fh.health_check_timeout.filter(|t| !t.is_zero()) {
        let interval = fh
            .health_check_interval
            .filter(|i| !i.is_zero())
            .unwrap_or(DEFAULT_HEALTH_CHECK_INTERVAL);
        if timeout >= interval {
            ctx.error(
                &at.key("healthCheckTimeout"),
                format!("must be shorter than healthCheckInterval ({interval}), got {timeout}"),
            );
        }
    }
    if let Some(cb) = &fh.circuit_breaker {
        check_circuit_breaker(ctx, &at.key("circuitBreaker"), cb);
    }
}

fn check_circuit_breaker(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, cb: &CircuitBreaker) {
    at_least_one(ctx, &at.key("failureThreshold"), cb.failure_threshold);
    if let Some(t) = cb.timeout
        && t.as_std() < Duration::from_secs(1)
    {
        ctx.error(&at.key("timeout"), format!("must be at least 1s, got {t}"));
    }
}
