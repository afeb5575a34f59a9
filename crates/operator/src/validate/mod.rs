//! Pure validation: entry URLs (SSRF), entries against their world, VirtualMCPServer specs.

pub mod authz;
pub mod entry;
pub mod names;
pub mod oidc;
pub mod superseded;
pub mod virtual_server;

/// Why a VirtualMCPServer's reference to a shared config (MCPOIDCConfig, MCPAuthzConfig) does
/// not resolve: ToolHive's condition reason and a message naming the object and field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RefProblem {
    pub reason: &'static str,
    pub message: String,
}

/// A hash of a shared config's spec (ToolHive's `status.configHash`): it changes whenever a
/// setting does, so the status of every VirtualMCPServer using it shows which version it runs.
pub fn spec_hash<T: serde::Serialize>(spec: &T) -> String {
    let text = serde_json::to_string(spec).unwrap_or_default();
    vmcp_core::checksum::sha256_hex(&text)[..16].to_string()
}
