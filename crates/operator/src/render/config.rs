//! The gateway config written to the ConfigMap: the spec's config plus, in static mode, every
//! backend with its URL, transport, type, CA bundle path and header metadata, and outgoing
//! auth. Serialised with the shared `vmcp_config::Config` type, so the gateway reads exactly
//! what the operator wrote.

use vmcp_config::{AuthSource, BackendType, Config, OutgoingAuth};

use super::Mode;
use super::auth::AuthPlan;
use super::ca_bundles::CaMount;
use super::headers::HeaderPlan;
use crate::discovery::{Backend, BackendKind};

/// One static backend entry.
pub fn static_backend(
    b: &Backend,
    group: &str,
    ca: Option<&CaMount>,
    headers: Option<&HeaderPlan>,
) -> vmcp_config::Backend {
    let mut metadata = headers.map(|h| h.metadata.clone()).unwrap_or_default();
    metadata.insert("group".into(), group.to_string());
    vmcp_config::Backend {
        name: b.name.clone(),
        url: b.url.clone(),
        transport: Some(b.transport),
        backend_type: (b.kind == BackendKind::Entry).then_some(BackendType::Entry),
        ca_bundle_path: ca.map(|c| c.file_path.clone()).unwrap_or_default(),
        metadata,
    }
}

/// Completes the base config with outgoing auth and (static mode) the backends.
pub fn finish(
    mut config: Config,
    mode: Mode,
    auth: &AuthPlan,
    backends: Vec<vmcp_config::Backend>,
) -> Config {
    config.outgoing_auth = Some(OutgoingAuth {
        source: match mode {
            Mode::Static => AuthSource::Inline,
            Mode::Dynamic => AuthSource::Discovered,
        },
        default: auth.default.clone(),
        backends: auth.backends.clone(),
    });
    config.backends = match mode {
        Mode::Static => backends,
        Mode::Dynamic => Vec::new(),
    };
    config
}
