//! The whole system in static mode, as real processes: `vmcp operator` renders a
//! VirtualMCPServer of two MCPServerEntries (server-everything on loopback) into its ConfigMap;
//! the test materialises the ConfigMap like the kubelet would and starts `vmcp serve` for it
//! (`VMCP_NAME`, `VMCP_NAMESPACE`, `KUBECONFIG`); a client lists and calls tools of both
//! backends, and the VirtualMCPServer status shows both managers' fields.

mod common;

use std::time::Duration;

use common::{
    apply, free_port, initialize, post, scratch, server_everything, start_gateway, start_operator,
    tool_names, wait_listening,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use vmcp_api::VirtualMCPServer;
use vmcp_api::virtual_server::{BackendHealth, VirtualMCPServerPhase};
use vmcp_testenv::TestEnv;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_mode_operator_and_gateway_processes_end_to_end() {
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("e2e-static").await.expect("namespace");
    let client = env.client().expect("client");
    let dir = scratch("e2e-static");
    let (_alpha, alpha_port) = server_everything(&dir);
    let (_beta, beta_port) = server_everything(&dir);

    let (_operator, op_log) = start_operator(env.kubeconfig_path(), &ns, &dir);

    apply(
        &client,
        &ns,
        "MCPGroup",
        serde_json::json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPGroup",
        "metadata": {"name": "team"}, "spec": {}}),
    )
    .await;
    let url = |port: u16| format!("http://127.0.0.1:{port}/mcp");
    apply(
        &client,
        &ns,
        "MCPServerEntry",
        common::entry("alpha", &url(alpha_port)),
    )
    .await;
    apply(
        &client,
        &ns,
        "MCPServerEntry",
        common::entry("beta", &url(beta_port)),
    )
    .await;
    apply(
        &client,
        &ns,
        "VirtualMCPServer",
        serde_json::json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
        "metadata": {"name": "gw"},
        "spec": {"groupRef": {"name": "team"}, "incomingAuth": {"type": "anonymous"},
                 "outgoingAuth": {"source": "inline"}}}),
    )
    .await;

    // The kubelet's part: materialise the rendered ConfigMap as a file.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + WAIT;
    let yaml = loop {
        let y = cms
            .get_opt("gw-vmcp-config")
            .await
            .ok()
            .flatten()
            .and_then(|c| c.data?.get("config.yaml").cloned())
            .filter(|y| y.contains("alpha") && y.contains("beta"));
        if let Some(y) = y {
            break y;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rendered config with both entries; status {:#?}; operator log:\n{}\n{}",
            Api::<VirtualMCPServer>::namespaced(client.clone(), &ns)
                .get_opt("gw")
                .await
                .ok()
                .flatten()
                .and_then(|v| v.status),
            std::fs::read_to_string(&op_log).unwrap_or_default(),
            std::fs::read_to_string(dir.join("operator.err")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, &yaml).unwrap();

    let port = free_port();
    let gw_log = dir.join("gateway.log");
    let _gateway = start_gateway(&cfg, port, &ns, env.kubeconfig_path(), &gw_log);
    wait_listening(port);

    // A client sees and calls the tools of both backends.
    let sid = initialize(port);
    let mut tools = Vec::new();
    for _ in 0..300 {
        tools = tool_names(port, &sid);
        if tools.iter().any(|t| t == "alpha_echo") && tools.iter().any(|t| t == "beta_echo") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        tools.iter().any(|t| t == "alpha_echo") && tools.iter().any(|t| t == "beta_echo"),
        "{tools:?}"
    );
    for b in ["alpha", "beta"] {
        let (_, _, body) = post(
            port,
            Some(&sid),
            &format!(
                r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"{b}_echo","arguments":{{"message":"via {b}"}}}}}}"#
            ),
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["result"]["content"][0]["text"],
            format!("Echo: via {b}"),
            "{body}"
        );
    }

    // The kubelet's other part: the gateway's Deployment is ready.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deps.patch_status(
        "gw",
        &PatchParams::default(),
        &Patch::Merge(
            serde_json::json!({"status": {"replicas": 1, "readyReplicas": 1,
            "availableReplicas": 1, "updatedReplicas": 1}}),
        ),
    )
    .await
    .expect("deployment status");

    // Status: the operator's membership and phase, the gateway's health, converged.
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let st = vmcps.get("gw").await.ok().and_then(|v| v.status);
        let done = st.as_ref().is_some_and(|s| {
            s.phase == Some(VirtualMCPServerPhase::Ready)
                && s.backend_count == Some(2)
                && s.discovered_backends.as_ref().is_some_and(|l| {
                    l.len() == 2
                        && l.iter()
                            .all(|b| b.status == Some(BackendHealth::Ready) && b.url.is_some())
                })
        });
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never converged: {st:#?}\ngateway log:\n{}",
            std::fs::read_to_string(&gw_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
