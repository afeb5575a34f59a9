//! MCPGroup: a named set of backends (MCPServers, MCPRemoteProxies, MCPServerEntries) that a
//! VirtualMCPServer aggregates. Membership is declared on the members through `groupRef`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Spec of an MCPGroup.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPGroup",
    plural = "mcpgroups",
    namespaced,
    derive = "PartialEq",
    status = "MCPGroupStatus",
    shortname = "mcpg",
    shortname = "mcpgroup",
    category = "toolhive",
    printcolumn = r#"{"name":"Servers","type":"integer","jsonPath":".status.serverCount"}"#,
    printcolumn = r#"{"name":"Proxies","type":"integer","jsonPath":".status.remoteProxyCount"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Checked","type":"string","jsonPath":".status.conditions[?(@.type=='MCPServersChecked')].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPGroupSpec {
    /// Human-readable description of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Phase of an MCPGroup.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum MCPGroupPhase {
    Ready,
    #[default]
    Pending,
    Failed,
}

/// Observed members of an MCPGroup, sorted by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPGroupStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: MCPGroupPhase,
    /// Names of member MCPServers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_set")]
    pub servers: Vec<String>,
    #[serde(default)]
    pub server_count: i32,
    /// Names of member MCPRemoteProxies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_set")]
    pub remote_proxies: Vec<String>,
    #[serde(default)]
    pub remote_proxy_count: i32,
    /// Names of member MCPServerEntries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_set")]
    pub entries: Vec<String>,
    #[serde(default)]
    pub entry_count: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
}
