//! CRD generation: the v1beta1 schema comes from the Rust types; this module adds what the
//! derive cannot (the deprecated v1alpha1 version with the same schema, structural-schema
//! fixes, the gateway config schema) and serialises everything for `deploy/crds/`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion,
};
use kube::CustomResourceExt;
use schemars::{Schema, SchemaGenerator};
use serde_json::Value;

use crate::{
    MCPAuthzConfig, MCPExternalAuthConfig, MCPGroup, MCPOIDCConfig, MCPRemoteProxy, MCPServer,
    MCPServerEntry, MCPTelemetryConfig, MCPToolConfig, VirtualMCPServer,
};

/// API group of every kind.
pub const GROUP: &str = "toolhive.stacklok.dev";
/// The storage version.
pub const STORAGE_VERSION: &str = "v1beta1";
/// The older version, still served with the same schema so existing manifests keep applying.
pub const DEPRECATED_VERSION: &str = "v1alpha1";

/// Label ToolHive puts on every CRD: its operator migrates stored objects to the storage version
/// of CRDs carrying it, so vmcp's CRDs opt in the same way.
pub const AUTO_MIGRATE_LABEL: (&str, &str) =
    ("toolhive.stacklok.dev/auto-migrate-storage-version", "true");

/// The warning clients get for v1alpha1 objects. ToolHive's says only
/// "toolhive.stacklok.dev/v1alpha1 is deprecated; use v1beta1"; ours names the kind and the
/// full replacement apiVersion (docs/CRDS.md).
pub fn deprecation_warning(kind: &str) -> String {
    format!(
        "{GROUP}/{DEPRECATED_VERSION} {kind} is deprecated; use {GROUP}/{STORAGE_VERSION} {kind}"
    )
}

/// Schema of `VirtualMCPServer.spec.config`: the gateway's own config type, so the API server
/// checks the same shapes the gateway will, plus `x-kubernetes-preserve-unknown-fields` as in
/// ToolHive, so features vmcp does not implement yet still apply and get a clear condition.
pub fn gateway_config_schema(generator: &mut SchemaGenerator) -> Schema {
    let generated = generator.subschema_for::<vmcp_config::Config>();
    // Keep unknown keys at every level, not just the top: the API server would otherwise prune
    // a misspelt `aggregation.conflictResoluton` silently, and the operator could not name it.
    let mut value = generated.to_value();
    preserve_unknown_everywhere(&mut value);
    let mut schema = Schema::try_from(value).unwrap_or_else(|_| {
        schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    });
    // The spec-level CEL rules read into these sections, which the gateway keeps verbatim;
    // CEL can only name declared fields, so declare ToolHive's shapes here.
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("rateLimiting".into(), rate_limiting_schema());
        props.insert("optimizer".into(), optimizer_schema());
    }
    schema
}

fn preserve_unknown_everywhere(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") {
                map.insert(
                    "x-kubernetes-preserve-unknown-fields".into(),
                    Value::Bool(true),
                );
            }
            map.values_mut().for_each(preserve_unknown_everywhere);
        }
        Value::Array(items) => items.iter_mut().for_each(preserve_unknown_everywhere),
        _ => {}
    }
}

fn rate_limiting_schema() -> Value {
    let bucket = serde_json::json!({
        "type": "object",
        "properties": {
            "maxTokens": {"type": "integer", "minimum": 1},
            "refillPeriod": {"type": "string"}
        },
        "x-kubernetes-preserve-unknown-fields": true
    });
    serde_json::json!({
        "description": "Rate limiting (not supported by vmcp yet; kept verbatim).",
        "type": "object",
        "properties": {
            "shared": bucket,
            "perUser": bucket,
            "tools": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "shared": bucket, "perUser": bucket},
                    "x-kubernetes-preserve-unknown-fields": true
                }
            }
        },
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-validations": [{
            "rule": "has(self.shared) || has(self.perUser) || has(self.tools)",
            "message": "at least one of shared, perUser or tools must be set"
        }]
    })
}

fn optimizer_schema() -> Value {
    serde_json::json!({
        "description": "Tool optimizer (not supported by vmcp yet; kept verbatim).",
        "type": "object",
        "properties": {
            "embeddingService": {"type": "string"},
            "embeddingServiceTimeout": {"type": "string"},
            "embeddingProvider": {"type": "string", "enum": ["tei", "openai"]},
            "embeddingModel": {"type": "string"},
            "maxToolsToReturn": {"type": "integer", "minimum": 1, "maximum": 50},
            "hybridSearchSemanticRatio": {"type": "string"},
            "semanticDistanceThreshold": {"type": "string"}
        },
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// Spec-level CEL rules of VirtualMCPServer, with ToolHive's messages.
pub fn virtual_server_spec_rules() -> Vec<Value> {
    serde_json::json!([
        {
            "rule": "!has(self.config) || !has(self.config.rateLimiting) || (has(self.sessionStorage) && self.sessionStorage.provider == 'redis')",
            "message": "config.rateLimiting requires sessionStorage with provider 'redis'"
        },
        {
            "rule": "!has(self.config) || !has(self.config.rateLimiting) || !has(self.config.rateLimiting.perUser) || self.incomingAuth.type == 'oidc'",
            "message": "config.rateLimiting.perUser requires incomingAuth.type 'oidc'"
        },
        {
            "rule": "!has(self.config) || !has(self.config.rateLimiting) || !has(self.config.rateLimiting.tools) || self.config.rateLimiting.tools.all(t, !has(t.perUser)) || self.incomingAuth.type == 'oidc'",
            "message": "per-tool rateLimiting.perUser requires incomingAuth.type 'oidc'"
        },
        {
            "rule": "!has(self.embeddingServerRef) || !has(self.config) || !has(self.config.optimizer) || !has(self.config.optimizer.embeddingProvider) || self.config.optimizer.embeddingProvider != 'openai'",
            "message": "embeddingServerRef cannot be combined with config.optimizer.embeddingProvider 'openai'"
        }
    ])
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// Every CRD vmcp defines, in a stable order, each with v1beta1 (storage) and v1alpha1
/// (deprecated) versions.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    [
        MCPGroup::crd(),
        MCPServerEntry::crd(),
        MCPServer::crd(),
        MCPRemoteProxy::crd(),
        VirtualMCPServer::crd(),
        MCPExternalAuthConfig::crd(),
        MCPToolConfig::crd(),
        MCPOIDCConfig::crd(),
        MCPAuthzConfig::crd(),
        MCPTelemetryConfig::crd(),
    ]
    .into_iter()
    .map(finish)
    .collect()
}

/// File name of a CRD under `deploy/crds/` (kubebuilder's convention).
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// A CRD as YAML, with a header saying it is generated.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(crd)?;
    Ok(format!(
        "# Generated by `vmcp crds` from crates/api. Do not edit by hand.\n---\n{body}"
    ))
}

/// Kinds whose `spec` may be omitted; the API server defaults it to `{}` (ToolHive declares
/// MCPGroup's spec `omitempty`, and its samples include groups without one).
pub const OPTIONAL_SPEC_KINDS: [&str; 1] = ["MCPGroup"];

fn finish(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let kind = crd.spec.names.kind.clone();
    let (label, value) = AUTO_MIGRATE_LABEL;
    crd.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(label.to_string(), value.to_string());
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            let mut value = serde_json::to_value(&*schema).unwrap_or(Value::Null);
            make_structural(&mut value);
            if OPTIONAL_SPEC_KINDS.contains(&kind.as_str()) {
                make_spec_optional(&mut value);
            }
            if let Ok(fixed) = serde_json::from_value(value) {
                *schema = fixed;
            }
        }
    }
    let Some(storage) = crd.spec.versions.first().cloned() else {
        return crd;
    };
    let deprecated = CustomResourceDefinitionVersion {
        name: DEPRECATED_VERSION.to_string(),
        served: true,
        storage: false,
        deprecated: Some(true),
        deprecation_warning: Some(deprecation_warning(&kind)),
        ..storage
    };
    crd.spec.versions.push(deprecated);
    crd
}

/// Drops `spec` from the root's required list and defaults it to `{}`, so that objects
/// created without a spec are always read back with one (the typed Rust struct needs it).
fn make_spec_optional(root: &mut Value) {
    if let Some(required) = root.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| r != "spec");
        if required.is_empty()
            && let Some(map) = root.as_object_mut()
        {
            map.remove("required");
        }
    }
    if let Some(spec) = root
        .pointer_mut("/properties/spec")
        .and_then(Value::as_object_mut)
    {
        spec.insert("default".into(), Value::Object(Default::default()));
    }
}

/// Rewrites what Kubernetes' structural-schema rules forbid: `additionalProperties` next to
/// `properties` (from `#[serde(flatten)]` maps of preserved fields) becomes
/// `x-kubernetes-preserve-unknown-fields`, and `null` leaves enum value lists.
fn make_structural(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties")
                && let Some(extra) = map.remove("additionalProperties")
                && extra != Value::Bool(false)
            {
                map.insert(
                    "x-kubernetes-preserve-unknown-fields".into(),
                    Value::Bool(true),
                );
            }
            // `Option<Enum>` lists `null` among the enum values; `nullable` already says it.
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            for child in map.values_mut() {
                make_structural(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(make_structural),
        _ => {}
    }
}
