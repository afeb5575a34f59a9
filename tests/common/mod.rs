//! Helpers of the end-to-end tests: child processes, loopback ports, the MCP peers, a raw
//! HTTP MCP client.
#![allow(dead_code)]

pub mod tls;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port, chosen so that it does not race with outgoing
/// connections (see `vmcp_testenv::free_ports`).
pub fn free_port() -> u16 {
    let [port] = vmcp_testenv::free_ports().unwrap();
    port
}

pub fn wait_listening(port: u16) {
    for _ in 0..600 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listening on {port}");
}

/// A path printed by `scripts/test-peers.sh` (run once per test binary).
pub fn peer(key: &str) -> PathBuf {
    static PRINTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let text = PRINTED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-peers.sh");
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    });
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(PathBuf::from)
        .unwrap()
}

pub fn server_everything() -> (Kill, u16) {
    let port = free_port();
    let child = Command::new(peer("NODE"))
        .arg("--require")
        .arg(peer("BIND_LOOPBACK"))
        .arg(peer("SERVER_EVERYTHING"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    (Kill(child), port)
}

/// POSTs JSON to /mcp; returns (status, lower-cased headers, body).
pub fn post(port: u16, session: Option<&str>, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let sid = session
        .map(|s| format!("Mcp-Session-Id: {s}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nAccept: application/json\r\n{sid}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// Opens an MCP session; returns its id.
pub fn initialize(port: u16) -> String {
    let (status, head, body) = post(
        port,
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    head.lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: "))
        .unwrap()
        .trim()
        .to_owned()
}

/// The names of the tools the gateway lists.
pub fn tool_names(port: u16, sid: &str) -> Vec<String> {
    let (_, _, body) = post(
        port,
        Some(sid),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["result"]["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
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

/// Opens the session's GET stream and hands every SSE `data:` line to the receiver, from a
/// thread, until the stream ends.
pub fn sse_data(port: u16, sid: &str) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = format!(
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(s).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data:")
                && tx.send(data.trim().to_owned()).is_err()
            {
                return;
            }
        }
    });
    rx
}

/// GETs a path of the gateway; returns (status, body).
pub fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// Calls the `echo` tool `tool` with `message`; returns the text it answered, or the body.
pub fn echo(port: u16, sid: &str, tool: &str, message: &str) -> String {
    let (_, _, body) = post(
        port,
        Some(sid),
        &format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"message":"{message}"}}}}}}"#
        ),
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["result"]["content"][0]["text"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or(body)
}

/// `vmcp operator` watching namespace `ns` (leader election off, loopback entries allowed:
/// every MCP server of the tests listens on 127.0.0.1); logs in `dir/operator.{log,err}`.
/// Returns the process and its log path.
pub fn start_operator(kubeconfig: &Path, ns: &str, dir: &Path) -> (Kill, PathBuf) {
    let log = dir.join("operator.log");
    let child = Command::new(env!("CARGO_BIN_EXE_vmcp"))
        .args(["operator", "--no-leader-election", "--watch-namespace", ns])
        .args(["--health-addr", &format!("127.0.0.1:{}", free_port())])
        .env("KUBECONFIG", kubeconfig)
        .env("VMCP_ALLOW_LOOPBACK_ENDPOINTS", "true")
        // `VMCP_E2E_OPERATOR_LOG=debug cargo test ...` when a test needs the operator's detail.
        .env(
            "RUST_LOG",
            std::env::var("VMCP_E2E_OPERATOR_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("operator.err")).unwrap())
        .spawn()
        .unwrap();
    (Kill(child), log)
}

/// `vmcp serve` on `cfg` at 127.0.0.1:`port` for VirtualMCPServer `gw` in `ns`, with the
/// API credentials of `kubeconfig` (as the operator's Deployment would run it); stderr (the
/// JSON log) goes to `log`.
pub fn start_gateway(cfg: &Path, port: u16, ns: &str, kubeconfig: &Path, log: &Path) -> Kill {
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
) -> Kill {
    let child = Command::new(env!("CARGO_BIN_EXE_vmcp"))
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .args(["serve", "--config"])
        .arg(cfg)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("VMCP_NAME", "gw")
        .env("VMCP_NAMESPACE", ns)
        .env("KUBECONFIG", kubeconfig)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Kill(child)
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
pub fn wait_ready(port: u16) {
    for _ in 0..600 {
        if get(port, "/readyz").0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("gateway on {port} never ready: {:?}", get(port, "/readyz"));
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
