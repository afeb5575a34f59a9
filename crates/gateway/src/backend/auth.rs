//! Outgoing authentication and per-backend static headers.
//!
//! Everything secret is resolved once at startup (environment variables named by the config),
//! so a missing secret is a startup error naming the backend rather than a failing call hours
//! later. Token exchange ([`super::exchange`]) acts for the caller: its sessions are per caller
//! and every call carries the caller's own exchanged token. Strategies vmcp cannot perform
//! sit behind [`TokenSource`] and answer "not supported yet".
//!
//! # Header forwarding in backend `metadata`
//!
//! Static extra headers for one backend are declared in that backend's `metadata` map:
//!
//! * `vmcp.headers.plaintext.<Header-Name>: <value>` sends `<Header-Name>: <value>`;
//! * `vmcp.headers.env.<Header-Name>: <ENV_VAR>` sends `<Header-Name>: $ENV_VAR`, read from
//!   the gateway's environment at startup (the operator renders a Secret reference as an env
//!   var of the gateway container and names it here). An unset or empty variable is a startup
//!   error.
//!
//! Header names must be valid HTTP tokens and may not be one the gateway owns or that breaks
//! framing (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection`, `Content-Type`,
//! `Accept`, `Mcp-Session-Id`, `MCP-Protocol-Version`, ...). The auth strategy's header wins
//! over a forwarded header of the same name.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use vmcp_config::{BackendAuthStrategy, StrategyType};

use super::exchange::{ExchangeFailure, Exchanger, Settings};

/// Metadata key prefix for literal headers.
pub const PLAINTEXT_PREFIX: &str = vmcp_config::metadata::HEADER_PLAINTEXT_PREFIX;
/// Metadata key prefix for headers whose value comes from an environment variable.
pub const ENV_PREFIX: &str = vmcp_config::metadata::HEADER_ENV_PREFIX;

const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

#[derive(Debug, thiserror::Error, Clone)]
pub enum AuthError {
    #[error("backend {backend:?}: {what}")]
    Config { backend: String, what: String },
    #[error("backend {backend:?}: outgoing auth type {kind} is not supported yet")]
    NotSupported { backend: String, kind: &'static str },
    /// No exchanged token for the call (`token_exchange`).
    #[error("backend {backend:?}: token exchange failed: {failure}")]
    Exchange {
        backend: String,
        failure: ExchangeFailure,
    },
}

/// Who the gateway is calling on behalf of. Backend sessions are keyed by it, so two callers
/// with different outgoing credentials never share a backend session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Identity(pub Arc<str>);

impl Identity {
    pub fn anonymous() -> Self {
        Identity(Arc::from("anonymous"))
    }

    /// The identity of an authenticated caller: its issuer and subject, unambiguously
    /// joined (the issuer's length first).
    pub fn of(issuer: &str, subject: &str) -> Self {
        Identity(Arc::from(format!("{}:{issuer}{subject}", issuer.len())))
    }
}

/// An authenticated caller as strategies that act for the user need it: its identity
/// (which keys its backend sessions) and its validated incoming token (which
/// `token_exchange` exchanges). Never printed.
#[derive(Clone)]
pub struct Subject {
    pub identity: Identity,
    pub token: Arc<str>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The future a [`TokenSource`] returns: one header to add.
pub type HeaderFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(HeaderName, HeaderValue), AuthError>> + Send + 'a>>;

/// Produces a token for an identity (token exchange, STS, ...). Boxed futures keep the trait
/// object-safe; the seam is used once per backend session, not per call.
pub trait TokenSource: Send + Sync {
    fn header(&self, identity: &Identity) -> HeaderFuture<'_>;
}

/// The placeholder for strategies vmcp cannot perform yet.
struct Unsupported {
    backend: String,
    kind: &'static str,
}

impl TokenSource for Unsupported {
    fn header(&self, _: &Identity) -> HeaderFuture<'_> {
        Box::pin(async move {
            Err(AuthError::NotSupported {
                backend: self.backend.clone(),
                kind: self.kind,
            })
        })
    }
}

/// A secret given inline (`value`) or by the name of an environment variable (`env_key`,
/// the config field `field`): `None` when neither is set, an error naming the field when the
/// variable is unset or empty, so a missing Secret never turns into an empty credential.
fn literal_or_env(
    value: &str,
    env_key: &str,
    field: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    if !value.is_empty() {
        return Ok(Some(value.to_owned()));
    }
    if env_key.is_empty() {
        return Ok(None);
    }
    match env(env_key) {
        Some(v) if !v.is_empty() => Ok(Some(v)),
        _ => Err(format!(
            "{field}: environment variable {env_key} is not set"
        )),
    }
}

/// The resolved outgoing auth of one backend.
pub enum Outgoing {
    None,
    /// A fixed header (`header_injection`), secret already resolved.
    Header(HeaderName, HeaderValue),
    /// RFC 8693 token exchange of the caller's token (`token_exchange`).
    Exchange {
        backend: String,
        exchanger: Arc<Exchanger>,
    },
    Token(Box<dyn TokenSource>),
}

impl Outgoing {
    pub fn kind(&self) -> &'static str {
        match self {
            Outgoing::None => "unauthenticated",
            Outgoing::Header(..) => "header_injection",
            Outgoing::Exchange { .. } => "token_exchange",
            Outgoing::Token(_) => "token",
        }
    }

    /// Whether the backend sees each caller with a credential of its own: its sessions are
    /// then kept per caller ([`Subject::identity`]) and every call carries the caller's
    /// current credential ([`Outgoing::call_header`]). Otherwise everyone shares sessions.
    pub fn per_user(&self) -> bool {
        matches!(self, Outgoing::Exchange { .. })
    }

    /// Whether the gateway's own requests (health checks, capability lists) reach the
    /// backend without any credential while callers' requests carry one: a per-user backend
    /// for which the gateway has no client-credentials token (no secret, or the endpoint
    /// gives it none). Such a backend refusing the gateway (401/403) is expected, not a
    /// failure (see `pool::Backend::needs_user_token`).
    pub fn gateway_goes_without(&self) -> bool {
        match self {
            Outgoing::Exchange { exchanger, .. } => !exchanger.serves_the_gateway(),
            _ => false,
        }
    }

    /// The exchanger, for metrics.
    pub fn exchanger(&self) -> Option<&Arc<Exchanger>> {
        match self {
            Outgoing::Exchange { exchanger, .. } => Some(exchanger),
            _ => None,
        }
    }

    /// The `Authorization` value of one call for `subject` on a per-user backend; `None`
    /// for the others, whose credential is fixed in the session's headers. A call of the
    /// gateway's own (no subject) gets the service token when there is one.
    pub async fn call_header(
        &self,
        subject: Option<&Subject>,
    ) -> Result<Option<HeaderValue>, AuthError> {
        let Outgoing::Exchange { backend, exchanger } = self else {
            return Ok(None);
        };
        match subject {
            Some(s) => exchanger
                .header(&s.token)
                .await
                .map(Some)
                .map_err(|failure| AuthError::Exchange {
                    backend: backend.clone(),
                    failure,
                }),
            None => Ok(exchanger.service_header().await),
        }
    }

    /// Headers to add to every request of a backend session; `call` is the per-user
    /// credential [`Outgoing::call_header`] gave for the call that opens it.
    pub async fn headers(
        &self,
        call: Option<&HeaderValue>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        match self {
            Outgoing::None => Ok(Vec::new()),
            Outgoing::Header(n, v) => Ok(vec![(n.clone(), v.clone())]),
            Outgoing::Exchange { .. } => Ok(call
                .map(|v| (http::header::AUTHORIZATION, v.clone()))
                .into_iter()
                .collect()),
            Outgoing::Token(t) => Ok(vec![t.header(&Identity::anonymous()).await?]),
        }
    }
}

/// Resolves a backend's strategy; `env` looks up environment variables (injected for tests),
/// `tls` is the backend's TLS configuration (the token endpoint is reached with it).
pub fn resolve(
    backend: &str,
    strategy: Option<&BackendAuthStrategy>,
    env: &dyn Fn(&str) -> Option<String>,
    tls: impl FnOnce() -> Result<rustls::ClientConfig, String>,
) -> Result<Outgoing, AuthError> {
    let Some(s) = strategy else {
        return Ok(Outgoing::None);
    };
    let cfg_err = |what: String| AuthError::Config {
        backend: backend.to_owned(),
        what,
    };
    match s.strategy_type {
        None | Some(StrategyType::Unauthenticated) => Ok(Outgoing::None),
        Some(StrategyType::HeaderInjection) => {
            let hi = s
                .header_injection
                .as_ref()
                .ok_or_else(|| cfg_err("headerInjection is required".into()))?;
            let name = header_name(&hi.header_name).map_err(cfg_err)?;
            let value = literal_or_env(
                &hi.header_value,
                &hi.header_value_env,
                "headerInjection.headerValueEnv",
                env,
            )
            .map_err(cfg_err)?
            .ok_or_else(|| cfg_err("headerInjection needs headerValue or headerValueEnv".into()))?;
            let value = format!("{}{value}", hi.header_value_prefix);
            let value = HeaderValue::from_str(&value)
                .map_err(|_| cfg_err("headerInjection value is not a valid header value".into()))?;
            Ok(Outgoing::Header(name, sensitive(value)))
        }
        Some(StrategyType::TokenExchange) => {
            let t = s
                .token_exchange
                .as_ref()
                .ok_or_else(|| cfg_err("tokenExchange is required".into()))?;
            let secret = literal_or_env(
                &t.client_secret,
                &t.client_secret_env,
                "tokenExchange.clientSecretEnv",
                env,
            )
            .map_err(cfg_err)?
            .unwrap_or_default();
            if t.client_id.is_empty() && !secret.is_empty() {
                return Err(cfg_err(
                    "tokenExchange: a client secret needs clientId".into(),
                ));
            }
            let fetcher =
                crate::oidc::fetch::Fetcher::new(tls().map_err(cfg_err)?, t.allow_private_ip, None)
                    .map_err(cfg_err)?
                    .allowed_by("tokenExchange.allowPrivateIp");
            let settings = Settings {
                token_url: t.token_url.clone(),
                client: (!t.client_id.is_empty()).then(|| (t.client_id.clone(), secret)),
                audience: t.audience.clone(),
                scopes: t.scopes.clone(),
                subject_token_type: t.subject_token_type.clone(),
            };
            Ok(Outgoing::Exchange {
                backend: backend.to_owned(),
                exchanger: Arc::new(Exchanger::new(settings, fetcher)),
            })
        }
        Some(other) => Ok(Outgoing::Token(Box::new(Unsupported {
            backend: backend.to_owned(),
            kind: other.as_str(),
        }))),
    }
}

/// Static headers declared in a backend's metadata (see the module docs).
pub fn metadata_headers(
    backend: &str,
    metadata: &BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HeaderMap, AuthError> {
    let cfg_err = |what: String| AuthError::Config {
        backend: backend.to_owned(),
        what,
    };
    let mut out = HeaderMap::new();
    for (key, value) in metadata {
        let (name, value, secret) = if let Some(h) = key.strip_prefix(PLAINTEXT_PREFIX) {
            (h, value.clone(), false)
        } else if let Some(h) = key.strip_prefix(ENV_PREFIX) {
            match env(value) {
                Some(v) if !v.is_empty() => (h, v, true),
                _ => {
                    return Err(cfg_err(format!(
                        "metadata {key}: environment variable {value} is not set"
                    )));
                }
            }
        } else {
            continue;
        };
        let hn = header_name(name).map_err(|e| cfg_err(format!("metadata {key}: {e}")))?;
        let hv = HeaderValue::from_str(&value)
            .map_err(|_| cfg_err(format!("metadata {key}: not a valid header value")))?;
        out.insert(hn, if secret { sensitive(hv) } else { hv });
    }
    Ok(out)
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    let hn = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))?;
    if RESERVED.contains(&hn.as_str()) {
        return Err(format!(
            "header {name:?} is managed by the gateway and cannot be set"
        ));
    }
    Ok(hn)
}

fn sensitive(mut v: HeaderValue) -> HeaderValue {
    v.set_sensitive(true);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmcp_config::HeaderInjection;

    fn env(k: &str) -> Option<String> {
        (k == "TOKEN").then(|| "Bearer s3cret".to_owned())
    }

    #[test]
    fn header_injection_from_value_and_env() {
        let mut s = BackendAuthStrategy {
            strategy_type: Some(StrategyType::HeaderInjection),
            header_injection: Some(HeaderInjection {
                header_name: "Authorization".into(),
                header_value_env: "TOKEN".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        match resolve("b", Some(&s), &env, || {
            Ok(crate::backend::tls::test_client_config())
        })
        .unwrap()
        {
            Outgoing::Header(n, v) => {
                assert_eq!(n, "authorization");
                assert_eq!(v, "Bearer s3cret");
            }
            _ => panic!("wrong strategy"),
        }
        // A bearerToken config: the raw token from the Secret, the prefix from the config.
        let raw = |k: &str| (k == "RAW").then(|| "t0ken".to_owned());
        let hi = s.header_injection.as_mut().unwrap();
        hi.header_value_env = "RAW".into();
        hi.header_value_prefix = "Bearer ".into();
        match resolve("b", Some(&s), &raw, || {
            Ok(crate::backend::tls::test_client_config())
        })
        .unwrap()
        {
            Outgoing::Header(_, v) => assert_eq!(v, "Bearer t0ken"),
            _ => panic!("wrong strategy"),
        }
        s.header_injection.as_mut().unwrap().header_value_env = "MISSING".into();
        let e = resolve("b", Some(&s), &env, || {
            Ok(crate::backend::tls::test_client_config())
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("MISSING") && e.contains("\"b\""), "{e}");
    }

    #[tokio::test]
    async fn unsupported_strategies_are_a_clear_error_and_exchange_needs_its_secret() {
        let s = BackendAuthStrategy {
            strategy_type: Some(StrategyType::AwsSts),
            ..Default::default()
        };
        let o = resolve("b", Some(&s), &env, || {
            Ok(crate::backend::tls::test_client_config())
        })
        .unwrap();
        let e = o.headers(None).await.unwrap_err().to_string();
        assert!(e.contains("aws_sts is not supported yet"), "{e}");

        let mut s = BackendAuthStrategy {
            strategy_type: Some(StrategyType::TokenExchange),
            token_exchange: Some(vmcp_config::TokenExchange {
                token_url: "https://idp.example/token".into(),
                client_id: "gw".into(),
                client_secret_env: "TOKEN".into(),
                audience: "b".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let o = resolve("b", Some(&s), &env, || {
            Ok(crate::backend::tls::test_client_config())
        })
        .unwrap();
        assert!(o.per_user());
        assert_eq!(o.kind(), "token_exchange");
        s.token_exchange.as_mut().unwrap().client_secret_env = "MISSING".into();
        let e = resolve("b", Some(&s), &env, || {
            Ok(crate::backend::tls::test_client_config())
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("MISSING") && e.contains("\"b\""), "{e}");
        // An anonymous call has nothing to exchange.
        let s = BackendAuthStrategy {
            strategy_type: Some(StrategyType::TokenExchange),
            token_exchange: Some(vmcp_config::TokenExchange {
                token_url: "https://idp.example/token".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let o = resolve("b", Some(&s), &env, || {
            Ok(crate::backend::tls::test_client_config())
        })
        .unwrap();
        assert_eq!(o.call_header(None).await.unwrap(), None);
    }

    #[test]
    fn metadata_headers_plaintext_env_and_reserved() {
        let md: BTreeMap<String, String> = [
            (
                "vmcp.headers.plaintext.X-Tenant".to_owned(),
                "acme".to_owned(),
            ),
            ("vmcp.headers.env.X-Api-Key".to_owned(), "TOKEN".to_owned()),
            ("group".to_owned(), "g".to_owned()),
        ]
        .into();
        let h = metadata_headers("b", &md, &env).unwrap();
        assert_eq!(h.get("x-tenant").unwrap(), "acme");
        assert_eq!(h.get("x-api-key").unwrap(), "Bearer s3cret");
        assert_eq!(h.len(), 2);
        let bad: BTreeMap<String, String> =
            [("vmcp.headers.plaintext.Host".to_owned(), "x".to_owned())].into();
        assert!(metadata_headers("b", &bad, &env).is_err());
        let unset: BTreeMap<String, String> =
            [("vmcp.headers.env.X-K".to_owned(), "NOPE".to_owned())].into();
        assert!(
            metadata_headers("b", &unset, &env)
                .unwrap_err()
                .to_string()
                .contains("NOPE")
        );
    }
}
