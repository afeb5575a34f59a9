//! The whole system on one machine, no cluster needed: what `scripts/demo.sh` runs.
//!
//! It starts a real kube-apiserver + etcd (`vmcp-testenv`), installs the CRDs, starts two
//! `@modelcontextprotocol/server-everything` instances on loopback (the second behind TLS with a
//! CA generated for this run), starts `vmcp operator`, applies `examples/quickstart/*.yaml` with
//! the servers' URLs and CA substituted for the `${...}` templates, waits for the operator's
//! ConfigMap, materialises it the way the kubelet would mount it, starts `vmcp serve` on it with
//! the token of the ServiceAccount the operator created (dynamic mode: the gateway discovers the
//! entries and reads the CA through the API) and lists the aggregated tools through it.
//!
//! It stays up until Ctrl-C, or exits right after the tool list with `--check` or `CI=true`.
//!
//! Environment: `VMCP_BIN` (the built `vmcp`, required), `VMCP_TESTENV_BIN` (see
//! `crates/testenv`), `VMCP_DEMO_PORT` (the gateway's port; default 4483 when free). The peers
//! come from `scripts/test-peers.sh`, the processes, MCP client and TLS from
//! `vmcp-test-support`, as in the tests.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use vmcp_test_support::{
    Client, Everything, LoopbackTls, Process, apply_object, free_port, operator_command,
    serve_command, try_wait_listening,
};
use vmcp_testenv::TestEnv;

const NAMESPACE: &str = "default";
const VMCP: &str = "quickstart";
const WAIT: Duration = Duration::from_secs(90);

/// Spawns `cmd` with its output in `dir/<name>.log`, through the tests' launcher: it dies with
/// the demo even on SIGKILL (PDEATHSIG), and is killed and reaped when the demo ends.
fn spawn(name: &str, cmd: Command, dir: &Path) -> Result<Process> {
    Ok(Process::spawn_logged(
        name,
        cmd,
        &dir.join(format!("{name}.log")),
    )?)
}

struct Progress(Instant);

impl Progress {
    fn say(&self, msg: impl std::fmt::Display) {
        println!("demo [{:4.1}s]: {msg}", self.0.elapsed().as_secs_f64());
    }
}

async fn wait_listening(port: u16, what: &str, log: &Path) -> Result<()> {
    try_wait_listening(port, Duration::from_secs(30))
        .await
        .with_context(|| {
            format!(
                "{what}; its log ({}):\n{}",
                log.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
}

/// Starts server-everything over streamable HTTP on a loopback port, its log in
/// `dir/<name>.log`.
async fn server_everything(name: &str, dir: &Path) -> Result<Everything> {
    Everything::try_start(
        "streamableHttp",
        free_port(),
        Some(&dir.join(format!("{name}.log"))),
    )
    .await
    .with_context(|| format!("starting {name}"))
}

/// Replaces `${VAR}` in every string of `v` (after YAML parsing, so a multi-line PEM needs no
/// indentation care).
fn substitute(v: &mut Value, vars: &BTreeMap<&str, String>) -> Result<()> {
    match v {
        Value::String(s) => {
            for (k, val) in vars {
                *s = s.replace(&format!("${{{k}}}"), val);
            }
            if let Some(i) = s.find("${") {
                bail!("unknown template variable in {:?}", &s[i..]);
            }
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| substitute(x, vars))?,
        Value::Object(o) => o.values_mut().try_for_each(|x| substitute(x, vars))?,
        _ => {}
    }
    Ok(())
}

/// The quickstart manifests, templates filled in, in file order.
fn manifests(dir: &Path, vars: &BTreeMap<&str, String>) -> Result<Vec<Value>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut v: Value = serde::Deserialize::deserialize(doc)
                .with_context(|| format!("parsing {}", file.display()))?;
            if v.is_null() {
                continue;
            }
            substitute(&mut v, vars).with_context(|| format!("in {}", file.display()))?;
            out.push(v);
        }
    }
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let check = std::env::args().any(|a| a == "--check")
        || std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let p = Progress(Instant::now());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let vmcp =
        PathBuf::from(std::env::var_os("VMCP_BIN").ok_or_else(|| {
            anyhow!("set VMCP_BIN to the built vmcp binary (scripts/demo.sh does)")
        })?);
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = std::env::temp_dir().join(format!("vmcp-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = RemoveDir(dir.clone());

    p.say("starting kube-apiserver + etcd on 127.0.0.1");
    let env = TestEnv::shared()
        .await
        .context("starting the local API server")?;
    let client = env.client()?;
    let crds = env.install_crds().await.context("installing the CRDs")?;
    p.say(format!(
        "API server up ({:.1?} start-up), {} CRDs installed",
        env.startup_time(),
        crds.len()
    ));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(NAMESPACE).await?.is_none() {
        let ns = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?;
        let _ = namespaces.create(&PostParams::default(), &ns).await;
    }

    p.say("starting two MCP servers (server-everything), the second behind TLS");
    let plain = server_everything("everything", &dir).await?;
    let behind_tls = server_everything("everything-tls", &dir).await?;
    let plain_port = plain.port;
    let tls = LoopbackTls::new("vmcp demo CA")?;
    let tls_port = tls.forward_to(behind_tls.port).await?;
    let ca_pem = tls.ca_pem().to_owned();
    let vars = BTreeMap::from([
        (
            "EVERYTHING_URL",
            format!("http://127.0.0.1:{plain_port}/mcp"),
        ),
        (
            "EVERYTHING_TLS_URL",
            format!("https://127.0.0.1:{tls_port}/mcp"),
        ),
        ("EVERYTHING_TLS_CA", ca_pem),
    ]);
    p.say(format!(
        "MCP servers at {} and {}",
        vars["EVERYTHING_URL"], vars["EVERYTHING_TLS_URL"]
    ));

    p.say("starting vmcp operator");
    // Loopback entries allowed: the demo's MCP servers listen on 127.0.0.1.
    let operator = operator_command(&vmcp, env.kubeconfig_path(), NAMESPACE);
    let _operator = spawn("operator", operator, &dir)?;

    let quickstart = root.join("examples/quickstart");
    let objects = manifests(&quickstart, &vars)?;
    p.say(format!(
        "applying {} objects from examples/quickstart/",
        objects.len()
    ));
    for obj in &objects {
        // `kubectl apply --server-side` of whatever kind it is.
        apply_object(&client, Some(NAMESPACE), obj).await;
    }

    p.say(format!(
        "waiting for the operator's ConfigMap {VMCP}-vmcp-config"
    ));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    let deadline = Instant::now() + WAIT;
    let config = loop {
        let yaml = cms
            .get_opt(&format!("{VMCP}-vmcp-config"))
            .await
            .ok()
            .flatten()
            .and_then(|c| c.data?.get("config.yaml").cloned());
        if let Some(y) = yaml {
            break y;
        }
        if Instant::now() > deadline {
            bail!(
                "no rendered config after {WAIT:?}; operator log:\n{}",
                std::fs::read_to_string(dir.join("operator.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The kubelet's part: the ConfigMap as a file, and the ServiceAccount token the operator's
    // Role grants. In dynamic mode that is all: the gateway discovers the entries, and reads
    // the CA bundle, through the API.
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, &config)?;
    let gateway_kubeconfig = env
        .service_account_kubeconfig(NAMESPACE, &format!("{VMCP}-vmcp"))
        .await
        .context("a token for the gateway's ServiceAccount")?;
    p.say(format!("rendered config written to {}", cfg.display()));

    let port = match std::env::var("VMCP_DEMO_PORT") {
        Ok(p) => p.parse().context("VMCP_DEMO_PORT")?,
        Err(_) if TcpListener::bind("127.0.0.1:4483").is_ok() => 4483,
        Err(_) => free_port(),
    };
    p.say(format!("starting vmcp serve on 127.0.0.1:{port}"));
    let gateway = serve_command(&vmcp, &cfg, port, VMCP, NAMESPACE, &gateway_kubeconfig);
    let _gateway = spawn("gateway", gateway, &dir)?;
    wait_listening(port, "the gateway", &dir.join("gateway.log")).await?;

    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut mcp = Client::with_http(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        SocketAddr::from(([127, 0, 0, 1], port)),
    );
    let init = mcp.try_initialize(json!({})).await?["result"].clone();
    // Backend sessions open lazily; wait until both backends' tools are in the view.
    let deadline = Instant::now() + Duration::from_secs(30);
    let tools = loop {
        let names = mcp.try_tool_names().await?;
        let both = names.iter().any(|n| n.starts_with("everything_"))
            && names.iter().any(|n| n.starts_with("everything-tls_"));
        if both {
            break names;
        }
        if Instant::now() > deadline {
            bail!(
                "the gateway lists {names:?}, not both backends' tools; gateway log:\n{}",
                std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    p.say("ready");
    println!();
    println!(
        "gateway:    {url}  ({} {})",
        init["serverInfo"]["name"].as_str().unwrap_or("?"),
        init["serverInfo"]["version"].as_str().unwrap_or("")
    );
    println!("KUBECONFIG={}", env.kubeconfig_path().display());
    if !check {
        println!("logs:       {} (removed on exit)", dir.display());
    }
    println!("tools ({}):", tools.len());
    for t in &tools {
        println!("  {t}");
    }
    if check {
        p.say("check mode: done");
        return Ok(());
    }
    println!();
    println!(
        "dynamic mode: apply, change or delete an MCPServerEntry of group quickstart in namespace \
         {NAMESPACE} (with the KUBECONFIG above) and the gateway follows without a restart."
    );
    println!("press Ctrl-C to stop");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    p.say("stopping");
    Ok(())
}

/// Removes the demo's scratch directory when it ends.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
