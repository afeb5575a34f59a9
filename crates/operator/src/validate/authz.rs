//! `spec.incomingAuth.authzConfig` → the gateway config's `incomingAuth.authz`.
//!
//! Two sources, as in ToolHive: `inline` policies in the spec, or a ConfigMap holding
//! ToolHive's authorization file (`authz.json` by default):
//!
//! ```json
//! {"version": "1.0", "type": "cedarv1",
//!  "cedar": {"policies": ["permit(...);"], "entities_json": "[]",
//!            "group_claim_name": "...", "role_claim_name": "...", "group_entity_type": "..."}}
//! ```
//!
//! (YAML of the same shape is accepted too.) Spec-level claim names win over the file's.
//! The policies are parsed here with the gateway's own parser, so a bad policy is a
//! condition naming its field instead of a gateway that will not start. An inline problem is
//! a spec problem (`Valid`); a ConfigMap problem is an `AuthConfigured` condition with
//! ToolHive's reasons, since fixing it means fixing the ConfigMap, which is watched.

use serde::Deserialize;
use vmcp_api::virtual_server::{AuthzConfig as SpecAuthz, AuthzConfigType};
use vmcp_config::{AuthzConfig, AuthzType, CedarError};

use vmcp_core::world::World;

use super::RefProblem;

/// The key of ToolHive's authorization file in a ConfigMap when `configMap.key` is empty.
pub const DEFAULT_KEY: &str = "authz.json";
/// The only authorizer type of ToolHive's file (and of an MCPAuthzConfig) that vmcp, like
/// ToolHive's vMCP, accepts.
use vmcp_api::authz_config::CEDAR_V1;

pub const REASON_NOT_FOUND: &str = "AuthzConfigMapNotFound";
pub const REASON_INVALID: &str = "AuthzConfigMapInvalid";

/// Why the authorization ConfigMap cannot be used: ToolHive's `AuthConfigured` reason and a
/// message naming the field and the ConfigMap.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigMapProblem {
    pub reason: &'static str,
    pub message: String,
}

const FIELD: &str = "spec.incomingAuth.authzConfig";

/// The spec's claim-name settings over `base` (spec wins when set).
fn with_spec_claims(mut base: AuthzConfig, spec: &SpecAuthz) -> AuthzConfig {
    let set = |field: &mut String, v: &Option<String>| {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            field.clone_from(v);
        }
    };
    set(&mut base.group_claim_name, &spec.group_claim_name);
    set(&mut base.role_claim_name, &spec.role_claim_name);
    set(&mut base.group_entity_type, &spec.group_entity_type);
    base
}

/// The inline source, or every problem of it (each naming its spec field).
pub fn inline(spec: &SpecAuthz) -> Result<AuthzConfig, Vec<String>> {
    let Some(inline) = &spec.inline else {
        return Err(vec![format!(
            "{FIELD}.inline is required when type is inline"
        )]);
    };
    let mut problems = Vec::new();
    if inline
        .primary_upstream_provider
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        problems.push(format!("{FIELD}.inline.primaryUpstreamProvider: not supported (it needs an embedded authorization server)"));
    }
    let cfg = with_spec_claims(
        AuthzConfig {
            authz_type: Some(AuthzType::Cedar),
            policies: inline.policies.clone(),
            entities_json: inline.entities_json.clone(),
            ..AuthzConfig::default()
        },
        spec,
    );
    if let Err(errors) = cfg.parse_cedar() {
        problems.extend(
            errors
                .iter()
                .map(|e| format!("{FIELD}.inline.{}: {}", e.path(), e.message())),
        );
    }
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(problems)
    }
}

/// The name and key of the ConfigMap source, when the type is `configMap`.
pub fn config_map_ref(spec: &SpecAuthz) -> Option<(&str, &str)> {
    if spec.authz_type != AuthzConfigType::ConfigMap {
        return None;
    }
    let r = spec.config_map.as_ref()?;
    let key = if r.key.is_empty() {
        DEFAULT_KEY
    } else {
        &r.key
    };
    Some((&r.name, key))
}

/// ToolHive's authorization file (only what vmcp reads; other keys are ignored as there).
#[derive(Deserialize)]
struct AuthzFile {
    #[serde(default)]
    version: String,
    #[serde(default, rename = "type")]
    kind: String,
    cedar: Option<CedarOptions>,
}

#[derive(Deserialize)]
struct CedarOptions {
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    entities_json: String,
    #[serde(default)]
    group_claim_name: String,
    #[serde(default)]
    role_claim_name: String,
    #[serde(default)]
    group_entity_type: String,
    /// Refused on an MCPAuthzConfig (it needs an embedded authorization server); ignored in
    /// the ConfigMap file, as before.
    #[serde(default)]
    primary_upstream_provider: Option<String>,
}

impl CedarOptions {
    /// The gateway's `incomingAuth.authz` of these options.
    fn into_config(self) -> AuthzConfig {
        AuthzConfig {
            authz_type: Some(AuthzType::Cedar),
            policies: self.policies,
            entities_json: self.entities_json,
            group_claim_name: self.group_claim_name,
            role_claim_name: self.role_claim_name,
            group_entity_type: self.group_entity_type,
            ..AuthzConfig::default()
        }
    }
}

/// The ConfigMap source read from the world and parsed.
pub fn from_config_map(spec: &SpecAuthz, world: &World) -> Result<AuthzConfig, ConfigMapProblem> {
    let field = format!("{FIELD}.configMap");
    let Some((name, key)) = config_map_ref(spec) else {
        return Err(ConfigMapProblem {
            reason: REASON_INVALID,
            message: format!("{field} is required when type is configMap"),
        });
    };
    let ns = &world.namespace;
    let not_found = |what: String| ConfigMapProblem {
        reason: REASON_NOT_FOUND,
        message: format!("{field}: {what}"),
    };
    let invalid = |what: String| ConfigMapProblem {
        reason: REASON_INVALID,
        message: format!("{field}: ConfigMap {ns}/{name} key {key:?}: {what}"),
    };
    let data = world
        .config_maps
        .get(name)
        .ok_or_else(|| not_found(format!("ConfigMap {ns}/{name} not found")))?;
    let text = data
        .get(key)
        .ok_or_else(|| not_found(format!("ConfigMap {ns}/{name} has no key {key:?}")))?;
    if text.trim().is_empty() {
        return Err(invalid("is empty".into()));
    }
    // YAML reads JSON as well; the file is bounded by the ConfigMap size limit.
    let file: AuthzFile = serde_yaml::from_str(text)
        .map_err(|e| invalid(format!("is not an authorization config: {e}")))?;
    if file.version.is_empty() {
        return Err(invalid("version is required".into()));
    }
    if file.kind != CEDAR_V1 {
        return Err(invalid(format!(
            "type {:?} is not supported; only {CEDAR_V1} is",
            file.kind
        )));
    }
    let Some(cedar) = file.cedar else {
        return Err(invalid("the cedar section is required".into()));
    };
    let cfg = with_spec_claims(cedar.into_config(), spec);
    cfg.parse_cedar().map_err(|errors| {
        let all: Vec<String> = errors.iter().map(file_problem).collect();
        invalid(all.join("; "))
    })?;
    Ok(cfg)
}

/// ToolHive's condition for `spec.incomingAuth.authzConfigRef`, and its reasons.
pub const REF_CONDITION: &str = "AuthzConfigRefValidated";
pub const REF_VALID: &str = "AuthzConfigRefValid";
pub const REF_NOT_FOUND: &str = "AuthzConfigRefNotFound";
pub const REF_NOT_VALID: &str = "AuthzConfigRefNotValid";

/// An MCPAuthzConfig's settings as the gateway's `incomingAuth.authz`, or every problem of
/// it, each naming its spec field (its own `Valid` condition). Only `cedarv1` exists for a
/// virtual MCP server; its `config` has the shape of the authorization file's `cedar` section.
pub fn from_authz_spec(spec: &vmcp_api::MCPAuthzConfigSpec) -> Result<AuthzConfig, Vec<String>> {
    if spec.authz_type != CEDAR_V1 {
        return Err(vec![format!(
            "spec.type: {:?} is not supported for a VirtualMCPServer; only {CEDAR_V1} is",
            spec.authz_type
        )]);
    }
    let cedar: CedarOptions = serde_json::from_value(spec.config.clone()).map_err(|e| {
        vec![format!(
            "spec.config: is not a {CEDAR_V1} configuration: {e}"
        )]
    })?;
    let mut problems = Vec::new();
    if cedar
        .primary_upstream_provider
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        problems.push("spec.config.primary_upstream_provider: not supported (it needs an embedded authorization server)".to_string());
    }
    let cfg = cedar.into_config();
    if let Err(errors) = cfg.parse_cedar() {
        problems.extend(
            errors
                .iter()
                .map(|e| format!("spec.{}", file_problem(e).replacen("cedar.", "config.", 1))),
        );
    }
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(problems)
    }
}

/// The VirtualMCPServer's `authzConfigRef` resolved against its world, with the referenced
/// object's spec hash (for `status.authzConfigHash`); `None` without a reference.
pub fn from_ref(
    vmcp: &vmcp_api::VirtualMCPServer,
    world: &World,
) -> Option<Result<(AuthzConfig, String), RefProblem>> {
    let name = &vmcp.spec.incoming_auth.authz_config_ref.as_ref()?.name;
    let ns = &world.namespace;
    let Some(cfg) = world.authz_configs.get(name) else {
        return Some(Err(RefProblem {
            reason: REF_NOT_FOUND,
            message: format!(
                "MCPAuthzConfig {ns}/{name} referenced by spec.incomingAuth.authzConfigRef not found"
            ),
        }));
    };
    Some(
        from_authz_spec(&cfg.spec)
            .map(|a| (a, super::spec_hash(&cfg.spec)))
            .map_err(|p| RefProblem {
                reason: REF_NOT_VALID,
                message: format!("MCPAuthzConfig {ns}/{name} is not valid: {}", p.join("; ")),
            }),
    )
}

/// A Cedar problem named as the file names its field (`cedar.policies[1]`,
/// `cedar.entities_json`).
fn file_problem(e: &CedarError) -> String {
    let path = match e.field() {
        ("entitiesJson", _) => "cedar.entities_json".to_string(),
        _ => format!("cedar.{}", e.path()),
    };
    format!("{path}: {}", e.message())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmcp_api::virtual_server::{AuthzConfigMapRef, InlineAuthzConfig};

    fn spec_cm(name: &str, key: &str) -> SpecAuthz {
        SpecAuthz {
            authz_type: AuthzConfigType::ConfigMap,
            config_map: Some(AuthzConfigMapRef {
                name: name.into(),
                key: key.into(),
            }),
            inline: None,
            group_claim_name: Some("team".into()),
            role_claim_name: None,
            group_entity_type: None,
        }
    }

    fn world_with(key: &str, text: &str) -> World {
        let mut w = World::new("ns");
        w.config_maps.insert(
            "policies".into(),
            [(key.to_string(), text.to_string())].into_iter().collect(),
        );
        w
    }

    #[test]
    fn reads_toolhives_file_in_json_and_yaml() {
        let json = r#"{"version": "1.0", "type": "cedarv1", "cedar": {"policies": ["permit(principal, action, resource);"], "entities_json": "[]", "group_claim_name": "groups", "role_claim_name": "roles", "extra": 1}, "other": true}"#;
        let cfg =
            from_config_map(&spec_cm("policies", ""), &world_with(DEFAULT_KEY, json)).unwrap();
        assert_eq!(cfg.policies, ["permit(principal, action, resource);"]);
        // The spec's group claim wins over the file's; the file's role claim stays.
        assert_eq!(
            (cfg.group_claim_name.as_str(), cfg.role_claim_name.as_str()),
            ("team", "roles")
        );
        let yaml = "version: '1.0'\ntype: cedarv1\ncedar:\n  policies:\n    - permit(principal, action, resource);\n";
        let cfg =
            from_config_map(&spec_cm("policies", "p.yaml"), &world_with("p.yaml", yaml)).unwrap();
        assert_eq!(cfg.policies.len(), 1);
    }

    #[test]
    fn missing_and_bad_config_maps_name_the_field_with_toolhives_reasons() {
        let spec = spec_cm("policies", "");
        let e = from_config_map(&spec, &World::new("ns")).unwrap_err();
        assert_eq!(e.reason, REASON_NOT_FOUND);
        assert_eq!(
            e.message,
            "spec.incomingAuth.authzConfig.configMap: ConfigMap ns/policies not found"
        );
        let e = from_config_map(&spec, &world_with("other.json", "{}")).unwrap_err();
        assert_eq!(e.reason, REASON_NOT_FOUND);
        assert!(e.message.contains("has no key \"authz.json\""), "{e}");
        for (text, want) in [
            ("", "is empty"),
            ("\u{0}\u{1}garbage: [", "is not an authorization config"),
            ("[1, 2]", "is not an authorization config"),
            (
                r#"{"type": "cedarv1", "cedar": {"policies": ["permit(principal, action, resource);"]}}"#,
                "version is required",
            ),
            (
                r#"{"version": "1.0", "type": "httpv1", "cedar": {}}"#,
                "type \"httpv1\" is not supported",
            ),
            (
                r#"{"version": "1.0", "type": "cedarv1"}"#,
                "the cedar section is required",
            ),
            (
                r#"{"version": "1.0", "type": "cedarv1", "cedar": {"policies": []}}"#,
                "cedar.policies: at least one Cedar policy is required",
            ),
            (
                r#"{"version": "1.0", "type": "cedarv1", "cedar": {"policies": ["permit(principal, action, resource);", "permit("]}}"#,
                "cedar.policies[1]: ",
            ),
            (
                r#"{"version": "1.0", "type": "cedarv1", "cedar": {"policies": ["permit(principal, action, resource);"], "entities_json": "{}"}}"#,
                "cedar.entities_json: must be a JSON array",
            ),
        ] {
            let e = from_config_map(&spec, &world_with(DEFAULT_KEY, text)).unwrap_err();
            assert_eq!(e.reason, REASON_INVALID, "{text}");
            assert!(
                e.message.starts_with("spec.incomingAuth.authzConfig.configMap: ConfigMap ns/policies key \"authz.json\": ")
                    && e.message.contains(want),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn inline_problems_name_the_inline_field() {
        let spec = |policies: &[&str], entities: &str| SpecAuthz {
            authz_type: AuthzConfigType::Inline,
            config_map: None,
            inline: Some(InlineAuthzConfig {
                policies: policies.iter().map(|p| p.to_string()).collect(),
                entities_json: entities.into(),
                primary_upstream_provider: None,
            }),
            group_claim_name: None,
            role_claim_name: None,
            group_entity_type: Some("Team".into()),
        };
        let cfg = inline(&spec(&["permit(principal, action, resource);"], "[]")).unwrap();
        assert_eq!(cfg.group_entity_type, "Team");
        let errs = inline(&spec(
            &["permit(principal, action, resource);", "nope"],
            "[1]",
        ))
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("spec.incomingAuth.authzConfig.inline.policies[1]: "),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("spec.incomingAuth.authzConfig.inline.entitiesJson: "),
            "{errs:?}"
        );
    }
}
