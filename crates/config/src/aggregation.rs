//! The `aggregation` section: how the tools of many backends become one tool list.
//!
//! It names the conflict-resolution strategy used when two backends offer the same tool name,
//! and per-backend filters and renames. It only decides what clients are shown; routing still
//! knows every backend tool.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// The prefix format used when none is given: `{workload}_`.
pub const DEFAULT_PREFIX_FORMAT: &str = "{workload}_";

/// The placeholder a prefix format must contain.
pub const WORKLOAD_PLACEHOLDER: &str = "{workload}";

/// Tool aggregation settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Aggregation {
    /// Strategy for tool-name conflicts. Always written (as ToolHive does); `prefix` when
    /// absent.
    #[serde(default)]
    pub conflict_resolution: ConflictResolution,

    /// Settings of the chosen strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_resolution_config: Option<ConflictResolutionConfig>,

    /// Per-backend filters and overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<WorkloadTools>,

    /// Hide every backend tool from clients.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclude_all_tools: bool,

    /// Whether backends without a `tools` entry are advertised; absent means `allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_tool_visibility: Option<ToolVisibility>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConflictResolution {
    // Every tool is renamed with its backend's prefix.
    #[default]
    Prefix,
    // The first backend in `priorityOrder` that has the tool wins.
    Priority,
    // Conflicts must be resolved explicitly with overrides.
    Manual,
}

impl ConflictResolution {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictResolution::Prefix => "prefix",
            ConflictResolution::Priority => "priority",
            ConflictResolution::Manual => "manual",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConflictResolutionConfig {
    /// Prefix template for `prefix`; must contain `{workload}`.
    // ToolHive's CRD default; the gateway's default is the same, so the API server filling it
    // in changes nothing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("default" = DEFAULT_PREFIX_FORMAT))]
    pub prefix_format: String,
    /// Backend names, highest priority first, for `priority`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority_order: Vec<String>,
}

/// Filters and overrides for one backend's tools.
// `workload` is required by the CRD schema (as in ToolHive); the file reader leaves it to the
// validator, which names the entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(extend("required" = ["workload"]))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadTools {
    /// Backend name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload: String,
    /// An MCPToolConfig to take filter and overrides from (resolved by the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config_ref: Option<ToolConfigRef>,
    /// Allow-list of original tool names to advertise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter: Vec<String>,
    /// Renames and redescriptions, keyed by original tool name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, ToolOverride>,
    /// Hide all of this backend's tools.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclude_all: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfigRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// How one tool is presented to clients.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolOverride {
    /// New tool name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// New description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Annotation values replacing the backend's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
}

/// MCP tool annotations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.read_only_hint.is_none()
            && self.destructive_hint.is_none()
            && self.idempotent_hint.is_none()
            && self.open_world_hint.is_none()
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolVisibility {
    Allow,
    Deny,
}

impl Aggregation {
    /// The prefix format in effect: the configured one, or `{workload}_`.
    pub fn prefix_format(&self) -> &str {
        match &self.conflict_resolution_config {
            Some(c) if !c.prefix_format.is_empty() => &c.prefix_format,
            _ => DEFAULT_PREFIX_FORMAT,
        }
    }
}
