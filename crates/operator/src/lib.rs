//! vmcp-operator: turns MCPGroups, MCPServerEntries and VirtualMCPServers into running
//! gateways.
//!
//! Layout follows the rule "pure builders apart from side effects":
//! - pure: the snapshot of inputs and discovery (in `vmcp_core`, shared with the gateway's
//!   dynamic mode), [`validate`], [`render`], [`status`] — no API calls, shared by the
//!   controllers and `vmcp render` ([`offline`]);
//! - side effects: [`read`] (API → world), [`apply`] (the one server-side applier),
//!   [`controllers`], [`leader`] and [`run`] (the process).
#![forbid(unsafe_code)]

pub mod apply;
pub mod controllers;
pub mod deps;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod names;
pub mod offline;
pub mod read;
pub mod render;
pub mod run;
pub mod status;
pub mod validate;

pub use error::{Error, Result};
