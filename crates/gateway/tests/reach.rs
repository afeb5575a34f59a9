//! Where an entry may connect, judged on the addresses its name resolves to when the gateway
//! connects, not only on the URL the operator checked. The name here is `localhost`, which
//! resolves to 127.0.0.1 (a loopback address) the way a rebound public name would resolve to
//! a private one; the backend is a small MCP server of the test's own on 127.0.0.1.

mod common;

use common::*;
use vmcp_gateway::serve::FrontOptions;

fn entry_config(port: u16, allow_private: bool) -> String {
    config(&format!(
        "backends:\n- {{name: rebound, url: \"http://localhost:{port}/mcp\", transport: streamable-http, type: entry, allowPrivateEndpoint: {allow_private}}}\n\
         operational: {{failureHandling: {{partialFailureMode: best_effort, healthCheckInterval: 200ms}}}}\n"
    ))
}

fn strict() -> FrontOptions {
    FrontOptions::default()
}

/// An entry whose name resolves to loopback is refused when it connects, with the address and
/// the reason in `/status`, and its tools are not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_name_resolving_to_loopback_is_refused_at_connect() {
    let b = rust_backend(Behaviour::Normal).await;
    for (allow_private, opts, needs) in [
        (false, loopback_entries(), "allowPrivateEndpoint"),
        (true, strict(), "--allow-loopback-endpoints"),
    ] {
        let gw = gateway_with(&entry_config(b.port(), allow_private), opts).await;
        let mut c = Client::connect(gw.addr).await;
        let s = wait_health(&c, "rebound", "degraded").await;
        let err = s["lastError"].as_str().unwrap_or_default();
        assert!(
            err.contains("localhost resolves only to refused addresses")
                && err.contains("a loopback address")
                && err.contains(needs),
            "{s}"
        );
        assert!(c.tool_names().await.is_empty());
        gw.stop().await;
    }
}

/// With `allowPrivateEndpoint` and the loopback opt-in, the same entry is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_allowed_private_and_loopback_is_served() {
    let b = rust_backend(Behaviour::Normal).await;
    let gw = gateway_with(&entry_config(b.port(), true), loopback_entries()).await;
    let mut c = Client::connect(gw.addr).await;
    let tools = c.tool_names().await;
    assert!(tools.iter().any(|t| t.starts_with("rebound_")), "{tools:?}");
    gw.stop().await;
}

/// A workload (no `type: entry`) is an in-cluster Service by design: not checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_is_not_checked() {
    let b = rust_backend(Behaviour::Normal).await;
    let cfg = config(&format!(
        "backends:\n- {{name: workload, url: \"http://localhost:{}/mcp\", transport: streamable-http}}\n",
        b.port()
    ));
    let gw = gateway_with(&cfg, strict()).await;
    let mut c = Client::connect(gw.addr).await;
    let tools = c.tool_names().await;
    assert!(
        tools.iter().any(|t| t.starts_with("workload_")),
        "{tools:?}"
    );
    gw.stop().await;
}

/// An address literal is never resolved: it is judged when the backend is built, and in
/// static mode a refused one stops the start with the backend and the address named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_naming_a_refused_address_literal_does_not_start() {
    for url in [
        "http://127.0.0.1:9/mcp",
        "http://169.254.169.254/mcp",
        "http://[::ffff:10.0.0.1]/mcp",
    ] {
        let cfg = config(&format!(
            "backends:\n- {{name: literal, url: \"{url}\", transport: streamable-http, type: entry}}\n"
        ));
        let e = try_gateway(&cfg, loopback_entries())
            .await
            .err()
            .unwrap_or_else(|| panic!("{url} was accepted"))
            .to_string();
        assert!(
            e.contains("\"literal\"") && (e.contains("refused") || e.contains("never allowed")),
            "{url}: {e}"
        );
    }
}
