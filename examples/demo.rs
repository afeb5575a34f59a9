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
//! Environment: `VMCP_BIN` (the built `vmcp`, required), `NODE` and `SERVER_EVERYTHING` (from
//! `scripts/test-peers.sh`; the script is run when they are missing), `VMCP_TESTENV_BIN`
//! (see `crates/testenv`), `VMCP_DEMO_PORT` (the gateway's port; default 4483 when free).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use vmcp_testenv::TestEnv;

#[path = "../tests/common/tls.rs"]
mod tls;

const NAMESPACE: &str = "default";
const VMCP: &str = "quickstart";
const WAIT: Duration = Duration::from_secs(90);

/// A child process killed (and reaped) when the demo ends, however it ends.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` with its output in `dir/<name>.log`, dying with the demo even on SIGKILL
/// (PDEATHSIG; the runtime is single-threaded, so the spawning thread is the main thread).
#[allow(unsafe_code)] // pre_exec hook: see SAFETY below
fn spawn(name: &str, cmd: &mut Command, dir: &Path) -> Result<Kill> {
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
    Ok(Kill(child))
}

struct Progress(Instant);

impl Progress {
    fn say(&self, msg: impl std::fmt::Display) {
        println!("demo [{:4.1}s]: {msg}", self.0.elapsed().as_secs_f64());
    }
}

fn free_port() -> Result<u16> {
    let [port] = vmcp_testenv::free_ports()?;
    Ok(port)
}

async fn wait_listening(port: u16, what: &str, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "{what} is not listening on 127.0.0.1:{port} after 30s; its log ({}):\n{}",
        log.display(),
        std::fs::read_to_string(log).unwrap_or_default()
    )
}

/// Where `scripts/test-peers.sh` installed node and server-everything.
fn peers(root: &Path) -> Result<(PathBuf, PathBuf)> {
    if let (Ok(node), Ok(se)) = (std::env::var("NODE"), std::env::var("SERVER_EVERYTHING")) {
        return Ok((node.into(), se.into()));
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/test-peers.sh"))
        .stderr(Stdio::inherit())
        .output()
        .context("running scripts/test-peers.sh")?;
    if !out.status.success() {
        bail!("scripts/test-peers.sh failed");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let var = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("scripts/test-peers.sh printed no {key}="))
    };
    Ok((var("NODE")?, var("SERVER_EVERYTHING")?))
}

/// Starts server-everything over streamable HTTP on a loopback port.
async fn server_everything(
    root: &Path,
    name: &str,
    node: &Path,
    entry: &Path,
    dir: &Path,
) -> Result<(Kill, u16)> {
    // server-everything listens on every interface; the demo keeps it on 127.0.0.1.
    let preload = root.join("scripts/bind-loopback.cjs");
    let port = free_port()?;
    let child = spawn(
        name,
        Command::new(node)
            .arg("--require")
            .arg(&preload)
            .arg(entry)
            .arg("streamableHttp")
            .env("PORT", port.to_string()),
        dir,
    )?;
    wait_listening(port, name, &dir.join(format!("{name}.log"))).await?;
    Ok((child, port))
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

/// `kubectl apply` for one object: server-side apply of whatever kind it is.
async fn apply(client: &kube::Client, obj: &Value) -> Result<()> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("looking up {api_version} {kind}"))?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &ar);
    api.patch(
        name,
        &PatchParams::apply("vmcp-demo").force(),
        &Patch::Apply(obj),
    )
    .await
    .with_context(|| format!("applying {kind} {name}"))?;
    Ok(())
}

/// A small MCP client over the gateway's streamable HTTP endpoint.
struct Mcp {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
    next: u64,
}

impl Mcp {
    async fn send(&mut self, method: &str, params: Option<Value>) -> Result<Value> {
        let notification = method.starts_with("notifications/");
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if let Some(p) = params {
            msg["params"] = p;
        }
        if !notification {
            self.next += 1;
            msg["id"] = self.next.into();
        }
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(msg.to_string());
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} to {}", self.url))?;
        if let Some(s) = resp.headers().get("mcp-session-id") {
            self.session = Some(s.to_str()?.to_owned());
        }
        let status = resp.status();
        let sse = resp
            .headers()
            .get("content-type")
            .is_some_and(|c| c.as_bytes().starts_with(b"text/event-stream"));
        let body = resp.text().await?;
        if !status.is_success() {
            bail!("{method}: HTTP {status}: {body}");
        }
        if notification {
            return Ok(Value::Null);
        }
        let json = if sse {
            body.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v.get("id").is_some())
                .ok_or_else(|| anyhow!("{method}: no response in the event stream: {body}"))?
        } else {
            serde_json::from_str(&body).with_context(|| format!("{method}: reply {body}"))?
        };
        if let Some(e) = json.get("error") {
            bail!("{method}: {e}");
        }
        Ok(json["result"].clone())
    }
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
    let (node, entry) = peers(&root)?;
    let (_plain, plain_port) = server_everything(&root, "everything", &node, &entry, &dir).await?;
    let (_behind_tls, tls_target) =
        server_everything(&root, "everything-tls", &node, &entry, &dir).await?;
    let (ca_pem, tls_server) = tls::pki("vmcp demo CA")?;
    let tls_port = tls::tls_forwarder(tls_server, tls_target).await?;
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
    let _operator = spawn(
        "operator",
        Command::new(&vmcp)
            .args([
                "operator",
                "--no-leader-election",
                "--watch-namespace",
                NAMESPACE,
            ])
            .args(["--health-addr", &format!("127.0.0.1:{}", free_port()?)])
            .env("KUBECONFIG", env.kubeconfig_path())
            // The demo's MCP servers listen on 127.0.0.1.
            .env("VMCP_ALLOW_LOOPBACK_ENDPOINTS", "true"),
        &dir,
    )?;

    let quickstart = root.join("examples/quickstart");
    let objects = manifests(&quickstart, &vars)?;
    p.say(format!(
        "applying {} objects from examples/quickstart/",
        objects.len()
    ));
    for obj in &objects {
        apply(&client, obj).await?;
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
        Err(_) => free_port()?,
    };
    p.say(format!("starting vmcp serve on 127.0.0.1:{port}"));
    let _gateway = spawn(
        "gateway",
        Command::new(&vmcp)
            .args(["serve", "--config"])
            .arg(&cfg)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env("VMCP_NAME", VMCP)
            .env("VMCP_NAMESPACE", NAMESPACE)
            .env("KUBECONFIG", &gateway_kubeconfig),
        &dir,
    )?;
    wait_listening(port, "the gateway", &dir.join("gateway.log")).await?;

    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut mcp = Mcp {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        url: url.clone(),
        session: None,
        next: 0,
    };
    let init = mcp
        .send(
            "initialize",
            Some(json!({"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "vmcp-demo", "version": "0"}})),
        )
        .await?;
    mcp.send("notifications/initialized", None).await?;
    // Backend sessions open lazily; wait until both backends' tools are in the view.
    let deadline = Instant::now() + Duration::from_secs(30);
    let tools = loop {
        let list = mcp.send("tools/list", None).await?;
        let names: Vec<String> = list["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
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
