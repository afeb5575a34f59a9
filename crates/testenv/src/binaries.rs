//! Finding the kube-apiserver, kube-controller-manager and etcd binaries.
//!
//! `cargo test` alone has to work on a fresh machine, so when no directory is
//! given we run `scripts/testenv-build.sh`, which builds the binaries from the
//! pinned Go module on first use (minutes, with progress on stderr) and
//! answers from its cache afterwards (milliseconds).

use std::{
    env,
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// Environment variable naming a directory that already holds both binaries.
pub const BIN_ENV: &str = "VMCP_TESTENV_BIN";

/// Paths of the binaries the test environment runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub kube_apiserver: PathBuf,
    pub etcd: PathBuf,
    /// Optional in a `VMCP_TESTENV_BIN` directory: only tests that start the
    /// controller manager need it (see [`Binaries::controller_manager`]).
    kube_controller_manager: Option<PathBuf>,
    dir: PathBuf,
}

impl Binaries {
    /// kube-controller-manager, or the error naming the directory without it.
    pub fn controller_manager(&self) -> Result<&Path> {
        self.kube_controller_manager
            .as_deref()
            .ok_or_else(|| Error::BinaryMissing {
                dir: self.dir.clone(),
                binary: "kube-controller-manager",
            })
    }
}

/// The workspace root, from this crate's manifest directory at compile time:
/// the build script and `deploy/crds` are addressed relative to it, whatever
/// the current directory of the test binary is.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Locates the binaries: `VMCP_TESTENV_BIN` if set, otherwise the build
/// script's cache (building on first use).
pub fn locate() -> Result<Binaries> {
    let dir = match env::var_os(BIN_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => run_build_script()?,
    };
    in_dir(&dir)
}

fn in_dir(dir: &Path) -> Result<Binaries> {
    let binary = |name: &'static str| {
        let path = dir.join(name);
        if is_executable(&path) {
            Ok(path)
        } else {
            Err(Error::BinaryMissing {
                dir: dir.to_path_buf(),
                binary: name,
            })
        }
    };
    Ok(Binaries {
        kube_apiserver: binary("kube-apiserver")?,
        etcd: binary("etcd")?,
        kube_controller_manager: binary("kube-controller-manager").ok(),
        dir: dir.to_path_buf(),
    })
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Runs the build script with stderr passed through (so a cold build shows
/// its progress live, outside libtest's output capture) and takes the last
/// line of its stdout as the bin directory.
fn run_build_script() -> Result<PathBuf> {
    let script = workspace_root().join("scripts").join("testenv-build.sh");
    let (status, stdout) =
        crate::process::run_script(&script).map_err(|source| Error::BuildScriptSpawn {
            script: script.clone(),
            source,
        })?;
    if !status.success() {
        return Err(Error::BuildScriptFailed { script, status });
    }
    stdout
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .map(PathBuf::from)
        .ok_or(Error::BuildScriptOutput { script })
}
