//! vmcp-gateway: the Virtual MCP Server process (`vmcp serve`).
//!
//! One Streamable HTTP endpoint in front of many MCP backends: capabilities are aggregated
//! into an atomically swapped view, calls are routed to the owning backend over a persistent,
//! shared backend session, and every backend has one health/circuit state fed by real calls
//! and ping checks. See `serve` for the wiring.

pub mod aggregate;
pub mod audit;
pub mod authz;
pub mod backend;
pub mod error;
pub mod front;
pub mod health;
pub mod jsonrpc;
pub mod limits;
pub mod members;
pub mod metrics;
pub mod oidc;
pub mod outbound;
pub mod relay;
pub mod route;
pub mod serve;
pub mod telemetry;

pub use error::ServeError;
pub use front::http::DEFAULT_BODY_LIMIT;
pub use limits::Limits;
pub use serve::{Gateway, ServeOptions, run, run_with, start};
