//! The client-facing side: MCP Streamable HTTP at `/mcp`, plus health, readiness, status and
//! metrics endpoints.

pub mod auth;
pub mod http;
pub mod listen;
pub mod modern;
pub mod mrtr;
pub mod origin;
pub mod session;
pub mod sse;
pub mod subscriptions;
