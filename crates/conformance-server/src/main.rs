//! A small Streamable HTTP MCP server that implements what the server scenarios of the official
//! MCP conformance suite (`@modelcontextprotocol/conformance`) call: its tools, resources,
//! prompts, logging, completion, server-to-client requests (sampling, elicitation), SSE polling
//! and DNS-rebinding protection. It is the backend of vmcp's conformance test, run once directly
//! and once behind `vmcp serve`, so any failure that appears only through the gateway is the
//! gateway's.
//!
//! Hand-written rather than built on an SDK so that every byte on the wire is visible and the
//! binary compiles from crates the workspace already has.
//!
//! Usage: `vmcp-conformance-server [PORT]` (default 0: any free port). Binds 127.0.0.1 and prints
//! `LISTENING <port>` on stdout once it accepts connections.
#![forbid(unsafe_code)]

mod mcp;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let port: u16 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("vmcp-conformance-server: bad port: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("vmcp-conformance-server: bind 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("LISTENING {port}");
    if let Err(e) = axum::serve(listener, mcp::router()).await {
        eprintln!("vmcp-conformance-server: {e}");
        std::process::exit(1);
    }
}
