//! End-to-end benchmark of the whole system as real processes on the real test kube-apiserver
//! (`crates/testenv`): `vmcp operator` and `vmcp serve` are the release binary, started as
//! child processes exactly as `tests/e2e_dynamic.rs` and `tests/e2e_static.rs` start them.
//!
//! ```text
//! vmcp-bench-e2e [latency|scale|all] [--vmcp PATH] [--rounds N] [--entries N]
//!     [--backends N] [--tools N]
//! ```
//!
//! * `latency`: how long from a server-side apply of a new MCPServerEntry until its `echo`
//!   tool answers a `tools/call` through the gateway. Dynamic mode: one running gateway that
//!   discovers from the API. Static mode (`outgoingAuth.source: inline`): until the operator's
//!   ConfigMap lists the entry, then how long a freshly started gateway on that config needs
//!   to answer (the rollout itself, done by a kubelet, is not measured). The backend is the
//!   real `server-everything`; the two modes alternate round by round so machine noise hits
//!   both alike.
//! * `scale`: N entries (default 500) spread over a few in-process Rust MCP backends
//!   (`bench/gateway/src/backend.rs`, URLs differ by query): how long until the operator has
//!   validated all and the dynamic gateway lists all their tools, and then the RSS of both
//!   processes; also a fresh dynamic gateway's start and a static gateway on the N-backend
//!   ConfigMap.
//!
//! Everything listens on 127.0.0.1; every wait is bounded in time, every loop in count.
#![forbid(unsafe_code)]

#[path = "../../gateway/src/backend.rs"]
mod backend;

use std::fmt::Debug;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use vmcp_api::entry::MCPServerEntryPhase;
use vmcp_api::{MCPGroup, MCPServerEntry, VirtualMCPServer};
use vmcp_test_support::{Client, Everything, Process, free_port, operator_command, serve_command};
use vmcp_testenv::TestEnv;

struct Opts {
    vmcp: PathBuf,
    rounds: usize,
    entries: usize,
    backends: usize,
    tools: usize,
}

const USAGE: &str = "usage: vmcp-bench-e2e [latency|scale|all] [--vmcp PATH] [--rounds N] \
[--entries N] [--backends N] [--tools N]
  latency   apply an MCPServerEntry -> its tool answers through the gateway, dynamic and static
  scale     N entries (default 500): settling time and RSS of the operator and the gateway
  all       both (default)
  --vmcp    the vmcp binary (default target/release/vmcp)";

fn parse_args() -> Result<(String, Opts)> {
    let mut what = "all".to_owned();
    let mut o = Opts {
        vmcp: vmcp_testenv::workspace_root().join("target/release/vmcp"),
        rounds: 15,
        entries: 500,
        backends: 5,
        tools: 10,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--vmcp" => o.vmcp = val()?.into(),
            "--rounds" => o.rounds = val()?.parse()?,
            "--entries" => o.entries = val()?.parse()?,
            "--backends" => o.backends = val()?.parse::<usize>()?.max(1),
            "--tools" => o.tools = val()?.parse()?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            w if !w.starts_with('-') => what = w.to_owned(),
            other => bail!("unknown flag {other}\n{USAGE}"),
        }
    }
    Ok((what, o))
}

/// Seconds since the bench started, for progress lines.
fn since_start() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

macro_rules! say {
    ($($t:tt)*) => { eprintln!("[{:7.1}s] {}", since_start(), format!($($t)*)) };
}

fn main() -> Result<()> {
    let (what, o) = parse_args()?;
    since_start();
    anyhow::ensure!(
        o.vmcp.exists(),
        "{} missing: cargo build --release -p vmcp",
        o.vmcp.display()
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let env = TestEnv::shared().await.context("test apiserver")?;
        env.install_crds().await.context("CRDs")?;
        say!("kube-apiserver ready ({:?} to start)", env.startup_time());
        let dir = std::env::temp_dir().join(format!("vmcp-bench-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if what == "all" || what == "latency" {
            latency(&o, &env, &dir).await?;
        }
        if what == "all" || what == "scale" {
            scale(&o, &env, &dir).await?;
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// Processes

/// `(VmRSS, VmHWM)` of a process in KiB, from /proc/<pid>/status.
fn rss_kib(p: &Process) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{}/status", p.id())).unwrap_or_default();
    let field = |f: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(f))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `vmcp operator` for namespace `ns`; loopback entries allowed, since every backend here
/// listens on 127.0.0.1.
fn start_operator(o: &Opts, kubeconfig: &Path, ns: &str, dir: &Path) -> Result<Process> {
    let mut command = operator_command(&o.vmcp, kubeconfig, ns);
    command
        .stdout(std::fs::File::create(
            dir.join(format!("operator-{ns}.log")),
        )?)
        .stderr(std::fs::File::create(
            dir.join(format!("operator-{ns}.err")),
        )?);
    Process::spawn("vmcp operator", command).context("spawning vmcp operator")
}

/// `vmcp serve` for VirtualMCPServer `name`, as the operator's Deployment would run it.
fn start_gateway(
    o: &Opts,
    cfg: &Path,
    port: u16,
    name: &str,
    ns: &str,
    kubeconfig: &Path,
) -> Result<Process> {
    let log = cfg.with_extension(format!("{port}.log"));
    let mut command = serve_command(&o.vmcp, cfg, port, name, ns, kubeconfig);
    command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?);
    Process::spawn("vmcp serve", command).context("spawning vmcp serve")
}

/// A real `server-everything` (node) on 127.0.0.1, from `scripts/test-peers.sh`.
async fn server_everything() -> Result<(Everything, u16)> {
    let e = Everything::try_start("streamableHttp", free_port(), None).await?;
    let port = e.port;
    Ok((e, port))
}

// ---------------------------------------------------------------------------------------
// Waiting, MCP client, API helpers

/// Calls `f` every `every` until it yields `Some`, for at most `limit`.
async fn poll<T, Fut: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Fut,
) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Opens an MCP session on the gateway at 127.0.0.1:`port` once it accepts one (it may still
/// be starting): HTTP/1.1 keep-alive, JSON replies.
async fn connect(port: u16, limit: Duration) -> Result<Client> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    poll(
        "an MCP session",
        limit,
        Duration::from_millis(10),
        || async {
            let mut c = Client::with_http(http.clone(), addr).accept("application/json");
            c.try_initialize(json!({})).await.ok()?;
            c.session.is_some().then_some(c)
        },
    )
    .await
}

/// Whether `tool` (server-everything's `echo`) answers with the echoed text.
async fn echo_ok(c: &Client, tool: &str) -> bool {
    c.clone().call_text(tool, json!({"message": "hi"})).await == "Echo: hi"
}

/// The names of the tools the gateway lists (empty on any error).
async fn tools(c: &Client) -> Vec<String> {
    try_tools(c).await.unwrap_or_default()
}

/// The names of the tools the gateway lists, or why it listed none.
async fn try_tools(c: &Client) -> Result<Vec<String>, String> {
    c.clone()
        .try_tool_names()
        .await
        .map_err(|e| e.to_string().chars().take(80).collect())
}

/// Server-side apply, as a user (`kubectl apply --server-side`) would.
async fn apply<K>(api: &Api<K>, obj: serde_json::Value) -> Result<()>
where
    K: Clone + DeserializeOwned + Debug,
{
    let name = obj["metadata"]["name"].as_str().context("name")?.to_owned();
    api.patch(
        &name,
        &PatchParams::apply("bench").force(),
        &Patch::Apply(&obj),
    )
    .await
    .with_context(|| format!("apply {name}"))?;
    Ok(())
}

fn group(name: &str) -> serde_json::Value {
    json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPGroup",
           "metadata": {"name": name}, "spec": {}})
}

/// A VirtualMCPServer; `inline` selects static mode, otherwise dynamic (the default).
fn vmcp(name: &str, group: &str, inline: bool) -> serde_json::Value {
    let mut v = json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
        "metadata": {"name": name},
        "spec": {"groupRef": {"name": group}, "incomingAuth": {"type": "anonymous"}}});
    if inline {
        v["spec"]["outgoingAuth"] = json!({"source": "inline"});
    }
    v
}

fn entry(name: &str, group: &str, url: &str) -> serde_json::Value {
    json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPServerEntry",
        "metadata": {"name": name},
        "spec": {"remoteUrl": url, "transport": "streamable-http",
                 "groupRef": {"name": group}, "allowPrivateEndpoint": true}})
}

/// The backend names of the operator's rendered config `<vmcp>-vmcp-config`, with its YAML.
async fn rendered(cms: &Api<ConfigMap>, vmcp: &str) -> Option<(Vec<String>, String)> {
    let yaml = cms
        .get_opt(&format!("{vmcp}-vmcp-config"))
        .await
        .ok()??
        .data?
        .remove("config.yaml")?;
    let cfg = vmcp_config::Config::from_yaml_str(&yaml).ok()?;
    Some((cfg.backends.into_iter().map(|b| b.name).collect(), yaml))
}

/// Waits for the rendered config of `vmcp` to satisfy `want`; writes it to `dir/<vmcp>.yaml`
/// (the kubelet's part) and returns the path.
async fn materialise(
    cms: &Api<ConfigMap>,
    vmcp: &str,
    dir: &Path,
    want: impl Fn(&[String]) -> bool,
) -> Result<PathBuf> {
    let (_, yaml) = poll(
        &format!("{vmcp}-vmcp-config"),
        Duration::from_secs(120),
        Duration::from_millis(10),
        || async { rendered(cms, vmcp).await.filter(|(names, _)| want(names)) },
    )
    .await?;
    let path = dir.join(format!("{vmcp}.yaml"));
    std::fs::write(&path, yaml)?;
    Ok(path)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `p50 / max` in ms of the samples (nearest-rank median).
fn p50_max(v: &[Duration]) -> String {
    let mut s: Vec<f64> = v.iter().map(|d| ms(*d)).collect();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => "n/a".into(),
        n => format!("{:.0} / {:.0}", s[(n - 1) / 2], s[n - 1]),
    }
}

// ---------------------------------------------------------------------------------------
// A) apply → callable

async fn latency(o: &Opts, env: &TestEnv, dir: &Path) -> Result<()> {
    let ns = env.namespace("bench-e2e-lat").await?;
    let client = env.client()?;
    let (_everything, se_port) = server_everything().await?;
    // The same server for every entry; the query only makes each URL distinct.
    let url = |name: &str| format!("http://127.0.0.1:{se_port}/mcp?entry={name}");
    let _operator = start_operator(o, env.kubeconfig_path(), &ns, dir)?;
    let groups: Api<MCPGroup> = Api::namespaced(client.clone(), &ns);
    let entries: Api<MCPServerEntry> = Api::namespaced(client.clone(), &ns);
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    // Two groups, one per mode, each with a base entry so that neither is ever empty.
    for (g, base, gw, inline) in [
        ("dyn", "dbase", "gwd", false),
        ("sta", "sbase", "gws", true),
    ] {
        apply(&groups, group(g)).await?;
        apply(&entries, entry(base, g, &url(base))).await?;
        apply(&vmcps, vmcp(gw, g, inline)).await?;
    }
    let dyn_cfg = materialise(&cms, "gwd", dir, |_| true).await?;
    materialise(&cms, "gws", dir, |n| n.iter().any(|b| b == "sbase")).await?;
    let dyn_kc = env.service_account_kubeconfig(&ns, "gwd-vmcp").await?;
    let sta_kc = env.service_account_kubeconfig(&ns, "gws-vmcp").await?;
    let port = free_port();
    let _dyn_gw = start_gateway(o, &dyn_cfg, port, "gwd", &ns, &dyn_kc)?;
    let dgw = connect(port, Duration::from_secs(60)).await?;
    poll(
        "dbase_echo",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || async { echo_ok(&dgw, "dbase_echo").await.then_some(()) },
    )
    .await?;
    say!(
        "latency: operator and dynamic gateway up in {ns}; {} rounds",
        o.rounds
    );

    let limit = Duration::from_secs(60);
    let every = Duration::from_millis(10);
    let (mut dynamic, mut cfg_ready, mut fresh_gw, mut static_total) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..o.rounds {
        // Dynamic: apply, then call through the running gateway until it answers.
        let name = format!("d{i}");
        let tool = format!("{name}_echo");
        let t = Instant::now();
        apply(&entries, entry(&name, "dyn", &url(&name))).await?;
        poll(&tool, limit, every, || async {
            echo_ok(&dgw, &tool).await.then_some(())
        })
        .await?;
        let d = t.elapsed();
        dynamic.push(d);
        entries.delete(&name, &DeleteParams::default()).await?;
        poll("removal", limit, Duration::from_millis(50), || async {
            (!tools(&dgw).await.contains(&tool)).then_some(())
        })
        .await?;

        // Static: apply, wait for the ConfigMap, then a fresh gateway on it until it answers.
        let name = format!("s{i}");
        let tool = format!("{name}_echo");
        let t = Instant::now();
        apply(&entries, entry(&name, "sta", &url(&name))).await?;
        let cfg = materialise(&cms, "gws", dir, |n| n.contains(&name)).await?;
        let c = t.elapsed();
        let t2 = Instant::now();
        let sport = free_port();
        let gw = start_gateway(o, &cfg, sport, "gws", &ns, &sta_kc)?;
        let sgw = connect(sport, limit).await?;
        poll(&tool, limit, every, || async {
            echo_ok(&sgw, &tool).await.then_some(())
        })
        .await?;
        let g = t2.elapsed();
        drop(gw);
        cfg_ready.push(c);
        fresh_gw.push(g);
        static_total.push(c + g);
        entries.delete(&name, &DeleteParams::default()).await?;
        materialise(&cms, "gws", dir, |n| !n.contains(&name)).await?;
        say!(
            "round {:2}: dynamic {:6.0} ms | static: ConfigMap {:6.0} ms + fresh gateway {:6.0} ms",
            i + 1,
            ms(d),
            ms(c),
            ms(g)
        );
    }
    println!(
        "\n| path ({} rounds, ms) | p50 / max |\n|---|---|",
        o.rounds
    );
    println!(
        "| dynamic: apply → `tools/call` answered by the running gateway | {} |",
        p50_max(&dynamic)
    );
    println!(
        "| static: apply → ConfigMap lists the entry | {} |",
        p50_max(&cfg_ready)
    );
    println!(
        "| static: fresh `vmcp serve` on that config → `tools/call` answered | {} |",
        p50_max(&fresh_gw)
    );
    println!(
        "| static: sum of both (rollout by the kubelet not included) | {} |",
        p50_max(&static_total)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// B) many entries: settling time and memory

async fn scale(o: &Opts, env: &TestEnv, dir: &Path) -> Result<()> {
    let n = o.entries;
    let want_tools = n * o.tools;
    let ns = env.namespace("bench-e2e-scale").await?;
    let client = env.client()?;
    let mut addrs = Vec::new();
    for k in 0..o.backends {
        addrs.push(backend::start(format!("b{k}"), o.tools).await?);
    }
    let operator = start_operator(o, env.kubeconfig_path(), &ns, dir)?;
    let groups: Api<MCPGroup> = Api::namespaced(client.clone(), &ns);
    let entries: Api<MCPServerEntry> = Api::namespaced(client.clone(), &ns);
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    apply(&groups, group("big")).await?;
    apply(&vmcps, vmcp("gwd", "big", false)).await?;
    let cfg = materialise(&cms, "gwd", dir, |_| true).await?;
    let kc = env.service_account_kubeconfig(&ns, "gwd-vmcp").await?;
    let port = free_port();
    let gateway = start_gateway(o, &cfg, port, "gwd", &ns, &kc)?;
    let gw = connect(port, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (op0, _) = rss_kib(&operator);
    let (gw0, _) = rss_kib(&gateway);
    say!(
        "scale: empty group; operator {op0} KiB, gateway {gw0} KiB; applying {n} entries over {} backends",
        o.backends
    );

    // Apply all entries, 16 at a time, then wait for both processes to catch up.
    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let (entries, addr) = (entries.clone(), addrs[i % addrs.len()]);
            async move {
                let name = format!("e{i:04}");
                apply(
                    &entries,
                    entry(&name, "big", &format!("http://{addr}/mcp?entry={name}")),
                )
                .await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let applied = t.elapsed();
    say!("applied {n} entries in {:.1} s", applied.as_secs_f64());
    let (mut valid_at, mut tools_at, mut first_tools_at) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut last_say = Instant::now();
    while valid_at.is_none() || tools_at.is_none() {
        if valid_at.is_none() {
            let list = entries.list(&Default::default()).await?;
            let valid = list
                .items
                .iter()
                .filter(|e| {
                    e.status.as_ref().is_some_and(|s| {
                        s.phase == MCPServerEntryPhase::Valid
                            && s.observed_generation == e.metadata.generation
                    })
                })
                .count();
            if valid == n {
                valid_at = Some(t.elapsed());
            }
            if last_say.elapsed() > Duration::from_secs(5) {
                say!("  {valid}/{n} entries Valid");
            }
        }
        if tools_at.is_none() {
            let listed = try_tools(&gw).await.map(|t| t.len());
            // `Ok(0)` and `Err(..)` differ: with `partialFailureMode: fail` the gateway refuses
            // to list while any backend has not been fetched yet.
            if listed == Ok(want_tools) {
                tools_at = Some(t.elapsed());
            }
            if listed.as_ref().is_ok_and(|l| *l > 0) && first_tools_at.is_none() {
                first_tools_at = Some(t.elapsed());
            }
            if last_say.elapsed() > Duration::from_secs(5) {
                let tools = listed.map_or_else(|e| format!("(error: {e})"), |l| l.to_string());
                say!("  gateway lists {tools}/{want_tools} tools");
                last_say = Instant::now();
            }
        }
        if Instant::now() > deadline {
            bail!("not settled after 900 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (valid_at, tools_at) = (valid_at.unwrap_or_default(), tools_at.unwrap_or_default());
    say!(
        "settled: all Valid after {:.1} s, all tools after {:.1} s",
        valid_at.as_secs_f64(),
        tools_at.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (op_rss, op_hwm) = rss_kib(&operator);
    let (gw_rss, gw_hwm) = rss_kib(&gateway);

    // A fresh dynamic gateway on the settled group: start-up cost and memory.
    drop(gateway);
    let t = Instant::now();
    let port = free_port();
    let fresh = start_gateway(o, &cfg, port, "gwd", &ns, &kc)?;
    let fgw = connect(port, Duration::from_secs(60)).await?;
    poll(
        "fresh dynamic gateway",
        Duration::from_secs(300),
        Duration::from_millis(100),
        || async { (tools(&fgw).await.len() == want_tools).then_some(()) },
    )
    .await?;
    let fresh_at = t.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (fr_rss, fr_hwm) = rss_kib(&fresh);
    drop(fresh);
    say!(
        "fresh dynamic gateway listed all tools after {:.1} s",
        fresh_at.as_secs_f64()
    );

    // Static mode on the same group: the operator renders every backend into the ConfigMap.
    let t = Instant::now();
    apply(&vmcps, vmcp("gws", "big", true)).await?;
    let scfg = materialise(&cms, "gws", dir, |b| b.len() == n).await?;
    let cm_at = t.elapsed();
    let cm_bytes = std::fs::metadata(&scfg)?.len();
    let t = Instant::now();
    let port = free_port();
    let skc = env.service_account_kubeconfig(&ns, "gws-vmcp").await?;
    let stat = start_gateway(o, &scfg, port, "gws", &ns, &skc)?;
    let sgw = connect(port, Duration::from_secs(60)).await?;
    poll(
        "static gateway",
        Duration::from_secs(300),
        Duration::from_millis(100),
        || async { (tools(&sgw).await.len() == want_tools).then_some(()) },
    )
    .await?;
    let st_at = t.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (st_rss, st_hwm) = rss_kib(&stat);
    let (op2_rss, op2_hwm) = rss_kib(&operator);
    say!(
        "static gateway listed all tools after {:.1} s",
        st_at.as_secs_f64()
    );

    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    let s = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    println!(
        "\n| {n} entries, {} backends × {} tools | value |\n|---|---|",
        o.backends, o.tools
    );
    println!(
        "| applying them (16 concurrent server-side applies) | {} |",
        s(applied)
    );
    println!(
        "| apply start → operator has validated all (phase Valid, current generation) | {} |",
        s(valid_at)
    );
    println!(
        "| apply start → running dynamic gateway lists its first tools | {} |",
        s(first_tools_at.unwrap_or_default())
    );
    println!(
        "| apply start → running dynamic gateway lists all {want_tools} tools | {} |",
        s(tools_at)
    );
    println!(
        "| operator RSS: empty group → settled (peak) | {} → {} ({}) |",
        mib(op0),
        mib(op_rss),
        mib(op_hwm)
    );
    println!(
        "| dynamic gateway RSS: empty group → settled (peak) | {} → {} ({}) |",
        mib(gw0),
        mib(gw_rss),
        mib(gw_hwm)
    );
    println!(
        "| fresh dynamic gateway: start → all tools listed; RSS (peak) | {}; {} ({}) |",
        s(fresh_at),
        mib(fr_rss),
        mib(fr_hwm)
    );
    println!(
        "| static VirtualMCPServer applied → ConfigMap with {n} backends ({cm_bytes} bytes) | {} |",
        s(cm_at)
    );
    println!(
        "| static gateway on that ConfigMap: start → all tools listed; RSS (peak) | {}; {} ({}) |",
        s(st_at),
        mib(st_rss),
        mib(st_hwm)
    );
    println!(
        "| operator RSS with both VirtualMCPServers (peak) | {} ({}) |",
        mib(op2_rss),
        mib(op2_hwm)
    );
    Ok(())
}
