//! Backend `metadata` keys with a meaning to the gateway. The operator writes them and the
//! gateway reads them; defining them here, beside the one config type, keeps the two in step.
//!
//! Header forwarding of an MCPServerEntry (`spec.headerForward`):
//! - `vmcp.headers.plaintext.<Header-Name>: <value>` — send the header with this literal value;
//! - `vmcp.headers.env.<Header-Name>: <ENV_VAR>` — send the header with the value of that
//!   environment variable (the operator fills it from a Secret with `secretKeyRef`), so secret
//!   values never appear in the ConfigMap.

/// Prefix of metadata keys naming a header with a literal value.
pub const HEADER_PLAINTEXT_PREFIX: &str = "vmcp.headers.plaintext.";

/// Prefix of metadata keys naming a header whose value comes from an environment variable.
pub const HEADER_ENV_PREFIX: &str = "vmcp.headers.env.";
