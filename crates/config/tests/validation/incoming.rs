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
    assert_single(&ps, Severity::Error, "incomingAuth.oidc.issuer", "required");
}

#[test]
fn oidc_introspection_url_must_be_http() {
    let ps = incoming(
        "  type: oidc\n  oidc: {issuer: \"https://idp\", audience: a, introspectionUrl: \"ftp://idp/introspect\"}\n",
    );
    assert_single(
        &ps,
        Severity::Error,
        "incomingAuth.oidc.introspectionUrl",
        "must be an http or https URL, not ftp",
    );
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
