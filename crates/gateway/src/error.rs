//! What can stop the gateway from starting: a config that does not load or validate, a backend
//! that cannot be built, a bind that fails. Its own module so that the parts `serve` assembles
//! (members, the backend builder) can report it without depending on `serve`.

use vmcp_config::Problem;

use crate::authz::AuthzError;
use crate::backend::auth::AuthError;
use crate::backend::tls::TlsError;
use crate::front::origin::PolicyError;
use crate::limits::LimitsError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Load(#[from] vmcp_config::LoadError),
    #[error("invalid configuration:\n{}", render(.0))]
    Invalid(Vec<Problem>),
    #[error("backend {backend:?}: {what}")]
    Backend { backend: String, what: String },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("incomingAuth.oidc: {0}")]
    Oidc(String),
    #[error("{0}")]
    Audit(String),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error("incomingAuth.authz: {0}")]
    Authz(#[from] AuthzError),
    #[error(transparent)]
    Hosts(#[from] PolicyError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Limits(#[from] LimitsError),
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {}: {p}", p.severity))
        .collect::<Vec<_>>()
        .join("\n")
}
