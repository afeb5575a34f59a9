//! A real Keycloak for the OIDC tests: one per test binary, in dev mode on 127.0.0.1, with
//! the realm of `tests/fixtures/keycloak/vmcp-realm.json` imported (users `alice` in group
//! `eng` and `bob` in `sales`, the public client `vmcp-cli` whose tokens carry audience
//! `vmcp-gateway`, and `other-cli` whose tokens do not).
//!
//! The distribution comes from `scripts/keycloak.sh` (cached under `$VMCP_CACHE_DIR`, like
//! kube-apiserver); `VMCP_KEYCLOAK_HOME` (with `JAVA_HOME`) names one instead. Keycloak
//! writes into its home (the re-augmented build, the data directory), so each run gets a
//! home of its own in a temp dir: the launcher, `conf` and the small build state copied,
//! the 170 MB of libraries linked. It is started by the launcher (`process::spawn`: it dies
//! with the test binary) and watched by a reaper that kills it and deletes the temp dir when
//! the test binary is gone however it ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{self, Reaper};

/// The realm the fixture defines.
pub const REALM: &str = "vmcp";
/// The audience `vmcp-cli` tokens carry.
pub const AUDIENCE: &str = "vmcp-gateway";
/// The public client with the audience mapper.
pub const CLIENT: &str = "vmcp-cli";
/// A public client whose tokens are for another audience.
pub const OTHER_CLIENT: &str = "other-cli";
/// The gateway's own confidential client (id, secret): standard token exchange (RFC 8693)
/// enabled, service account for client credentials, tokens that live 10 s, and
/// [`EXCHANGE_AUDIENCE`] available as audience.
pub const GATEWAY_CLIENT: (&str, &str) = ("vmcp-gateway", "vmcp-gateway-secret");
/// The client a backend that takes exchanged tokens is: the audience they are made for.
pub const EXCHANGE_AUDIENCE: &str = "exchange-backend";
/// The bootstrap admin of the master realm (for the admin API: key rotation).
pub const ADMIN: (&str, &str) = ("admin", "admin");

/// How long Keycloak may take to serve the realm (about 15 s on two cores; more on a
/// first run, which re-augments the build).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(240);

/// The running Keycloak.
#[derive(Debug)]
pub struct Keycloak {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub port: u16,
    pub log: PathBuf,
    pub startup: Duration,
}

impl Keycloak {
    /// The process-wide Keycloak, started on first call (blocks the calling thread, so it
    /// is run on a blocking thread here). A failed start is remembered.
    pub async fn shared() -> Result<Arc<Keycloak>> {
        tokio::task::spawn_blocking(shared_blocking)
            .await
            .map_err(|e| Error::Supervisor(format!("keycloak start panicked: {e}")))?
    }

    /// The realm's issuer, as it writes it into `iss`.
    pub fn issuer(&self) -> String {
        format!("{}/realms/{REALM}", self.base)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/protocol/openid-connect/token", self.issuer())
    }

    /// The last lines of its log, for a failing test's message.
    pub fn log_tail(&self) -> String {
        process::tail(&self.log, 40)
    }
}

static SHARED: OnceLock<std::result::Result<Arc<Keycloak>, Arc<Error>>> = OnceLock::new();

fn shared_blocking() -> Result<Arc<Keycloak>> {
    SHARED
        .get_or_init(|| start().map(Arc::new).map_err(Arc::new))
        .clone()
        .map_err(Error::Shared)
}

/// Where Keycloak and its JDK are: `VMCP_KEYCLOAK_HOME` and `JAVA_HOME`, or what
/// `scripts/keycloak.sh` installs (its progress passes through to stderr).
fn locate() -> Result<(PathBuf, PathBuf)> {
    if let (Some(home), Some(java)) = (
        std::env::var_os("VMCP_KEYCLOAK_HOME"),
        std::env::var_os("JAVA_HOME"),
    ) {
        return Ok((home.into(), java.into()));
    }
    let script = crate::workspace_root().join("scripts/keycloak.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(Error::io("running scripts/keycloak.sh"))?;
    if !out.status.success() {
        return Err(Error::Supervisor(format!(
            "{} failed ({}); see its output above",
            script.display(),
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(PathBuf::from)
            .ok_or_else(|| Error::Supervisor(format!("scripts/keycloak.sh printed no {k}")))
    };
    Ok((get("KEYCLOAK_HOME=")?, get("JAVA_HOME=")?))
}

/// A home of this run's own (see the module docs).
fn private_home(dist: &Path, dir: &Path) -> Result<PathBuf> {
    let home = dir.join("keycloak");
    let io = |what: &'static str| Error::io(what);
    std::fs::create_dir_all(home.join("bin")).map_err(io("creating the Keycloak home"))?;
    std::fs::create_dir_all(home.join("lib/quarkus")).map_err(io("creating lib/quarkus"))?;
    std::fs::create_dir_all(home.join("data/import")).map_err(io("creating data/import"))?;
    std::fs::copy(dist.join("bin/kc.sh"), home.join("bin/kc.sh")).map_err(io("copying kc.sh"))?;
    std::fs::copy(
        dist.join("lib/quarkus-run.jar"),
        home.join("lib/quarkus-run.jar"),
    )
    .map_err(io("copying quarkus-run.jar"))?;
    for entry in std::fs::read_dir(dist.join("lib/quarkus")).map_err(io("reading lib/quarkus"))? {
        let entry = entry.map_err(io("reading lib/quarkus"))?;
        std::fs::copy(
            entry.path(),
            home.join("lib/quarkus").join(entry.file_name()),
        )
        .map_err(io("copying lib/quarkus"))?;
    }
    copy_dir(&dist.join("conf"), &home.join("conf")).map_err(io("copying conf"))?;
    for (link, target) in [
        ("lib/lib", "lib/lib"),
        ("lib/app", "lib/app"),
        ("providers", "providers"),
        ("themes", "themes"),
    ] {
        std::os::unix::fs::symlink(dist.join(target), home.join(link))
            .map_err(io("linking the Keycloak libraries"))?;
    }
    let realm = crate::workspace_root().join("tests/fixtures/keycloak/vmcp-realm.json");
    std::fs::copy(&realm, home.join("data/import/vmcp-realm.json"))
        .map_err(io("copying the realm"))?;
    Ok(home)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn start() -> Result<Keycloak> {
    let (dist, java) = locate()?;
    process::supervised("keycloak", move || launch(&dist, &java))
}

type Held = (process::Process, Reaper, tempfile::TempDir);

fn launch(dist: &Path, java: &Path) -> Result<(Keycloak, Held)> {
    let dir = tempfile::Builder::new()
        .prefix("vmcp-keycloak-")
        .tempdir()
        .map_err(Error::io("creating the Keycloak temp dir"))?;
    let mut reaper = Reaper::start(dir.path()).map_err(Error::io("starting the reaper"))?;
    let home = private_home(dist, dir.path())?;
    let [port, management] =
        process::free_ports::<2>().map_err(Error::io("choosing Keycloak's ports"))?;
    let log = dir.path().join("keycloak.log");
    let args: Vec<String> = vec![
        "start-dev".into(),
        format!("--http-port={port}"),
        "--http-host=127.0.0.1".into(),
        format!("--http-management-port={management}"),
        "--health-enabled=true".into(),
        "--import-realm".into(),
        "--db=dev-mem".into(),
    ];
    let started = Instant::now();
    let mut command = Command::new(home.join("bin/kc.sh"));
    command
        .args(&args)
        .env("JAVA_HOME", java)
        .env("KC_BOOTSTRAP_ADMIN_USERNAME", ADMIN.0)
        .env("KC_BOOTSTRAP_ADMIN_PASSWORD", ADMIN.1);
    let mut child = process::Process::spawn_logged("Keycloak", command, &log)
        .map_err(Error::io("starting Keycloak"))?;
    reaper
        .watch(child.id())
        .map_err(Error::io("telling the reaper about Keycloak"))?;
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("/realms/{REALM}/.well-known/openid-configuration");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Supervisor(format!(
                "Keycloak exited ({status}) before serving the realm:\n{}",
                process::tail(&log, 40)
            )));
        }
        if process::http_get_ok(port, &ready) {
            break;
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            child.kill();
            return Err(Error::Supervisor(format!(
                "Keycloak did not serve the realm within {STARTUP_TIMEOUT:?}:\n{}",
                process::tail(&log, 40)
            )));
        }
        thread::sleep(Duration::from_millis(250));
    }
    let kc = Keycloak {
        base,
        port,
        log,
        startup: started.elapsed(),
    };
    eprintln!(
        "keycloak: serving realm {REALM} at {} after {:?}",
        kc.base, kc.startup
    );
    Ok((kc, (child, reaper, dir)))
}
