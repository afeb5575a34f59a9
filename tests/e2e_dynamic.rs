//! The whole system in dynamic mode (`outgoingAuth.source: discovered`), as real processes:
//! `vmcp operator` renders a VirtualMCPServer whose ConfigMap lists no backends; `vmcp serve`
//! runs on it with API credentials and discovers the group's MCPServerEntries itself — one
//! plain, one behind TLS whose CA it reads from a ConfigMap through the API. Then entries are
//! added, changed (URL and CA) and deleted while a client stays connected: the tools follow
//! without a restart, the client's GET stream gets `notifications/tools/list_changed`, and
//! the VirtualMCPServer status follows.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    Client, LoopbackTls, apply, apply_group, apply_virtual_server, ca_config_map, connect, echo,
    entry, free_port, mark_deployment_ready, rendered_config, scratch, server_everything,
    start_gateway, start_operator, tls_entry, tool_names, wait_listening, wait_status,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams};
use tokio::sync::mpsc::UnboundedReceiver as Receiver;
use vmcp_api::VirtualMCPServer;
use vmcp_api::virtual_server::BackendHealth;
use vmcp_testenv::TestEnv;

const WAIT: Duration = Duration::from_secs(60);

/// Polls the gateway's tool list until `want` holds; panics with the list and the gateway
/// log after `WAIT`.
async fn wait_tools(
    c: &mut Client,
    what: &str,
    log: &std::path::Path,
    want: impl Fn(&BTreeSet<String>) -> bool,
) -> BTreeSet<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let tools: BTreeSet<String> = tool_names(c).await.into_iter().collect();
        if want(&tools) {
            return tools;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: tools never matched; last list {tools:?}\ngateway log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls `tool` until it echoes `message` (a changed backend reconnects in the background).
async fn wait_echo(c: &mut Client, tool: &str, message: &str, log: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = echo(c, tool, message).await;
        if got == format!("Echo: {message}") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{tool} never answered {message:?}: {got}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn has_backend(tools: &BTreeSet<String>, backend: &str) -> bool {
    tools.contains(&format!("{backend}_echo"))
}

/// Waits for a `notifications/tools/list_changed` on the client's stream after which the
/// tool list satisfies `want`. The gateway swaps its view before it notifies, so the
/// announcement of this change is followed by a matching list; a notification of an earlier
/// change that reached the stream only after [`drain`] is not taken for it.
async fn wait_announced(
    stream: &mut Receiver<String>,
    c: &mut Client,
    what: &str,
    log: &std::path::Path,
    want: impl Fn(&BTreeSet<String>) -> bool,
) -> BTreeSet<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.recv()).await {
            Ok(Some(data)) if data.contains("notifications/tools/list_changed") => {
                let tools: BTreeSet<String> = tool_names(c).await.into_iter().collect();
                if want(&tools) {
                    return tools;
                }
            }
            Ok(Some(_)) => continue,
            end => panic!(
                "{what}: no tools/list_changed announcing it on the client's stream ({}); \
                 tools now {:?}; gateway log:\n{}",
                if end.is_err() {
                    "timed out"
                } else {
                    "stream ended"
                },
                tool_names(c).await,
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
    }
}

/// Drops notifications already received, so the next wait sees only new ones.
fn drain(stream: &mut Receiver<String>) {
    while stream.try_recv().is_ok() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_mode_follows_entries_without_a_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("e2e-dynamic").await.expect("namespace");
    let client = env.client().expect("client");
    let dir = scratch("e2e-dynamic");
    let url = |port: u16| format!("http://127.0.0.1:{port}/mcp");
    let tls_url = |port: u16| format!("https://127.0.0.1:{port}/mcp");

    let (_alpha, alpha_port) = server_everything().await;
    let (_behind_tls, tls_target) = server_everything().await;
    let tls = LoopbackTls::new("e2e CA one").unwrap();
    let ca_pem = tls.ca_pem().to_owned();
    let tls_port = tls.forward_to(tls_target).await.unwrap();

    let (_operator, op_log) = start_operator(env.kubeconfig_path(), &ns, &dir);

    apply_group(&client, &ns).await;
    apply(&client, &ns, entry("alpha", &url(alpha_port))).await;
    ca_config_map(&client, &ns, "beta-ca", &ca_pem).await;
    apply(
        &client,
        &ns,
        tls_entry("beta", &tls_url(tls_port), "beta-ca"),
    )
    .await;
    // No outgoingAuth: dynamic mode is the default.
    apply_virtual_server(&client, &ns, None).await;

    // The kubelet's part: the rendered ConfigMap as a file. In dynamic mode it lists no
    // backends, and nothing else is mounted.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + WAIT;
    let yaml = loop {
        if let Some(y) = rendered_config(&cms).await {
            break y;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rendered config; operator log:\n{}",
            std::fs::read_to_string(&op_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !yaml.contains("alpha") && yaml.contains("source: discovered"),
        "{yaml}"
    );
    // The operator applies the ConfigMap before the Deployment.
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + WAIT;
    let deployment = loop {
        if let Some(d) = deployments.get_opt("gw").await.unwrap() {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "no Deployment gw");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert!(
        pod.volumes
            .iter()
            .flatten()
            .all(|v| v.config_map.as_ref().is_none_or(|c| c.name != "beta-ca")),
        "dynamic mode must not mount entry CA bundles: {:?}",
        pod.volumes
    );
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, &yaml).unwrap();

    // The gateway runs as the ServiceAccount the operator created for it, bound to the
    // dynamic-mode Role: what it can watch and write is what a pod would get.
    let gw_kubeconfig = env
        .service_account_kubeconfig(&ns, "gw-vmcp")
        .await
        .expect("gateway kubeconfig");
    let port = free_port();
    let gw_log = dir.join("gateway.log");
    let _gateway = start_gateway(&cfg, port, &ns, &gw_kubeconfig, &gw_log);
    wait_listening(port).await;

    // Ready only once discovery has synced and both backends were tried.
    let deadline = tokio::time::Instant::now() + WAIT;
    let probe = Client::local(port);
    while probe.get("/readyz").await.0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never ok: {:?}\n{}",
            probe.get("/readyz").await,
            std::fs::read_to_string(&gw_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = connect(port).await;
    let mut stream = c.stream().await;
    let tools = wait_tools(&mut c, "start", &gw_log, |t| {
        has_backend(t, "alpha") && has_backend(t, "beta")
    })
    .await;
    assert!(
        tools
            .iter()
            .all(|t| t.starts_with("alpha_") || t.starts_with("beta_")),
        "{tools:?}"
    );
    assert_eq!(echo(&mut c, "alpha_echo", "a").await, "Echo: a");
    assert_eq!(
        echo(&mut c, "beta_echo", "over TLS").await,
        "Echo: over TLS"
    );

    // The kubelet's other part: the Deployment is ready, so the operator can say Ready.
    mark_deployment_ready(&client, &ns).await;
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    wait_status(&vmcps, WAIT, "start", &gw_log, &["alpha", "beta"]).await;

    // Add: a new entry's tools appear, and the connected client is told.
    drain(&mut stream);
    let (_gamma, gamma_port) = server_everything().await;
    apply(&client, &ns, entry("gamma", &url(gamma_port))).await;
    wait_announced(&mut stream, &mut c, "add gamma", &gw_log, |t| {
        has_backend(t, "gamma")
    })
    .await;
    assert_eq!(echo(&mut c, "gamma_echo", "g").await, "Echo: g");
    wait_status(
        &vmcps,
        WAIT,
        "add gamma",
        &gw_log,
        &["alpha", "beta", "gamma"],
    )
    .await;

    // Change a URL: alpha moves to a new server; the old one is stopped, and alpha's tools
    // still answer, through the new server.
    let (_alpha2, alpha2_port) = server_everything().await;
    apply(&client, &ns, entry("alpha", &url(alpha2_port))).await;
    drop(_alpha);
    wait_echo(&mut c, "alpha_echo", "moved", &gw_log).await;

    // Change a CA: beta moves to a server that presents a certificate of another CA. Until
    // the ConfigMap says so, the gateway cannot reach it; after, it can. The old server is
    // stopped, so an answer proves the new URL and CA are in use (with the old one running,
    // the first call passed before the gateway had even seen the change).
    let (_beta2_server, beta2_target) = server_everything().await;
    let tls2 = LoopbackTls::new("e2e CA two").unwrap();
    let ca2_pem = tls2.ca_pem().to_owned();
    let tls2_port = tls2.forward_to(beta2_target).await.unwrap();
    ca_config_map(&client, &ns, "beta-ca", &ca2_pem).await;
    apply(
        &client,
        &ns,
        tls_entry("beta", &tls_url(tls2_port), "beta-ca"),
    )
    .await;
    drop(_behind_tls);
    wait_echo(&mut c, "beta_echo", "new CA", &gw_log).await;

    // Delete: beta's tools disappear, the client is told, status follows.
    drain(&mut stream);
    let entries: Api<vmcp_api::MCPServerEntry> = Api::namespaced(client.clone(), &ns);
    entries
        .delete("beta", &DeleteParams::default())
        .await
        .expect("delete beta");
    wait_announced(&mut stream, &mut c, "delete beta", &gw_log, |t| {
        !has_backend(t, "beta") && has_backend(t, "alpha") && has_backend(t, "gamma")
    })
    .await;
    wait_status(&vmcps, WAIT, "delete beta", &gw_log, &["alpha", "gamma"]).await;

    // A CA bundle that does not parse: the operator finds the ConfigMap and its key, so the
    // entry is Valid, but the gateway cannot build a TLS client from it. The status says so,
    // naming the ConfigMap; the other backends keep serving.
    ca_config_map(&client, &ns, "delta-ca", "not a certificate").await;
    apply(
        &client,
        &ns,
        tls_entry("delta", &tls_url(tls2_port), "delta-ca"),
    )
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let st = vmcps.get("gw").await.ok().and_then(|v| v.status);
        let delta = st
            .as_ref()
            .and_then(|s| s.discovered_backends.as_ref())
            .and_then(|l| l.iter().find(|b| b.name == "delta").cloned());
        if delta.as_ref().is_some_and(|d| {
            d.status == Some(BackendHealth::Unavailable)
                && d.message.as_deref().is_some_and(|m| m.contains("delta-ca"))
        }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broken CA never showed in the status: {delta:#?}\n{}",
            std::fs::read_to_string(&gw_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        echo(&mut c, "alpha_echo", "unharmed").await,
        "Echo: unharmed"
    );

    // The same process served all of it: no restart.
    let log = std::fs::read_to_string(&gw_log).unwrap_or_default();
    assert_eq!(
        log.matches("vmcp gateway listening").count(),
        1,
        "gateway restarted?\n{log}"
    );
}

/// A gateway whose ServiceAccount may not watch what dynamic mode needs (a hand-made
/// `spec.serviceAccount` without the operator's Role, say) must not look healthy: it stays
/// out of its Service (`/readyz` 503, saying it waits for discovery) and its log names the
/// watch that is forbidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_gateway_without_rights_says_why_it_is_not_ready() {
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("e2e-norights").await.expect("namespace");
    let dir = scratch("e2e-norights");
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        "name: gw\ngroupRef: team\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: discovered}\n",
    )
    .unwrap();
    let kubeconfig = env
        .service_account_kubeconfig(&ns, "no-rights")
        .await
        .expect("kubeconfig");
    let port = free_port();
    let log = dir.join("gateway.log");
    let _gateway = start_gateway(&cfg, port, &ns, &kubeconfig, &log);
    wait_listening(port).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("forbidden") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no forbidden watch in the log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let probe = Client::local(port);
    let (status, body) = probe.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not discovered yet"), "{body}");
    // Retried every second, but said once per watch: six kinds, at most six warnings.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let warnings = text.matches("watch failed").count();
    assert!((1..=6).contains(&warnings), "{warnings} warnings:\n{text}");
    assert_eq!(probe.get("/readyz").await.0, 503);
}
