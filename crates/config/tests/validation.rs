//! Each validation rule reports its problem with the path of the offending key.

use vmcp_config::{Config, Problem, ProblemKind, Severity};

/// A valid static config that each test bends in one place.
const BASE: &str = r#"
name: gw
groupRef: team
backends:
  - {name: alpha, url: "http://alpha:8080/mcp", transport: streamable-http}
  - {name: beta, url: "http://beta:8080/sse", transport: sse}
  - {name: gamma, url: "https://gamma.example/mcp", transport: streamable-http, type: entry, caBundlePath: /etc/ca/gamma.pem}
incomingAuth:
  type: anonymous
outgoingAuth:
  source: inline
"#;

fn problems(yaml: &str) -> Vec<Problem> {
    let cfg = Config::from_yaml_str(yaml).unwrap_or_else(|e| panic!("parse: {e}\n{yaml}"));
    cfg.validate().problems
}

fn with(extra: &str) -> Vec<Problem> {
    problems(&format!("{BASE}{extra}"))
}

fn rendered(ps: &[Problem]) -> Vec<String> {
    ps.iter().map(|p| format!("{}: {p}", p.severity)).collect()
}

#[track_caller]
fn assert_only(ps: &[Problem], expected: &[(Severity, &str)]) {
    let all = rendered(ps);
    let want: Vec<String> = expected.iter().map(|(s, m)| format!("{s}: {m}")).collect();
    assert_eq!(all, want);
}

#[test]
fn base_is_clean() {
    assert_only(&problems(BASE), &[]);
}

#[test]
fn name_group_and_incoming_auth_are_required() {
    let ps = problems("backends: []\n");
    assert_only(
        &ps,
        &[
            (Severity::Error, "name: required"),
            (Severity::Error, "groupRef: required"),
            (
                Severity::Error,
                "incomingAuth: required (use type: anonymous to accept unauthenticated clients)",
            ),
        ],
    );
}

#[test]
fn backend_rules() {
    let ps = problems(
        r#"
name: gw
groupRef: team
incomingAuth: {type: anonymous}
backends:
  - {name: "", url: "http://a", transport: sse}
  - {name: "Bad Name", url: "http://a", transport: sse}
  - {name: dup, url: "ftp://a", transport: sse}
  - {name: dup, url: "http://a"}
  - {name: nourl, transport: sse}
  - {name: ca, url: "http://a", transport: sse, caBundlePath: /etc/ca.pem}
  - {name: rel, url: "http://a", transport: sse, type: entry, caBundlePath: ca.pem}
  - {name: dots, url: "http://a", transport: sse, type: entry, caBundlePath: /etc/../ca.pem}
  - {name: nohost, url: "http://", transport: sse}
  - {name: junk, url: "not a url", transport: sse}
  - {name: meta, url: "http://a", transport: sse, metadata: {group: other}}
  - {name: metaok, url: "http://a", transport: sse, metadata: {group: team}}
"#,
    );
    assert_only(
        &ps,
        &[
            (Severity::Error, "backends[0].name: required"),
            (
                Severity::Error,
                "backends[1].name: \"Bad Name\" is not a valid backend name: use 1-253 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            ),
            (
                Severity::Error,
                "backends[2].url: must be an http or https URL, not ftp",
            ),
            (
                Severity::Error,
                "backends[3].transport: required (sse or streamable-http)",
            ),
            (
                Severity::Error,
                "backends[3].name: duplicate backend name \"dup\" (also backends[2])",
            ),
            (Severity::Error, "backends[4].url: required"),
            (
                Severity::Error,
                "backends[5].caBundlePath: only allowed when type is entry",
            ),
            (
                Severity::Error,
                "backends[6].caBundlePath: must be an absolute path, got \"ca.pem\"",
            ),
            (
                Severity::Error,
                "backends[7].caBundlePath: must not contain '..' components",
            ),
            (
                Severity::Error,
                "backends[8].url: \"http://\" is not a valid URL: empty host",
            ),
            (
                Severity::Error,
                "backends[9].url: \"not a url\" is not a valid URL: relative URL without a base",
            ),
            (
                Severity::Warning,
                "backends[10].metadata.group: reserved key: replaced by groupRef \"team\"",
            ),
        ],
    );
}

#[test]
fn header_injection_rules() {
    let ps = with(
        r#"  backends:
    alpha: {type: header_injection, headerInjection: {headerName: X-Key}}
    beta: {type: header_injection, headerInjection: {headerName: "Bad Header", headerValue: v, headerValueEnv: V}}
    gamma: {type: header_injection}
  default: {type: header_injection, headerInjection: {headerName: X, headerValueEnv: 1BAD}, tokenExchange: {tokenUrl: "https://t"}}
"#,
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "outgoingAuth.default.tokenExchange: not allowed when type is header_injection (remove it)",
            ),
            (
                Severity::Error,
                "outgoingAuth.default.headerInjection.headerValueEnv: \"1BAD\" is not a valid environment variable name",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.headerInjection: exactly one of headerValue or headerValueEnv is required",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.beta.headerInjection.headerName: \"Bad Header\" is not a valid HTTP header name",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.beta.headerInjection: set either headerValue or headerValueEnv, not both",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.gamma.headerInjection: required when type is header_injection",
            ),
        ],
    );
}

#[test]
fn strategy_type_rules() {
    let ps = with(
        r#"  backends:
    alpha: {headerInjection: {headerName: X, headerValue: v}}
    beta: {type: unauthenticated, awsSts: {region: us-east-1}}
    nobody: {type: unauthenticated}
"#,
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.type: required (unauthenticated, header_injection, token_exchange, upstream_inject, aws_sts, obo or xaa)",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.beta.awsSts: not allowed when type is unauthenticated (remove it)",
            ),
            (
                Severity::Warning,
                "outgoingAuth.backends.nobody: no backend named \"nobody\" is listed in backends",
            ),
        ],
    );
}

#[test]
fn token_exchange_rules() {
    let ps = with(
        r#"  backends:
    alpha: {type: token_exchange, tokenExchange: {clientSecret: s, clientSecretEnv: S, subjectTokenType: weird}}
    beta: {type: token_exchange, tokenExchange: {tokenUrl: "https://idp/token", subjectProviderName: github}}
"#,
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.tokenExchange.tokenUrl: required",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.tokenExchange.clientSecretEnv: set either clientSecret or clientSecretEnv, not both",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.tokenExchange.subjectTokenType: \"weird\" is not a token type: use access_token, id_token, jwt or a URN",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.beta.tokenExchange.subjectProviderName: is not supported yet: it needs an embedded authorization server, which vmcp does not have",
            ),
        ],
    );
    assert_eq!(ps[3].kind, ProblemKind::NotSupported);
}

#[test]
fn other_strategies() {
    let ps = with(
        r#"  backends:
    alpha: {type: aws_sts, awsSts: {region: moon, sessionDuration: 60, roleMappings: [{claim: a, matcher: b}]}}
    beta: {type: xaa, xaa: {idpTokenUrl: "http://idp", targetTokenUrl: "http://target"}}
    gamma: {type: upstream_inject, upstreamInject: {}}
  default: {type: obo, obo: {tokenUrl: "https://login/token"}}
"#,
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "outgoingAuth.default.type: obo is not supported (ToolHive ships it only in an enterprise build)",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.awsSts.region: \"moon\" is not an AWS region name",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.awsSts.sessionDuration: must be between 900 and 43200 seconds",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.awsSts.roleMappings[0].roleArn: required",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.awsSts.roleMappings[0]: set either claim or matcher, not both",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.beta.xaa.idpTokenUrl: must use https",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.beta.xaa.targetTokenUrl: must use https (set insecureTargetTokenUrl: true for development only)",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.beta.xaa.targetAudience: required",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.gamma.upstreamInject.providerName: required",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.gamma.type: upstream_inject is not supported yet: it needs an embedded authorization server, which vmcp does not have",
            ),
        ],
    );
}

#[test]
fn discovered_source_with_listed_backends_warns() {
    let text = BASE.replace("source: inline", "source: discovered");
    assert_only(
        &problems(&text),
        &[(
            Severity::Warning,
            "outgoingAuth.source: is discovered, but backends are listed: the listed backends are used and nothing is discovered (use source: inline for static mode)",
        )],
    );
}

#[test]
fn references_are_not_checked_in_dynamic_mode() {
    let ps = problems(
        "name: gw\ngroupRef: g\nincomingAuth: {type: anonymous}\noutgoingAuth:\n  backends:\n    anything: {type: unauthenticated}\noperational:\n  timeouts:\n    perWorkload: {whatever: 5s}\n",
    );
    assert_only(&ps, &[]);
}

#[test]
fn incoming_auth_rules() {
    let base = BASE.replace("incomingAuth:\n  type: anonymous\n", "");
    let ps = problems(&format!(
        "{base}incomingAuth:\n  type: oidc\n  oidc: {{issuer: \"http://idp\", clientSecretEnv: bad-env, jwksUrl: \"file:///k\", caBundlePath: rel.pem}}\n  authz: {{type: cedar, entitiesJson: '{{}}', groupEntityType: 'a::b', primaryUpstreamProvider: up}}\n"
    ));
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "incomingAuth.oidc.issuer: must use https (set insecureAllowHttp: true for development only)",
            ),
            (Severity::Error, "incomingAuth.oidc.audience: required"),
            (
                Severity::Error,
                "incomingAuth.oidc.clientSecretEnv: \"bad-env\" is not a valid environment variable name",
            ),
            (
                Severity::Error,
                "incomingAuth.oidc.jwksUrl: must be an http or https URL, not file",
            ),
            (
                Severity::Error,
                "incomingAuth.oidc.caBundlePath: must be an absolute path, got \"rel.pem\"",
            ),
            (
                Severity::Error,
                "incomingAuth.authz.policies: at least one Cedar policy is required",
            ),
            (
                Severity::Error,
                "incomingAuth.authz.entitiesJson: must be a JSON array",
            ),
            (
                Severity::Error,
                "incomingAuth.authz.groupEntityType: must be a Cedar identifier (letters, digits and '_', not starting with a digit)",
            ),
            (
                Severity::Error,
                "incomingAuth.authz.primaryUpstreamProvider: is not supported yet: it needs an embedded authorization server, which vmcp does not have",
            ),
        ],
    );
    let ps = problems(&format!("{base}incomingAuth:\n  type: oidc\n"));
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "incomingAuth.oidc: required when type is oidc",
        )],
    );
    let ps = problems(&format!(
        "{base}incomingAuth:\n  type: anonymous\n  oidc: {{issuer: \"https://i\", audience: a}}\n"
    ));
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "incomingAuth.oidc: only allowed when type is oidc (type is anonymous)",
        )],
    );
    let ps = problems(&format!("{base}incomingAuth: {{}}\n"));
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "incomingAuth.type: required (oidc, local or anonymous)",
        )],
    );
}

#[test]
fn aggregation_prefix_rules() {
    let ps = with(
        "aggregation:\n  conflictResolutionConfig: {prefixFormat: 'x_', priorityOrder: [alpha]}\n",
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "aggregation.conflictResolutionConfig.prefixFormat: must contain {workload} (got \"x_\")",
            ),
            (
                Severity::Warning,
                "aggregation.conflictResolutionConfig.priorityOrder: ignored because conflictResolution is prefix",
            ),
        ],
    );
    let ps = with("aggregation:\n  conflictResolutionConfig: {prefixFormat: '{workload} / '}\n");
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "aggregation.conflictResolutionConfig.prefixFormat: \"{workload} / \" would make invalid tool names: outside {workload} use only letters, digits, '_', '-' and '.'",
        )],
    );
    assert_only(
        &with("aggregation:\n  conflictResolutionConfig: {prefixFormat: 'mcp.{workload}.'}\n"),
        &[],
    );
}

#[test]
fn aggregation_priority_and_manual_rules() {
    let ps = with("aggregation:\n  conflictResolution: priority\n");
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "aggregation.conflictResolutionConfig.priorityOrder: required with at least one backend when conflictResolution is priority",
        )],
    );
    let ps = with(
        "aggregation:\n  conflictResolution: priority\n  conflictResolutionConfig: {priorityOrder: [alpha, alpha, '', omega]}\n",
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "aggregation.conflictResolutionConfig.priorityOrder[1]: \"alpha\" is listed more than once",
            ),
            (
                Severity::Error,
                "aggregation.conflictResolutionConfig.priorityOrder[2]: backend name must not be empty",
            ),
            (
                Severity::Warning,
                "aggregation.conflictResolutionConfig.priorityOrder[3]: no backend named \"omega\" is listed in backends",
            ),
        ],
    );
    let ps = with(
        "aggregation:\n  conflictResolution: priority\n  defaultToolVisibility: deny\n  conflictResolutionConfig: {priorityOrder: [alpha, beta]}\n  tools: [{workload: alpha}]\n",
    );
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "aggregation.conflictResolutionConfig.priorityOrder[1]: \"beta\" has no tools entry, so defaultToolVisibility: deny hides all its tools",
        )],
    );
    let ps = with("aggregation:\n  conflictResolution: manual\n");
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "aggregation.tools: required with at least one entry when conflictResolution is manual",
        )],
    );
}

#[test]
fn aggregation_tool_rules() {
    let ps = with(
        r#"aggregation:
  tools:
    - workload: alpha
      filter: [a, ""]
      overrides:
        a: {name: "bad name"}
        b: {}
        c: {name: same}
        d: {name: same}
        e: {annotations: {readOnlyHint: true}}
    - workload: alpha
    - workload: ""
    - workload: omega
      toolConfigRef: {name: cfg}
    - workload: beta
      excludeAll: true
      filter: [x]
"#,
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "aggregation.tools[0].filter[1]: tool name must not be empty",
            ),
            (
                Severity::Error,
                "aggregation.tools[0].overrides.a.name: \"bad name\" is not a valid MCP tool name: use 1-128 letters, digits, '_', '-' or '.'",
            ),
            (
                Severity::Error,
                "aggregation.tools[0].overrides.b: set at least one of name, description or annotations",
            ),
            (
                Severity::Error,
                "aggregation.tools[0].overrides.d.name: \"c\" is renamed to \"same\" too",
            ),
            (
                Severity::Error,
                "aggregation.tools[1].workload: \"alpha\" already has an entry (tools[0])",
            ),
            (Severity::Error, "aggregation.tools[2].workload: required"),
            (
                Severity::Warning,
                "aggregation.tools[3].workload: no backend named \"omega\" is listed in backends",
            ),
            (
                Severity::Error,
                "aggregation.tools[3].toolConfigRef: is not supported yet: the gateway cannot read MCPToolConfig resources; give filter and overrides inline",
            ),
            (
                Severity::Warning,
                "aggregation.tools[4].excludeAll: hides every tool, so filter and overrides have no effect",
            ),
        ],
    );
}

#[test]
fn operational_rules() {
    let ps = with(
        r#"operational:
  timeouts:
    default: 0s
    perWorkload: {alpha: 10s, omega: 0s}
  failureHandling:
    healthCheckInterval: 10s
    healthCheckTimeout: 10s
    unhealthyThreshold: 0
    statusReportingInterval: 0s
    circuitBreaker: {enabled: true, failureThreshold: -1, timeout: 500ms}
"#,
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "operational.timeouts.default: must be greater than 0s",
            ),
            (
                Severity::Warning,
                "operational.timeouts.perWorkload.omega: no backend named \"omega\" is listed in backends",
            ),
            (
                Severity::Error,
                "operational.timeouts.perWorkload.omega: must be greater than 0s",
            ),
            (
                Severity::Error,
                "operational.failureHandling.unhealthyThreshold: must be at least 1, got 0",
            ),
            (
                Severity::Error,
                "operational.failureHandling.statusReportingInterval: must be greater than 0s",
            ),
            (
                Severity::Error,
                "operational.failureHandling.healthCheckTimeout: must be shorter than healthCheckInterval (10s), got 10s",
            ),
            (
                Severity::Error,
                "operational.failureHandling.circuitBreaker.failureThreshold: must be at least 1, got -1",
            ),
            (
                Severity::Error,
                "operational.failureHandling.circuitBreaker.timeout: must be at least 1s, got 500ms",
            ),
        ],
    );
    // The health-check timeout is compared with the default interval when none is set.
    let ps = with("operational:\n  failureHandling: {healthCheckTimeout: 1m0s}\n");
    assert_only(
        &ps,
        &[(
            Severity::Error,
            "operational.failureHandling.healthCheckTimeout: must be shorter than healthCheckInterval (30s), got 1m0s",
        )],
    );
}

#[test]
fn passthrough_header_rules() {
    let ps = with(
        "passthroughHeaders: [X-Request-Id, Authorization, cookie, X-Forwarded-For, Proxy-Foo, 'Bad Header', x-request-id, Mcp-Session-Id]\n",
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "passthroughHeaders[1]: Authorization cannot be forwarded: it carries the client's credentials for the gateway",
            ),
            (
                Severity::Error,
                "passthroughHeaders[2]: cookie cannot be forwarded: it carries the client's credentials for the gateway",
            ),
            (
                Severity::Error,
                "passthroughHeaders[3]: X-Forwarded-For cannot be forwarded: it is set by proxies",
            ),
            (
                Severity::Error,
                "passthroughHeaders[4]: Proxy-Foo cannot be forwarded: it is a proxy header",
            ),
            (
                Severity::Error,
                "passthroughHeaders[5]: \"Bad Header\" is not a valid HTTP header name",
            ),
            (
                Severity::Warning,
                "passthroughHeaders[6]: x-request-id is listed more than once",
            ),
            (
                Severity::Error,
                "passthroughHeaders[7]: Mcp-Session-Id cannot be forwarded: it is managed by the gateway for each backend session",
            ),
        ],
    );
}

#[test]
fn unsupported_sections() {
    let path = format!(
        "{}/tests/fixtures/unsupported.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let cfg = Config::load_file(&path).unwrap();
    let report = cfg.validate();
    assert_only(
        &report.problems,
        &[
            (
                Severity::Error,
                "compositeTools: composite tools are not supported yet (1 defined)",
            ),
            (
                Severity::Error,
                "compositeToolRefs: composite tools are not supported yet (1 referenced)",
            ),
            (
                Severity::Error,
                "optimizer: the tool optimizer is not supported yet (remove the section)",
            ),
            (
                Severity::Error,
                "codeMode.enabled: code mode is not supported yet",
            ),
            (
                Severity::Error,
                "rateLimiting: rate limiting is not supported yet; the limits would not be enforced",
            ),
            (
                Severity::Error,
                "audit: audit logging is not supported yet; no audit events would be written (set enabled: false or remove the section)",
            ),
            (
                Severity::Warning,
                "telemetry: telemetry settings are not supported yet and are ignored",
            ),
            (
                Severity::Warning,
                "sessionStorage: shared session storage is not supported yet: sessions stay in this replica's memory (run one replica or use sticky sessions)",
            ),
        ],
    );
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::NotSupported)
    );
    assert!(!report.is_ok());

    // Disabled or harmless forms pass.
    let ps = with(
        "codeMode: {enabled: false}\naudit: {enabled: false}\nsessionStorage: {provider: memory}\n",
    );
    assert_only(&ps, &[]);
}

#[test]
fn report_helpers() {
    let cfg = Config::from_yaml_str(&format!("{BASE}telemetry: {{}}\n")).unwrap();
    let report = cfg.validate();
    assert!(report.is_ok());
    assert_eq!(report.warnings().count(), 1);
    assert_eq!(report.errors().count(), 0);
    assert_eq!(
        report.to_string(),
        "warning: telemetry: telemetry settings are not supported yet and are ignored\n"
    );
    assert_eq!(report.clone().into_result().unwrap().len(), 1);

    let cfg = Config::from_yaml_str("name: x\n").unwrap();
    let report = cfg.validate();
    assert!(!report.is_ok());
    assert_eq!(report.into_result().unwrap_err().len(), 2);
}
