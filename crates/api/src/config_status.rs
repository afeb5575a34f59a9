//! The status of the shared configuration kinds (MCPExternalAuthConfig, MCPToolConfig,
//! MCPOIDCConfig, MCPAuthzConfig),
//! which ToolHive gives the same three fields: one type for the one concept.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `Valid` (ToolHive's reasons `ConfigValid` / `ConfigInvalid`), the generation it was decided
/// for, and a hash that changes whenever the spec does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
}
