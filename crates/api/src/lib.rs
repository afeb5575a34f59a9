//! The ToolHive resource model (`toolhive.stacklok.dev`) as Rust types.
//!
//! Field names, enums, defaults, short names and condition strings follow ToolHive so that
//! existing manifests apply unchanged; where vmcp adds a field it says so in its doc comment.
//! `crd::all_crds()` turns the types into the CRDs committed under `deploy/crds/`.
#![forbid(unsafe_code)]

pub mod admission;
pub mod authz_config;
pub mod conditions;
pub mod config_status;
pub mod crd;
pub mod entry;
pub mod external_auth;
pub mod group;
pub mod health;
pub mod manifest;
pub mod oidc_config;
pub mod refs;
pub mod remote_proxy;
mod schema;
pub mod server;
pub mod telemetry_config;
pub mod tool_config;
pub mod virtual_server;

pub use authz_config::{MCPAuthzConfig, MCPAuthzConfigSpec};
pub use entry::{MCPServerEntry, MCPServerEntrySpec, MCPServerEntryStatus};
pub use external_auth::{ExternalAuthType, MCPExternalAuthConfig, MCPExternalAuthConfigSpec};
pub use group::{MCPGroup, MCPGroupSpec, MCPGroupStatus};
pub use oidc_config::{MCPOIDCConfig, MCPOIDCConfigSpec};
pub use remote_proxy::{MCPRemoteProxy, MCPRemoteProxySpec, MCPRemoteProxyStatus};
pub use server::{MCPServer, MCPServerSpec, MCPServerStatus};
pub use telemetry_config::{MCPTelemetryConfig, MCPTelemetryConfigSpec};
pub use tool_config::{MCPToolConfig, MCPToolConfigSpec};
pub use virtual_server::{VirtualMCPServer, VirtualMCPServerSpec, VirtualMCPServerStatus};

/// The default transport of an MCPRemoteProxy and of an MCPServer's `proxyMode` (ToolHive's).
/// One transport type serves every resource and the gateway config: `vmcp_config::Transport`.
fn streamable_http() -> vmcp_config::Transport {
    vmcp_config::Transport::StreamableHttp
}
