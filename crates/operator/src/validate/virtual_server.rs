//! Validation of a VirtualMCPServer's spec, and the gateway config it starts from.
//!
//! `spec.config` is parsed strictly: an unknown or misspelt key is a clear `Valid=False`
//! message naming the key, not a silently dropped setting. Spec-level features vmcp does not
//! implement yet are refused by name for the same reason, and so are config sections the
//! shared config validator reports as not supported (optimizer, composite tools, ...).

use vmcp_api::VirtualMCPServer;
use vmcp_api::virtual_server::{
    AuthzConfigType, BackendAuthType, IncomingAuthType, SessionStorageProvider,
};
use vmcp_config::{Config, IncomingAuth, LoadError, Problem, Severity};

use super::authz;
use vmcp_core::world::World;

/// The spec checked, with the gateway config it implies (before backends and outgoing auth).
#[derive(Clone, Debug, PartialEq)]
pub struct SpecCheck {
    pub config: Config,
    /// Non-blocking findings, shown in the `Valid` condition's message.
    pub warnings: Vec<String>,
}

/// Checks the spec; `Err` holds every problem, each naming its field.
pub fn check_spec(vmcp: &VirtualMCPServer, world: &World) -> Result<SpecCheck, Vec<String>> {
    let spec = &vmcp.spec;
    let mut problems = Vec::new();
    let name = vmcp.metadata.name.clone().unwrap_or_default();
    if spec.group_ref.name.trim().is_empty() {
        problems.push("spec.groupRef.name is required".to_string());
    }

    let mut config = match spec.config.clone() {
        None | Some(serde_json::Value::Null) => Config::default(),
        // Lenient read so an unknown key is reported together with every other problem;
        // unknown keys still fail validation (they are never silently dropped).
        Some(v) => match Config::from_json_value_lenient(v) {
            Ok((c, unknown)) => {
                problems.extend(
                    unknown
                        .iter()
                        .map(|p| format!("spec.config.{p}: unknown field")),
                );
                c
            }
            Err(e) => {
                problems.extend(config_load_problems(&e));
                Config::default()
            }
        },
    };

    problems.extend(super::names::check_virtual_server_name(&name));
    let incoming = &spec.incoming_auth;
    let spec_incoming = match incoming.auth_type {
        IncomingAuthType::Anonymous => vmcp_config::IncomingAuthType::Anonymous,
        IncomingAuthType::Oidc => vmcp_config::IncomingAuthType::Oidc,
    };
    // `type: oidc` takes its provider from the MCPOIDCConfig reference (resolved by the
    // render's first stage, which owns its condition) or, in the older shape the API server's
    // CEL rule no longer admits, from `spec.config.incomingAuth.oidc` as written.
    let written_oidc = (incoming.auth_type == IncomingAuthType::Oidc
        && incoming.oidc_config_ref.is_none())
    .then(|| config.incoming_auth.as_ref().and_then(|a| a.oidc.clone()))
    .flatten();
    let (errors, superseded) = super::superseded::superseded_keys(
        &config,
        &name,
        &spec.group_ref.name,
        spec_incoming,
        written_oidc.is_some(),
    );
    problems.extend(errors);
    // Backends are filled in by render (static mode) or the gateway (dynamic mode).
    config.backends.clear();

    // Spec-level features without an implementation: refuse by name.
    // ToolHive's operator ignores the inline section beside a reference; so does ours, and
    // says so (the Valid condition's warnings).
    let replaced_telemetry = (spec.telemetry_config_ref.is_some() && config.telemetry.is_some())
        .then(|| {
            "spec.config.telemetry is ignored: spec.telemetryConfigRef replaces it".to_owned()
        });
    if spec.embedding_server_ref.is_some() {
        problems.push("spec.embeddingServerRef: EmbeddingServer references (optimizer) are not supported by vmcp yet".into());
    }
    if spec.auth_server_config.is_some() {
        problems.push(
            "spec.authServerConfig: the embedded authorization server is not supported by vmcp yet"
                .into(),
        );
    }
    if incoming.auth_type == IncomingAuthType::Oidc
        && incoming.oidc_config_ref.is_none()
        && written_oidc.is_none()
    {
        problems.push(
            "spec.incomingAuth.oidcConfigRef is required when type is oidc (no spec.config.incomingAuth.oidc either): the gateway would have no issuer to check tokens against"
                .into(),
        );
    }
    // Inline policies are part of the spec; a ConfigMap's are read when rendering (a
    // missing or broken ConfigMap is an AuthConfigured condition, not a spec problem).
    let authz = match &incoming.authz_config {
        Some(a) if a.authz_type == AuthzConfigType::Inline => match authz::inline(a) {
            Ok(cfg) => Some(cfg),
            Err(ps) => {
                problems.extend(ps);
                None
            }
        },
        _ => None,
    };
    if let Some(out) = &spec.outgoing_auth {
        let mut check = |path: String, c: &vmcp_api::virtual_server::BackendAuthConfig| {
            if c.auth_type == BackendAuthType::ExternalAuthConfigRef
                && c.external_auth_config_ref
                    .as_ref()
                    .is_none_or(|r| r.name.is_empty())
            {
                problems.push(format!("{path}.externalAuthConfigRef.name is required when type is externalAuthConfigRef"));
            }
        };
        if let Some(d) = &out.default {
            check("spec.outgoingAuth.default".into(), d);
        }
        for (k, c) in out.backends.iter().flatten() {
            check(format!("spec.outgoingAuth.backends[{k}]"), c);
        }
    }

    resolve_tool_configs(&mut config, world, &mut problems);
    config.name = name;
    config.group_ref = spec.group_ref.name.clone();
    // spec.incomingAuth supersedes config.incomingAuth, as in ToolHive. With an
    // oidcConfigRef the provider is filled in by the render's first stage once the reference
    // resolves (and the final config is validated again there); until then this config must
    // never be served, and the render stops if the reference does not resolve.
    let oidc = written_oidc.map(|mut o| {
        if o.resource.trim().is_empty() {
            o.resource = super::oidc::default_resource(None, &config.name, &world.namespace);
        }
        o
    });
    let auth_type = if oidc.is_some() {
        vmcp_config::IncomingAuthType::Oidc
    } else {
        vmcp_config::IncomingAuthType::Anonymous
    };
    config.incoming_auth = Some(IncomingAuth {
        auth_type: Some(auth_type),
        oidc,
        authz,
    });
    if let Some(h) = spec.passthrough_headers.as_ref().filter(|h| !h.is_empty()) {
        config.passthrough_headers = h.clone();
    }
    if let Some(s) = &spec.session_storage {
        let mut m = serde_json::Map::new();
        let provider = match s.provider {
            SessionStorageProvider::Memory => "memory",
            SessionStorageProvider::Redis => "redis",
        };
        m.insert("provider".into(), provider.into());
        if let Some(a) = &s.address {
            m.insert("address".into(), a.clone().into());
        }
        config.session_storage = Some(m);
    }
    config.apply_defaults();

    let mut warnings = superseded;
    warnings.extend(replaced_telemetry);
    for p in config.validate().problems {
        match p.severity {
            Severity::Error => problems.push(describe(&p)),
            Severity::Warning => warnings.push(describe(&p)),
        }
    }
    if problems.is_empty() {
        Ok(SpecCheck { config, warnings })
    } else {
        Err(problems)
    }
}

/// Names a config problem by the spec field the user wrote.
pub fn describe(p: &Problem) -> String {
    let path = &p.path;
    let spec_path = if path.is_empty() {
        "spec.config".to_string()
    } else if let Some(rest) = path.strip_prefix("incomingAuth.oidc") {
        format!("spec.config.incomingAuth.oidc{rest} (as rendered)")
    } else if let Some(rest) = path.strip_prefix("incomingAuth.authz") {
        format!("spec.incomingAuth.authzConfig{rest}")
    } else if path.starts_with("incomingAuth") {
        format!("spec.{path}")
    } else if path.starts_with("backends") {
        format!("generated {path}")
    } else {
        format!("spec.config.{path}")
    };
    format!("{spec_path}: {}", p.message)
}

fn config_load_problems(e: &LoadError) -> Vec<String> {
    match e {
        LoadError::Invalid { path, message, .. } if !path.is_empty() => {
            vec![format!("spec.config.{path}: {message}")]
        }
        LoadError::UnknownFields { paths } => paths
            .iter()
            .map(|p| format!("spec.config.{p}: unknown field"))
            .collect(),
        other => vec![format!("spec.config: {other}")],
    }
}

/// Inlines `aggregation.tools[].toolConfigRef` (an MCPToolConfig) into `filter` and
/// `overrides`, so the gateway never needs to read MCPToolConfig objects. As in ToolHive, an
/// inline filter wins over the referenced one, and inline overrides win per tool name.
fn resolve_tool_configs(config: &mut Config, world: &World, problems: &mut Vec<String>) {
    let Some(agg) = config.aggregation.as_mut() else {
        return;
    };
    for (i, tools) in agg.tools.iter_mut().enumerate() {
        let Some(r) = tools.tool_config_ref.take() else {
            continue;
        };
        let Some(tc) = world.tool_configs.get(&r.name) else {
            problems.push(format!(
                "spec.config.aggregation.tools[{i}].toolConfigRef: MCPToolConfig {} not found",
                r.name
            ));
            continue;
        };
        if tools.filter.is_empty() {
            tools.filter = tc.spec.tools_filter.clone();
        }
        for (tool, o) in &tc.spec.tools_override {
            tools
                .overrides
                .entry(tool.clone())
                .or_insert_with(|| o.clone());
        }
    }
}
