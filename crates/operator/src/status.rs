//! Conditions as the pure steps decide them, the operator's part of a VirtualMCPServer status
//! (the render's last stage: [`StatusPlan`], [`readiness`]), and their conversion to
//! Kubernetes conditions and status JSON.
//!
//! A condition keeps its `lastTransitionTime` while its status stays the same: that is what
//! makes a reconcile of an unchanged world produce a byte-identical status, so the status
//! apply is a no-op and nothing is written.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use vmcp_api::conditions::{reasons as r, types as t};
use vmcp_api::virtual_server::VirtualMCPServerPhase;
use vmcp_config::Transport;
use vmcp_core::discovery::BackendKind;
use vmcp_core::world::DeploymentState;

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

// The render's last stage: what the operator reports. Kept here, beside the conversion to the
// API's shape, so the render depends on the status types and not the other way round.

/// Condition type listing group members that are not backends, and why (vmcp addition).
pub const BACKENDS_RESOLVED: &str = "BackendsResolved";
/// Condition type for outgoing auth resolution (ToolHive's `AuthConfigured`).
pub const AUTH_CONFIGURED: &str = "AuthConfigured";
/// Condition type naming the objects the operator no longer renders but could not delete
/// (vmcp addition). Present only while a deletion fails, `False` with reason
/// [`PRUNE_FAILED`]: leftovers do not stop the gateway, so `Ready` and the phase are
/// untouched; the next successful prune removes the condition.
pub const ORPHANS_PRUNED: &str = "OrphansPruned";
pub const PRUNE_FAILED: &str = "PruneFailed";

/// One discovered backend as the operator reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendReport {
    pub name: String,
    pub url: String,
    pub transport: Transport,
    pub kind: BackendKind,
    pub auth_config_ref: Option<String>,
}

/// The operator's part of the VirtualMCPServer status.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusPlan {
    pub phase: VirtualMCPServerPhase,
    pub message: String,
    pub url: String,
    pub conditions: Vec<Cond>,
    pub backends: Vec<BackendReport>,
    /// `status.oidcConfigHash`, `status.authzConfigHash` and `status.telemetryConfigHash`:
    /// the spec hashes of the shared configs this render used (absent when it used none, or
    /// stopped).
    pub oidc_config_hash: Option<String>,
    pub authz_config_hash: Option<String>,
    pub telemetry_config_hash: Option<String>,
}

impl StatusPlan {
    /// The status after the API server refused one of the rendered objects (422 Invalid or
    /// 400 Bad Request: the spec produced an object the server rejects, e.g. a quantity in
    /// `podTemplateSpec` that does not parse). Retrying cannot help until something changes,
    /// so this is a condition, like every other validation failure.
    pub fn rejected_by_api_server(&self, object: &str, message: &str) -> StatusPlan {
        let text = format!("the API server rejected {object} rendered from this spec: {message}");
        let mut conditions: Vec<Cond> = self
            .conditions
            .iter()
            .filter(|c| c.type_ != t::VALID && c.type_ != t::READY)
            .cloned()
            .collect();
        conditions.push(Cond::fail(t::VALID, r::VALIDATION_FAILED, text.clone()));
        conditions.push(Cond::fail(t::READY, r::VALIDATION_FAILED, text.clone()));
        StatusPlan {
            phase: VirtualMCPServerPhase::Failed,
            message: text,
            conditions,
            ..self.clone()
        }
    }
}

impl StatusPlan {
    /// The status after a prune left objects behind: `OrphansPruned=False` naming each object
    /// and the API server's answer. The rest of the status is the render's, unchanged.
    pub fn prune_failed(&self, failed: &[(String, String)]) -> StatusPlan {
        if failed.is_empty() {
            return self.clone();
        }
        let list: Vec<String> = failed.iter().map(|(o, e)| format!("{o}: {e}")).collect();
        let mut conditions: Vec<Cond> = self
            .conditions
            .iter()
            .filter(|c| c.type_ != ORPHANS_PRUNED)
            .cloned()
            .collect();
        conditions.push(Cond::fail(
            ORPHANS_PRUNED,
            PRUNE_FAILED,
            format!(
                "could not delete objects the operator made for this VirtualMCPServer and no longer renders (retried with backoff): {}",
                list.join("; ")
            ),
        ));
        StatusPlan {
            conditions,
            ..self.clone()
        }
    }
}

/// Phase and `Ready` from the Deployment's status.
pub fn readiness(d: Option<&DeploymentState>) -> (VirtualMCPServerPhase, Cond) {
    use VirtualMCPServerPhase as P;
    match d {
        Some(d) if d.ready_replicas > 0 => (
            P::Ready,
            Cond::ok(
                t::READY,
                r::DEPLOYMENT_READY,
                "Virtual MCP server is running",
            ),
        ),
        Some(d) if d.failed => (
            P::Failed,
            Cond::fail(
                t::READY,
                r::DEPLOYMENT_FAILED,
                "Virtual MCP server failed to start",
            ),
        ),
        Some(d) if d.replicas == Some(0) => (
            P::Pending,
            Cond::fail(
                t::READY,
                r::DEPLOYMENT_NOT_READY,
                "Virtual MCP server is scaled to zero replicas",
            ),
        ),
        _ => (
            P::Pending,
            Cond::fail(
                t::READY,
                r::DEPLOYMENT_NOT_READY,
                "Virtual MCP server is starting",
            ),
        ),
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
    plan: &StatusPlan,
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
    let mut status = serde_json::json!({
        "conditions": conditions,
        "observedGeneration": generation,
        "phase": phase,
        "message": plan.message,
        "url": plan.url,
        "discoveredBackends": backends,
    });
    if let Some(h) = &plan.oidc_config_hash {
        status["oidcConfigHash"] = h.clone().into();
    }
    if let Some(h) = &plan.authz_config_hash {
        status["authzConfigHash"] = h.clone().into();
    }
    if let Some(h) = &plan.telemetry_config_hash {
        status["telemetryConfigHash"] = h.clone().into();
    }
    status
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
