//! Authentication sections: how clients reach the gateway (`incomingAuth`) and how the gateway
//! authenticates to each backend (`outgoingAuth`).
//!
//! A backend strategy is a `type` string plus at most one sub-object named after it, exactly as
//! ToolHive writes it; the pairing is checked by validation, not by the type system, so the
//! shape stays a plain struct that a Kubernetes structural schema can describe.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// Client authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncomingAuth {
    /// `oidc`, `local` or `anonymous`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<IncomingAuthType>,
    /// Required when the type is `oidc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
    /// Optional authorization of authenticated requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authz: Option<AuthzConfig>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncomingAuthType {
    // Bearer tokens validated against an OIDC issuer.
    Oidc,
    // No token check; requests run as the local OS user.
    Local,
    // No authentication at all.
    Anonymous,
}

impl IncomingAuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            IncomingAuthType::Oidc => "oidc",
            IncomingAuthType::Local => "local",
            IncomingAuthType::Anonymous => "anonymous",
        }
    }
}

/// OIDC token validation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    /// Name of the environment variable holding the client secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret_env: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub audience: String,
    /// RFC 8707 resource indicator advertised to clients; defaults to the audience.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// Fetch keys from here instead of OIDC discovery.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jwks_url: String,
    /// RFC 7662 endpoint for opaque tokens.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub introspection_url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub protected_resource_allow_private_ip: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub jwks_allow_private_ip: bool,
    /// Allow an `http://` issuer (development only).
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure_allow_http: bool,
    /// Absolute path of a PEM bundle trusted for the issuer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_bundle_path: String,
    /// Absolute path of a file holding a bearer token sent on the discovery and JWKS fetches
    /// (ToolHive's key; a Kubernetes API server as the issuer wants the pod's own
    /// service-account token there). Read on every fetch, so a rotated token is used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jwks_auth_token_path: String,
    /// How far `exp` and `nbf` may be off, in seconds (vmcp's key; 30 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<u32>,
}

/// Authorization of authenticated requests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthzConfig {
    /// `cedar` or `none`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub authz_type: Option<AuthzType>,
    /// Cedar policies (required for `cedar`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Cedar entities as a JSON array string; `[]` when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub entities_json: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub primary_upstream_provider: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group_claim_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role_claim_name: String,
    /// Cedar entity type for group/role parents; `THVGroup` when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group_entity_type: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthzType {
    Cedar,
    None,
}

/// Backend authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingAuth {
    /// `inline` (everything is in this file) or `discovered` (read from the group's members).
    #[serde(default)]
    pub source: AuthSource,
    /// Strategy for backends without their own entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<BackendAuthStrategy>,
    /// Per-backend strategies, keyed by backend name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backends: BTreeMap<String, BackendAuthStrategy>,
}

impl OutgoingAuth {
    /// The strategy for a backend: its own entry, else the default, else none.
    pub fn resolve_for_backend(&self, backend: &str) -> Option<&BackendAuthStrategy> {
        self.backends.get(backend).or(self.default.as_ref())
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthSource {
    Inline,
    #[default]
    Discovered,
}

impl AuthSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthSource::Inline => "inline",
            AuthSource::Discovered => "discovered",
        }
    }
}

/// One backend authentication strategy: `type` plus the matching sub-object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendAuthStrategy {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub strategy_type: Option<StrategyType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_injection: Option<HeaderInjection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenExchange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_inject: Option<UpstreamInject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_sts: Option<AwsSts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obo: Option<Obo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xaa: Option<Xaa>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategyType {
    Unauthenticated,
    HeaderInjection,
    TokenExchange,
    UpstreamInject,
    AwsSts,
    Obo,
    Xaa,
}

impl StrategyType {
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyType::Unauthenticated => "unauthenticated",
            StrategyType::HeaderInjection => "header_injection",
            StrategyType::TokenExchange => "token_exchange",
            StrategyType::UpstreamInject => "upstream_inject",
            StrategyType::AwsSts => "aws_sts",
            StrategyType::Obo => "obo",
            StrategyType::Xaa => "xaa",
        }
    }

    /// Key of the sub-object that belongs to this type, if any.
    pub fn sub_object_key(self) -> Option<&'static str> {
        match self {
            StrategyType::Unauthenticated => None,
            StrategyType::HeaderInjection => Some("headerInjection"),
            StrategyType::TokenExchange => Some("tokenExchange"),
            StrategyType::UpstreamInject => Some("upstreamInject"),
            StrategyType::AwsSts => Some("awsSts"),
            StrategyType::Obo => Some("obo"),
            StrategyType::Xaa => Some("xaa"),
        }
    }
}

/// Adds a fixed header; the value comes from the file or from an environment variable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderInjection {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header_value: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header_value_env: String,
    /// Put in front of the value (vmcp's own key, not ToolHive's): `"Bearer "` turns a raw
    /// token from a Secret (an MCPExternalAuthConfig of type `bearerToken`) into an
    /// Authorization value without a second copy of the token in another Secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header_value_prefix: String,
}

/// RFC 8693 token exchange.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenExchange {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret_env: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub audience: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_token_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_provider_name: String,
    /// vmcp: the token endpoint may be on a private or loopback address (an in-cluster
    /// identity provider). Off by default, like `jwksAllowPrivateIp`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private_ip: bool,
    /// vmcp: a plain-http `tokenUrl` is accepted (the caller's token and the client secret
    /// then cross the network unencrypted). Off by default, like the OIDC key of that name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_allow_http: bool,
}

/// Injects a token held by an embedded authorization server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamInject {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_name: String,
}

/// AWS STS AssumeRoleWithWebIdentity plus SigV4 signing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsSts {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fallback_role_arn: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role_mappings: Vec<RoleMapping>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role_claim: String,
    /// Session length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_name_claim: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_provider_name: String,
}

/// Maps a claim value (or a CEL match) to an IAM role.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMapping {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub claim: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub matcher: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role_arn: String,
    /// Lower values are evaluated first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

/// Entra on-behalf-of exchange.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Obo {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret_env: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub audience: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_token_provider_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_skew_seconds: Option<i32>,
}

/// Cross-application access (ID-JAG) two-step exchange.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Xaa {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idp_token_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idp_client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idp_client_secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idp_client_secret_env: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_token_url: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure_target_token_url: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_client_secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_client_secret_env: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_audience: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_resource: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_provider_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_token_type: String,
}
