//! A real Jaeger for the trace tests: one per test binary, on 127.0.0.1, with in-memory
//! storage, its OTLP/HTTP receiver (where the gateway exports) and its HTTP query API (where
//! the tests read the traces back, `/api/traces/{id}`). Jaeger is an OpenTelemetry Collector
//! build, with the collector's Prometheus exporter among its components: metrics received
//! over OTLP are served there (`metrics`), so a test can read what the collector got.
//!
//! The binary comes from `scripts/jaeger-build.sh` (built from the Go module in
//! `testenv/jaeger/`, cached under `$VMCP_CACHE_DIR`); `VMCP_JAEGER_BIN` names one instead.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{self, Reaper};

/// How long Jaeger may take to listen (about a second).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The running Jaeger.
#[derive(Debug)]
pub struct Jaeger {
    /// The OTLP/HTTP receiver, `127.0.0.1:<port>` (ToolHive's `host:port` form).
    pub otlp_http: String,
    /// The OTLP/gRPC receiver, `127.0.0.1:<port>`.
    pub otlp_grpc: String,
    /// The query API: `http://127.0.0.1:<port>`.
    pub query: String,
    /// The metrics received over OTLP, in the Prometheus format: `http://127.0.0.1:<port>/metrics`.
    pub metrics: String,
    pub log: PathBuf,
}

impl Jaeger {
    /// The process-wide Jaeger, started on first call. A failed start is remembered.
    pub async fn shared() -> Result<Arc<Jaeger>> {
        tokio::task::spawn_blocking(shared_blocking)
            .await
            .map_err(|e| Error::Supervisor(format!("jaeger start panicked: {e}")))?
    }

    /// The last lines of its log, for a failing test's message.
    pub fn log_tail(&self) -> String {
        process::tail(&self.log, 40)
    }
}

static SHARED: OnceLock<std::result::Result<Arc<Jaeger>, Arc<Error>>> = OnceLock::new();

fn shared_blocking() -> Result<Arc<Jaeger>> {
    SHARED
        .get_or_init(|| start().map(Arc::new).map_err(Arc::new))
        .clone()
        .map_err(Error::Shared)
}

fn start() -> Result<Jaeger> {
    let bin = crate::built_binary("VMCP_JAEGER_BIN", "jaeger-build.sh")?;
    process::supervised("jaeger", move || launch(&bin))
}

type Held = (process::Process, Reaper, tempfile::TempDir);

fn launch(bin: &std::path::Path) -> Result<(Jaeger, Held)> {
    let dir = tempfile::Builder::new()
        .prefix("vmcp-jaeger-")
        .tempdir()
        .map_err(Error::io("creating the Jaeger temp dir"))?;
    let mut reaper = Reaper::start(dir.path()).map_err(Error::io("starting the reaper"))?;
    let [otlp, query, query_grpc, prom, otlp_grpc] =
        process::free_ports::<5>().map_err(Error::io("choosing Jaeger's ports"))?;
    let log = dir.path().join("jaeger.log");
    // Every listener on loopback, nothing but OTLP/HTTP in and the query API out; no
    // self-telemetry listener. The reaper kills only processes whose command line names the
    // temp dir: the config file there does.
    let config = dir.path().join("jaeger.yaml");
    std::fs::write(
        &config,
        format!(
            "service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [jaeger_storage_exporter]}}
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
  telemetry:
    metrics: {{level: none}}
    logs: {{level: warn}}
extensions:
  jaeger_query:
    storage: {{traces: mem}}
    http: {{endpoint: \"127.0.0.1:{query}\"}}
    grpc: {{endpoint: \"127.0.0.1:{query_grpc}\"}}
  jaeger_storage:
    backends: {{mem: {{memory: {{max_traces: 100000}}}}}}
receivers:
  otlp:
    protocols:
      http: {{endpoint: \"127.0.0.1:{otlp}\"}}
      grpc: {{endpoint: \"127.0.0.1:{otlp_grpc}\"}}
processors:
  batch: {{timeout: 100ms}}
exporters:
  jaeger_storage_exporter: {{trace_storage: mem}}
  prometheus: {{endpoint: \"127.0.0.1:{prom}\"}}
"
        ),
    )
    .map_err(Error::io("writing Jaeger's config"))?;
    let mut command = Command::new(bin);
    command
        .arg("--config")
        .arg(format!("file:{}", config.display()));
    let started = Instant::now();
    let mut child = process::Process::spawn_logged("Jaeger", command, &log)
        .map_err(Error::io("starting Jaeger"))?;
    reaper
        .watch(child.id())
        .map_err(Error::io("telling the reaper about Jaeger"))?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Supervisor(format!(
                "Jaeger exited ({status}) before it was ready:\n{}",
                process::tail(&log, 40)
            )));
        }
        if process::http_get_ok(query, "/api/services")
            && std::net::TcpStream::connect(("127.0.0.1", otlp)).is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", otlp_grpc)).is_ok()
        {
            break;
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            child.kill();
            return Err(Error::Supervisor(format!(
                "Jaeger was not ready within {STARTUP_TIMEOUT:?}:\n{}",
                process::tail(&log, 40)
            )));
        }
        thread::sleep(Duration::from_millis(100));
    }
    let j = Jaeger {
        otlp_http: format!("127.0.0.1:{otlp}"),
        otlp_grpc: format!("127.0.0.1:{otlp_grpc}"),
        query: format!("http://127.0.0.1:{query}"),
        metrics: format!("http://127.0.0.1:{prom}/metrics"),
        log,
    };
    eprintln!(
        "jaeger: otlp {} query {} after {:?}",
        j.otlp_http,
        j.query,
        started.elapsed()
    );
    Ok((j, (child, reaper, dir)))
}
