//! MCPRemoteProxy: a ToolHive proxy pod in front of a remote MCP server. vmcp routes to the
//! proxy's `status.url`; the other ToolHive fields are preserved so manifests apply unchanged.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::refs::{ExternalAuthConfigRef, HeaderForwardConfig, MCPGroupRef};

fn default_proxy_port() -> i32 {
    8080
}

/// Spec of an MCPRemoteProxy (backend-relevant fields; the rest is preserved in `extra`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPRemoteProxy",
    plural = "mcpremoteproxies",
    namespaced,
    derive = "PartialEq",
    status = "MCPRemoteProxyStatus",
    shortname = "rp",
    shortname = "mcprp",
    category = "toolhive",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Remote URL","type":"string","jsonPath":".spec.remoteUrl"}"#,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPRemoteProxySpec {
    /// URL of the remote MCP server.
    #[schemars(regex(pattern = r"^https?://"))]
    pub remote_url: String,
    #[serde(default)]
    pub allow_private_endpoint: bool,
    #[serde(default = "default_proxy_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub proxy_port: i32,
    /// Transport of the remote server behind the proxy.
    #[serde(default = "crate::streamable_http")]
    pub transport: vmcp_config::Transport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_auth_config_ref: Option<ExternalAuthConfigRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_forward: Option<HeaderForwardConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ref: Option<MCPGroupRef>,
    /// Every other ToolHive field, kept unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Phase of an MCPRemoteProxy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MCPRemoteProxyPhase {
    Pending,
    Ready,
    Failed,
    Terminating,
}

/// Status of an MCPRemoteProxy, as written by ToolHive's controller (or a test).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPRemoteProxyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<MCPRemoteProxyPhase>,
    /// In-cluster URL of the proxy, without a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}
