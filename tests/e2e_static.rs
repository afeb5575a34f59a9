//! The whole system in static mode, as real processes: `vmcp operator` renders a
//! VirtualMCPServer of two MCPServerEntries (server-everything on loopback, one behind TLS with
//! its CA in a ConfigMap) into its ConfigMap; the test materialises the ConfigMap and the CA
//! bundle like the kubelet would mount them and starts `vmcp serve` for it
//! (`VMCP_NAME`, `VMCP_NAMESPACE`, `KUBECONFIG`); a client lists and calls tools of both
//! backends, and the VirtualMCPServer status shows both managers' fields.
//! Then an entry is added and one deleted: the ConfigMap and the pod-template checksum change
//! (a rollout), and the gateway started on the new file serves the new set; status follows.

mod common;

use std::time::Duration;

use common::{
    Client, LoopbackTls, Process, apply, apply_group, apply_virtual_server, ca_config_map, connect,
    free_port, mark_deployment_ready, rendered_config, scratch, server_everything,
    start_gateway_with, start_operator, tls_entry, tool_names, wait_listening, wait_ready,
    wait_status,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use vmcp_api::VirtualMCPServer;
use vmcp_testenv::TestEnv;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_mode_operator_and_gateway_processes_end_to_end() {
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("e2e-static").await.expect("namespace");
    let client = env.client().expect("client");
    let dir = scratch("e2e-static");
    let (_alpha, alpha_port) = server_everything().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // beta is behind TLS with a CA of its own, given to the entry as a ConfigMap.
    let (_beta, beta_target) = server_everything().await;
    let tls = LoopbackTls::new("e2e static CA").unwrap();
    let ca_pem = tls.ca_pem().to_owned();
    let beta_port = tls.forward_to(beta_target).await.unwrap();

    let (_operator, op_log) = start_operator(env.kubeconfig_path(), &ns, &dir);

    apply_group(&client, &ns).await;
    let url = |port: u16| format!("http://127.0.0.1:{port}/mcp");
    apply(&client, &ns, common::entry("alpha", &url(alpha_port))).await;
    ca_config_map(&client, &ns, "beta-ca", &ca_pem).await;
    apply(
        &client,
        &ns,
        tls_entry(
            "beta",
            &format!("https://127.0.0.1:{beta_port}/mcp"),
            "beta-ca",
        ),
    )
    .await;
    apply_virtual_server(&client, &ns, Some("inline")).await;

    // The kubelet's part: materialise the rendered ConfigMap as a file.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + WAIT;
    let yaml = loop {
        let y = rendered_config(&cms)
            .await
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
    // And the CA ConfigMap, where the operator mounts it (`caBundlePath`), under a root the
    // gateway is pointed at with VMCP_CA_BUNDLE_ROOT.
    assert!(
        yaml.contains("caBundlePath: /etc/toolhive/ca-bundles/beta/ca.crt"),
        "{yaml}"
    );
    let ca_root = dir.join("ca-bundles");
    std::fs::create_dir_all(ca_root.join("beta")).unwrap();
    std::fs::write(ca_root.join("beta/ca.crt"), &ca_pem).unwrap();
    let mounts = [("VMCP_CA_BUNDLE_ROOT", ca_root.as_path())];

    let port = free_port();
    let gw_log = dir.join("gateway.log");
    let _gateway = start_gateway_with(&cfg, port, &ns, env.kubeconfig_path(), &gw_log, &mounts);
    wait_listening(port).await;

    // A client sees and calls the tools of both backends.
    let mut c = connect(port).await;
    let mut tools = Vec::new();
    for _ in 0..300 {
        tools = tool_names(&mut c).await;
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
        let body = c
            .send(format!(
                r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"{b}_echo","arguments":{{"message":"via {b}"}}}}}}"#
            ))
            .await
            .unwrap()
            .text();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["result"]["content"][0]["text"],
            format!("Echo: via {b}"),
            "{body}"
        );
    }

    // The kubelet's other part: the gateway's Deployment is ready.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    mark_deployment_ready(&client, &ns).await;

    // Status: the operator's membership and phase, the gateway's health, converged.
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    wait_status(&vmcps, WAIT, "start", &gw_log, &["alpha", "beta"]).await;
    let checksum = |d: Deployment| {
        d.spec?
            .template
            .metadata?
            .annotations?
            .get("toolhive.stacklok.dev/runconfig-checksum")
            .cloned()
    };
    let first_checksum = checksum(deps.get("gw").await.unwrap());
    assert!(first_checksum.is_some());

    // Static mode follows changes by rollout: a new entry changes the ConfigMap and the pod
    // template's checksum, and the kubelet's part is to start the new pod on the new file.
    let (_gamma, gamma_port) = server_everything().await;
    apply(&client, &ns, common::entry("gamma", &url(gamma_port))).await;
    let yaml = rendered(&cms, "add gamma", &op_log, |y| y.contains("gamma")).await;
    // The Deployment is applied after the ConfigMap: wait for its new checksum.
    let deadline = tokio::time::Instant::now() + WAIT;
    while checksum(deps.get("gw").await.unwrap()) == first_checksum {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pod template never changed: the pods would not roll"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(_gateway);
    let (_gateway, mut c) = roll(&cfg, &yaml, &ns, env.kubeconfig_path(), &gw_log, &mounts).await;
    assert!(tool_names(&mut c).await.iter().any(|t| t == "gamma_echo"));
    wait_status(
        &vmcps,
        WAIT,
        "add gamma",
        &gw_log,
        &["alpha", "beta", "gamma"],
    )
    .await;

    // Delete: the entry leaves the ConfigMap, and the next pod no longer serves it.
    Api::<vmcp_api::MCPServerEntry>::namespaced(client.clone(), &ns)
        .delete("beta", &kube::api::DeleteParams::default())
        .await
        .expect("delete beta");
    let yaml = rendered(&cms, "delete beta", &op_log, |y| !y.contains("beta")).await;
    drop(_gateway);
    let (_gateway, mut c) = roll(&cfg, &yaml, &ns, env.kubeconfig_path(), &gw_log, &mounts).await;
    let tools = tool_names(&mut c).await;
    assert!(
        !tools.iter().any(|t| t.starts_with("beta_")) && tools.iter().any(|t| t == "alpha_echo"),
        "{tools:?}"
    );
    wait_status(&vmcps, WAIT, "delete beta", &gw_log, &["alpha", "gamma"]).await;
}

/// The kubelet's part of a rollout: the new pod gets the new config file and starts serving.
/// Returns the gateway and a client session on it.
async fn roll(
    cfg: &std::path::Path,
    yaml: &str,
    ns: &str,
    kubeconfig: &std::path::Path,
    log: &std::path::Path,
    mounts: &[(&str, &std::path::Path)],
) -> (Process, Client) {
    std::fs::write(cfg, yaml).unwrap();
    let port = free_port();
    let gateway = start_gateway_with(cfg, port, ns, kubeconfig, log, mounts);
    wait_listening(port).await;
    wait_ready(port).await;
    (gateway, connect(port).await)
}

/// Waits for the operator's ConfigMap `gw-vmcp-config` to hold a config for which `want`
/// holds; returns it.
async fn rendered(
    cms: &Api<ConfigMap>,
    what: &str,
    op_log: &std::path::Path,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(y) = rendered_config(cms).await.filter(|y| want(y)) {
            return y;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: the rendered config never changed as expected; operator log:\n{}",
            std::fs::read_to_string(op_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
