//! Helpers of the end-to-end tests: the `vmcp` processes as a Deployment would run them, the
//! objects the tests apply, and waiting for their status. The MCP client, the peers, ports,
//! TLS and the process launcher come from `vmcp-test-support`, re-exported here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[allow(unused_imports)] // each test file uses some
pub use vmcp_test_support::{
    Client, Everything, LoopbackTls, Process, free_port, peers, wait_listening,
};
use vmcp_test_support::{operator_command, serve_command};

/// Runs `command` to completion through the launcher (`Command::output` with PDEATHSIG and a
/// two-minute bound).
pub fn run(command: Command) -> std::process::Output {
    vmcp_test_support::output(command, Duration::from_secs(120)).unwrap()
}

/// server-everything over streamable HTTP on a free port, and that port.
pub async fn server_everything() -> (Everything, u16) {
    let e = Everything::start("streamableHttp").await;
    let port = e.port;
    (e, port)
}

/// A session on the gateway at 127.0.0.1:`port`, asking for JSON replies only, as these
/// tests always have.
pub async fn connect(port: u16) -> Client {
    let mut c = Client::local(port).accept("application/json");
    c.try_initialize(serde_json::json!({}))
        .await
        .unwrap_or_else(|e| panic!("initialize on {port}: {e:#}"));
    assert!(c.session.is_some(), "the gateway gave no session");
    c
}

/// The names of the tools the gateway lists (empty on any error, for polling).
pub async fn tool_names(c: &mut Client) -> Vec<String> {
    c.try_tool_names().await.unwrap_or_default()
}

/// Calls the `echo` tool `tool` with `message`; returns the text it answered, or the reply.
pub async fn echo(c: &mut Client, tool: &str, message: &str) -> String {
    c.call_text(tool, serde_json::json!({"message": message}))
        .await
}

/// A scratch directory for one test's configs and logs: removed when the test passes, kept
/// (and named in the failure output) when it panics, so the logs can be read.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "scratch directory kept for inspection: {}",
                self.0.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh scratch directory.
pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("vmcp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// The gateway config the operator rendered for VirtualMCPServer `gw` (ConfigMap
/// `gw-vmcp-config`, key `config.yaml`), if it is there yet.
pub async fn rendered_config(
    cms: &kube::Api<k8s_openapi::api::core::v1::ConfigMap>,
) -> Option<String> {
    cms.get_opt("gw-vmcp-config")
        .await
        .ok()
        .flatten()
        .and_then(|c| c.data?.get("config.yaml").cloned())
}

/// Server-side applies an object (a ToolHive kind, a ConfigMap...) into `ns` as a user would.
pub async fn apply(client: &kube::Client, ns: &str, obj: serde_json::Value) {
    vmcp_testenv::apply_object(client, Some(ns), &obj).await;
}

/// An MCPServerEntry of group `team` for a loopback URL.
pub fn entry(name: &str, url: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPServerEntry",
        "metadata": {"name": name},
        "spec": {"remoteUrl": url, "transport": "streamable-http",
                 "groupRef": {"name": "team"}, "allowPrivateEndpoint": true},
    })
}

/// `vmcp operator` watching namespace `ns` (leader election off, loopback entries allowed:
/// every MCP server of the tests listens on 127.0.0.1); logs in `dir/operator.{log,err}`.
/// Returns the process and its log path.
pub fn start_operator(kubeconfig: &Path, ns: &str, dir: &Path) -> (Process, PathBuf) {
    let log = dir.join("operator.log");
    let mut command = operator_command(Path::new(env!("CARGO_BIN_EXE_vmcp")), kubeconfig, ns);
    command
        // `VMCP_E2E_OPERATOR_LOG=debug cargo test ...` when a test needs the operator's detail.
        .env(
            "RUST_LOG",
            std::env::var("VMCP_E2E_OPERATOR_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("operator.err")).unwrap());
    (Process::spawn("vmcp operator", command).unwrap(), log)
}

/// `vmcp serve` on `cfg` at 127.0.0.1:`port` for VirtualMCPServer `gw` in `ns`, with the
/// API credentials of `kubeconfig` (as the operator's Deployment would run it); stderr (the
/// JSON log) goes to `log`.
pub fn start_gateway(cfg: &Path, port: u16, ns: &str, kubeconfig: &Path, log: &Path) -> Process {
    start_gateway_with(cfg, port, ns, kubeconfig, log, &[])
}

/// [`start_gateway`] with extra environment (`VMCP_CA_BUNDLE_ROOT` for static mode's
/// mounted CA bundles).
pub fn start_gateway_with(
    cfg: &Path,
    port: u16,
    ns: &str,
    kubeconfig: &Path,
    log: &Path,
    env: &[(&str, &Path)],
) -> Process {
    let vmcp = Path::new(env!("CARGO_BIN_EXE_vmcp"));
    let mut command = serve_command(vmcp, cfg, port, "gw", ns, kubeconfig);
    command
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    Process::spawn("vmcp serve", command).unwrap()
}

/// Waits until VirtualMCPServer `gw` says Ready with exactly the backends `want` (sorted),
/// each reported ready by the gateway; panics with the status and the gateway log.
pub async fn wait_status(
    vmcps: &kube::Api<vmcp_api::VirtualMCPServer>,
    wait: Duration,
    what: &str,
    log: &Path,
    want: &[&str],
) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let st = vmcps.get("gw").await.ok().and_then(|v| v.status);
        let done = st
            .as_ref()
            .is_some_and(|s| backends_ready(s, want) && s.backend_count == Some(want.len() as i32));
        if done {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: status never showed {want:?} all ready: {st:#?}\ngateway log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the gateway's `/readyz` says ready (every backend tried once, so the
/// aggregated view holds what they offer).
pub async fn wait_ready(port: u16) {
    let c = Client::local(port);
    for _ in 0..600 {
        if c.get("/readyz").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "gateway on {port} never ready: {:?}",
        c.get("/readyz").await
    );
}

/// An MCPServerEntry of group `team` whose CA bundle is in ConfigMap `ca_config_map`.
pub fn tls_entry(name: &str, url: &str, ca_config_map: &str) -> serde_json::Value {
    let mut e = entry(name, url);
    e["spec"]["caBundleRef"] = serde_json::json!({"configMapRef": {"name": ca_config_map}});
    e
}

/// Applies ConfigMap `name` with `ca.crt: pem`.
pub async fn ca_config_map(client: &kube::Client, ns: &str, name: &str, pem: &str) {
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"ca.crt": pem}});
    apply(client, ns, cm).await;
}

/// Whether the status says Ready and lists exactly `want` (sorted), each reported ready.
pub fn backends_ready(s: &vmcp_api::VirtualMCPServerStatus, want: &[&str]) -> bool {
    use vmcp_api::virtual_server::{BackendHealth, VirtualMCPServerPhase};
    let names: Vec<&str> = s
        .discovered_backends
        .iter()
        .flatten()
        .map(|b| b.name.as_str())
        .collect();
    s.phase == Some(VirtualMCPServerPhase::Ready)
        && names == want
        && s.discovered_backends
            .iter()
            .flatten()
            .all(|b| b.status == Some(BackendHealth::Ready))
}

/// Applies MCPGroup `team`, the group every end-to-end test's entries belong to.
pub async fn apply_group(client: &kube::Client, ns: &str) {
    apply(
        client,
        ns,
        serde_json::json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPGroup",
            "metadata": {"name": "team"}, "spec": {}}),
    )
    .await;
}

/// Applies VirtualMCPServer `gw` on group `team` with anonymous clients; `outgoing_source`
/// `Some("inline")` is static mode, `None` the default (dynamic mode).
pub async fn apply_virtual_server(client: &kube::Client, ns: &str, outgoing_source: Option<&str>) {
    let mut spec =
        serde_json::json!({"groupRef": {"name": "team"}, "incomingAuth": {"type": "anonymous"}});
    if let Some(source) = outgoing_source {
        spec["outgoingAuth"] = serde_json::json!({"source": source});
    }
    apply(client, ns, serde_json::json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
            "metadata": {"name": "gw"}, "spec": spec}),
    )
    .await;
}

/// The kubelet's part that no test server plays: marks the operator's Deployment `gw` as
/// rolled out and ready, so the operator can report the VirtualMCPServer Ready.
pub async fn mark_deployment_ready(client: &kube::Client, ns: &str) {
    use kube::api::{Api, Patch, PatchParams};
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), ns)
        .patch_status(
            "gw",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"status": {"replicas": 1, "readyReplicas": 1,
                "availableReplicas": 1, "updatedReplicas": 1}}),
            ),
        )
        .await
        .expect("deployment status");
}
