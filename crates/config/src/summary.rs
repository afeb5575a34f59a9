//! A short description of a config, printed by `vmcp validate` when the config is fine.

use std::fmt;

use crate::aggregation::ConflictResolution;
use crate::auth::AuthSource;
use crate::model::{BackendType, Config, Transport};

/// What a config sets up, in numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub group: String,
    /// True when backends are listed (static mode); false when they are discovered.
    pub static_mode: bool,
    pub backends: usize,
    pub streamable_http: usize,
    pub sse: usize,
    /// Backends of `type: entry`.
    pub entries: usize,
    /// The effective strategy (`prefix` when the section is absent).
    pub conflict_resolution: ConflictResolution,
    /// `oidc`, `local`, `anonymous`, or `none` when unset.
    pub incoming_auth: &'static str,
    pub outgoing_source: AuthSource,
}

impl Config {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            name: self.name.clone(),
            group: self.group_ref.clone(),
            static_mode: self.is_static(),
            backends: self.backends.len(),
            streamable_http: 0,
            sse: 0,
            entries: 0,
            conflict_resolution: self
                .aggregation
                .as_ref()
                .map(|a| a.conflict_resolution)
                .unwrap_or_default(),
            incoming_auth: self
                .incoming_auth
                .as_ref()
                .and_then(|a| a.auth_type)
                .map_or("none", |t| t.as_str()),
            outgoing_source: self
                .outgoing_auth
                .as_ref()
                .map(|o| o.source)
                .unwrap_or_default(),
        };
        for b in &self.backends {
            match b.transport {
                Some(Transport::StreamableHttp) => s.streamable_http += 1,
                Some(Transport::Sse) => s.sse += 1,
                None => {}
            }
            if b.backend_type == Some(BackendType::Entry) {
                s.entries += 1;
            }
        }
        s
    }
}

/// For example: `eng-vmcp (group eng): static, 3 backends (2 streamable-http, 1 sse; 1 entry),
/// conflict resolution prefix, incoming auth oidc, outgoing auth inline`.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (group {}): ", self.name, self.group)?;
        if self.static_mode {
            write!(
                f,
                "static, {} backend{} ({} streamable-http, {} sse; {} entr{})",
                self.backends,
                if self.backends == 1 { "" } else { "s" },
                self.streamable_http,
                self.sse,
                self.entries,
                if self.entries == 1 { "y" } else { "ies" },
            )?;
        } else {
            f.write_str("backends discovered from the group")?;
        }
        write!(
            f,
            ", conflict resolution {}, incoming auth {}, outgoing auth {}",
            self.conflict_resolution.as_str(),
            self.incoming_auth,
            self.outgoing_source.as_str()
        )
    }
}
