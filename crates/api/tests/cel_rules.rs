//! The intent of each CEL rule, evaluated client-side by kube's CEL validator on the generated
//! schema. The real API server enforces the same rules in crates/testenv's tests.

mod common;

use common::{cel_failures, yaml};

fn ext_auth(spec: &str) -> serde_json::Value {
    yaml(&format!(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPExternalAuthConfig\nmetadata: {{name: a}}\nspec:\n{spec}"
    ))
}

#[test]
fn external_auth_subobject_must_match_type() {
    let ok = [
        "  type: unauthenticated\n",
        "  type: headerInjection\n  headerInjection: {headerName: X-Key, valueSecretRef: {name: s, key: k}}\n",
        "  type: bearerToken\n  bearerToken: {tokenSecretRef: {name: s, key: k}}\n",
        "  type: tokenExchange\n  tokenExchange: {tokenUrl: 'https://idp/token', audience: a}\n",
        "  type: awsSts\n  awsSts: {region: us-east-1}\n",
    ];
    for spec in ok {
        assert_eq!(
            cel_failures("MCPExternalAuthConfig", &ext_auth(spec)),
            Vec::<String>::new(),
            "{spec}"
        );
    }
    let failures = cel_failures(
        "MCPExternalAuthConfig",
        &ext_auth("  type: headerInjection\n"),
    );
    assert_eq!(
        failures,
        ["headerInjection configuration must be set if and only if type is 'headerInjection'"]
    );

    let failures = cel_failures(
        "MCPExternalAuthConfig",
        &ext_auth("  type: unauthenticated\n  bearerToken: {tokenSecretRef: {name: s, key: k}}\n"),
    );
    assert_eq!(
        failures,
        ["bearerToken configuration must be set if and only if type is 'bearerToken'"]
    );

    let failures = cel_failures(
        "MCPExternalAuthConfig",
        &ext_auth(
            "  type: tokenExchange\n  headerInjection: {headerName: X, valueSecretRef: {name: s, key: k}}\n",
        ),
    );
    assert_eq!(failures.len(), 2, "{failures:?}");
}

fn vmcp(spec: &str) -> serde_json::Value {
    yaml(&format!(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: v}}\nspec:\n  groupRef: {{name: g}}\n{spec}"
    ))
}

#[test]
fn oidc_requires_oidc_config_ref() {
    let failures = cel_failures("VirtualMCPServer", &vmcp("  incomingAuth: {type: oidc}\n"));
    assert_eq!(
        failures,
        ["spec.incomingAuth.oidcConfigRef is required when type is oidc"]
    );
    let ok = vmcp("  incomingAuth: {type: oidc, oidcConfigRef: {name: o, audience: a}}\n");
    assert!(cel_failures("VirtualMCPServer", &ok).is_empty());
    assert!(
        cel_failures(
            "VirtualMCPServer",
            &vmcp("  incomingAuth: {type: anonymous}\n")
        )
        .is_empty()
    );
}

#[test]
fn authz_config_and_ref_are_exclusive() {
    let both = vmcp(
        "  incomingAuth:\n    type: anonymous\n    authzConfig: {type: configMap, configMap: {name: c}}\n    authzConfigRef: {name: r}\n",
    );
    assert_eq!(
        cel_failures("VirtualMCPServer", &both),
        ["authzConfig and authzConfigRef are mutually exclusive"]
    );
}

#[test]
fn authz_source_must_match_type() {
    let inline_missing = vmcp(
        "  incomingAuth:\n    type: anonymous\n    authzConfig: {type: inline, configMap: {name: c}}\n",
    );
    let failures = cel_failures("VirtualMCPServer", &inline_missing);
    assert!(
        failures.contains(&"inline must be set if and only if type is 'inline'".to_string()),
        "{failures:?}"
    );
    assert!(
        failures.contains(&"configMap must be set if and only if type is 'configMap'".to_string()),
        "{failures:?}"
    );
    // type defaults to configMap, so a bare inline block is wrong too.
    let defaulted =
        vmcp("  incomingAuth:\n    type: anonymous\n    authzConfig: {inline: {policies: [p]}}\n");
    assert!(!cel_failures("VirtualMCPServer", &defaulted).is_empty());
}

#[test]
fn redis_session_storage_requires_address() {
    let no_addr = vmcp("  incomingAuth: {type: anonymous}\n  sessionStorage: {provider: redis}\n");
    assert_eq!(
        cel_failures("VirtualMCPServer", &no_addr),
        ["address is required"]
    );
    let ok = vmcp(
        "  incomingAuth: {type: anonymous}\n  sessionStorage: {provider: redis, address: 'redis:6379'}\n",
    );
    assert!(cel_failures("VirtualMCPServer", &ok).is_empty());
    let memory = vmcp("  incomingAuth: {type: anonymous}\n  sessionStorage: {provider: memory}\n");
    assert!(cel_failures("VirtualMCPServer", &memory).is_empty());
}

#[test]
fn rate_limiting_requires_redis_session_storage() {
    let rl = "  config: {rateLimiting: {shared: {maxTokens: 10, refillPeriod: 1m}}}\n";
    let memory = vmcp(&format!("  incomingAuth: {{type: anonymous}}\n{rl}"));
    assert_eq!(
        cel_failures("VirtualMCPServer", &memory),
        ["config.rateLimiting requires sessionStorage with provider 'redis'"]
    );
    let redis = vmcp(&format!(
        "  incomingAuth: {{type: anonymous}}\n  sessionStorage: {{provider: redis, address: 'r:6379'}}\n{rl}"
    ));
    assert!(cel_failures("VirtualMCPServer", &redis).is_empty());
}

#[test]
fn per_user_rate_limits_require_oidc() {
    let storage = "  sessionStorage: {provider: redis, address: 'r:6379'}\n";
    let per_user = vmcp(&format!(
        "  incomingAuth: {{type: anonymous}}\n{storage}  config: {{rateLimiting: {{perUser: {{maxTokens: 1}}}}}}\n"
    ));
    assert_eq!(
        cel_failures("VirtualMCPServer", &per_user),
        ["config.rateLimiting.perUser requires incomingAuth.type 'oidc'"]
    );
    let per_tool = vmcp(&format!(
        "  incomingAuth: {{type: anonymous}}\n{storage}  config: {{rateLimiting: {{tools: [{{name: t, perUser: {{maxTokens: 1}}}}]}}}}\n"
    ));
    assert_eq!(
        cel_failures("VirtualMCPServer", &per_tool),
        ["per-tool rateLimiting.perUser requires incomingAuth.type 'oidc'"]
    );
    let shared_tool = vmcp(&format!(
        "  incomingAuth: {{type: anonymous}}\n{storage}  config: {{rateLimiting: {{tools: [{{name: t, shared: {{maxTokens: 1}}}}]}}}}\n"
    ));
    assert!(cel_failures("VirtualMCPServer", &shared_tool).is_empty());
    let oidc = vmcp(&format!(
        "  incomingAuth: {{type: oidc, oidcConfigRef: {{name: o, audience: a}}}}\n{storage}  config: {{rateLimiting: {{perUser: {{maxTokens: 1}}}}}}\n"
    ));
    assert!(cel_failures("VirtualMCPServer", &oidc).is_empty());
}

#[test]
fn rate_limiting_needs_at_least_one_limit() {
    let empty = vmcp(
        "  incomingAuth: {type: anonymous}\n  sessionStorage: {provider: redis, address: 'r:6379'}\n  config: {rateLimiting: {}}\n",
    );
    assert_eq!(
        cel_failures("VirtualMCPServer", &empty),
        ["at least one of shared, perUser or tools must be set"]
    );
}

#[test]
fn embedding_server_excludes_openai_provider() {
    let openai = vmcp(
        "  incomingAuth: {type: anonymous}\n  embeddingServerRef: {name: e}\n  config: {optimizer: {embeddingProvider: openai}}\n",
    );
    assert_eq!(
        cel_failures("VirtualMCPServer", &openai),
        ["embeddingServerRef cannot be combined with config.optimizer.embeddingProvider 'openai'"]
    );
    let tei = vmcp(
        "  incomingAuth: {type: anonymous}\n  embeddingServerRef: {name: e}\n  config: {optimizer: {embeddingProvider: tei}}\n",
    );
    assert!(cel_failures("VirtualMCPServer", &tei).is_empty());
}

#[test]
fn circuit_breaker_timeout_is_at_least_a_second() {
    let with_timeout = |t: &str| {
        vmcp(&format!(
            "  incomingAuth: {{type: anonymous}}\n  config: {{operational: {{failureHandling: {{circuitBreaker: {{enabled: true, timeout: {t}}}}}}}}}\n"
        ))
    };
    assert_eq!(
        cel_failures("VirtualMCPServer", &with_timeout("500ms")),
        ["circuitBreaker.timeout must be at least 1s"]
    );
    for ok in ["1s", "1m0s", "1h30m", "1.5s"] {
        assert!(
            cel_failures("VirtualMCPServer", &with_timeout(ok)).is_empty(),
            "{ok}"
        );
    }
}

/// The opaque sub-objects (vmcp keeps them as written) still follow ToolHive's rule: set if
/// and only if their type is selected.
#[test]
fn opaque_subobjects_are_set_iff_their_type_is() {
    let cases = [
        (
            "embeddedAuthServer",
            "{issuer: 'https://auth.example.com', upstreamProviders: [{name: up, type: oidc}]}",
        ),
        ("upstreamInject", "{providerName: github}"),
        ("obo", "{tokenUrl: 'https://login.example.com/token'}"),
        (
            "xaa",
            "{idpTokenUrl: 'https://idp/token', targetTokenUrl: 'https://target/token', targetAudience: a}",
        ),
    ];
    for (ty, body) in cases {
        let message = format!("{ty} configuration must be set if and only if type is '{ty}'");
        let ok = ext_auth(&format!("  type: {ty}\n  {ty}: {body}\n"));
        assert_eq!(
            cel_failures("MCPExternalAuthConfig", &ok),
            Vec::<String>::new(),
            "{ty}"
        );
        let missing = ext_auth(&format!("  type: {ty}\n"));
        assert_eq!(
            cel_failures("MCPExternalAuthConfig", &missing),
            std::slice::from_ref(&message),
            "{ty} without its sub-object"
        );
        let stray = ext_auth(&format!("  type: unauthenticated\n  {ty}: {body}\n"));
        assert_eq!(
            cel_failures("MCPExternalAuthConfig", &stray),
            [message],
            "{ty} sub-object with another type"
        );
    }
}

fn oidc_config(spec: &str) -> serde_json::Value {
    yaml(&format!(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPOIDCConfig\nmetadata: {{name: o}}\nspec:\n{spec}"
    ))
}

#[test]
fn oidc_config_subobject_must_match_type() {
    for spec in [
        "  type: inline\n  inline: {issuer: 'https://id.example.com'}\n",
        "  type: kubernetesServiceAccount\n  kubernetesServiceAccount: {}\n",
    ] {
        assert_eq!(
            cel_failures("MCPOIDCConfig", &oidc_config(spec)),
            Vec::<String>::new(),
            "{spec}"
        );
    }
    assert_eq!(
        cel_failures("MCPOIDCConfig", &oidc_config("  type: inline\n")),
        ["inline must be set when type is 'inline', and must not be set otherwise"]
    );
    assert_eq!(
        cel_failures(
            "MCPOIDCConfig",
            &oidc_config(
                "  type: kubernetesServiceAccount\n  inline: {issuer: 'https://id.example.com'}\n"
            )
        ),
        [
            "kubernetesServiceAccount must be set when type is 'kubernetesServiceAccount', and must not be set otherwise",
            "inline must be set when type is 'inline', and must not be set otherwise"
        ]
    );
}
