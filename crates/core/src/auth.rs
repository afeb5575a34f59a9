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
use vmcp_api::external_auth::{MCPExternalAuthConfigSpec, TokenExchangeConfig};
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

/// The token-exchange settings with ToolHive's older snake_case keys (`token_url`,
/// `client_id`, `client_secret_ref`, `subject_token_type`, and `scope` as one space-separated
/// string) read as their camelCase fields, which ToolHive's own examples still use. A key
/// spelt both ways with different values, or any other unknown key, is a problem naming it.
pub fn normalized_token_exchange(
    t: &TokenExchangeConfig,
) -> Result<TokenExchangeConfig, Vec<String>> {
    let mut out = t.clone();
    out.unknown.clear();
    let mut problems = vec![];
    let at = "spec.tokenExchange";
    for (key, value) in &t.unknown {
        let text = || value.as_str().map(str::to_owned);
        let conflict = |field: &str| {
            format!("{at}: {key} and {field} are both set, to different values; keep {field}")
        };
        let mut put = |slot: &mut Option<String>, field: &str| match (text(), slot.as_ref()) {
            (None, _) => problems.push(format!("{at}.{key}: must be a string")),
            (Some(v), Some(old)) if *old != v => problems.push(conflict(field)),
            (Some(v), _) => *slot = Some(v),
        };
        match key.as_str() {
            "token_url" => put(&mut out.token_url, "tokenUrl"),
            "client_id" => put(&mut out.client_id, "clientId"),
            "subject_token_type" => put(&mut out.subject_token_type, "subjectTokenType"),
            "external_token_header_name" => put(
                &mut out.external_token_header_name,
                "externalTokenHeaderName",
            ),
            "client_secret_ref" => match serde_json::from_value(value.clone()) {
                Ok(r) if out.client_secret_ref.as_ref().is_none_or(|old| *old == r) => {
                    out.client_secret_ref = Some(r)
                }
                Ok(_) => problems.push(conflict("clientSecretRef")),
                Err(_) => problems.push(format!("{at}.{key}: must be {{name, key}}")),
            },
            "scope" => match value.as_str() {
                Some(v) => {
                    let scopes: Vec<String> = v.split_whitespace().map(str::to_owned).collect();
                    if out.scopes.as_ref().is_some_and(|old| *old != scopes) {
                        problems.push(conflict("scopes"));
                    } else {
                        out.scopes = Some(scopes);
                    }
                }
                None => problems.push(format!("{at}.{key}: must be a space-separated string")),
            },
            _ => problems.push(format!(
                "{at}: unknown field {key} (fields are camelCase, e.g. tokenUrl)"
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Every problem of an MCPExternalAuthConfig spec on its own (no Secret is looked at), each
/// naming its field: what its `Valid` condition reports, and what stops a render that uses it.
pub fn spec_problems(spec: &MCPExternalAuthConfigSpec) -> Vec<String> {
    let mut problems = vec![];
    let ty = spec.auth_type.as_str();
    let missing = |field: &str| format!("spec.{field} is required for type {ty}");
    match spec.auth_type {
        ExternalAuthType::Unauthenticated => {}
        ExternalAuthType::HeaderInjection => match &spec.header_injection {
            None => problems.push(missing("headerInjection")),
            Some(h) => {
                let name = h.header_name.trim();
                if name.is_empty() {
                    problems.push("spec.headerInjection.headerName is empty".into());
                } else if !vmcp_config::is_header_name(name) {
                    problems.push(format!(
                        "spec.headerInjection.headerName: {name:?} is not a valid HTTP header name"
                    ));
                }
            }
        },
        ExternalAuthType::BearerToken => {
            if spec.bearer_token.is_none() {
                problems.push(missing("bearerToken"));
            }
        }
        ExternalAuthType::TokenExchange => match &spec.token_exchange {
            None => problems.push(missing("tokenExchange")),
            Some(t) => match normalized_token_exchange(t) {
                Err(p) => problems.extend(p),
                Ok(t) => problems.extend(token_exchange_problems(&t)),
            },
        },
        other => problems.push(format!(
            "spec.type: {} is not supported by vmcp yet (supported: unauthenticated, headerInjection, bearerToken, tokenExchange)",
            other.as_str()
        )),
    }
    problems
}

fn token_exchange_problems(t: &TokenExchangeConfig) -> Vec<String> {
    let mut problems = vec![];
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    if blank(&t.token_url) {
        problems.push("spec.tokenExchange.tokenUrl is required".into());
    } else if let Some(u) = &t.token_url {
        // The gateway refuses a plain-http token endpoint unless told otherwise, and an
        // MCPExternalAuthConfig has no such switch: say so here, not in a crash-looping pod.
        match url::Url::parse(u) {
            Ok(p) if p.scheme() == "https" && p.host_str().is_some() => {}
            Ok(_) => problems.push(format!(
                "spec.tokenExchange.tokenUrl: {u:?} must be an https URL (the caller's token and the client secret are sent to it)"
            )),
            Err(e) => problems.push(format!("spec.tokenExchange.tokenUrl: {u:?} is not a URL: {e}")),
        }
    }
    if blank(&t.audience) {
        problems.push("spec.tokenExchange.audience is required".into());
    }
    if t.client_secret_ref.is_some() && blank(&t.client_id) {
        problems.push("spec.tokenExchange.clientSecretRef needs clientId".into());
    }
    if t.external_token_header_name.is_some() {
        problems.push("spec.tokenExchange.externalTokenHeaderName is not supported by vmcp: the subject token is always the caller's validated token, so the identity exchanged is the identity authorized".into());
    }
    if t.subject_provider_name.is_some() {
        problems.push("spec.tokenExchange.subjectProviderName is not supported by vmcp yet (it needs an embedded authorization server)".into());
    }
    problems
}

/// Converts the MCPExternalAuthConfig `name` of the world.
pub fn convert(name: &str, world: &World) -> Result<Converted, String> {
    let cfg = world
        .auth_configs
        .get(name)
        .ok_or_else(|| format!("MCPExternalAuthConfig {name} not found"))?;
    let spec = &cfg.spec;
    let problems = spec_problems(spec);
    if !problems.is_empty() {
        return Err(format!(
            "MCPExternalAuthConfig {name}: {}",
            problems.join("; ")
        ));
    }
    let strategy = |t: StrategyType| BackendAuthStrategy {
        strategy_type: Some(t),
        ..Default::default()
    };
    // `spec_problems` vouched for every sub-object and field used below.
    let header = |header_name: &str, env: &str, prefix: &str| HeaderInjection {
        header_name: header_name.trim().to_owned(),
        header_value: String::new(),
        header_value_env: env.to_owned(),
        header_value_prefix: prefix.to_owned(),
    };
    match (
        spec.auth_type,
        &spec.header_injection,
        &spec.bearer_token,
        &spec.token_exchange,
    ) {
        (ExternalAuthType::HeaderInjection, Some(h), _, _) => {
            let s = &h.value_secret_ref;
            check_secret(world, name, &s.name, &s.key)?;
            let env = format!("TOOLHIVE_HEADER_INJECTION_VALUE_{}", env_fragment(name));
            Ok(Converted {
                strategy: BackendAuthStrategy {
                    header_injection: Some(header(&h.header_name, &env, "")),
                    ..strategy(StrategyType::HeaderInjection)
                },
                env: vec![secret_env(&env, &s.name, &s.key)],
            })
        }
        (ExternalAuthType::BearerToken, _, Some(b), _) => {
            let s = &b.token_secret_ref;
            check_secret(world, name, &s.name, &s.key)?;
            let env = format!("TOOLHIVE_BEARER_TOKEN_{}", env_fragment(name));
            Ok(Converted {
                strategy: BackendAuthStrategy {
                    header_injection: Some(header("Authorization", &env, "Bearer ")),
                    ..strategy(StrategyType::HeaderInjection)
                },
                env: vec![secret_env(&env, &s.name, &s.key)],
            })
        }
        (ExternalAuthType::TokenExchange, _, _, Some(t)) => {
            let t = normalized_token_exchange(t).map_err(|p| p.join("; "))?;
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
                        token_url: t.token_url.clone().unwrap_or_default(),
                        client_id: t.client_id.clone().unwrap_or_default(),
                        client_secret: String::new(),
                        client_secret_env,
                        audience: t.audience.clone().unwrap_or_default(),
                        scopes: t.scopes.clone().unwrap_or_default(),
                        subject_token_type: t
                            .subject_token_type
                            .as_deref()
                            .map(token_type_urn)
                            .unwrap_or_default(),
                        subject_provider_name: String::new(),
                        // Not in ToolHive's CRD: an MCPExternalAuthConfig's endpoint must be
                        // public and https (docs/AUTH.md, "Token exchange").
                        allow_private_ip: false,
                        insecure_allow_http: false,
                    }),
                    ..strategy(StrategyType::TokenExchange)
                },
                env,
            })
        }
        _ => Ok(Converted {
            strategy: strategy(StrategyType::Unauthenticated),
            env: vec![],
        }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> MCPExternalAuthConfigSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn snake_case_token_exchange_reads_as_camel_case() {
        let s = spec(json!({"type": "tokenExchange", "tokenExchange": {
            "token_url": "https://idp.example/token", "client_id": "gw",
            "client_secret_ref": {"name": "s", "key": "k"}, "audience": "crm",
            "scope": "read  write", "subject_token_type": "jwt"}}));
        assert!(spec_problems(&s).is_empty(), "{:?}", spec_problems(&s));
        let t = normalized_token_exchange(s.token_exchange.as_ref().unwrap()).unwrap();
        assert_eq!(t.token_url.as_deref(), Some("https://idp.example/token"));
        assert_eq!(t.client_id.as_deref(), Some("gw"));
        assert_eq!(t.client_secret_ref.as_ref().unwrap().name, "s");
        assert_eq!(
            t.scopes,
            Some(vec!["read".to_string(), "write".to_string()])
        );
        assert!(t.unknown.is_empty());
    }

    #[test]
    fn conflicting_and_unknown_keys_are_named() {
        let s = spec(json!({"type": "tokenExchange", "tokenExchange": {
            "tokenUrl": "https://a.example/token", "token_url": "https://b.example/token",
            "audience": "crm", "tokenURL": "x"}}));
        let p = spec_problems(&s).join("; ");
        assert!(p.contains("token_url and tokenUrl are both set"), "{p}");
        assert!(p.contains("unknown field tokenURL"), "{p}");
        // The same value both ways is no conflict.
        let s = spec(json!({"type": "tokenExchange", "tokenExchange": {
            "tokenUrl": "https://a.example/token", "token_url": "https://a.example/token",
            "audience": "crm"}}));
        assert!(spec_problems(&s).is_empty(), "{:?}", spec_problems(&s));
    }

    #[test]
    fn spec_problems_name_their_fields() {
        for (v, want) in [
            (
                json!({"type": "tokenExchange", "tokenExchange": {"tokenUrl": "http://idp.example/t", "audience": "a"}}),
                "must be an https URL",
            ),
            (
                json!({"type": "tokenExchange", "tokenExchange": {"tokenUrl": "https://idp.example/t"}}),
                "spec.tokenExchange.audience is required",
            ),
            (
                json!({"type": "tokenExchange", "tokenExchange": {"tokenUrl": "https://idp.example/t", "audience": "a", "clientSecretRef": {"name": "s", "key": "k"}}}),
                "clientSecretRef needs clientId",
            ),
            (
                json!({"type": "tokenExchange", "tokenExchange": {"tokenUrl": "https://idp.example/t", "audience": "a", "externalTokenHeaderName": "X-Up"}}),
                "externalTokenHeaderName is not supported",
            ),
            (
                json!({"type": "tokenExchange"}),
                "spec.tokenExchange is required for type tokenExchange",
            ),
            (
                json!({"type": "headerInjection", "headerInjection": {"headerName": "bad name", "valueSecretRef": {"name": "s", "key": "k"}}}),
                "is not a valid HTTP header name",
            ),
            (
                json!({"type": "bearerToken"}),
                "spec.bearerToken is required",
            ),
            (
                json!({"type": "awsSts", "awsSts": {"region": "eu-west-1"}}),
                "spec.type: awsSts is not supported by vmcp yet",
            ),
        ] {
            let p = spec_problems(&spec(v.clone())).join("; ");
            assert!(p.contains(want), "{v}: {p}");
        }
        let ok = spec(
            json!({"type": "bearerToken", "bearerToken": {"tokenSecretRef": {"name": "s", "key": "k"}}}),
        );
        assert!(spec_problems(&ok).is_empty());
    }
}
