//! MCPOIDCConfig: an identity provider shared by several workloads. A VirtualMCPServer names it
//! in `spec.incomingAuth.oidcConfigRef` together with what is its own (audience, scopes, the
//! resource URL), and the operator renders both into the gateway's `incomingAuth.oidc`.
//!
//! Field names, the two source types and their CEL rules follow ToolHive's v1beta1 kind, so
//! its manifests apply unchanged. The per-server parts are deliberately not here: an audience
//! shared by two gateways would let a token for one be replayed against the other.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::refs::{CABundleSource, SecretKeyRef};

/// Issuer of a cluster's service-account tokens when `kubernetesServiceAccount.issuer` is unset.
pub const DEFAULT_K8S_ISSUER: &str = "https://kubernetes.default.svc";
/// The pod's own view of the cluster CA, as the kubelet mounts it.
pub const K8S_CA_BUNDLE_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
/// The pod's own service-account token, as the kubelet mounts it (and rotates it).
pub const K8S_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

fn default_k8s_issuer() -> String {
    DEFAULT_K8S_ISSUER.to_string()
}

/// Spec of an MCPOIDCConfig: exactly the sub-object named by `type` is set.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "toolhive.stacklok.dev",
    version = "v1beta1",
    kind = "MCPOIDCConfig",
    plural = "mcpoidcconfigs",
    namespaced,
    derive = "PartialEq",
    status = "MCPOIDCConfigStatus",
    shortname = "mcpoidc",
    category = "toolhive",
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type=='Valid')].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type == 'kubernetesServiceAccount' ? has(self.kubernetesServiceAccount) : !has(self.kubernetesServiceAccount)",
     "message": "kubernetesServiceAccount must be set when type is 'kubernetesServiceAccount', and must not be set otherwise"},
    {"rule": "self.type == 'inline' ? has(self.inline) : !has(self.inline)",
     "message": "inline must be set when type is 'inline', and must not be set otherwise"}
]))]
#[serde(rename_all = "camelCase")]
pub struct MCPOIDCConfigSpec {
    #[serde(rename = "type")]
    pub source_type: OIDCSourceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_service_account: Option<KubernetesServiceAccountOIDCConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<InlineOIDCConfig>,
}

/// Where the provider's settings come from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OIDCSourceType {
    /// The cluster's own service-account tokens (the API server is the issuer).
    KubernetesServiceAccount,
    /// An external provider, described here.
    Inline,
}

impl OIDCSourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            OIDCSourceType::KubernetesServiceAccount => "kubernetesServiceAccount",
            OIDCSourceType::Inline => "inline",
        }
    }
}

/// Service-account tokens of this cluster. `serviceAccount` and `namespace` are kept as
/// ToolHive defines them; token validation itself checks issuer, audience and signature.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesServiceAccountOIDCConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `https://kubernetes.default.svc` when unset (the API server's default too).
    #[serde(default = "default_k8s_issuer")]
    pub issuer: String,
    /// vmcp renders `<issuer>/openid/v1/jwks` when unset (see the operator's OIDC render).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_url: Option<String>,
    /// Trust the pod's cluster CA and send its own token on key fetches; true when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_cluster_auth: Option<bool>,
}

impl Default for KubernetesServiceAccountOIDCConfig {
    fn default() -> Self {
        KubernetesServiceAccountOIDCConfig {
            service_account: None,
            namespace: None,
            issuer: default_k8s_issuer(),
            jwks_url: None,
            introspection_url: None,
            use_cluster_auth: None,
        }
    }
}

/// An external provider. Names as in ToolHive, including the `IP`/`HTTP` capitals.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InlineOIDCConfig {
    #[schemars(length(min = 1))]
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Delivered to the gateway as an environment variable, never through its ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// A ConfigMap with the PEM bundle trusted for the issuer; mounted into the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_ref: Option<CABundleSource>,
    /// A file in the gateway's pod whose token is sent on discovery and key fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_auth_token_path: Option<String>,
    #[serde(default, rename = "jwksAllowPrivateIP")]
    pub jwks_allow_private_ip: bool,
    #[serde(default, rename = "protectedResourceAllowPrivateIP")]
    pub protected_resource_allow_private_ip: bool,
    /// Development only: an `http://` issuer.
    #[serde(default, rename = "insecureAllowHTTP")]
    pub insecure_allow_http: bool,
}

/// Status of an MCPOIDCConfig, written by vmcp's operator: `Valid` naming the problem, and the
/// hash that changes whenever the settings do.
pub type MCPOIDCConfigStatus = crate::config_status::ConfigStatus;
