use super::*;

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
    let ps = problems(&format!("{base}incomingAuth:\n  type: local\n"));
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(
        (ps[0].kind, ps[0].path.as_str()),
        (ProblemKind::NotSupported, "incomingAuth.type")
    );
    assert!(
        ps[0]
            .message
            .starts_with("local client authentication is not supported")
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

/// A Cedar policy that parses; the authz tests below do not depend on how policies are read.
const PERMIT_ALL: &str = "permit(principal, action, resource);";

#[test]
fn oidc_issuer_is_required() {
    let ps = incoming("  type: oidc\n  oidc: {audience: a}\n");
    assert_has(&ps, Severity::Error, "incomingAuth.oidc.issuer", "required");
    assert_eq!(ps.len(), 1, "{ps:?}");
}

#[test]
fn oidc_introspection_url_must_be_http() {
    let ps = incoming(
        "  type: oidc\n  oidc: {issuer: \"https://idp\", audience: a, introspectionUrl: \"ftp://idp/introspect\"}\n",
    );
    assert_has(
        &ps,
        Severity::Error,
        "incomingAuth.oidc.introspectionUrl",
        "must be an http or https URL, not ftp",
    );
    assert_eq!(ps.len(), 1, "{ps:?}");
}

#[test]
fn oidc_introspection_sends_its_secret_over_https_only() {
    let ps = incoming(
        "  type: oidc\n  oidc: {issuer: \"https://idp\", audience: a, introspectionUrl: \"http://idp/introspect\", clientId: gw, clientSecretEnv: GW_SECRET}\n",
    );
    assert_has(
        &ps,
        Severity::Error,
        "incomingAuth.oidc.introspectionUrl",
        "must use https",
    );
    assert_eq!(ps.len(), 1, "{ps:?}");
    let dev = incoming(
        "  type: oidc\n  oidc: {issuer: \"http://idp\", audience: a, introspectionUrl: \"http://idp/introspect\", insecureAllowHttp: true}\n",
    );
    assert!(dev.is_empty(), "{dev:?}");
}

#[test]
fn oidc_introspection_client_needs_its_secret() {
    let ps = incoming(
        "  type: oidc\n  oidc: {issuer: \"https://idp\", audience: a, introspectionUrl: \"https://idp/introspect\", clientId: gw}\n",
    );
    assert_has(
        &ps,
        Severity::Error,
        "incomingAuth.oidc.clientSecretEnv",
        "required when clientId is set with introspectionUrl",
    );
    assert_eq!(ps.len(), 1, "{ps:?}");
}

#[test]
fn authz_type_is_required() {
    let ps = incoming("  type: anonymous\n  authz: {}\n");
    assert_has(
        &ps,
        Severity::Error,
        "incomingAuth.authz.type",
        "required (cedar or none)",
    );
}

#[test]
fn an_empty_policy_is_an_error() {
    let ps = incoming(&format!(
        "  type: anonymous\n  authz: {{type: cedar, policies: [{PERMIT_ALL:?}, \"  \"]}}\n"
    ));
    assert_has(
        &ps,
        Severity::Error,
        "incomingAuth.authz.policies[1]",
        "empty policy",
    );
}

#[test]
fn policies_are_ignored_when_authz_type_is_none() {
    let ps = incoming(&format!(
        "  type: anonymous\n  authz: {{type: none, policies: [{PERMIT_ALL:?}]}}\n"
    ));
    assert_single(
        &ps,
        Severity::Warning,
        "incomingAuth.authz.policies",
        "ignored because type is none",
    );
}

#[test]
fn entities_json_must_parse() {
    let ps = incoming(&format!(
        "  type: anonymous\n  authz: {{type: cedar, policies: [{PERMIT_ALL:?}], entitiesJson: '[{{\"uid\": '}}\n"
    ));
    assert_has(
        &ps,
        Severity::Error,
        "incomingAuth.authz.entitiesJson",
        "is not valid JSON",
    );
}

/// Cedar policies and entities are parsed by the validator: each bad one is reported at its
/// own index, with Cedar's message and position; a good section has no problem at all.
#[test]
fn cedar_policies_are_parsed_with_their_index() {
    let base = BASE.replace("incomingAuth:\n  type: anonymous\n", "");
    let authz = |body: &str| {
        problems(&format!(
            "{base}incomingAuth:\n  type: anonymous\n  authz:\n    type: cedar\n{body}"
        ))
    };
    assert_only(
        &authz("    policies: ['permit(principal, action, resource);']\n    entitiesJson: '[]'\n"),
        &[],
    );
    let ps = authz(
        "    policies:\n      - 'permit(principal, action, resource);'\n      - 'permit(principal, action resource);'\n      - 'forbid(principal, action, resource) when { context.arg_x == };'\n",
    );
    let paths: Vec<&str> = ps.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "incomingAuth.authz.policies[1]",
            "incomingAuth.authz.policies[2]"
        ],
        "{ps:?}"
    );
    assert!(
        ps.iter()
            .all(|p| p.severity == Severity::Error && p.kind == ProblemKind::Invalid)
    );
    assert!(ps[0].message.contains("(line 1, column"), "{}", ps[0]);
    assert_only(
        &authz("    policies: []\n"),
        &[(
            Severity::Error,
            "incomingAuth.authz.policies: at least one Cedar policy is required",
        )],
    );
    let ps =
        authz("    policies: ['permit(principal, action, resource);']\n    entitiesJson: 'nope'\n");
    assert_eq!(ps.len(), 1);
    assert!(
        ps[0]
            .to_string()
            .starts_with("incomingAuth.authz.entitiesJson: is not valid JSON"),
        "{}",
        ps[0]
    );
    let ps = authz(
        "    policies: ['permit(principal, action, resource);']\n    entitiesJson: '[{\"uid\": {\"type\": \"THVGroup\", \"id\": \"eng\"}, \"parents\": [{\"type\": \"THVGroup\"}]}]'\n",
    );
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].path, "incomingAuth.authz.entitiesJson");
    // type none ignores what it carries, loudly.
    let ps = problems(&format!(
        "{base}incomingAuth:\n  type: anonymous\n  authz: {{type: none, policies: ['garbage'], entitiesJson: 'x'}}\n"
    ));
    assert_eq!(
        rendered(&ps),
        [
            "warning: incomingAuth.authz.policies: ignored because type is none",
            "warning: incomingAuth.authz.entitiesJson: ignored because type is none"
        ]
    );
}
