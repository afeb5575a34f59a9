use super::*;

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

const ALPHA: &str = "outgoingAuth.backends.alpha";

/// A valid `xaa` strategy with `extra` keys added to its sub-object.
fn xaa(extra: &str) -> Vec<Problem> {
    strategy(&format!(
        "{{type: xaa, xaa: {{idpTokenUrl: \"https://idp/token\", targetTokenUrl: \"https://target/token\", targetAudience: aud{extra}}}}}"
    ))
}

/// A valid `aws_sts` sub-object body is `region` plus a role; `body` replaces it.
fn aws_sts(body: &str) -> Vec<Problem> {
    strategy(&format!("{{type: aws_sts, awsSts: {{{body}}}}}"))
}

/// An `obo` strategy; every one also gets the not-supported error on `type`.
#[track_caller]
fn assert_obo(body: &str, path: &str, fragment: &str) {
    let ps = strategy(&format!("{{type: obo, obo: {{{body}}}}}"));
    assert_has(&ps, Severity::Error, path, fragment);
    assert_has(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.type"),
        "obo is not supported",
    );
    assert_eq!(ps.len(), 2, "{}", rendered(&ps).join("\n"));
}

#[test]
fn an_empty_backend_name_is_refused() {
    let ps = with("  backends:\n    \"\": {type: unauthenticated}\n");
    assert_single(
        &ps,
        Severity::Error,
        r#"outgoingAuth.backends[""]"#,
        "backend name must not be empty",
    );
}

#[test]
fn header_name_is_required() {
    let ps = strategy("{type: header_injection, headerInjection: {headerValue: v}}");
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.headerInjection.headerName"),
        "required",
    );
}

#[test]
fn header_values_cannot_smuggle_headers() {
    for value in [
        r#""v\r\nX-Evil: 1""#,
        r#""v\nX-Evil: 1""#,
        r#""v\rx""#,
        r#""v\0""#,
    ] {
        let ps = strategy(&format!(
            "{{type: header_injection, headerInjection: {{headerName: X-Key, headerValue: {value}}}}}"
        ));
        assert_single(
            &ps,
            Severity::Error,
            &format!("{ALPHA}.headerInjection.headerValue"),
            "must not contain line breaks or NUL bytes",
        );
    }
}

#[test]
fn aws_sts_region_is_required() {
    let ps = aws_sts("fallbackRoleArn: \"arn:aws:iam::1:role/r\"");
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.awsSts.region"),
        "required",
    );
}

#[test]
fn aws_sts_needs_a_role() {
    let ps = aws_sts("region: us-east-1");
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.awsSts"),
        "needs fallbackRoleArn or at least one roleMappings entry",
    );
    // Either form of role is enough.
    assert_only(
        &aws_sts(
            "region: us-east-1, roleMappings: [{claim: admins, roleArn: \"arn:aws:iam::1:role/a\"}]",
        ),
        &[],
    );
}

#[test]
fn aws_sts_role_mapping_needs_claim_or_matcher() {
    let ps = aws_sts("region: us-east-1, roleMappings: [{roleArn: \"arn:aws:iam::1:role/a\"}]");
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.awsSts.roleMappings[0]"),
        "exactly one of claim or matcher is required",
    );
}

#[test]
fn aws_sts_subject_provider_is_not_supported() {
    let ps = aws_sts(
        "region: us-east-1, fallbackRoleArn: \"arn:aws:iam::1:role/r\", subjectProviderName: github",
    );
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.awsSts.subjectProviderName"),
        "needs an embedded authorization server",
    );
    assert_eq!(ps[0].kind, ProblemKind::NotSupported);
}

#[test]
fn obo_token_url_is_required() {
    assert_obo("clientId: c", &format!("{ALPHA}.obo.tokenUrl"), "required");
}

#[test]
fn obo_secret_is_inline_or_from_the_environment() {
    assert_obo(
        "tokenUrl: \"https://login/token\", clientSecret: s, clientSecretEnv: S",
        &format!("{ALPHA}.obo.clientSecretEnv"),
        "set either clientSecret or clientSecretEnv, not both",
    );
}

#[test]
fn obo_cache_skew_must_not_be_negative() {
    assert_obo(
        "tokenUrl: \"https://login/token\", cacheSkewSeconds: -1",
        &format!("{ALPHA}.obo.cacheSkewSeconds"),
        "must not be negative",
    );
}

#[test]
fn xaa_token_urls_are_required() {
    let ps = strategy("{type: xaa, xaa: {targetAudience: aud}}");
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.xaa.idpTokenUrl: required",
            ),
            (
                Severity::Error,
                "outgoingAuth.backends.alpha.xaa.targetTokenUrl: required",
            ),
        ],
    );
}

#[test]
fn xaa_plain_http_target_needs_the_insecure_flag() {
    let ps = strategy(
        "{type: xaa, xaa: {idpTokenUrl: \"https://idp/token\", targetTokenUrl: \"http://target/token\", insecureTargetTokenUrl: true, targetAudience: aud}}",
    );
    assert_only(&ps, &[]);
}

#[test]
fn xaa_idp_secret_is_inline_or_from_the_environment() {
    let ps = xaa(", idpClientSecret: s, idpClientSecretEnv: S");
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.xaa.idpClientSecretEnv"),
        "set either idpClientSecret or idpClientSecretEnv, not both",
    );
}

#[test]
fn xaa_target_secret_is_inline_or_from_the_environment() {
    let ps = xaa(", targetClientSecret: s, targetClientSecretEnv: S");
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.xaa.targetClientSecretEnv"),
        "set either targetClientSecret or targetClientSecretEnv, not both",
    );
}

#[test]
fn xaa_subject_token_type_is_only_id_token() {
    let ps = xaa(", subjectTokenType: \"urn:ietf:params:oauth:token-type:access_token\"");
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.xaa.subjectTokenType"),
        "only urn:ietf:params:oauth:token-type:id_token is supported",
    );
    assert_only(
        &xaa(", subjectTokenType: \"urn:ietf:params:oauth:token-type:id_token\""),
        &[],
    );
}

#[test]
fn xaa_subject_provider_is_not_supported() {
    let ps = xaa(", subjectProviderName: okta");
    assert_single(
        &ps,
        Severity::Error,
        &format!("{ALPHA}.xaa.subjectProviderName"),
        "needs an embedded authorization server",
    );
    assert_eq!(ps[0].kind, ProblemKind::NotSupported);
}
