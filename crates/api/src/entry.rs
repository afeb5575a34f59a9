//! MCPServerEntry: a remote MCP server declared by URL, reached by the gateway directly, with
//! no proxy pod. The operator only validates it (it never probes the URL).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::refs::{CABundleSource, ExternalAuthConfigRef, HeaderForwardConfig, MCPGroupRef};

/// Spec of an MCPServerEntry.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPServerEntry",
    plural = "mcpserverentries",
    namespaced,
    derive = "PartialEq",
    status = "MCPServerEntryStatus",
    shortname = "mcpentry",
    category = "toolhive",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Transport","type":"string","jsonPath":".spec.transport"}"#,
    printcolumn = r#"{"name":"Remote URL","type":"string","jsonPath":".spec.remoteUrl"}"#,
    printcolumn = r#"{"name":"Group","type":"string","jsonPath":".spec.groupRef.name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerEntrySpec {
    /// URL of the remote MCP server (http or https).
    #[schemars(regex(pattern = r"^https?://"))]
    pub remote_url: String,
    /// Allow URLs that resolve to private, loopback or link-local addresses.
    #[serde(default)]
    pub allow_private_endpoint: bool,
    /// Transport of the remote server. Deliberately without a default.
    pub transport: vmcp_config::Transport,
    /// The MCPGroup this entry belongs to.
    pub group_ref: MCPGroupRef,
    /// Outgoing authentication towards the remote server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_auth_config_ref: Option<ExternalAuthConfigRef>,
    /// Headers added to every request to the remote server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_forward: Option<HeaderForwardConfig>,
    /// Custom CA bundle used to verify the remote server's TLS certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_ref: Option<CABundleSource>,
}

/// Phase of an MCPServerEntry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum MCPServerEntryPhase {
    Valid,
    #[default]
    Pending,
    Failed,
}

/// Validation result of an MCPServerEntry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerEntryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: MCPServerEntryPhase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
}
