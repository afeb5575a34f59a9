//! What the workspace's tests, benches and the demo share, in one place:
//!
//! * [`Client`], the MCP test client (streamable HTTP: initialize, session header,
//!   requests and notifications, SSE replies, the GET stream, raw calls);
//! * [`Everything`] and [`python_json`], the real MCP peers from `scripts/test-peers.sh`;
//! * [`LoopbackTls`], TLS in front of a loopback server with a CA generated per run;
//! * [`operator_command`] and [`serve_command`], the `vmcp` processes as the operator's
//!   Deployments run them;
//! * re-exported from `vmcp-testenv`, which owns them because the API server needs them
//!   first: the process launcher ([`Process`], [`spawn`], [`output`]: PR_SET_PDEATHSIG for
//!   every child, killed and reaped on drop), [`free_port`]/[`free_ports`], the CA
//!   ([`TestCa`]), the apply-YAML harness ([`apply_yaml`], [`apply_object`]) and the real
//!   Keycloak of the OIDC tests ([`keycloak`]; its tokens and admin API in [`oidc`]) and the
//!   real Hydra of the introspection tests ([`hydra`]).
//!
//! A dev-dependency only (and a dependency of the bench binaries and the demo example): no
//! shipped crate depends on it. See docs/TESTING.md, "Test support".
#![forbid(unsafe_code)]

mod mcp;
#[cfg(unix)]
pub mod oidc;
mod peers;
mod tls;
mod vmcp;

pub use mcp::{
    ACCEPT_JSON_OR_SSE, Client, PROTOCOL_VERSION, Reply, initialize_params, sse_data, text_of,
    tool_names_of,
};
pub use peers::{
    Everything, Peers, Sdk2Server, modern_python_json, peers, python_json, run_script, try_peers,
    try_wait_listening, wait_listening,
};
pub use tls::LoopbackTls;
pub use vmcp::{operator_command, serve_command};
#[cfg(unix)]
pub use vmcp_testenv::hydra;
#[cfg(unix)]
pub use vmcp_testenv::keycloak;
#[cfg(unix)]
pub use vmcp_testenv::limit_open_files;
pub use vmcp_testenv::{
    Process, TestCa, TestEnv, apply_object, apply_yaml, free_port, free_ports, output, spawn, tail,
};
