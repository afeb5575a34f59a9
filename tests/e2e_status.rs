//! The real `vmcp serve` binary, run for a VirtualMCPServer (`VMCP_NAME`, `VMCP_NAMESPACE`,
//! `KUBECONFIG` of the test kube-apiserver), reports each backend's health into the status:
//! a live server-everything on loopback becomes `ready`, a dead loopback port `unavailable`,
//! and backendCount and the `Degraded` condition follow.

mod common;

use std::time::Duration;

use common::{free_port, scratch, server_everything, start_gateway};
use kube::api::{Api, Patch, PatchParams};
use vmcp_api::VirtualMCPServer;
use vmcp_api::virtual_server::{BackendHealth, CircuitBreakerState};
use vmcp_testenv::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binary_reports_backend_health_into_the_status() {
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("e2e-status").await.expect("namespace");
    let client = env.client().expect("client");
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    let vmcp = serde_json::json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
        "metadata": {"name": "gw"},
        "spec": {"groupRef": {"name": "team"}, "incomingAuth": {"type": "anonymous"},
                 "outgoingAuth": {"source": "inline"}},
    });
    vmcps
        .patch(
            "gw",
            &PatchParams::apply("test-user").force(),
            &Patch::Apply(&vmcp),
        )
        .await
        .expect("VirtualMCPServer");

    let dir = scratch("e2e-status");
    let (_everything, live_port) = server_everything().await;
    let dead_port = free_port();
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "name: gw\ngroupRef: team\nincomingAuth: {{type: anonymous}}\n\
             outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n\
             operational:\n  failureHandling: {{healthCheckInterval: 1s, unhealthyThreshold: 1, statusReportingInterval: 1h}}\n\
             backends:\n\
             - {{name: everything, url: \"http://127.0.0.1:{live_port}/mcp\", transport: streamable-http}}\n\
             - {{name: dead, url: \"http://127.0.0.1:{dead_port}/mcp\", transport: streamable-http}}\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log = dir.join("gateway.log");
    let _gw = start_gateway(&cfg, port, &ns, env.kubeconfig_path(), &log);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let st = loop {
        let st = vmcps.get("gw").await.ok().and_then(|v| v.status);
        let health = |name: &str| {
            st.as_ref()
                .and_then(|s| s.discovered_backends.as_ref())
                .and_then(|l| l.iter().find(|b| b.name == name).cloned())
        };
        if health("everything").and_then(|b| b.status) == Some(BackendHealth::Ready)
            && health("dead").and_then(|b| b.status) == Some(BackendHealth::Unavailable)
        {
            break st.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never showed everything ready and dead unavailable: {st:#?}\ngateway log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(st.backend_count, Some(1));
    let degraded = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "SomeBackendsUnhealthy")
    );
    let dead = st
        .discovered_backends
        .as_ref()
        .unwrap()
        .iter()
        .find(|b| b.name == "dead")
        .unwrap();
    assert!(dead.consecutive_failures.unwrap_or(0) >= 1);
    assert!(dead.last_health_check.is_some());
    assert!(matches!(
        dead.circuit_breaker_state,
        Some(CircuitBreakerState::Open | CircuitBreakerState::Closed)
    ));
}
