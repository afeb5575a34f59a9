//! MCPTelemetryConfig: an OpenTelemetry collector shared by several workloads. A
//! VirtualMCPServer names it in `spec.telemetryConfigRef` together with its own service name,
//! and the operator renders both into the gateway's `telemetry` section, the secret headers as
//! environment variables from their Secrets (never in the ConfigMap).
//!
//! Field names and the CEL rule follow ToolHive's v1beta1 kind, so its manifests apply
//! unchanged. The service name is deliberately not here: two gateways sharing one would be one
//! service in every trace view.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::refs::{CABundleSource, SecretKeyRef};

/// ToolHive's default sampling rate of a shared telemetry config.
pub const DEFAULT_SAMPLING_RATE: &str = "0.05";

fn default_sampling_rate() -> Option<String> {
    Some(DEFAULT_SAMPLING_RATE.to_owned())
}

fn default_true() -> bool {
    true
}

/// Spec of an MCPTelemetryConfig.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPTelemetryConfig",
    plural = "mcptelemetryconfigs",
    namespaced,
    derive = "PartialEq",
    status = "MCPTelemetryConfigStatus",
    shortname = "mcpotel",
    category = "toolhive",
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".spec.openTelemetry.endpoint"}"#,
    printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type=='Valid')].status"}"#,
    printcolumn = r#"{"name":"Tracing","type":"boolean","jsonPath":".spec.openTelemetry.tracing.enabled"}"#,
    printcolumn = r#"{"name":"Metrics","type":"boolean","jsonPath":".spec.openTelemetry.metrics.enabled"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPTelemetryConfigSpec {
    /// The OTLP collector, and which signals go to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_telemetry: Option<MCPTelemetryOTelConfig>,
    /// Prometheus scraping (`/metrics` is always served by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusConfig>,
}

/// The collector and its signals.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.headers) || !has(self.sensitiveHeaders) || self.sensitiveHeaders.all(sh, !(sh.name in self.headers))",
     "message": "a header name cannot appear in both headers and sensitiveHeaders"}
]))]
#[serde(rename_all = "camelCase")]
pub struct MCPTelemetryOTelConfig {
    #[serde(default)]
    pub enabled: bool,
    /// The collector's OTLP/HTTP endpoint, `host:port` (scheme from `insecure`) or a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Plain HTTP instead of HTTPS for a `host:port` endpoint.
    #[serde(default)]
    pub insecure: bool,
    /// Headers sent with every export; credentials belong in `sensitiveHeaders`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values come from Secrets (rendered as environment variables).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub sensitive_headers: Vec<SensitiveHeader>,
    /// Resource attributes of every span (`deployment.environment`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SignalConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingConfig>,
    /// ToolHive's legacy attribute names; vmcp emits the semantic-convention names only.
    #[serde(default = "default_true")]
    pub use_legacy_attributes: bool,
    /// The CA of the collector's certificate, from a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_ref: Option<CABundleSource>,
}

/// A header whose value is a Secret's key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SensitiveHeader {
    #[schemars(length(min = 1))]
    pub name: String,
    pub secret_key_ref: SecretKeyRef,
}

/// A signal that is on or off (`metrics`, `prometheus`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignalConfig {
    #[serde(default)]
    pub enabled: bool,
}

/// Prometheus scraping.
pub type PrometheusConfig = SignalConfig;

/// Traces: on or off, and the fraction of new traces kept.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TracingConfig {
    #[serde(default)]
    pub enabled: bool,
    /// A decimal from 0 to 1 as a string (`"0.1"`).
    #[serde(
        default = "default_sampling_rate",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = r"^(0(\.[0-9]+)?|1(\.0+)?)$"))]
    pub sampling_rate: Option<String>,
}

/// Status of an MCPTelemetryConfig, written by vmcp's operator (see MCPOIDCConfig's).
pub type MCPTelemetryConfigStatus = crate::config_status::ConfigStatus;
