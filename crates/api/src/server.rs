//! MCPServer: an MCP server that ToolHive runs in the cluster. vmcp does not run these itself;
//! it defines the kind so that ToolHive manifests apply, and reads the fields a gateway backend
//! needs (transport, proxy settings, group, auth, `status.url`). Every other field of a ToolHive
//! manifest is kept as it is (preserved, not rejected).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::refs::{ExternalAuthConfigRef, MCPGroupRef};

/// Transport an MCPServer's workload speaks.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ServerTransport {
    #[default]
    #[serde(rename = "stdio")]
    Stdio,
    #[serde(rename = "streamable-http")]
    StreamableHttp,
    #[serde(rename = "sse")]
    Sse,
}

fn default_proxy_port() -> i32 {
    8080
}

/// Spec of an MCPServer (backend-relevant fields; the rest is preserved in `extra`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPServer",
    plural = "mcpservers",
    namespaced,
    derive = "PartialEq",
    status = "MCPServerStatus",
    shortname = "mcpserver",
    shortname = "mcpservers",
    category = "toolhive",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerSpec {
    /// Container image of the MCP server.
    pub image: String,
    #[serde(default)]
    pub transport: ServerTransport,
    /// Transport the ToolHive proxy exposes in front of a stdio server.
    #[serde(default = "crate::streamable_http")]
    pub proxy_mode: vmcp_config::Transport,
    #[serde(default = "default_proxy_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub proxy_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub mcp_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ref: Option<MCPGroupRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_auth_config_ref: Option<ExternalAuthConfigRef>,
    /// Every other ToolHive field, kept unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Phase of an MCPServer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MCPServerPhase {
    Pending,
    Ready,
    Failed,
    Terminating,
    Stopped,
}

/// Status of an MCPServer, as written by ToolHive's controller (or a test).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerStatus {
    /// In-cluster URL of the server's proxy; empty until the server is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<MCPServerPhase>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Other status fields ToolHive writes (hashes, messages), kept unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}
