//! A real Ory Hydra for the introspection tests: one per test binary, on 127.0.0.1, with an
//! in-memory database. Its access tokens are opaque (`ory_at_...`) and its admin API
//! introspects them (RFC 7662), which is what the gateway's `introspectionUrl` is for;
//! Keycloak issues JWTs only.
//!
//! The binary comes from `scripts/hydra-build.sh` (built from the Go module in
//! `testenv/hydra/`, cached under `$VMCP_CACHE_DIR`); `VMCP_HYDRA_BIN` names one instead.
//! Clients are created by the tests through the admin API (see `vmcp_test_support::oidc`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{self, Reaper};

/// How long Hydra may take to answer its readiness check (about a second).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The running Hydra.
#[derive(Debug)]
pub struct Hydra {
    /// The public API (`/oauth2/token`, `/oauth2/revoke`, discovery): `http://127.0.0.1:<port>`.
    pub public: String,
    /// The admin API (`/admin/clients`, `/admin/oauth2/introspect`).
    pub admin: String,
    pub log: PathBuf,
}

impl Hydra {
    /// The process-wide Hydra, started on first call. A failed start is remembered.
    pub async fn shared() -> Result<Arc<Hydra>> {
        tokio::task::spawn_blocking(shared_blocking)
            .await
            .map_err(|e| Error::Supervisor(format!("hydra start panicked: {e}")))?
    }

    /// The issuer, as Hydra writes it into `iss` (with the trailing slash).
    pub fn issuer(&self) -> String {
        format!("{}/", self.public)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.public)
    }

    pub fn introspection_endpoint(&self) -> String {
        format!("{}/admin/oauth2/introspect", self.admin)
    }

    /// The last lines of its log, for a failing test's message.
    pub fn log_tail(&self) -> String {
        process::tail(&self.log, 40)
    }
}

static SHARED: OnceLock<std::result::Result<Arc<Hydra>, Arc<Error>>> = OnceLock::new();

fn shared_blocking() -> Result<Arc<Hydra>> {
    SHARED
        .get_or_init(|| start().map(Arc::new).map_err(Arc::new))
        .clone()
        .map_err(Error::Shared)
}

fn start() -> Result<Hydra> {
    let bin = crate::built_binary("VMCP_HYDRA_BIN", "hydra-build.sh")?;
    process::supervised("hydra", move || launch(&bin))
}

type Held = (process::Process, Reaper, tempfile::TempDir);

fn launch(bin: &std::path::Path) -> Result<(Hydra, Held)> {
    let dir = tempfile::Builder::new()
        .prefix("vmcp-hydra-")
        .tempdir()
        .map_err(Error::io("creating the Hydra temp dir"))?;
    let mut reaper = Reaper::start(dir.path()).map_err(Error::io("starting the reaper"))?;
    let [public, admin] =
        process::free_ports::<2>().map_err(Error::io("choosing Hydra's ports"))?;
    let log = dir.path().join("hydra.log");
    let public_url = format!("http://127.0.0.1:{public}");
    // The reaper kills only processes whose command line names the temp dir: the config
    // file there does.
    let config = dir.path().join("hydra.yaml");
    std::fs::write(
        &config,
        format!(
            "dsn: memory\nserve:\n  public: {{host: 127.0.0.1, port: {public}}}\n  admin: {{host: 127.0.0.1, port: {admin}}}\nurls:\n  self: {{issuer: \"{public_url}/\"}}\nsecrets:\n  system: [\"{}\"]\nlog: {{level: warn}}\n",
            random_secret()
        ),
    )
    .map_err(Error::io("writing Hydra's config"))?;
    let mut command = Command::new(bin);
    command
        .args(["serve", "all", "--dev", "--config"])
        .arg(&config)
        // No telemetry to Ory (and no traffic off the machine).
        .env("SQA_OPT_OUT", "true");
    let started = Instant::now();
    let mut child = process::Process::spawn_logged("Hydra", command, &log)
        .map_err(Error::io("starting Hydra"))?;
    reaper
        .watch(child.id())
        .map_err(Error::io("telling the reaper about Hydra"))?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Supervisor(format!(
                "Hydra exited ({status}) before it was ready:\n{}",
                process::tail(&log, 40)
            )));
        }
        if process::http_get_ok(admin, "/health/ready")
            && process::http_get_ok(public, "/.well-known/openid-configuration")
        {
            break;
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            child.kill();
            return Err(Error::Supervisor(format!(
                "Hydra was not ready within {STARTUP_TIMEOUT:?}:\n{}",
                process::tail(&log, 40)
            )));
        }
        thread::sleep(Duration::from_millis(100));
    }
    let h = Hydra {
        public: public_url,
        admin: format!("http://127.0.0.1:{admin}"),
        log,
    };
    eprintln!(
        "hydra: public {} admin {} after {:?}",
        h.public,
        h.admin,
        started.elapsed()
    );
    Ok((h, (child, reaper, dir)))
}

/// Hydra's system secret (at least 16 characters): fresh per run, never written anywhere
/// but its temp dir.
fn random_secret() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    (0..4)
        .map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(i);
            format!("{:016x}", h.finish())
        })
        .collect()
}
