//! Health reporting: the gateway's part of the VirtualMCPServer status, applied with its own
//! field manager so the operator's fields are never touched.
//!
//! The gateway owns, per backend in `status.discoveredBackends` (a map list keyed by `name`):
//! `status`, `lastHealthCheck`, `message`, `circuitBreakerState`, `consecutiveFailures`; and
//! `status.backendCount` and the `Degraded` condition. Everything is decided by the pure
//! [`gateway_status`] and the one rule in `vmcp_api::health`.
//!
//! No flapping: [`Reporter::report`] applies only when the health (everything but timestamps)
//! differs from what it last applied, or when `statusReportingInterval` has passed (to move
//! `lastHealthCheck` on); an unchanged apply is a no-op for the API server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};
use tokio::task::JoinHandle;
use vmcp_api::health::{HealthSummary, Verdict, verdict};
use vmcp_api::virtual_server::{BackendHealth, CircuitBreakerState};
use vmcp_api::{VirtualMCPServer, VirtualMCPServerStatus};
use vmcp_gateway::aggregate::Aggregator;
use vmcp_gateway::health::Snapshot;

/// The field manager of every status apply the gateway makes.
pub const FIELD_MANAGER: &str = "vmcp-gateway";

/// Which VirtualMCPServer this gateway serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub namespace: String,
}

impl Target {
    /// From `VMCP_NAME` and `VMCP_NAMESPACE` (both set and non-empty), as the operator's
    /// Deployment sets them.
    pub fn from_env() -> Option<Target> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Some(Target {
            name: get("VMCP_NAME")?,
            namespace: get("VMCP_NAMESPACE")?,
        })
    }
}

/// One backend's health as the gateway reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendReport {
    pub name: String,
    pub health: BackendHealth,
    pub message: String,
    pub circuit: CircuitBreakerState,
    pub consecutive_failures: u32,
    pub last_check_unix: Option<u64>,
}

impl BackendReport {
    /// Maps the gateway's health state machine to the status vocabulary.
    pub fn from_snapshot(name: &str, s: &Snapshot) -> Self {
        let unauthenticated = s
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("401") || e.contains("403"));
        let health = match s.health {
            "healthy" => BackendHealth::Ready,
            "degraded" => BackendHealth::Degraded,
            "unhealthy" if unauthenticated => BackendHealth::Unauthenticated,
            "unhealthy" => BackendHealth::Unavailable,
            _ => BackendHealth::Unknown,
        };
        let circuit = if s.state == "open" {
            CircuitBreakerState::Open
        } else {
            CircuitBreakerState::Closed
        };
        let message = match (&s.last_error, health) {
            (Some(e), _) => e.clone(),
            (None, BackendHealth::Unknown) => "not checked yet".into(),
            (None, _) => "healthy".into(),
        };
        BackendReport {
            name: name.to_owned(),
            health,
            message,
            circuit,
            consecutive_failures: s.consecutive_failures,
            last_check_unix: s.last_check_unix,
        }
    }

    /// Everything but the timestamp: what a change is judged on.
    fn key(&self) -> (String, BackendHealth, String, CircuitBreakerState, u32) {
        (
            self.name.clone(),
            self.health,
            self.message.clone(),
            self.circuit,
            self.consecutive_failures,
        )
    }
}

/// The message of a ready backend that refuses the gateway's own requests without a user
/// token (`Backend::needs_user_token`): it is not failing, and says why its tools appear
/// only once a caller has listed them.
pub const NEEDS_USER_TOKEN: &str = "healthy; needs a user token: the gateway's own requests are refused, so its capabilities are listed from the first authenticated caller's view";

/// The health of every backend of a running gateway, sorted by name. A backend the gateway
/// could not even build (a CA bundle that does not parse, a missing secret key) is reported
/// unavailable with the reason, so it shows in the VirtualMCPServer status, not only in a log.
pub fn reports_of(agg: &Aggregator) -> Vec<BackendReport> {
    let mut out: Vec<BackendReport> = agg
        .backends()
        .iter()
        .map(|(name, b)| {
            let mut r = BackendReport::from_snapshot(name, &b.health.snapshot());
            if b.needs_user_token() && r.health == BackendHealth::Ready {
                r.message = NEEDS_USER_TOKEN.into();
            }
            r
        })
        .collect();
    out.extend(agg.left_out().into_iter().map(|(name, why)| BackendReport {
        name,
        health: BackendHealth::Unavailable,
        message: why,
        circuit: CircuitBreakerState::Closed,
        consecutive_failures: 0,
        last_check_unix: None,
    }));
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn ts(unix: u64) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_second(i64::try_from(unix).ok()?)
        .ok()
        .map(Time)
}

/// The current time, truncated to seconds (the API stores seconds).
pub fn now() -> Time {
    let t = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// The gateway's status fields (and only those) for `reports`. `existing` keeps the
/// `Degraded` condition's transition time while its status is unchanged.
pub fn gateway_status(
    reports: &[BackendReport],
    existing: Option<&VirtualMCPServerStatus>,
    generation: Option<i64>,
    now: &Time,
) -> serde_json::Value {
    let summary = HealthSummary::of(reports.iter().map(|r| Some(r.health)));
    let v: Verdict = verdict(&summary);
    let status = if v.degraded { "True" } else { "False" };
    // The transition time stays while the condition's status does (no churn per apply).
    let last_transition_time = existing
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == Verdict::CONDITION_TYPE && c.status == status)
        })
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    let conditions = vec![Condition {
        type_: Verdict::CONDITION_TYPE.into(),
        status: status.into(),
        reason: v.reason.into(),
        message: v.message,
        observed_generation: generation,
        last_transition_time,
    }];
    let backends: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let mut b = serde_json::json!({
                "name": r.name,
                "status": r.health,
                "message": r.message,
                "circuitBreakerState": r.circuit,
                "consecutiveFailures": r.consecutive_failures.min(i32::MAX as u32),
            });
            if let Some(t) = r.last_check_unix.and_then(ts) {
                b["lastHealthCheck"] = serde_json::to_value(t).unwrap_or_default();
            }
            b
        })
        .collect();
    serde_json::json!({
        "discoveredBackends": backends,
        "backendCount": summary.backend_count(),
        "conditions": conditions,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading VirtualMCPServer {ns}/{name}: {source}")]
    Read {
        ns: String,
        name: String,
        source: kube::Error,
    },
    #[error("VirtualMCPServer {ns}/{name} not found")]
    NotFound { ns: String, name: String },
    #[error("applying the status of VirtualMCPServer {ns}/{name}: {source}")]
    Apply {
        ns: String,
        name: String,
        source: kube::Error,
    },
}

type Key = Vec<(String, BackendHealth, String, CircuitBreakerState, u32)>;

/// Applies the gateway's status when it changed, or when the reporting interval passed.
pub struct Reporter {
    api: Api<VirtualMCPServer>,
    target: Target,
    interval: Duration,
    last: Option<(Key, Instant)>,
    /// The object as the API server last told us (a watch on just this object), so that a
    /// health field someone else overwrote (the operator racing on a stale cache) is put back.
    live: tokio::sync::watch::Receiver<Option<VirtualMCPServer>>,
    watch_task: JoinHandle<()>,
    /// Applies made (for tests and metrics).
    pub applies: u64,
}

impl Reporter {
    /// Must be called inside a Tokio runtime: it starts a watch on the one object.
    pub fn new(client: Client, target: Target, interval: Duration) -> Self {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let api: Api<VirtualMCPServer> = Api::namespaced(client, &target.namespace);
        let (tx, live) = tokio::sync::watch::channel(None);
        let cfg = watcher::Config::default().fields(&format!("metadata.name={}", target.name));
        let stream = watcher(api.clone(), cfg)
            .default_backoff()
            .applied_objects();
        let watch_task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(v) => {
                        let _ = tx.send(Some(v));
                    }
                    Err(e) => tracing::debug!(error = %e, "VirtualMCPServer watch"),
                }
            }
        });
        Reporter {
            api,
            target,
            interval,
            last: None,
            live,
            watch_task,
            applies: 0,
        }
    }

    /// Whether the live object already shows `key` (health fields of every reported backend).
    /// Without a watch (no `list`/`watch` permission, or not synced yet) this trusts the last
    /// apply; a value overwritten meanwhile is then put back at the next reporting interval.
    fn live_matches(&self, key: &Key) -> bool {
        let live = self.live.borrow();
        let Some(v) = live.as_ref() else {
            return true;
        };
        let Some(items) = v
            .status
            .as_ref()
            .and_then(|s| s.discovered_backends.as_ref())
        else {
            return key.is_empty();
        };
        key.iter().all(|(name, health, message, circuit, fails)| {
            items.iter().any(|b| {
                &b.name == name
                    && b.status == Some(*health)
                    && b.message.as_deref() == Some(message.as_str())
                    && b.circuit_breaker_state == Some(*circuit)
                    && b.consecutive_failures == Some((*fails).min(i32::MAX as u32) as i32)
            })
        })
    }

    /// Reports `reports`; returns whether an apply was made.
    pub async fn report(&mut self, reports: &[BackendReport]) -> Result<bool, ReportError> {
        let key: Key = reports.iter().map(BackendReport::key).collect();
        if let Some((last, at)) = &self.last
            && *last == key
            && at.elapsed() < self.interval
            && self.live_matches(&key)
        {
            return Ok(false);
        }
        let (ns, name) = (self.target.namespace.clone(), self.target.name.clone());
        let current = self
            .api
            .get_opt(&name)
            .await
            .map_err(|source| ReportError::Read {
                ns: ns.clone(),
                name: name.clone(),
                source,
            })?
            .ok_or_else(|| ReportError::NotFound {
                ns: ns.clone(),
                name: name.clone(),
            })?;
        let status = gateway_status(
            reports,
            current.status.as_ref(),
            current.metadata.generation,
            &now(),
        );
        let body = serde_json::json!({
            "apiVersion": VirtualMCPServer::api_version(&()),
            "kind": VirtualMCPServer::kind(&()),
            "metadata": { "name": name, "namespace": ns },
            "status": status,
        });
        // Forced: the gateway is the authority on health (the operator writes `status:
        // unknown` only until someone reports, and drops it once the gateway has).
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        self.api
            .patch_status(&name, &pp, &Patch::Apply(&body))
            .await
            .map_err(|source| ReportError::Apply { ns, name, source })?;
        self.applies += 1;
        self.last = Some((key, Instant::now()));
        Ok(true)
    }

    /// Reports the aggregator's health every `tick` (cheap: in-memory unless it changed).
    pub fn spawn(mut self, agg: Arc<Aggregator>, tick: Duration) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut last_err: Option<String> = None;
            loop {
                match self.report(&reports_of(&agg)).await {
                    Ok(_) => last_err = None,
                    Err(e) => {
                        let msg = e.to_string();
                        if last_err.as_deref() != Some(msg.as_str()) {
                            tracing::warn!(error = %msg, "status report failed; retrying");
                        }
                        last_err = Some(msg);
                    }
                }
                tokio::time::sleep(tick).await;
            }
        })
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.watch_task.abort();
    }
}

/// The reporting interval of a config (`operational.failureHandling.statusReportingInterval`,
/// 30s when unset).
pub fn interval_of(cfg: &vmcp_config::Config) -> Duration {
    cfg.operational
        .as_ref()
        .and_then(|o| o.failure_handling.as_ref())
        .and_then(|f| f.status_reporting_interval)
        .map(|d| d.as_std())
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(state: &'static str, health: &'static str, fails: u32, err: Option<&str>) -> Snapshot {
        Snapshot {
            state,
            health,
            consecutive_failures: fails,
            last_error: err.map(str::to_owned),
            last_check_unix: Some(1_700_000_000),
        }
    }

    #[test]
    fn snapshot_mapping() {
        let r = BackendReport::from_snapshot("a", &snap("healthy", "healthy", 0, None));
        assert_eq!(
            (r.health, r.circuit),
            (BackendHealth::Ready, CircuitBreakerState::Closed)
        );
        let r = BackendReport::from_snapshot(
            "a",
            &snap("open", "unhealthy", 5, Some("connect refused")),
        );
        assert_eq!(
            (r.health, r.circuit),
            (BackendHealth::Unavailable, CircuitBreakerState::Open)
        );
        assert_eq!(r.message, "connect refused");
        let r = BackendReport::from_snapshot(
            "a",
            &snap("open", "unhealthy", 5, Some("HTTP 401 Unauthorized")),
        );
        assert_eq!(r.health, BackendHealth::Unauthenticated);
        let r = BackendReport::from_snapshot("a", &snap("connecting", "unknown", 0, None));
        assert_eq!(r.health, BackendHealth::Unknown);
    }

    #[test]
    fn status_holds_only_gateway_fields() {
        let reports = vec![
            BackendReport::from_snapshot("a", &snap("healthy", "healthy", 0, None)),
            BackendReport::from_snapshot("b", &snap("open", "unhealthy", 3, Some("down"))),
        ];
        let t = now();
        let s = gateway_status(&reports, None, Some(1), &t);
        assert_eq!(s["backendCount"], 1);
        assert_eq!(s["conditions"][0]["type"], "Degraded");
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["conditions"][0]["reason"], "SomeBackendsUnhealthy");
        let b = &s["discoveredBackends"][1];
        assert_eq!(b["status"], "unavailable");
        assert_eq!(b["circuitBreakerState"], "open");
        assert_eq!(b["consecutiveFailures"], 3);
        assert!(b.get("url").is_none() && s.get("phase").is_none());
        let mut keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["backendCount", "conditions", "discoveredBackends"]);
    }
}
