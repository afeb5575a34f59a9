//! Conditions as the pure steps decide them, and their conversion to Kubernetes conditions.
//!
//! A condition keeps its `lastTransitionTime` while its status stays the same: that is what
//! makes a reconcile of an unchanged world produce a byte-identical status, so the status
//! apply is a no-op and nothing is written.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// A condition decided by a pure step, without timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: String,
    pub ok: bool,
    pub reason: String,
    pub message: String,
}

impl Cond {
    pub fn new(type_: &str, ok: bool, reason: &str, message: impl Into<String>) -> Self {
        Cond {
            type_: type_.into(),
            ok,
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn ok(type_: &str, reason: &str, message: impl Into<String>) -> Self {
        Cond::new(type_, true, reason, message)
    }

    pub fn fail(type_: &str, reason: &str, message: impl Into<String>) -> Self {
        Cond::new(type_, false, reason, message)
    }
}

/// Converts decided conditions to Kubernetes ones, keeping the transition time of each
/// condition whose status did not change.
pub fn to_k8s_conditions(
    decided: &[Cond],
    existing: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    decided
        .iter()
        .map(|c| {
            let status = if c.ok { "True" } else { "False" };
            let last_transition_time = existing
                .iter()
                .find(|e| e.type_ == c.type_ && e.status == status)
                .map(|e| e.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: c.type_.clone(),
                status: status.into(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The current time as a Kubernetes timestamp, truncated to seconds (the API stores seconds).
pub fn now() -> Time {
    let ts = k8s_openapi::jiff::Timestamp::now();
    let secs = k8s_openapi::jiff::Timestamp::from_second(ts.as_second()).unwrap_or(ts);
    Time(secs)
}

/// The JSON status the operator applies to a VirtualMCPServer (its own fields only).
///
/// A backend's `status` (health) belongs to the gateway: the operator writes `unknown` only
/// while no one has reported a value, and leaves the field out once the gateway has, so the
/// two field managers never fight over it.
pub fn virtual_server_status(
    plan: &crate::render::StatusPlan,
    vmcp: &vmcp_api::VirtualMCPServer,
    now: &Time,
) -> serde_json::Value {
    let existing = vmcp.status.as_ref();
    let generation = vmcp.metadata.generation;
    let conditions = to_k8s_conditions(
        &plan.conditions,
        existing
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default(),
        generation,
        now,
    );
    let live_health = |name: &str| {
        existing
            .and_then(|s| s.discovered_backends.as_ref())
            .and_then(|l| l.iter().find(|b| b.name == name))
            .and_then(|b| b.status)
    };
    let backends: Vec<serde_json::Value> = plan
        .backends
        .iter()
        .map(|b| {
            let mut v = serde_json::json!({
                "name": b.name,
                "url": b.url,
                "transport": b.transport.as_str(),
                "type": b.kind.kind(),
            });
            if let Some(a) = &b.auth_config_ref {
                v["authConfigRef"] = a.clone().into();
            }
            match live_health(&b.name) {
                None | Some(vmcp_api::virtual_server::BackendHealth::Unknown) => {
                    v["status"] = "unknown".into();
                }
                Some(_) => {}
            }
            v
        })
        .collect();
    // Phase follows the one rule in `vmcp_api::health`: the infrastructure's phase, refined by
    // the health the gateway reported for the current members. `backendCount` and `Degraded`
    // belong to the gateway (docs/STATUS.md).
    let health =
        vmcp_api::health::HealthSummary::of(plan.backends.iter().map(|b| live_health(&b.name)));
    let phase = vmcp_api::health::phase(plan.phase, &health);
    let phase = serde_json::to_value(phase).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "conditions": conditions,
        "observedGeneration": generation,
        "phase": phase,
        "message": plan.message,
        "url": plan.url,
        "discoveredBackends": backends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_is_kept_while_status_is_unchanged() {
        let t0 = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap());
        let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(2_000).unwrap());
        let first = to_k8s_conditions(&[Cond::ok("Valid", "R", "m")], &[], Some(1), &t0);
        let same = to_k8s_conditions(&[Cond::ok("Valid", "R", "m2")], &first, Some(2), &t1);
        assert_eq!(same[0].last_transition_time, t0);
        let flipped = to_k8s_conditions(&[Cond::fail("Valid", "R", "m")], &first, Some(2), &t1);
        assert_eq!(flipped[0].last_transition_time, t1);
    }
}
