//! Faults, with the operator and a dynamic-mode gateway as real processes on the real API
//! server (its own test binary, because it restarts the API server every test here shares):
//!
//! - the operator is killed, an entry is added while it is down, and it is started again:
//!   the entry is validated and served, no object is duplicated, the status converges;
//! - the gateway's ConfigMap is deleted: the operator recreates it with the same content;
//! - kube-apiserver is killed and restarted: both processes reconnect by themselves and
//!   follow changes made after the restart; the status converges.

mod common;

use std::time::Duration;

use common::{
    apply, apply_group, apply_virtual_server, backends_ready, connect, echo, entry, free_port,
    mark_deployment_ready, rendered_config, scratch, server_everything, start_gateway,
    start_operator, tool_names, wait_listening,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams};
use vmcp_api::VirtualMCPServer;
use vmcp_testenv::TestEnv;

const WAIT: Duration = Duration::from_secs(90);

async fn eventually<T, F, Fut>(what: &str, logs: &[&std::path::Path], mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            // The last lines of each log; the whole files stay in the scratch dir.
            let logs: Vec<String> = logs
                .iter()
                .map(|p| {
                    let text = std::fs::read_to_string(p).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = lines[lines.len().saturating_sub(60)..].join("\n");
                    format!("--- {} (last 60 lines)\n{tail}", p.display())
                })
                .collect();
            panic!("{what}: not reached in {WAIT:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the status lists exactly `want`, all ready, with phase Ready.
fn converged(v: &VirtualMCPServer, want: &[&str]) -> bool {
    v.status.as_ref().is_some_and(|s| backends_ready(s, want))
}

async fn count<K>(client: &kube::Client, ns: &str) -> usize
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Api::<K>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=vmcp-operator"))
        .await
        .map(|l| l.items.len())
        .unwrap_or(usize::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_restart_apiserver_restart_and_configmap_deletion() {
    let env = TestEnv::shared().await.expect("test apiserver");
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("e2e-faults").await.expect("namespace");
    let client = env.client().expect("client");
    let dir = scratch("e2e-faults");
    let url = |port: u16| format!("http://127.0.0.1:{port}/mcp");
    let (_alpha, alpha_port) = server_everything().await;
    let (_beta, beta_port) = server_everything().await;
    let (_gamma, gamma_port) = server_everything().await;

    let (operator, op_log) = start_operator(env.kubeconfig_path(), &ns, &dir);
    apply_group(&client, &ns).await;
    apply(&client, &ns, entry("alpha", &url(alpha_port))).await;
    apply_virtual_server(&client, &ns, None).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let yaml = eventually("rendered ConfigMap", &[&op_log], || async {
        rendered_config(&cms).await
    })
    .await;
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, &yaml).unwrap();
    let kubeconfig = env
        .service_account_kubeconfig(&ns, "gw-vmcp")
        .await
        .expect("gateway kubeconfig");
    let port = free_port();
    let gw_log = dir.join("gateway.log");
    let _gateway = start_gateway(&cfg, port, &ns, &kubeconfig, &gw_log);
    wait_listening(port).await;
    let logs = [gw_log.as_path(), op_log.as_path()];
    let mut c = connect(port).await;
    let shared = c.clone();
    let serves = move |tool: &'static str| {
        let c = shared.clone();
        move || {
            let mut c = c.clone();
            async move { (echo(&mut c, tool, "x").await == "Echo: x").then_some(()) }
        }
    };
    eventually("alpha served", &logs, serves("alpha_echo")).await;
    mark_deployment_ready(&client, &ns).await;
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    eventually("status with alpha", &logs, || async {
        converged(&vmcps.get("gw").await.ok()?, &["alpha"]).then_some(())
    })
    .await;

    // 1. The operator goes away; an entry is added meanwhile; the operator comes back.
    drop(operator);
    apply(&client, &ns, entry("beta", &url(beta_port))).await;
    // Not a pause: the gateway has seen beta once it says, in /status, why it does not serve it.
    eventually("beta seen and not served", &logs, || async {
        let (_, body) = c.get("/status").await;
        let s: serde_json::Value = serde_json::from_str(&body).ok()?;
        let why = s["membersNotServed"]
            .as_array()?
            .iter()
            .find_map(|w| w.as_str().filter(|w| w.contains("beta")))?;
        why.contains("not validated yet").then_some(())
    })
    .await;
    assert!(
        !tool_names(&mut c).await.contains(&"beta_echo".to_owned()),
        "an entry nobody validated must not be served"
    );
    let op_dir = dir.join("operator-2");
    std::fs::create_dir_all(&op_dir).unwrap();
    let (operator, op_log2) = start_operator(env.kubeconfig_path(), &ns, &op_dir);
    let apiserver_log = env.apiserver_log_path().to_path_buf();
    let logs = [gw_log.as_path(), op_log2.as_path(), apiserver_log.as_path()];
    eventually(
        "beta served after the operator restart",
        &logs,
        serves("beta_echo"),
    )
    .await;
    eventually("status with alpha and beta", &logs, || async {
        converged(&vmcps.get("gw").await.ok()?, &["alpha", "beta"]).then_some(())
    })
    .await;
    assert_eq!(count::<Deployment>(&client, &ns).await, 1, "Deployments");
    assert_eq!(count::<Service>(&client, &ns).await, 1, "Services");
    assert_eq!(count::<ConfigMap>(&client, &ns).await, 1, "ConfigMaps");
    assert_eq!(
        count::<ServiceAccount>(&client, &ns).await,
        1,
        "ServiceAccounts"
    );
    assert_eq!(count::<Role>(&client, &ns).await, 1, "Roles");
    assert_eq!(count::<RoleBinding>(&client, &ns).await, 1, "RoleBindings");

    // 2. The gateway's ConfigMap is deleted: the operator puts it back, same content.
    cms.delete("gw-vmcp-config", &DeleteParams::default())
        .await
        .expect("delete ConfigMap");
    let again = eventually("ConfigMap recreated", &logs, || async {
        rendered_config(&cms).await
    })
    .await;
    assert_eq!(again, yaml, "recreated with the same content");

    // 3. kube-apiserver crashes and comes back. Both processes reconnect by themselves: a
    //    deletion made afterwards reaches the gateway directly, and a new entry has to pass
    //    through the operator (validation) before the gateway serves it.
    let took = env
        .restart_apiserver()
        .await
        .expect("restart kube-apiserver");
    eprintln!("kube-apiserver restarted in {took:.1?}");
    let client = env.client().expect("client after restart");
    let entries: Api<vmcp_api::MCPServerEntry> = Api::namespaced(client.clone(), &ns);
    entries
        .delete("beta", &DeleteParams::default())
        .await
        .expect("delete beta after the restart");
    apply(&client, &ns, entry("gamma", &url(gamma_port))).await;
    eventually("beta gone after the API server restart", &logs, || {
        let mut c = c.clone();
        async move {
            let tools = tool_names(&mut c).await;
            (!tools.contains(&"beta_echo".to_owned()) && tools.contains(&"alpha_echo".to_owned()))
                .then_some(())
        }
    })
    .await;
    eventually(
        "gamma served after the API server restart",
        &logs,
        serves("gamma_echo"),
    )
    .await;
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    eventually(
        "status converged after the API server restart",
        &logs,
        || async { converged(&vmcps.get("gw").await.ok()?, &["alpha", "gamma"]).then_some(()) },
    )
    .await;
    assert_eq!(c.get("/readyz").await.0, 200);

    drop(operator);
}
