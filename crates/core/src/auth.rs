//! Outgoing authentication: MCPExternalAuthConfig objects turned into gateway strategies.
//!
//! Secrets are handed to the gateway as env vars filled by `secretKeyRef`; the config names
//! the variable (`headerValueEnv`, `clientSecretEnv`), never the value. Env names follow
//! ToolHive (`TOOLHIVE_HEADER_INJECTION_VALUE_<CFG>`, `TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_<CFG>`)
//! so a gateway config written for ToolHive reads the same. Types vmcp cannot honour fail
//! with a sentence naming the config and type, never a silent downgrade to no auth.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;
use vmcp_api::ExternalAuthType;
use vmcp_api::virtual_server::{BackendAuthConfig, BackendAuthType, OutgoingAuthConfig};
use vmcp_config::{BackendAuthStrategy, HeaderInjection, StrategyType, TokenExchange};

use crate::discovery::Backend;
use crate::env_fragment;
use crate::headers::secret_env;
use crate::world::World;

/// A converted strategy and the env vars it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    pub strategy: BackendAuthStrategy,
    pub env: Vec<EnvVar>,
}

/// Expands ToolHive's short token-type names to RFC 8693 URNs.
fn token_type_urn(t: &str) -> String {
    match t {
        "access_token" => "urn:ietf:params:oauth:token-type:access_token".into(),
        "id_token" => "urn:ietf:params:oauth:token-type:id_token".into(),
        "jwt" => "urn:ietf:params:oauth:token-type:jwt".into(),
        other => other.into(),
    }
}

fn check_secret(world: &World, cfg: &str, secret: &str, key: &str) -> Result<(), String> {
    match world.secret_has_key(secret, key) {
        Some(true) => Ok(()),
        Some(false) => Err(format!(
            "Secret {secret} referenced by MCPExternalAuthConfig {cfg} has no key {key}"
        )),
        None => Err(format!(
            "Secret {secret} referenced by MCPExternalAuthConfig {cfg} not found"
        )),
    }
}

/// Converts the MCPExternalAuthConfig `name` of the world.
pub fn convert(name: &str, world: &World) -> Result<Converted, String> {
    let cfg = world
        .auth_configs
        .get(name)
        .ok_or_else(|| format!("MCPExternalAuthConfig {name} not found"))?;
    let spec = &cfg.spec;
    let strategy = |t: StrategyType| BackendAuthStrategy {
        strategy_type: Some(t),
        ..Default::default()
    };
    match spec.auth_type {
        ExternalAuthType::Unauthenticated => Ok(Converted {
            strategy: strategy(StrategyType::Unauthenticated),
            env: vec![],
        }),
        ExternalAuthType::HeaderInjection => {
            let h = spec
                .header_injection
                .as_ref()
                .ok_or_else(|| format!("MCPExternalAuthConfig {name}: spec.headerInjection is required for type headerInjection"))?;
            if h.header_name.trim().is_empty() {
                return Err(format!(
                    "MCPExternalAuthConfig {name}: spec.headerInjection.headerName is empty"
                ));
            }
            let s = &h.value_secret_ref;
            check_secret(world, name, &s.name, &s.key)?;
            let env = format!("TOOLHIVE_HEADER_INJECTION_VALUE_{}", env_fragment(name));
            Ok(Converted {
                strategy: BackendAuthStrategy {
                    header_injection: Some(HeaderInjection {
                        header_name: h.header_name.clone(),
                        header_value: String::new(),
                        header_value_env: env.clone(),
                    }),
                    ..strategy(StrategyType::HeaderInjection)
                },
                env: vec![secret_env(&env, &s.name, &s.key)],
            })
        }
        ExternalAuthType::TokenExchange => {
            let t = spec
                .token_exchange
                .as_ref()
                .ok_or_else(|| format!("MCPExternalAuthConfig {name}: spec.tokenExchange is required for type tokenExchange"))?;
            if !t.unknown.is_empty() {
                let keys: Vec<&str> = t.unknown.keys().map(String::as_str).collect();
                return Err(format!(
                    "MCPExternalAuthConfig {name}: unknown field(s) in spec.tokenExchange: {} (fields are camelCase, e.g. tokenUrl)",
                    keys.join(", ")
                ));
            }
            let required = |v: &Option<String>, field: &str| {
                v.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                    format!("MCPExternalAuthConfig {name}: spec.tokenExchange.{field} is required")
                })
            };
            let token_url = required(&t.token_url, "tokenUrl")?;
            let audience = required(&t.audience, "audience")?;
            if t.external_token_header_name.is_some() {
                return Err(format!(
                    "MCPExternalAuthConfig {name}: spec.tokenExchange.externalTokenHeaderName is not supported by vmcp yet"
                ));
            }
            if t.subject_provider_name.is_some() {
                return Err(format!(
                    "MCPExternalAuthConfig {name}: spec.tokenExchange.subjectProviderName is not supported by vmcp yet (it needs an embedded authorization server)"
                ));
            }
            let mut env = vec![];
            let mut client_secret_env = String::new();
            if let Some(s) = &t.client_secret_ref {
                check_secret(world, name, &s.name, &s.key)?;
                client_secret_env = format!(
                    "TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_{}",
                    env_fragment(name)
                );
                env.push(secret_env(&client_secret_env, &s.name, &s.key));
            }
            Ok(Converted {
                strategy: BackendAuthStrategy {
                    token_exchange: Some(TokenExchange {
                        token_url,
                        client_id: t.client_id.clone().unwrap_or_default(),
                        client_secret: String::new(),
                        client_secret_env,
                        audience,
                        scopes: t.scopes.clone().unwrap_or_default(),
                        subject_token_type: t
                            .subject_token_type
                            .as_deref()
                            .map(token_type_urn)
                            .unwrap_or_default(),
                        subject_provider_name: String::new(),
                    }),
                    ..strategy(StrategyType::TokenExchange)
                },
                env,
            })
        }
        other => Err(format!(
            "MCPExternalAuthConfig {name} has type {}, which vmcp does not support yet",
            other.as_str()
        )),
    }
}

/// The outgoing-auth part of a render: strategies, env vars, and what went wrong.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthPlan {
    pub default: Option<BackendAuthStrategy>,
    /// Per-backend strategies written to `outgoingAuth.backends`.
    pub backends: BTreeMap<String, BackendAuthStrategy>,
    /// Env vars, deduplicated by name.
    pub env: BTreeMap<String, EnvVar>,
    /// The auth config each backend ends up using, for status.
    pub config_refs: BTreeMap<String, String>,
    /// Backends whose auth could not be resolved (excluded from the gateway), with why.
    pub failed: BTreeMap<String, String>,
    /// Problems that concern the whole server (the default strategy), with why.
    pub global_errors: Vec<String>,
}

impl AuthPlan {
    fn add_env(&mut self, env: Vec<EnvVar>) {
        for e in env {
            self.env.insert(e.name.clone(), e);
        }
    }
}

/// Resolves outgoing auth for the discovered backends.
///
/// Precedence: `spec.outgoingAuth.backends[name]` (type `externalAuthConfigRef`), then the
/// backend's own `externalAuthConfigRef`, then `spec.outgoingAuth.default` (applied by the
/// gateway). An override of type `discovered` means "use what the backend declares". In
/// static mode every resolved per-backend strategy is written, with its secrets mounted as
/// env vars, and a backend whose auth cannot be resolved is left out (`failed`); in dynamic
/// mode only the spec's overrides and default are (with theirs), the gateway resolves each
/// backend's own config and its Secret through the API (leaving out what fails), and an
/// override that cannot be resolved is a `global_errors` entry, because the gateway would
/// otherwise fall back to other credentials for that backend.
pub fn plan(
    outgoing: Option<&OutgoingAuthConfig>,
    backends: &[Backend],
    world: &World,
    static_mode: bool,
) -> AuthPlan {
    let mut plan = AuthPlan::default();
    let overrides = outgoing.and_then(|o| o.backends.as_ref());

    if let Some(d) = outgoing.and_then(|o| o.default.as_ref()) {
        match by_ref(d, "spec.outgoingAuth.default") {
            Ok(Some(cfg)) => match convert(&cfg, world) {
                Ok(c) => {
                    plan.add_env(c.env);
                    plan.default = Some(c.strategy);
                }
                Err(e) => plan
                    .global_errors
                    .push(format!("spec.outgoingAuth.default: {e}")),
            },
            Ok(None) => {}
            Err(e) => plan.global_errors.push(e),
        }
    }
    for (name, o) in overrides.into_iter().flatten() {
        if static_mode {
            continue; // resolved per discovered backend below
        }
        match by_ref(o, &format!("spec.outgoingAuth.backends[{name}]")) {
            Ok(Some(cfg)) => match convert(&cfg, world) {
                Ok(c) => {
                    plan.add_env(c.env);
                    plan.backends.insert(name.clone(), c.strategy);
                    plan.config_refs.insert(name.clone(), cfg);
                }
                // Not a per-backend exclusion as in static mode: the gateway discovers its
                // backends itself and would serve this one with its own or the default
                // credentials. The spec is what is broken, so nothing is rendered (the
                // running gateway keeps its last good config) until it is fixed.
                Err(e) => plan
                    .global_errors
                    .push(format!("spec.outgoingAuth.backends[{name}]: {e}")),
            },
            Ok(None) => {}
            Err(e) => plan.global_errors.push(e),
        }
    }
    for b in backends {
        let over = overrides.and_then(|o| o.get(&b.name));
        let (cfg, from_override) = match over {
            Some(o) => match by_ref(o, &format!("spec.outgoingAuth.backends[{}]", b.name)) {
                Ok(Some(cfg)) => (Some(cfg), true),
                Ok(None) => (b.auth_config_ref.clone(), false),
                Err(e) => {
                    plan.global_errors.push(e);
                    continue;
                }
            },
            None => (b.auth_config_ref.clone(), false),
        };
        let Some(cfg) = cfg else { continue };
        if !static_mode && from_override {
            continue; // handled above
        }
        match convert(&cfg, world) {
            Ok(c) => {
                plan.config_refs.insert(b.name.clone(), cfg);
                if static_mode {
                    plan.add_env(c.env);
                    plan.backends.insert(b.name.clone(), c.strategy);
                }
            }
            Err(e) => {
                plan.failed.insert(b.name.clone(), e);
            }
        }
    }
    plan
}

/// The config name a BackendAuthConfig points at (`None` for `discovered`).
fn by_ref(c: &BackendAuthConfig, path: &str) -> Result<Option<String>, String> {
    match c.auth_type {
        BackendAuthType::Discovered => Ok(None),
        BackendAuthType::ExternalAuthConfigRef => c
            .external_auth_config_ref
            .as_ref()
            .map(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .map(Some)
            .ok_or_else(|| format!("{path}.externalAuthConfigRef.name is required when type is externalAuthConfigRef")),
    }
}
