//! One error type for the crate. Each variant says which step of bringing up
//! or using the test API server failed, because a test that fails here is
//! usually failing on the machine (missing Go, busy port, slow disk), not in
//! the code under test, and the message has to make that obvious.

use std::{fmt, io, path::PathBuf, process::ExitStatus, sync::Arc, time::Duration};

/// Errors from starting or using the test environment.
///
/// `Debug` prints the same as `Display`: tests
/// `unwrap()` these, and a start-up failure quotes a multi-line server log
/// that must stay readable in the panic message.
#[derive(thiserror::Error)]
pub enum Error {
    /// `VMCP_TESTENV_BIN` (or the build script's output) names a directory
    /// without a usable binary.
    #[error(
        "{binary} not found or not executable in {dir} (set VMCP_TESTENV_BIN to a directory holding kube-apiserver, kube-controller-manager and etcd, or unset it to build them)"
    )]
    BinaryMissing { dir: PathBuf, binary: &'static str },

    /// The build script could not be started at all.
    #[error("running {script}: {source}")]
    BuildScriptSpawn { script: PathBuf, source: io::Error },

    /// The build script ran and failed; it has printed why on stderr.
    #[error("{script} failed ({status}); its messages are on stderr above")]
    BuildScriptFailed { script: PathBuf, status: ExitStatus },

    /// The build script succeeded but did not print the bin directory.
    #[error("{script} printed no bin directory on stdout")]
    BuildScriptOutput { script: PathBuf },

    /// A file or process operation failed; `what` names the object.
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },

    /// Generating a certificate or key failed.
    #[error("generating {what}: {source}")]
    Certificate {
        what: &'static str,
        source: rcgen::Error,
    },

    /// A child process exited while we waited for the API server.
    #[error(
        "{process} exited before kube-apiserver became ready ({status}); last lines of {log}:\n{tail}"
    )]
    ExitedEarly {
        process: &'static str,
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },

    /// kube-controller-manager started but its controllers never showed up
    /// working (no `default` ServiceAccount) before the deadline.
    #[error(
        "kube-controller-manager not working after {timeout:?} (no ServiceAccount default/default yet); last lines of {log}:\n{tail}"
    )]
    ControllerManagerNotReady {
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },

    /// kube-apiserver kept failing `/readyz` until the deadline.
    #[error(
        "kube-apiserver not ready after {timeout:?} (last /readyz result: {last}); last lines of {log}:\n{tail}"
    )]
    NotReady {
        timeout: Duration,
        last: String,
        log: PathBuf,
        tail: String,
    },

    /// The kube client configuration could not be built.
    #[error("building the kube client for the test API server: {0}")]
    Client(#[source] kube::Error),

    /// A request to the test API server failed; `action` names the object.
    #[error("{action}: {source}")]
    Api { action: String, source: kube::Error },

    /// A CRD manifest could not be read as a CustomResourceDefinition.
    #[error("{file}: document {document}: {reason}")]
    CrdManifest {
        file: PathBuf,
        document: usize,
        reason: String,
    },

    /// A CRD was applied but did not become Established in time.
    #[error("CRD {name} not Established after {timeout:?}")]
    CrdNotEstablished { name: String, timeout: Duration },

    /// A watch used to wait for a condition failed.
    #[error("{what}: {reason}")]
    Watch { what: String, reason: String },

    /// The TokenRequest API answered without a token.
    #[error("TokenRequest for serviceaccount {namespace}/{name} returned an empty token")]
    EmptyToken { namespace: String, name: String },

    /// Waiting for an RBAC decision to change timed out.
    #[error("{what}: still {observed} after {timeout:?}")]
    AccessTimeout {
        what: String,
        observed: &'static str,
        timeout: Duration,
    },

    /// The process-wide server failed to start earlier; every later test
    /// gets the same cause instead of retrying a start that cannot succeed.
    #[error("the shared test API server failed to start: {0}")]
    Shared(#[source] Arc<Error>),

    /// The thread that owns the server processes died unexpectedly.
    #[error("the test environment supervisor thread failed: {0}")]
    Supervisor(String),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every variant's message already includes its source.
        fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// Builds a `map_err` adapter that records which API call failed.
    pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Api { action, source }
    }

    /// Builds a `map_err` adapter that records which file or process failed.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
