//! Pure validation: entry URLs (SSRF), entries against their world, VirtualMCPServer specs.

pub mod authz;
pub mod entry;
pub mod names;
pub mod superseded;
pub mod virtual_server;
