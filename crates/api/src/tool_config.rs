//! MCPToolConfig: a reusable tool filter and set of renames/overrides for one backend,
//! referenced from a VirtualMCPServer's aggregation settings.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Spec of an MCPToolConfig.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPToolConfig",
    plural = "mcptoolconfigs",
    namespaced,
    derive = "PartialEq",
    status = "MCPToolConfigStatus",
    shortname = "tc",
    shortname = "toolconfig",
    category = "toolhive",
    printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type=='Valid')].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPToolConfigSpec {
    /// Names of the tools to expose; all tools when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_set")]
    pub tools_filter: Vec<String>,
    /// Per original tool name: new name, description or annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools_override: BTreeMap<String, vmcp_config::ToolOverride>,
}

/// Status of an MCPToolConfig.
pub type MCPToolConfigStatus = crate::config_status::ConfigStatus;
