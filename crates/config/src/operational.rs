//! The `operational` section: timeouts, health checks, partial-failure mode and the circuit
//! breaker.
//!
//! Every field is optional in the file; `crate::defaults` fills the gaps with ToolHive's values
//! when the gateway needs an effective configuration.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operational {
    /// Only `debug` is defined; absent means info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_handling: Option<FailureHandling>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    /// Timeout of a backend request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<GoDuration>,
    /// Per-backend overrides, keyed by backend name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_workload: BTreeMap<String, GoDuration>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureHandling {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_interval: Option<GoDuration>,
    /// Consecutive failures before a backend is marked unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<i64>,
    /// Timeout of one health check; must be shorter than the interval. `0s` means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_timeout: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reporting_interval: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_failure_mode: Option<PartialFailureMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartialFailureMode {
    // A request that needs an unavailable backend fails.
    Fail,
    // Answer with the backends that are available.
    BestEffort,
}

// The schema bounds (ToolHive's CRD rules) restate the validator's, so the API server refuses
// what the gateway would.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreaker {
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    /// Failures before the circuit opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<i64>,
    /// How long the circuit stays open before a trial request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "duration(self) >= duration('1s')",
        "message": "circuitBreaker.timeout must be at least 1s"
    }]))]
    pub timeout: Option<GoDuration>,
}
