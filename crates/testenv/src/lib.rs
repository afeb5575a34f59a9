//! A real kube-apiserver and etcd for integration tests.
//!
//! Operator and dynamic-mode tests need the API server's real behaviour:
//! server-side apply and field ownership, resourceVersion conflicts, watches,
//! RBAC denials, CRD validation. In-process fakes get these subtly wrong, so
//! this crate runs the real binaries (built from the pinned Go module in
//! `testenv/`, see `docs/TESTING.md`) on 127.0.0.1, one server per test
//! binary, and hands out `kube::Client`s.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vmcp_testenv::Error> {
//! let env = vmcp_testenv::TestEnv::shared().await?;
//! let namespace = env.namespace("my-test").await?;
//! let client = env.client()?;
//! # let _ = (namespace, client);
//! # Ok(()) }
//! ```
//!
//! Environment: `VMCP_TESTENV_BIN` names a directory holding `kube-apiserver`,
//! `kube-controller-manager` and `etcd` to use as they are; without it the
//! binaries come from `scripts/testenv-build.sh` (cache under
//! `VMCP_CACHE_DIR`, default `~/.cache/vmcp`).
//!
//! kube-controller-manager runs only where a test binary asks for it
//! ([`TestEnv::start_controller_manager`]): then owned objects are
//! garbage-collected, deleted namespaces finalized and `default`
//! ServiceAccounts created, as in a cluster. Elsewhere none of that happens.

mod binaries;
mod crds;
mod env;
mod error;
mod helpers;
#[cfg(unix)]
pub mod hydra;
pub mod jaeger;
#[cfg(unix)]
pub mod keycloak;
mod pki;
mod process;
mod rbac;
mod samples;
mod server;

pub use binaries::{BIN_ENV, workspace_root};
pub use env::{FIELD_MANAGER, TestEnv};
pub use error::{Error, Result};
pub use helpers::{USER_FIELD_MANAGER, apply_object, apply_yaml, eventually, eventually_gone};
pub use pki::{Leaf, TestCa};
#[cfg(unix)]
pub use process::limit_open_files;
pub use process::{Process, free_port, free_ports, output, run_script, spawn, tail};
pub use rbac::{can_list, rule, wait_for_list_access};
pub use samples::{
    SAMPLES_ENV, SKIPPED_UNSET, field_paths, samples_dir, toolhive_samples, toolhive_shapes,
};

/// The binary named by the environment variable `var`, or the one `scripts/{script}` builds
/// (cached; its progress passes through to stderr and it prints the path).
pub fn built_binary(var: &str, script: &str) -> Result<std::path::PathBuf> {
    if let Some(bin) = std::env::var_os(var) {
        return Ok(bin.into());
    }
    let path = workspace_root().join("scripts").join(script);
    let out = std::process::Command::new("bash")
        .arg(&path)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(Error::io("running a build script"))?;
    if !out.status.success() {
        return Err(Error::Supervisor(format!(
            "{} failed ({}); see its output above",
            path.display(),
            out.status
        )));
    }
    let bin = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if bin.is_empty() {
        return Err(Error::Supervisor(format!(
            "scripts/{script} printed no path"
        )));
    }
    Ok(std::path::PathBuf::from(bin))
}
