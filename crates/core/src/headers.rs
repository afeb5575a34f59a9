//! The hand-off of an entry's `headerForward` to the gateway: the one place that defines how
//! the gateway finds the headers to add to requests to an entry backend.
//!
//! Scheme (agreed with the gateway; change it here only):
//! - plaintext header `H: v` → backend metadata key `vmcp.headers.plaintext.H` = `v`;
//! - secret-backed header `H` → backend metadata key `vmcp.headers.env.H` = `ENV`, and an env
//!   var `ENV` on the gateway container filled from the Secret by `secretKeyRef`, where
//!   `ENV` = `VMCP_HEADER_<ENTRY>_<HEADER>` with every character outside `[A-Z0-9_]` turned
//!   into `_` (plus a short hash suffix if two pairs would collide).
//!
//! Secret values never reach the ConfigMap: only the env var name does.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use vmcp_api::MCPServerEntry;

use crate::checksum::short_hash;
use crate::env_fragment;

/// Metadata key prefix of a plaintext header value.
pub const METADATA_PLAIN_PREFIX: &str = vmcp_config::metadata::HEADER_PLAINTEXT_PREFIX;
/// Metadata key prefix of the env var holding a secret header value.
pub const METADATA_ENV_PREFIX: &str = vmcp_config::metadata::HEADER_ENV_PREFIX;
/// Prefix of the env vars carrying secret header values.
pub const ENV_PREFIX: &str = "VMCP_HEADER_";

/// The env var name for `header` of `entry`, before collision handling.
pub fn env_var_name(entry: &str, header: &str) -> String {
    format!(
        "{ENV_PREFIX}{}_{}",
        env_fragment(entry),
        env_fragment(header)
    )
}

/// What one entry's headers add to the gateway.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeaderPlan {
    /// Backend metadata entries (static mode config).
    pub metadata: BTreeMap<String, String>,
    /// Env vars on the gateway container, from Secrets.
    pub env: Vec<EnvVar>,
}

/// Plans the headers of one entry. `used` holds env var names already taken in this
/// Deployment; a colliding name gets a hash suffix so two headers never share a variable.
pub fn plan_for_entry(entry: &MCPServerEntry, used: &mut BTreeSet<String>) -> HeaderPlan {
    let mut plan = HeaderPlan::default();
    let name = entry.metadata.name.clone().unwrap_or_default();
    let Some(hf) = &entry.spec.header_forward else {
        return plan;
    };
    for (header, value) in hf.add_plaintext_headers.iter().flatten() {
        plan.metadata
            .insert(format!("{METADATA_PLAIN_PREFIX}{header}"), value.clone());
    }
    let mut secret_headers: Vec<_> = hf.add_headers_from_secret.iter().flatten().collect();
    secret_headers.sort_by(|a, b| a.header_name.cmp(&b.header_name));
    for h in secret_headers {
        let mut env = env_var_name(&name, &h.header_name);
        if used.contains(&env) {
            env = format!(
                "{env}_{}",
                short_hash(&format!("{name}/{}", h.header_name)).to_uppercase()
            );
        }
        used.insert(env.clone());
        plan.metadata.insert(
            format!("{METADATA_ENV_PREFIX}{}", h.header_name),
            env.clone(),
        );
        plan.env.push(secret_env(
            &env,
            &h.value_secret_ref.name,
            &h.value_secret_ref.key,
        ));
    }
    plan
}

/// An env var filled from a Secret key.
pub fn secret_env(env: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: env.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}
