//! Gateway benchmarks. Runs the real release binary (`target/release/vmcp serve`) as a separate
//! process against fast in-process Rust MCP backends, all on 127.0.0.1, and prints Markdown
//! tables. Every loop is bounded in count and in time.
//!
//! ```text
//! vmcp-bench-gateway [latency|throughput|list|sessions|clients|authz|oidc|credentials|eras|telemetry|all]
//!     [--vmcp PATH] [--n N] [--concurrency C] [--seconds S] [--rounds R] [--backends B]
//!     [--tools T] [--sessions S] [--clients K]
//! ```
//!
//! `authz`, `oidc`, `credentials`, `eras` and `telemetry` are not part of `all`: they run
//! scenarios against gateways with and without Cedar policies (`authz.rs`), client
//! authentication (`oidc.rs`), credentials to backends (`credentials.rs`) or traces and audit
//! (`telemetry.rs`), or clients of both MCP eras (`eras.rs`), side by side in interleaved
//! rounds (`--rounds`, `compare.rs`).

mod authz;
mod backend;
mod compare;
mod credentials;
mod eras;
mod oidc;
mod telemetry;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vmcp_test_support::{Client, PROTOCOL_VERSION, Process, free_port};

struct Opts {
    vmcp: String,
    n: usize,
    concurrency: usize,
    seconds: f64,
    /// Interleaved rounds of the side-by-side scenarios; the median round is reported.
    rounds: usize,
    backends: usize,
    tools: usize,
    sessions: usize,
    clients: usize,
}

fn parse_args() -> anyhow::Result<(String, Opts)> {
    let mut what = "all".to_owned();
    let mut o = Opts {
        vmcp: "target/release/vmcp".into(),
        n: 10_000,
        concurrency: 32,
        seconds: 5.0,
        rounds: 3,
        backends: 50,
        tools: 10,
        sessions: 10_000,
        clients: 500,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--vmcp" => o.vmcp = val()?,
            "--n" => o.n = val()?.parse()?,
            "--concurrency" => o.concurrency = val()?.parse()?,
            "--seconds" => o.seconds = val()?.parse()?,
            "--rounds" => o.rounds = val()?.parse::<usize>()?.max(1),
            "--backends" => o.backends = val()?.parse()?,
            "--tools" => o.tools = val()?.parse()?,
            "--sessions" => o.sessions = val()?.parse()?,
            "--clients" => o.clients = val()?.parse()?,
            w if !w.starts_with('-') => what = w.to_owned(),
            other => bail!("unknown flag {other}"),
        }
    }
    Ok((what, o))
}

fn main() -> anyhow::Result<()> {
    let (what, o) = parse_args()?;
    raise_nofile();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let all = what == "all";
        if all || what == "latency" {
            latency(&o).await?;
        }
        if all || what == "throughput" {
            throughput(&o).await?;
        }
        if all || what == "list" {
            list(&o).await?;
        }
        if all || what == "sessions" {
            sessions(&o).await?;
        }
        if all || what == "clients" {
            clients(&o).await?;
        }
        if what == "authz" {
            authz::run(&o).await?;
        }
        if what == "oidc" {
            oidc::run(&o).await?;
        }
        if what == "credentials" {
            credentials::run(&o).await?;
        }
        if what == "eras" {
            eras::run(&o).await?;
        }
        if what == "telemetry" {
            telemetry::run(&o).await?;
        }
        Ok(())
    })
}

#[allow(unsafe_code)] // getrlimit/setrlimit: see SAFETY below
fn raise_nofile() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

// === the gateway process ===

struct Gateway {
    process: Process,
    addr: SocketAddr,
    _dir: std::path::PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.process.kill();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// Client authentication of the plain gateway: none.
const ANONYMOUS: &str = "incomingAuth: {type: anonymous}\n";

/// Credentials to backends of the plain gateway: none.
const UNAUTHENTICATED: &str = "outgoingAuth: {source: inline, default: {type: unauthenticated}}\n";

impl Gateway {
    async fn start(o: &Opts, backends: &[(String, SocketAddr)]) -> anyhow::Result<Gateway> {
        Self::start_with(o, backends, ANONYMOUS).await
    }

    /// A gateway whose config has `incoming` (YAML, the whole `incomingAuth` key) as its
    /// client authentication and authorization.
    async fn start_with(
        o: &Opts,
        backends: &[(String, SocketAddr)],
        incoming: &str,
    ) -> anyhow::Result<Gateway> {
        Self::start_configured(o, backends, incoming, UNAUTHENTICATED).await
    }

    /// [`Gateway::start_with`] with `outgoing` (YAML, the whole `outgoingAuth` key) as the
    /// credentials to backends.
    async fn start_configured(
        o: &Opts,
        backends: &[(String, SocketAddr)],
        incoming: &str,
        outgoing: &str,
    ) -> anyhow::Result<Gateway> {
        Self::spawn(o, backends, &format!("{incoming}{outgoing}"), &[]).await
    }

    /// A gateway as [`Gateway::start`] makes it whose config also has `sections` (YAML, whole
    /// top-level keys such as `telemetry` or `audit`), started with the extra `flags`.
    async fn start_sections(
        o: &Opts,
        backends: &[(String, SocketAddr)],
        sections: &str,
        flags: &[&str],
    ) -> anyhow::Result<Gateway> {
        let config = format!("{ANONYMOUS}{UNAUTHENTICATED}{sections}");
        Self::spawn(o, backends, &config, flags).await
    }

    /// Starts `vmcp serve` with `flags` on a config of `sections` (YAML, whole top-level keys)
    /// and `backends`, and waits (bounded) until it is ready.
    async fn spawn(
        o: &Opts,
        backends: &[(String, SocketAddr)],
        sections: &str,
        flags: &[&str],
    ) -> anyhow::Result<Gateway> {
        let mut yaml = format!("name: bench\ngroupRef: g\n{sections}backends:\n");
        for (name, addr) in backends {
            yaml.push_str(&format!(
                "- {{name: {name}, url: \"http://{addr}/mcp\", transport: streamable-http}}\n"
            ));
        }
        let dir =
            std::env::temp_dir().join(format!("vmcp-bench-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir)?;
        let cfg = dir.join("config.yaml");
        std::fs::write(&cfg, yaml)?;
        let port = free_port();
        let log = std::fs::File::create(dir.join("gateway.log"))?;
        let mut command = Command::new(&o.vmcp);
        command
            .args([
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--config",
            ])
            .arg(&cfg)
            .args(flags)
            .stdout(Stdio::null())
            .stderr(log);
        let process = Process::spawn("vmcp serve", command)
            .with_context(|| format!("spawn {} (run `cargo build --release` first)", o.vmcp))?;
        let gw = Gateway {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("http://{}/readyz", gw.addr)).send().await
                && r.status() == 200
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("gateway not ready after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(gw)
    }

    fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The gateway's `/status` JSON.
    async fn status(&self) -> anyhow::Result<serde_json::Value> {
        let body = reqwest::get(format!("http://{}/status", self.addr))
            .await?
            .bytes()
            .await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// The gateway's `/metrics` text.
    async fn metrics(&self) -> anyhow::Result<String> {
        Ok(reqwest::get(format!("http://{}/metrics", self.addr))
            .await?
            .text()
            .await?)
    }

    /// Waits (bounded) until the aggregated view lists `want` tools.
    /// Returns the gateway's name for the backend tool `b0_t0` (it may add a prefix).
    async fn wait_tools(&self, want: usize) -> anyhow::Result<String> {
        let mut c = mcp(self.addr, 1);
        c.try_initialize(serde_json::json!({})).await?;
        for _ in 0..300 {
            let body = call(&c, &list_body(1)).await?;
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            let tools = v["result"]["tools"].as_array().cloned().unwrap_or_default();
            if tools.len() >= want {
                let name = tools
                    .iter()
                    .filter_map(|t| t["name"].as_str())
                    .find(|n| n.ends_with("b0_t0"))
                    .unwrap_or("b0_t0");
                return Ok(name.to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("gateway never listed {want} tools")
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// utime + stime of a process, in seconds.
#[allow(unsafe_code)] // sysconf: see SAFETY below
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// === the MCP client (vmcp-test-support) on keep-alive connections ===

/// A connection pool keeping `pool` idle connections per host, without Nagle's delay.
fn pool(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .build()
        .expect("reqwest client")
}

/// The Bearer token every bench client sends, when a scenario sets it (`oidc`: gateways
/// without client authentication ignore it, so compared requests are the same bytes).
static BEARER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A client of `addr` on an existing pool, without a session yet; it sends
/// `MCP-Protocol-Version` as real clients do (and [`BEARER`] when set).
fn mcp_on(http: &reqwest::Client, addr: SocketAddr) -> Client {
    let c = Client::with_http(http.clone(), addr).protocol_header(PROTOCOL_VERSION);
    match BEARER.get() {
        Some(t) => c.bearer(t),
        None => c,
    }
}

/// [`mcp_on`] a pool of its own.
fn mcp(addr: SocketAddr, pool_size: usize) -> Client {
    mcp_on(&pool(pool_size), addr)
}

/// POSTs `body` as it is; the reply's body, which must come with status 200.
async fn call(c: &Client, body: &str) -> anyhow::Result<bytes::Bytes> {
    let r = c.send(body).await?;
    if r.status != 200 {
        bail!("HTTP {}", r.status);
    }
    Ok(r.body)
}

fn call_body(id: u64, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"hello"}}}}}}"#
    )
}

fn list_body(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list","params":{{}}}}"#)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

// === scenarios ===

/// Sequential tools/call on one keep-alive connection, direct and through the gateway,
/// interleaved in blocks so that machine noise hits both alike.
async fn latency(o: &Opts) -> anyhow::Result<()> {
    let be = backend::start("b0_".into(), 2).await?;
    let gw = Gateway::start(o, &[("b0".into(), be)]).await?;
    let gname = gw.wait_tools(2).await?;
    let mut direct = mcp(be, 1);
    direct.try_initialize(serde_json::json!({})).await?;
    let mut via = mcp(gw.addr, 1);
    via.try_initialize(serde_json::json!({})).await?;
    let (mut d, mut g) = (Vec::with_capacity(o.n), Vec::with_capacity(o.n));
    let body = call_body(7, "b0_t0");
    let gbody = call_body(7, &gname);
    for _ in 0..1000.min(o.n) {
        call(&direct, &body).await?;
        call(&via, &gbody).await?;
    }
    let block = 250;
    let deadline = Instant::now() + Duration::from_secs(120);
    while d.len() < o.n && Instant::now() < deadline {
        for (c, out, body) in [(&direct, &mut d, &body), (&via, &mut g, &gbody)] {
            for _ in 0..block {
                let t = Instant::now();
                let r = call(c, body).await?;
                out.push(t.elapsed());
                if !r.starts_with(br#"{"jsonrpc":"2.0","id":7,"result""#) {
                    bail!("unexpected reply {}", String::from_utf8_lossy(&r));
                }
            }
        }
    }
    d.sort();
    g.sort();
    println!(
        "\n### Added latency per tools/call ({} sequential calls each, keep-alive)\n",
        d.len()
    );
    println!("| path | p50 ms | p90 ms | p99 ms | mean ms |");
    println!("|---|---|---|---|---|");
    let mean =
        |v: &[Duration]| v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len() as f64 * 1e3;
    for (name, v) in [("client → backend", &d), ("client → gateway → backend", &g)] {
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |",
            pct(v, 50.0),
            pct(v, 90.0),
            pct(v, 99.0),
            mean(v)
        );
    }
    println!(
        "| **added by the gateway** | **{:.3}** | **{:.3}** | **{:.3}** | **{:.3}** |",
        pct(&g, 50.0) - pct(&d, 50.0),
        pct(&g, 90.0) - pct(&d, 90.0),
        pct(&g, 99.0) - pct(&d, 99.0),
        mean(&g) - mean(&d)
    );
    println!(
        "\nratio gateway/direct: p50 {:.2}×, p99 {:.2}×",
        pct(&g, 50.0) / pct(&d, 50.0),
        pct(&g, 99.0) / pct(&d, 99.0)
    );
    Ok(())
}

/// Concurrent clients for a bounded time; the gateway's CPU time gives calls per core-second.
async fn throughput(o: &Opts) -> anyhow::Result<()> {
    let be = backend::start("b0_".into(), 2).await?;
    let gw = Gateway::start(o, &[("b0".into(), be)]).await?;
    let gname = gw.wait_tools(2).await?;
    let gpid = gw.pid().to_string();
    println!(
        "\n### Throughput: {} concurrent clients, {} s per run, tools/call\n",
        o.concurrency, o.seconds
    );
    println!(
        "| path | calls | req/s | gateway CPU s | calls per gateway CPU-second | bench CPU s (client + backend) |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, addr, tool) in [
        ("client → backend", be, "b0_t0".to_owned()),
        ("client → gateway → backend", gw.addr, gname),
    ] {
        let r = calls(o, addr, &tool, &gpid).await?;
        let gcpu = r.gateway_cpu;
        let per_core = if name.contains("gateway") {
            format!("{:.0}", r.per_gateway_cpu_second())
        } else {
            "—".into()
        };
        println!(
            "| {name} | {} | {:.0} | {} | {per_core} | {:.2} |",
            r.total,
            r.per_second(),
            if name.contains("gateway") {
                format!("{gcpu:.2}")
            } else {
                format!("{gcpu:.2} (idle)")
            },
            r.bench_cpu
        );
    }
    Ok(())
}

/// One bounded run of concurrent tools/call.
struct CallRun {
    total: u64,
    wall: f64,
    /// CPU seconds the gateway process used during the run.
    gateway_cpu: f64,
    /// CPU seconds of this process (clients and in-process backend).
    bench_cpu: f64,
}

impl CallRun {
    fn per_second(&self) -> f64 {
        self.total as f64 / self.wall
    }

    fn per_gateway_cpu_second(&self) -> f64 {
        self.total as f64 / self.gateway_cpu
    }
}

/// `o.concurrency` clients calling `tool` at `addr` for `o.seconds`; `gpid` is the gateway's
/// pid (for its CPU time).
async fn calls(o: &Opts, addr: SocketAddr, tool: &str, gpid: &str) -> anyhow::Result<CallRun> {
    let mut c = mcp(addr, o.concurrency);
    c.try_initialize(serde_json::json!({})).await?;
    let (g0, b0) = (cpu_seconds(gpid), cpu_seconds("self"));
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(o.seconds);
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let c = c.clone();
        let body = call_body(1, tool);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline && n < 1_000_000 {
                call(&c, &body).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let wall = t0.elapsed().as_secs_f64();
    Ok(CallRun {
        total,
        wall,
        gateway_cpu: cpu_seconds(gpid) - g0,
        bench_cpu: cpu_seconds("self") - b0,
    })
}

/// tools/list over many backends, answered from the cached aggregated view.
/// `o.backends` backends named `b<i>` with `o.tools` tools each (`b<i>_t<j>`).
async fn many_backends(o: &Opts) -> anyhow::Result<Vec<(String, SocketAddr)>> {
    let mut bes = Vec::new();
    for i in 0..o.backends {
        bes.push((
            format!("b{i}"),
            backend::start(format!("b{i}_"), o.tools).await?,
        ));
    }
    Ok(bes)
}

async fn list(o: &Opts) -> anyhow::Result<()> {
    let bes = many_backends(o).await?;
    // A single backend serving a list of the same size: the HTTP + transfer floor.
    let floor = backend::start("all_".into(), o.backends * o.tools).await?;
    let gw = Gateway::start(o, &bes).await?;
    gw.wait_tools(o.backends * o.tools).await?;
    let mut via = mcp(gw.addr, 1);
    via.try_initialize(serde_json::json!({})).await?;
    let mut direct = mcp(floor, 1);
    direct.try_initialize(serde_json::json!({})).await?;
    let n = (o.n / 5).max(100);
    let (mut d, mut g) = (Vec::new(), Vec::new());
    let (mut dbytes, mut gbytes) = (0, 0);
    for _ in 0..200 {
        call(&direct, &list_body(3)).await?;
        call(&via, &list_body(3)).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while g.len() < n && Instant::now() < deadline {
        for (c, out, bytes) in [(&direct, &mut d, &mut dbytes), (&via, &mut g, &mut gbytes)] {
            for _ in 0..100 {
                let t = Instant::now();
                let r = call(c, &list_body(3)).await?;
                out.push(t.elapsed());
                *bytes = r.len();
            }
        }
    }
    d.sort();
    g.sort();
    println!(
        "\n### tools/list over {} backends × {} tools = {} tools ({} sequential calls each)\n",
        o.backends,
        o.tools,
        o.backends * o.tools,
        g.len()
    );
    println!("| path | reply bytes | p50 ms | p90 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for (name, v, b) in [
        ("one backend serving the same-size list (floor)", &d, dbytes),
        ("gateway, 50 backends, cached view", &g, gbytes),
    ] {
        println!(
            "| {name} | {b} | {:.3} | {:.3} | {:.3} |",
            pct(v, 50.0),
            pct(v, 90.0),
            pct(v, 99.0)
        );
    }
    println!(
        "\ngateway RSS with {} backends and {} cached tools: {} KiB",
        o.backends,
        o.backends * o.tools,
        rss_kib(gw.pid())
    );
    Ok(())
}

/// Idle RSS, then RSS after opening many client sessions (initialize + initialized).
async fn sessions(o: &Opts) -> anyhow::Result<()> {
    let be = backend::start("b0_".into(), 2).await?;
    let gw = Gateway::start(o, &[("b0".into(), be)]).await?;
    gw.wait_tools(2).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = gw.pid();
    let idle = rss_kib(pid);
    let warm = (o.sessions / 10).max(1);
    open_sessions(gw.addr, warm, o.concurrency.min(16)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_warm = rss_kib(pid);
    open_sessions(gw.addr, o.sessions - warm, o.concurrency.min(16)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let status = gw.status().await?;
    println!(
        "\n### Memory: idle gateway, then {} client sessions\n",
        o.sessions
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| idle RSS (1 backend, no client) | {:.1} MiB |",
        idle as f64 / 1024.0
    );
    println!(
        "| RSS after {warm} sessions | {:.1} MiB |",
        after_warm as f64 / 1024.0
    );
    println!(
        "| RSS after {} sessions | {:.1} MiB |",
        o.sessions,
        after as f64 / 1024.0
    );
    println!("| sessions reported by /status | {} |", status["sessions"]);
    println!(
        "| per session, (RSS after − idle) / {} | {:.2} KiB |",
        o.sessions,
        (after as f64 - idle as f64) / o.sessions as f64
    );
    println!(
        "| per session, marginal (last {}) | {:.2} KiB |",
        o.sessions - warm,
        (after as f64 - after_warm as f64) / (o.sessions - warm) as f64
    );
    Ok(())
}

async fn open_sessions(addr: SocketAddr, n: usize, conc: usize) -> anyhow::Result<()> {
    let http = pool(conc);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (http, next) = (http.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n
                && Instant::now() < deadline
            {
                let mut c = mcp_on(&http, addr);
                c.try_initialize(serde_json::json!({})).await?;
                if c.session.is_none() {
                    bail!("no session id");
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// New client sessions making their first and second tools/call: clients that declare nothing
/// use the shared backend session; clients that declare `roots` get a backend session of their
/// own, opened by their first call. Interleaved one of each, so noise hits both alike. Then the
/// memory each further client with its own backend session costs.
async fn clients(o: &Opts) -> anyhow::Result<()> {
    let be = backend::start("b0_".into(), 2).await?;
    let gw = Gateway::start(o, &[("b0".into(), be)]).await?;
    let gname = gw.wait_tools(2).await?;
    let http = pool(4);
    let body = call_body(7, &gname);
    let kinds = [
        ("shared (declares nothing)", "{}"),
        ("own (declares roots)", r#"{"roots":{}}"#),
    ];
    let mut first = [Vec::new(), Vec::new()];
    let mut second = [Vec::new(), Vec::new()];
    let mut keep = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for _ in 0..o.clients {
        if Instant::now() > deadline {
            break;
        }
        for (k, (_, caps)) in kinds.iter().enumerate() {
            let mut c = mcp_on(&http, gw.addr);
            c.try_initialize(serde_json::from_str(caps)?).await?;
            for out in [&mut first[k], &mut second[k]] {
                let t = Instant::now();
                let r = call(&c, &body).await?;
                out.push(t.elapsed());
                if !r.starts_with(br#"{"jsonrpc":"2.0","id":7,"result""#) {
                    bail!("unexpected reply {}", String::from_utf8_lossy(&r));
                }
            }
            keep.push(c);
        }
    }
    let n = first[0].len();
    println!(
        "\n### New client sessions: shared vs own backend session ({n} clients of each kind)\n"
    );
    println!(
        "| client | first call p50 ms | first call p99 ms | second call p50 ms | second call p99 ms |"
    );
    println!("|---|---|---|---|---|");
    for (k, (name, _)) in kinds.iter().enumerate() {
        first[k].sort();
        second[k].sort();
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |",
            pct(&first[k], 50.0),
            pct(&first[k], 99.0),
            pct(&second[k], 50.0),
            pct(&second[k], 99.0)
        );
    }
    println!(
        "\nfirst-call ratio own/shared: p50 {:.2}×; second-call ratio: p50 {:.2}×",
        pct(&first[1], 50.0) / pct(&first[0], 50.0),
        pct(&second[1], 50.0) / pct(&second[0], 50.0)
    );
    // Memory of further clients with their own backend session (one call each).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = gw.pid();
    let before = rss_kib(pid);
    let m = o.clients;
    for _ in 0..m {
        let mut c = mcp_on(&http, gw.addr);
        c.try_initialize(serde_json::from_str(kinds[1].1)?).await?;
        call(&c, &body).await?;
        keep.push(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let status = gw.status().await?;
    println!(
        "\n{m} more clients with their own backend session: RSS {:.1} → {:.1} MiB, {:.1} KiB each; /status clientSessions = {}",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after as f64 - before as f64) / m as f64,
        status["backends"][0]["clientSessions"]
    );
    Ok(())
}
