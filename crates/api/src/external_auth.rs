//! MCPExternalAuthConfig: how the gateway authenticates to a backend. vmcp interprets the
//! types it implements (unauthenticated, headerInjection, bearerToken, tokenExchange) and keeps
//! the others as opaque objects, so ToolHive manifests apply and later code can report them as
//! unsupported instead of losing them.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::refs::SecretKeyRef;

/// The authentication type. Exactly the sub-object named like the type is set.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ExternalAuthType {
    TokenExchange,
    HeaderInjection,
    BearerToken,
    Unauthenticated,
    EmbeddedAuthServer,
    AwsSts,
    UpstreamInject,
    Obo,
    Xaa,
}

impl ExternalAuthType {
    /// All types with the name of the spec field that carries their settings (`None` for
    /// `unauthenticated`, which takes none). The CEL rules are generated from this table so the
    /// schema and the Rust model cannot drift apart.
    pub const ALL: [(ExternalAuthType, &'static str, Option<&'static str>); 9] = [
        (
            ExternalAuthType::TokenExchange,
            "tokenExchange",
            Some("tokenExchange"),
        ),
        (
            ExternalAuthType::HeaderInjection,
            "headerInjection",
            Some("headerInjection"),
        ),
        (
            ExternalAuthType::BearerToken,
            "bearerToken",
            Some("bearerToken"),
        ),
        (ExternalAuthType::Unauthenticated, "unauthenticated", None),
        (
            ExternalAuthType::EmbeddedAuthServer,
            "embeddedAuthServer",
            Some("embeddedAuthServer"),
        ),
        (ExternalAuthType::AwsSts, "awsSts", Some("awsSts")),
        (
            ExternalAuthType::UpstreamInject,
            "upstreamInject",
            Some("upstreamInject"),
        ),
        (ExternalAuthType::Obo, "obo", Some("obo")),
        (ExternalAuthType::Xaa, "xaa", Some("xaa")),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map(|(_, s, _)| *s)
            .unwrap_or("")
    }
}

/// One CEL rule per typed sub-object: set if and only if its type is selected.
pub fn type_matches_subobject_rules() -> Vec<serde_json::Value> {
    ExternalAuthType::ALL
        .iter()
        .filter_map(|(_, ty, field)| field.map(|f| (ty, f)))
        .map(|(ty, field)| {
            serde_json::json!({
                "rule": format!("self.type == '{ty}' ? has(self.{field}) : !has(self.{field})"),
                "message": format!("{field} configuration must be set if and only if type is '{ty}'"),
            })
        })
        .collect()
}

/// Spec of an MCPExternalAuthConfig.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPExternalAuthConfig",
    plural = "mcpexternalauthconfigs",
    namespaced,
    derive = "PartialEq",
    status = "MCPExternalAuthConfigStatus",
    shortname = "extauth",
    shortname = "mcpextauth",
    category = "toolhive",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type=='Valid')].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[schemars(extend("x-kubernetes-validations" = type_matches_subobject_rules()))]
#[serde(rename_all = "camelCase")]
pub struct MCPExternalAuthConfigSpec {
    #[serde(rename = "type")]
    pub auth_type: ExternalAuthType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenExchangeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_injection: Option<HeaderInjectionConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<BearerTokenConfig>,
    /// Not interpreted by vmcp yet; kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub embedded_auth_server: Option<serde_json::Value>,
    /// Not interpreted by vmcp yet; kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub aws_sts: Option<serde_json::Value>,
    /// Not interpreted by vmcp yet; kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub upstream_inject: Option<serde_json::Value>,
    /// Not interpreted by vmcp yet; kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub obo: Option<serde_json::Value>,
    /// Not interpreted by vmcp yet; kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub xaa: Option<serde_json::Value>,
}

/// RFC 8693 token exchange. `tokenUrl` and `audience` are required by the controller rather
/// than the schema, and unknown keys are preserved: ToolHive's own examples use snake_case
/// keys (`token_url`), and such a manifest must apply and then get a condition that names the
/// problem, instead of a bare rejection.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenExchangeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `access_token`, `id_token`, `jwt` or a full token-type URN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_token_header_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_provider_name: Option<String>,
    /// Keys this version does not know (kept so the controller can name them).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// A static header whose value comes from a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderInjectionConfig {
    #[schemars(length(min = 1))]
    pub header_name: String,
    pub value_secret_ref: SecretKeyRef,
}

/// A bearer token from a Secret, sent as `Authorization: Bearer <token>`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BearerTokenConfig {
    pub token_secret_ref: SecretKeyRef,
}

/// Status of an MCPExternalAuthConfig.
pub type MCPExternalAuthConfigStatus = crate::config_status::ConfigStatus;
