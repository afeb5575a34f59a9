//! VirtualMCPServer: one MCP endpoint in front of every backend of an MCPGroup. The operator
//! turns it into a ServiceAccount, RBAC, a ConfigMap with the gateway config, a Deployment and
//! a Service; the gateway reports backend health into its status.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::LocalObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::refs::{MCPGroupRef, SecretKeyRef};

/// Port the gateway listens on, in the pod and on the Service.
pub const VMCP_PORT: i32 = 4483;

/// Spec of a VirtualMCPServer.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "VirtualMCPServer",
    plural = "virtualmcpservers",
    namespaced,
    derive = "PartialEq",
    status = "VirtualMCPServerStatus",
    shortname = "vmcp",
    shortname = "virtualmcp",
    category = "toolhive",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"Backends","type":"integer","description":"Discovered backends count","jsonPath":".status.backendCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#
)]
#[schemars(extend("x-kubernetes-validations" = crate::crd::virtual_server_spec_rules()))]
#[serde(rename_all = "camelCase")]
pub struct VirtualMCPServerSpec {
    /// How clients authenticate to the gateway.
    pub incoming_auth: IncomingAuthConfig,
    /// How the gateway authenticates to backends; `source: discovered` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outgoing_auth: Option<OutgoingAuthConfig>,
    /// Client headers forwarded to every backend; overrides `config.passthroughHeaders`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::string_atomic")]
    pub passthrough_headers: Option<Vec<String>>,
    #[serde(default)]
    pub service_type: ServiceType,
    #[serde(default)]
    pub session_affinity: SessionAffinity,
    /// An existing ServiceAccount to run as; the operator then creates no RBAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Strategic-merge patch for the generated pod template; the gateway container is `vmcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub pod_template_spec: Option<serde_json::Value>,
    /// The MCPGroup whose members become backends.
    pub group_ref: MCPGroupRef,
    /// The gateway configuration (the same document as the gateway's `config.yaml`). Kept as
    /// JSON here so an object with a bad config still deserialises and gets a clear condition;
    /// the schema comes from `vmcp_config::Config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::gateway_config_schema")]
    pub config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry_config_ref: Option<TelemetryConfigRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_server_ref: Option<EmbeddingServerRef>,
    /// Embedded OAuth authorization server; not supported by vmcp yet, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub auth_server_config: Option<serde_json::Value>,
    /// Replicas of the gateway; unset leaves the Deployment's replicas alone (HPA-friendly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_storage: Option<SessionStorageConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// Service type of the gateway's Service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

/// Session affinity of the gateway's Service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum SessionAffinity {
    #[default]
    ClientIP,
    None,
}

/// Client authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type == 'oidc' ? has(self.oidcConfigRef) : true",
     "message": "spec.incomingAuth.oidcConfigRef is required when type is oidc"},
    {"rule": "!(has(self.authzConfig) && has(self.authzConfigRef))",
     "message": "authzConfig and authzConfigRef are mutually exclusive"}
]))]
#[serde(rename_all = "camelCase")]
pub struct IncomingAuthConfig {
    #[serde(rename = "type")]
    pub auth_type: IncomingAuthType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_config_ref: Option<OIDCConfigRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authz_config: Option<AuthzConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authz_config_ref: Option<crate::refs::NameRef>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IncomingAuthType {
    Anonymous,
    Oidc,
}

/// A reference to an MCPOIDCConfig with the audience this gateway expects.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OIDCConfigRef {
    #[schemars(length(min = 1))]
    pub name: String,
    #[schemars(length(min = 1))]
    pub audience: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_url: Option<String>,
}

fn default_authz_type() -> AuthzConfigType {
    AuthzConfigType::ConfigMap
}

/// Cedar authorization policies, from a ConfigMap or inline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type == 'configMap' ? has(self.configMap) : !has(self.configMap)",
     "message": "configMap must be set if and only if type is 'configMap'"},
    {"rule": "self.type == 'inline' ? has(self.inline) : !has(self.inline)",
     "message": "inline must be set if and only if type is 'inline'"}
]))]
#[serde(rename_all = "camelCase")]
pub struct AuthzConfig {
    #[serde(rename = "type", default = "default_authz_type")]
    pub authz_type: AuthzConfigType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<AuthzConfigMapRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<InlineAuthzConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_claim_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_claim_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub group_entity_type: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthzConfigType {
    ConfigMap,
    Inline,
}

fn default_authz_key() -> String {
    "authz.json".to_string()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthzConfigMapRef {
    pub name: String,
    #[serde(default = "default_authz_key")]
    pub key: String,
}

fn default_entities_json() -> String {
    "[]".to_string()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InlineAuthzConfig {
    #[schemars(length(min = 1))]
    pub policies: Vec<String>,
    #[serde(default = "default_entities_json")]
    pub entities_json: String,
    /// Deprecated in ToolHive; accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_upstream_provider: Option<String>,
}

fn default_outgoing_source() -> OutgoingAuthSource {
    OutgoingAuthSource::Discovered
}

/// Backend authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingAuthConfig {
    /// `discovered` (default): the gateway watches the group itself. `inline`: the operator
    /// writes every backend into the ConfigMap and the gateway needs no API access.
    #[serde(default = "default_outgoing_source")]
    pub source: OutgoingAuthSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<BackendAuthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backends: Option<BTreeMap<String, BackendAuthConfig>>,
}

impl Default for OutgoingAuthConfig {
    fn default() -> Self {
        Self {
            source: OutgoingAuthSource::Discovered,
            default: None,
            backends: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OutgoingAuthSource {
    #[default]
    Discovered,
    Inline,
}

/// Auth for one backend: as discovered from the backend, or from an MCPExternalAuthConfig.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendAuthConfig {
    #[serde(rename = "type")]
    pub auth_type: BackendAuthType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_auth_config_ref: Option<crate::refs::ExternalAuthConfigRef>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BackendAuthType {
    Discovered,
    ExternalAuthConfigRef,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryConfigRef {
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddingServerRef {
    pub name: String,
}

/// Where sessions are stored; vmcp keeps sessions in memory today.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.provider == 'redis' ? has(self.address) : true",
     "message": "address is required"}
]))]
#[serde(rename_all = "camelCase")]
pub struct SessionStorageConfig {
    pub provider: SessionStorageProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub address: Option<String>,
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub db: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_ref: Option<SecretKeyRef>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SessionStorageProvider {
    Memory,
    Redis,
}

/// Phase of a VirtualMCPServer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum VirtualMCPServerPhase {
    #[default]
    Pending,
    Ready,
    Degraded,
    Failed,
}

/// Status of a VirtualMCPServer. Two field managers write it with server-side apply: the
/// operator (membership, url, infrastructure conditions) and the gateway (health fields).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMCPServerStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    // `Pending` until a field manager writes it, as in ToolHive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Pending"))]
    pub phase: Option<VirtualMCPServerPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub discovered_backends: Option<Vec<DiscoveredBackend>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authz_config_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_config_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry_config_hash: Option<String>,
}

/// One backend as seen by the operator (membership) and the gateway (health).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredBackend {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// vmcp addition: the backend's transport (`sse` or `streamable-http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// vmcp addition: the kind of workload (`MCPServer`, `MCPRemoteProxy`, `MCPServerEntry`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub backend_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BackendHealth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_config_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_health_check: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker_state: Option<CircuitBreakerState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_last_changed: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_revision: Option<String>,
}

/// Health of one backend.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BackendHealth {
    Ready,
    Degraded,
    Unavailable,
    Unauthenticated,
    Unknown,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CircuitBreakerState {
    #[serde(rename = "closed")]
    Closed,
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "half-open")]
    HalfOpen,
}
