//! The gateway config written to the ConfigMap: the spec's config plus, in static mode, every
//! backend (`vmcp_core::backend`) and outgoing auth. Serialised with the shared
//! `vmcp_config::Config` type, so the gateway reads exactly what the operator wrote.

use vmcp_config::{AuthSource, Config, OutgoingAuth};
use vmcp_core::auth::AuthPlan;

use super::Mode;

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
