//! Condition types and reasons, with ToolHive's exact strings, so that existing dashboards and
//! `kubectl wait --for=condition=...` keep working.

/// Condition types.
pub mod types {
    pub const READY: &str = "Ready";
    pub const VALID: &str = "Valid";
    pub const GROUP_REF_VALIDATED: &str = "GroupRefValidated";
    pub const POD_TEMPLATE_SPEC_VALID: &str = "PodTemplateSpecValid";
    pub const BACKENDS_DISCOVERED: &str = "BackendsDiscovered";
    pub const DEGRADED: &str = "Degraded";
    pub const MCP_SERVERS_CHECKED: &str = "MCPServersChecked";
    pub const EXTERNAL_AUTH_CONFIG_VALIDATED: &str = "ExternalAuthConfigValidated";
    pub const CA_BUNDLE_REF_VALIDATED: &str = "CABundleRefValidated";
    pub const REMOTE_URL_VALIDATED: &str = "RemoteURLValidated";
    pub const HEADER_SECRET_REFS_VALIDATED: &str = "HeaderSecretRefsValidated";
}

/// Condition reasons.
pub mod reasons {
    // VirtualMCPServer Valid
    pub const VALIDATION_SUCCEEDED: &str = "ValidationSucceeded";
    pub const VALIDATION_FAILED: &str = "ValidationFailed";
    // GroupRefValidated on VirtualMCPServer
    pub const GROUP_REF_VALID: &str = "GroupRefValid";
    pub const GROUP_REF_NOT_FOUND: &str = "GroupRefNotFound";
    pub const GROUP_REF_NOT_READY: &str = "GroupRefNotReady";
    // GroupRefValidated on MCPServerEntry
    pub const GROUP_REF_IS_VALID: &str = "GroupRefIsValid";
    // PodTemplateSpecValid
    pub const POD_TEMPLATE_SPEC_VALID: &str = "PodTemplateSpecValid";
    pub const INVALID_POD_TEMPLATE_SPEC: &str = "InvalidPodTemplateSpec";
    // Ready (operator)
    pub const DEPLOYMENT_READY: &str = "DeploymentReady";
    pub const DEPLOYMENT_NOT_READY: &str = "DeploymentNotReady";
    pub const DEPLOYMENT_FAILED: &str = "DeploymentFailed";
    pub const BACKENDS_UNAVAILABLE: &str = "BackendsUnavailable";
    pub const BACKENDS_DEGRADED: &str = "BackendsDegraded";
    pub const BACKENDS_UNKNOWN: &str = "BackendsUnknown";
    // Ready (gateway)
    pub const ALL_BACKENDS_ROUTABLE: &str = "AllBackendsRoutable";
    pub const SOME_BACKENDS_UNHEALTHY: &str = "SomeBackendsUnhealthy";
    pub const NO_ROUTABLE_BACKENDS: &str = "NoRoutableBackends";
    pub const BACKENDS_PENDING: &str = "BackendsPending";
    pub const BACKENDS_UNHEALTHY: &str = "BackendsUnhealthy";
    pub const BACKENDS_DISCOVERED: &str = "BackendsDiscovered";
    // MCPGroup
    pub const LIST_MCP_SERVERS_CHECK_SUCCEEDED: &str = "ListMCPServersCheckSucceeded";
    pub const LIST_MCP_SERVERS_CHECK_FAILED: &str = "ListMCPServersCheckFailed";
    // MCPServerEntry
    pub const CONFIG_VALID: &str = "ConfigValid";
    pub const CONFIG_INVALID: &str = "ConfigInvalid";
    pub const AUTH_CONFIG_VALID: &str = "AuthConfigValid";
    pub const AUTH_CONFIG_NOT_FOUND: &str = "AuthConfigNotFound";
    pub const AUTH_CONFIG_NOT_CONFIGURED: &str = "AuthConfigNotConfigured";
    pub const CA_BUNDLE_REF_VALID: &str = "CABundleRefValid";
    pub const CA_BUNDLE_REF_NOT_FOUND: &str = "CABundleRefNotFound";
    pub const CA_BUNDLE_REF_NOT_CONFIGURED: &str = "CABundleRefNotConfigured";
    pub const REMOTE_URL_VALID: &str = "RemoteURLValid";
    pub const REMOTE_URL_INVALID: &str = "RemoteURLInvalid";
    pub const HEADER_SECRETS_VALID: &str = "HeaderSecretsValid";
    pub const HEADER_SECRET_NOT_FOUND: &str = "HeaderSecretNotFound";
}
