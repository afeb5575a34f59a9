//! The real MCP peers the tests talk to, installed by `scripts/test-peers.sh`:
//! server-everything (Node) as a streamable-HTTP or legacy SSE backend, and the official
//! Python SDK as a client. Every process starts through the launcher
//! ([`vmcp_testenv::Process`]): PDEATHSIG, killed and reaped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use vmcp_testenv::{Process, free_port};

/// Where `scripts/test-peers.sh` put the peers.
#[derive(Debug, Clone)]
pub struct Peers {
    /// server-everything's `dist/index.js`.
    pub server_everything: PathBuf,
    pub node: PathBuf,
    /// The virtualenv's python, with the `mcp` SDK 1.x (the 2025 revisions).
    pub python: PathBuf,
    /// The second virtualenv's python, with the `mcp` SDK 2.x: client and server of both
    /// 2025-11-25 and 2026-07-28.
    pub python_modern: PathBuf,
    /// The node preload that keeps server-everything on 127.0.0.1.
    pub bind_loopback: PathBuf,
}

/// Installs (once, cached) and locates the peers; runs the script once per process.
pub fn try_peers() -> anyhow::Result<&'static Peers> {
    static PEERS: OnceLock<Result<Peers, String>> = OnceLock::new();
    PEERS
        .get_or_init(|| locate().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// [`try_peers`], panicking on failure.
pub fn peers() -> &'static Peers {
    try_peers().unwrap_or_else(|e| panic!("{e}"))
}

fn locate() -> anyhow::Result<Peers> {
    let text = run_script(&vmcp_testenv::workspace_root().join("scripts/test-peers.sh"))?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(PathBuf::from)
            .with_context(|| format!("{k} missing from test-peers.sh output"))
    };
    Ok(Peers {
        server_everything: get("SERVER_EVERYTHING")?,
        node: get("NODE")?,
        python: get("PYTHON")?,
        python_modern: get("PYTHON_MODERN")?,
        bind_loopback: get("BIND_LOOPBACK")?,
    })
}

/// Runs `bash script` (an installer such as `scripts/test-peers.sh`) through the launcher
/// ([`vmcp_testenv::run_script`]: its progress on our stderr as it runs) and returns its stdout;
/// fails if it fails.
pub fn run_script(script: &Path) -> anyhow::Result<String> {
    let (status, stdout) = vmcp_testenv::run_script(script)
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(stdout)
}

/// Waits until something accepts connections on 127.0.0.1:`port`, for at most `limit`.
pub async fn try_wait_listening(port: u16, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nothing listening on 127.0.0.1:{port} after {limit:?}")
}

/// [`try_wait_listening`] for 30 s, panicking.
pub async fn wait_listening(port: u16) {
    try_wait_listening(port, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A server-everything process on 127.0.0.1; killed on drop.
pub struct Everything {
    pub port: u16,
    mode: &'static str,
    log: Option<PathBuf>,
    process: Option<Process>,
}

impl Everything {
    /// `mode`: "streamableHttp" or "sse"; on a free port, output discarded.
    pub async fn start(mode: &'static str) -> Everything {
        Self::start_on(mode, free_port()).await
    }

    /// [`Everything::start`] on `port`.
    pub async fn start_on(mode: &'static str, port: u16) -> Everything {
        Self::try_start(mode, port, None)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts server-everything in `mode` on `port` and waits until it listens (30 s); its
    /// output goes to `log` if given (quoted on failure), else nowhere.
    pub async fn try_start(
        mode: &'static str,
        port: u16,
        log: Option<&Path>,
    ) -> anyhow::Result<Everything> {
        let p = try_peers()?;
        let mut command = Command::new(&p.node);
        command
            .arg("--require")
            .arg(&p.bind_loopback)
            .arg(&p.server_everything)
            .arg(mode)
            .env("PORT", port.to_string());
        let process = match log {
            Some(log) => Process::spawn_logged("server-everything", command, log)?,
            None => {
                command
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                Process::spawn("server-everything", command)?
            }
        };
        if let Err(e) = try_wait_listening(port, Duration::from_secs(30)).await {
            bail!("server-everything: {e}; its log:\n{}", process.log_tail(40));
        }
        Ok(Everything {
            port,
            mode,
            log: log.map(Path::to_owned),
            process: Some(process),
        })
    }

    /// Its MCP endpoint: `/sse` for the legacy transport, `/mcp` otherwise.
    pub fn url(&self) -> String {
        match self.mode {
            "sse" => format!("http://127.0.0.1:{}/sse", self.port),
            _ => format!("http://127.0.0.1:{}/mcp", self.port),
        }
    }

    /// Kills it (and reaps it).
    pub fn kill(&mut self) {
        self.process.take();
    }

    /// Kills it and starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        *self = Self::try_start(self.mode, self.port, self.log.as_deref())
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
}

/// An MCP server on the Python SDK 2.x (`python/sdk2_server.py`): dual mode (2025 sessions
/// and 2026-07-28 on one endpoint), or, `modern_only`, reachable only with 2026-07-28.
pub struct Sdk2Server {
    pub port: u16,
    _process: Process,
}

impl Sdk2Server {
    pub async fn start(modern_only: bool) -> Sdk2Server {
        Self::try_start(modern_only)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub async fn try_start(modern_only: bool) -> anyhow::Result<Sdk2Server> {
        let p = try_peers()?;
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/sdk2_server.py");
        let mut command = Command::new(&p.python_modern);
        command.arg(script).arg(port.to_string());
        if modern_only {
            command.arg("--modern-only");
        }
        command.stdin(Stdio::null()).stdout(Stdio::null());
        let process = Process::spawn("python sdk2 server", command)?;
        if let Err(e) = try_wait_listening(port, Duration::from_secs(30)).await {
            bail!("sdk2 server: {e}; its log:\n{}", process.log_tail(40));
        }
        Ok(Sdk2Server {
            port,
            _process: process,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}

/// Runs a Python script on the official `mcp` SDK with one argument and parses the JSON it
/// prints last; fails the test with the script's stderr if it fails or does not finish
/// within `limit`.
pub async fn python_json(script: &str, arg: &str, limit: Duration) -> Value {
    run_python_json(&peers().python, script, arg, limit).await
}

/// [`python_json`] with the SDK 2.x (`mcp` 2.3.0, which speaks 2026-07-28).
pub async fn modern_python_json(script: &str, arg: &str, limit: Duration) -> Value {
    run_python_json(&peers().python_modern, script, arg, limit).await
}

async fn run_python_json(python: &Path, script: &str, arg: &str, limit: Duration) -> Value {
    let mut command = Command::new(python);
    command.arg("-c").arg(script).arg(arg);
    let out = tokio::task::spawn_blocking(move || vmcp_testenv::output(command, limit))
        .await
        .unwrap()
        .expect("python client finishes");
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
}
