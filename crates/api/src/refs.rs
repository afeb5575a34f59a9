//! Reference types shared by several kinds. They live in one place so that every kind names
//! its references with the same field names and validation, as ToolHive does.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to an MCPGroup in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPGroupRef {
    /// Name of the MCPGroup (same namespace only).
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A reference to an MCPExternalAuthConfig in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalAuthConfigRef {
    /// Name of the MCPExternalAuthConfig.
    pub name: String,
}

/// A key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    pub name: String,
    /// Key within the Secret.
    pub key: String,
}

/// Where a CA bundle comes from. Only ConfigMaps are supported, as in ToolHive.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CABundleSource {
    /// ConfigMap key holding PEM certificates; the key defaults to `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapKeyRef>,
}

/// Mirrors `corev1.ConfigMapKeySelector`, but with `key` optional so that the documented
/// default (`ca.crt`) can apply.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap.
    pub name: String,
    /// Key in the ConfigMap; `ca.crt` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Whether the ConfigMap may be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Default ConfigMap key of a CA bundle.
pub const DEFAULT_CA_BUNDLE_KEY: &str = "ca.crt";

impl ConfigMapKeyRef {
    /// The key to read, with the documented default applied.
    pub fn key_or_default(&self) -> &str {
        match self.key.as_deref() {
            Some(k) if !k.is_empty() => k,
            _ => DEFAULT_CA_BUNDLE_KEY,
        }
    }
}

/// Headers added to every request sent to a remote backend.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderForwardConfig {
    /// Headers with literal values. Never put secrets here: they end up in plain ConfigMaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_plaintext_headers: Option<std::collections::BTreeMap<String, String>>,
    /// Headers whose values come from Secrets, delivered to the gateway as environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["headerName"]))]
    pub add_headers_from_secret: Option<Vec<HeaderFromSecret>>,
}

/// One header whose value is read from a Secret key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderFromSecret {
    /// HTTP header name.
    #[schemars(length(min = 1, max = 255))]
    pub header_name: String,
    /// Secret key holding the header value.
    pub value_secret_ref: SecretKeyRef,
}

/// A reference to a ConfigMap or Secret by name only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameRef {
    /// Name of the referenced object.
    pub name: String,
}
