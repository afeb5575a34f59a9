//! vmcp-config: the gateway's configuration, one type shared by the operator (which writes it
//! into the `config.yaml` key of a ConfigMap) and the gateway (which reads it).
//!
//! The shape follows ToolHive's vMCP `Config` so existing config files and VirtualMCPServer
//! manifests carry over. Around the type this crate provides strict, bounded loading with
//! path-precise errors ([`Config::from_yaml_str`], [`load_file`]), validation that reports every
//! problem at once with its path and severity ([`Config::validate`]; [`check_file`] adds the
//! unknown keys to the same report), ToolHive's defaults
//! ([`Config::apply_defaults`]) and a one-line summary for `vmcp validate`
//! ([`Config::summary`]).
#![forbid(unsafe_code)]

pub mod addr;
mod aggregation;
pub mod audit;
mod auth;
mod cedar;
mod defaults;
mod duration;
pub mod input;
mod load;
pub mod metadata;
mod model;
mod nesting;
mod operational;
mod path;
mod summary;
pub mod telemetry;
mod validate;

pub use aggregation::{
    Aggregation, ConflictResolution, ConflictResolutionConfig, DEFAULT_PREFIX_FORMAT,
    ToolAnnotations, ToolConfigRef, ToolOverride, ToolVisibility, WORKLOAD_PLACEHOLDER,
    WorkloadTools,
};
pub use audit::AuditSettings;
pub use auth::{
    AuthSource, AuthzConfig, AuthzType, AwsSts, BackendAuthStrategy, HeaderInjection, IncomingAuth,
    IncomingAuthType, Obo, OidcConfig, OutgoingAuth, RoleMapping, StrategyType, TokenExchange,
    UpstreamInject, Xaa,
};
pub use cedar::{CedarError, CedarSet, MAX_POLICY_NESTING};
pub use defaults::{
    DEFAULT_CIRCUIT_BREAKER_FAILURE_THRESHOLD, DEFAULT_CIRCUIT_BREAKER_TIMEOUT,
    DEFAULT_HEALTH_CHECK_INTERVAL, DEFAULT_PARTIAL_FAILURE_MODE, DEFAULT_STATUS_REPORTING_INTERVAL,
    DEFAULT_TIMEOUT, DEFAULT_UNHEALTHY_THRESHOLD,
};
pub use duration::{DURATION_PATTERN, DurationError, GoDuration, format_go_duration};
pub use input::{InputError, Location};
pub use load::{LoadError, MAX_CONFIG_BYTES, SerializeError, check_file, load_file};
pub use model::{
    Backend, BackendType, CA_BUNDLE_ROOT, CompositeToolRef, Config, Transport, Unsupported,
};
pub use nesting::MAX_FLOW_DEPTH;
pub use operational::{
    CircuitBreaker, FailureHandling, LogLevel, Operational, PartialFailureMode, Timeouts,
};
pub use summary::Summary;
pub use telemetry::{OtlpProtocol, TelemetrySettings};
pub use validate::{Problem, ProblemKind, Report, Severity, is_header_name};

/// Parses `config.yaml` text and validates it, unknown keys included in the report: the whole
/// work of `vmcp validate`, as one function to time.
pub fn parse_and_validate(text: &str) -> Result<(Config, Report), LoadError> {
    Config::check_yaml_str(text)
}
