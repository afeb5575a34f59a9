//! MCPAuthzConfig: an authorization configuration shared by several workloads, referenced from
//! a VirtualMCPServer's `spec.incomingAuth.authzConfigRef`.
//!
//! As in ToolHive the spec is a `type` and an opaque `config` whose shape the type decides;
//! only `cedarv1` exists for a virtual MCP server (its `config` holds `policies`,
//! `entities_json` and the claim settings, as ToolHive's authorization file does). Other types
//! apply, and are refused by name when a VirtualMCPServer uses them.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only authorizer type a VirtualMCPServer accepts.
pub const CEDAR_V1: &str = "cedarv1";

/// Spec of an MCPAuthzConfig.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPAuthzConfig",
    plural = "mcpauthzconfigs",
    namespaced,
    derive = "PartialEq",
    status = "MCPAuthzConfigStatus",
    shortname = "authzcfg",
    category = "toolhive",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type=='Valid')].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MCPAuthzConfigSpec {
    /// The authorizer (`cedarv1`; ToolHive also knows `httpv1`).
    #[serde(rename = "type")]
    #[schemars(length(min = 1))]
    pub authz_type: String,
    /// The authorizer's settings, kept as written so every type applies.
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub config: serde_json::Value,
}

/// Status of an MCPAuthzConfig, written by vmcp's operator (see MCPOIDCConfig's).
pub type MCPAuthzConfigStatus = crate::config_status::ConfigStatus;
