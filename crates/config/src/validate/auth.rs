//! Rules for `incomingAuth` and `outgoingAuth`.
//!
//! A backend strategy must carry exactly the sub-object its `type` names, and each sub-object
//! its required fields; a secret comes either inline or from an environment variable, never
//! both.

use super::{
    Ctx, Severity, check_absolute_path, check_env_name, check_http_url, is_header_name, is_https,
};
use crate::auth::{
    AuthSource, AuthzConfig, AuthzType, AwsSts, BackendAuthStrategy, HeaderInjection, IncomingAuth,
    IncomingAuthType, Obo, OidcConfig, OutgoingAuth, StrategyType, TokenExchange, Xaa,
};
use crate::model::Config;
use crate::path::FieldPath;

const NO_AUTH_SERVER: &str =
    "is not supported yet: it needs an embedded authorization server, which vmcp does not have";

const NOT_ENFORCED: &str = "is not supported by this vmcp version: a network gateway has no local \
     user to trust and will not serve every client unauthenticated instead (use type: oidc or anonymous)";

pub(super) fn check_incoming(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, a: &IncomingAuth) {
    match a.auth_type {
        None => ctx.error(&at.key("type"), "required (oidc, local or anonymous)"),
        Some(IncomingAuthType::Oidc) if a.oidc.is_none() => {
            ctx.error(&at.key("oidc"), "required when type is oidc")
        }
        Some(t) if t != IncomingAuthType::Oidc && a.oidc.is_some() => ctx.error(
            &at.key("oidc"),
            format!("only allowed when type is oidc (type is {})", t.as_str()),
        ),
        Some(_) => {}
    }
    // `local` trusts whoever runs the process, which means nothing for a network gateway.
    // Serving it would let every client in, so it is refused by name (fail closed).
    if a.auth_type == Some(IncomingAuthType::Local) {
        ctx.not_supported(
            Severity::Error,
            &at.key("type"),
            format!("local client authentication {NOT_ENFORCED}"),
        );
    }
    if let Some(oidc) = &a.oidc {
        check_oidc(ctx, &at.key("oidc"), oidc);
    }
    if let Some(authz) = &a.authz {
        check_authz(ctx, &at.key("authz"), authz);
    }
}

fn check_oidc(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, o: &OidcConfig) {
    let issuer = at.key("issuer");
    check_http_url(ctx, &issuer, &o.issuer, true);
    if !o.issuer.is_empty() && !is_https(&o.issuer) && !o.insecure_allow_http {
        ctx.error(
            &issuer,
            "must use https (set insecureAllowHttp: true for development only)",
        );
    }
    if o.audience.trim().is_empty() {
        ctx.error(&at.key("audience"), "required");
    }
    check_env_name(ctx, &at.key("clientSecretEnv"), &o.client_secret_env);
    check_http_url(ctx, &at.key("jwksUrl"), &o.jwks_url, false);
    check_http_url(
        ctx,
        &at.key("introspectionUrl"),
        &o.introspection_url,
        false,
    );
    // The client secret goes to the introspection endpoint: never over plain http unless
    // the configuration says it is a development set-up.
    if !o.introspection_url.is_empty() {
        let plain_http = o
            .introspection_url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        if plain_http && !o.insecure_allow_http {
            ctx.error(
                &at.key("introspectionUrl"),
                "must use https (set insecureAllowHttp: true for development only)",
            );
        }
        if !o.client_id.is_empty() && o.client_secret_env.is_empty() {
            ctx.error(
                &at.key("clientSecretEnv"),
                "required when clientId is set with introspectionUrl: the gateway authenticates to the introspection endpoint as that client",
            );
        }
    }
    if !o.ca_bundle_path.is_empty() {
        check_absolute_path(ctx, &at.key("caBundlePath"), &o.ca_bundle_path);
    }
    if !o.jwks_auth_token_path.is_empty() {
        check_absolute_path(ctx, &at.key("jwksAuthTokenPath"), &o.jwks_auth_token_path);
    }
    if o.clock_skew_seconds.is_some_and(|s| s > 300) {
        ctx.error(
            &at.key("clockSkewSeconds"),
            "must be at most 300 (five minutes): a larger skew keeps expired tokens usable",
        );
    }
}

fn check_authz(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, a: &AuthzConfig) {
    match a.authz_type {
        None => ctx.error(&at.key("type"), "required (cedar or none)"),
        // The same parse the gateway starts from, so a policy the gateway would refuse is
        // refused here, with its index, for `vmcp validate` and the operator alike.
        Some(AuthzType::Cedar) => {
            if let Err(errors) = a.parse_cedar() {
                for e in errors {
                    let (key, index) = e.field();
                    let field = at.key(key);
                    match index {
                        Some(i) => ctx.error(&field.index(i), e.message()),
                        None => ctx.error(&field, e.message()),
                    }
                }
            }
        }
        Some(AuthzType::None) => {
            if !a.policies.is_empty() {
                ctx.warn(&at.key("policies"), "ignored because type is none");
            }
            if !a.entities_json.is_empty() {
                ctx.warn(&at.key("entitiesJson"), "ignored because type is none");
            }
        }
    }
    if !a.group_entity_type.is_empty() {
        let ok = {
            let mut b = a.group_entity_type.bytes();
            matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        };
        if !ok {
            ctx.error(
                &at.key("groupEntityType"),
                "must be a Cedar identifier (letters, digits and '_', not starting with a digit)",
            );
        }
    }
    if !a.primary_upstream_provider.is_empty() {
        ctx.not_supported(
            Severity::Error,
            &at.key("primaryUpstreamProvider"),
            NO_AUTH_SERVER,
        );
    }
}

pub(super) fn check_outgoing(
    ctx: &mut Ctx<'_>,
    at: &FieldPath<'_>,
    o: &OutgoingAuth,
    cfg: &Config,
) {
    if o.source == AuthSource::Discovered && cfg.is_static() {
        ctx.warn(
            &at.key("source"),
            "is discovered, but backends are listed: the listed backends are used and \
             nothing is discovered (use source: inline for static mode)",
        );
    }
    if let Some(default) = &o.default {
        check_strategy(ctx, &at.key("default"), default);
    }
    let map = at.key("backends");
    for (name, strategy) in &o.backends {
        let entry = map.key(name);
        if name.is_empty() {
            ctx.error(&entry, "backend name must not be empty");
        }
        ctx.check_backend_ref(&entry, name);
        check_strategy(ctx, &entry, strategy);
    }
}

/// Checks a strategy: a known type, exactly its own sub-object, and that sub-object's fields.
pub(crate) fn check_strategy(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, s: &BackendAuthStrategy) {
    let present: [(&str, bool); 6] = [
        ("headerInjection", s.header_injection.is_some()),
        ("tokenExchange", s.token_exchange.is_some()),
        ("upstreamInject", s.upstream_inject.is_some()),
        ("awsSts", s.aws_sts.is_some()),
        ("obo", s.obo.is_some()),
        ("xaa", s.xaa.is_some()),
    ];
    let Some(kind) = s.strategy_type else {
        ctx.error(
            &at.key("type"),
            "required (unauthenticated, header_injection, token_exchange, upstream_inject, \
             aws_sts, obo or xaa)",
        );
        return;
    };
    let wanted = kind.sub_object_key();
    for (key, is_set) in present {
        if is_set && Some(key) != wanted {
            ctx.error(
                &at.key(key),
                format!("not allowed when type is {} (remove it)", kind.as_str()),
            );
        }
    }
    if let Some(key) = wanted
        && !present.iter().any(|(k, set)| *k == key && *set)
    {
        ctx.error(
            &at.key(key),
            format!("required when type is {}", kind.as_str()),
        );
    }
    match kind {
        StrategyType::Unauthenticated => {}
        StrategyType::HeaderInjection => {
            if let Some(h) = &s.header_injection {
                check_header_injection(ctx, &at.key("headerInjection"), h);
            }
        }
        StrategyType::TokenExchange => {
            if let Some(t) = &s.token_exchange {
                check_token_exchange(ctx, &at.key("tokenExchange"), t);
            }
        }
        StrategyType::UpstreamInject => {
            let sub = at.key("upstreamInject");
            if let Some(u) = &s.upstream_inject
                && u.provider_name.is_empty()
            {
                ctx.error(&sub.key("providerName"), "required");
            }
            ctx.not_supported(
                Severity::Error,
                &at.key("type"),
                format!("upstream_inject {NO_AUTH_SERVER}"),
            );
        }
        StrategyType::AwsSts => {
            if let Some(a) = &s.aws_sts {
                check_aws_sts(ctx, &at.key("awsSts"), a);
            }
        }
        StrategyType::Obo => {
            if let Some(o) = &s.obo {
                check_obo(ctx, &at.key("obo"), o);
            }
            ctx.not_supported(
                Severity::Error,
                &at.key("type"),
                "obo is not supported (ToolHive ships it only in an enterprise build)",
            );
        }
        StrategyType::Xaa => {
            if let Some(x) = &s.xaa {
                check_xaa(ctx, &at.key("xaa"), x);
            }
        }
    }
}

/// Reports when both a literal secret and an environment variable for it are given.
fn check_secret_pair(
    ctx: &mut Ctx<'_>,
    at: &FieldPath<'_>,
    (value_key, value): (&str, &str),
    (env_key, env): (&str, &str),
) {
    if !value.is_empty() && !env.is_empty() {
        ctx.error(
            &at.key(env_key),
            format!("set either {value_key} or {env_key}, not both"),
        );
    }
    check_env_name(ctx, &at.key(env_key), env);
}

fn check_header_injection(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, h: &HeaderInjection) {
    if h.header_name.is_empty() {
        ctx.error(&at.key("headerName"), "required");
    } else if !is_header_name(&h.header_name) {
        ctx.error(
            &at.key("headerName"),
            format!("{:?} is not a valid HTTP header name", h.header_name),
        );
    }
    match (h.header_value.is_empty(), h.header_value_env.is_empty()) {
        (true, true) => ctx.error(
            at,
            "exactly one of headerValue or headerValueEnv is required",
        ),
        (false, false) => ctx.error(at, "set either headerValue or headerValueEnv, not both"),
        _ => {}
    }
    for (key, value) in [
        ("headerValue", &h.header_value),
        ("headerValuePrefix", &h.header_value_prefix),
    ] {
        if value.contains(['\r', '\n', '\0']) {
            ctx.error(&at.key(key), "must not contain line breaks or NUL bytes");
        }
    }
    check_env_name(ctx, &at.key("headerValueEnv"), &h.header_value_env);
}

fn check_subject_token_type(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, value: &str) {
    let short = ["access_token", "id_token", "jwt"];
    if !value.is_empty() && !short.contains(&value) && !value.starts_with("urn:") {
        ctx.error(
            at,
            format!("{value:?} is not a token type: use access_token, id_token, jwt or a URN"),
        );
    }
}

fn check_token_exchange(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, t: &TokenExchange) {
    check_http_url(ctx, &at.key("tokenUrl"), &t.token_url, true);
    if !t.token_url.is_empty() && !is_https(&t.token_url) && !t.insecure_allow_http {
        ctx.error(
            &at.key("tokenUrl"),
            "must be https: the caller's token and the client secret are sent to it \
             (insecureAllowHttp: true allows plain http, for development)",
        );
    }
    check_secret_pair(
        ctx,
        at,
        ("clientSecret", &t.client_secret),
        ("clientSecretEnv", &t.client_secret_env),
    );
    check_subject_token_type(ctx, &at.key("subjectTokenType"), &t.subject_token_type);
    if !t.subject_provider_name.is_empty() {
        ctx.not_supported(
            Severity::Error,
            &at.key("subjectProviderName"),
            NO_AUTH_SERVER,
        );
    }
}

fn check_aws_sts(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, a: &AwsSts) {
    if a.region.is_empty() {
        ctx.error(&at.key("region"), "required");
    } else if !is_aws_region(&a.region) {
        ctx.error(
            &at.key("region"),
            format!("{:?} is not an AWS region name", a.region),
        );
    }
    if a.fallback_role_arn.is_empty() && a.role_mappings.is_empty() {
        ctx.error(
            at,
            "needs fallbackRoleArn or at least one roleMappings entry",
        );
    }
    if let Some(d) = a.session_duration
        && !(900..=43200).contains(&d)
    {
        ctx.error(
            &at.key("sessionDuration"),
            "must be between 900 and 43200 seconds",
        );
    }
    let list = at.key("roleMappings");
    for (i, m) in a.role_mappings.iter().enumerate() {
        let entry = list.index(i);
        if m.role_arn.is_empty() {
            ctx.error(&entry.key("roleArn"), "required");
        }
        match (m.claim.is_empty(), m.matcher.is_empty()) {
            (true, true) => ctx.error(&entry, "exactly one of claim or matcher is required"),
            (false, false) => ctx.error(&entry, "set either claim or matcher, not both"),
            _ => {}
        }
    }
    if !a.subject_provider_name.is_empty() {
        ctx.not_supported(
            Severity::Error,
            &at.key("subjectProviderName"),
            NO_AUTH_SERVER,
        );
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, ...
fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn check_obo(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, o: &Obo) {
    check_http_url(ctx, &at.key("tokenUrl"), &o.token_url, true);
    check_secret_pair(
        ctx,
        at,
        ("clientSecret", &o.client_secret),
        ("clientSecretEnv", &o.client_secret_env),
    );
    if o.cache_skew_seconds.is_some_and(|s| s < 0) {
        ctx.error(&at.key("cacheSkewSeconds"), "must not be negative");
    }
}

fn check_xaa(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, x: &Xaa) {
    let idp = at.key("idpTokenUrl");
    check_http_url(ctx, &idp, &x.idp_token_url, true);
    if !x.idp_token_url.is_empty() && !is_https(&x.idp_token_url) {
        ctx.error(&idp, "must use https");
    }
    let target = at.key("targetTokenUrl");
    check_http_url(ctx, &target, &x.target_token_url, true);
    if !x.target_token_url.is_empty()
        && !is_https(&x.target_token_url)
        && !x.insecure_target_token_url
    {
        ctx.error(
            &target,
            "must use https (set insecureTargetTokenUrl: true for development only)",
        );
    }
    if x.target_audience.is_empty() {
        ctx.error(&at.key("targetAudience"), "required");
    }
    check_secret_pair(
        ctx,
        at,
        ("idpClientSecret", &x.idp_client_secret),
        ("idpClientSecretEnv", &x.idp_client_secret_env),
    );
    check_secret_pair(
        ctx,
        at,
        ("targetClientSecret", &x.target_client_secret),
        ("targetClientSecretEnv", &x.target_client_secret_env),
    );
    let id_token_urn = "urn:ietf:params:oauth:token-type:id_token";
    if !x.subject_token_type.is_empty() && x.subject_token_type != id_token_urn {
        ctx.error(
            &at.key("subjectTokenType"),
            format!("only {id_token_urn} is supported"),
        );
    }
    if !x.subject_provider_name.is_empty() {
        ctx.not_supported(
            Severity::Error,
            &at.key("subjectProviderName"),
            NO_AUTH_SERVER,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_regions() {
        assert!(is_aws_region("us-east-1"));
        assert!(is_aws_region("us-gov-west-1"));
        assert!(!is_aws_region("us-east"));
        assert!(!is_aws_region("US-east-1"));
        assert!(!is_aws_region("us--1"));
    }
}
