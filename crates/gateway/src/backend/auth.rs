//! Outgoing authentication and per-backend static headers.
//!
//! Everything secret is resolved once at startup (environment variables named by the config),
//! so a missing secret is a startup error naming the backend rather than a failing call hours
//! later. Token exchange sits behind [`TokenSource`] so it can be added without touching the
//! request path; today it answers "not supported yet".
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
}

/// Who the gateway is calling on behalf of. Backend sessions are keyed by it, so two callers
/// with different outgoing credentials never share a backend session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Identity(pub Arc<str>);

impl Identity {
    pub fn anonymous() -> Self {
        Identity(Arc::from("anonymous"))
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

/// The resolved outgoing auth of one backend.
pub enum Outgoing {
    None,
    /// A fixed header (`header_injection`), secret already resolved.
    Header(HeaderName, HeaderValue),
    Token(Box<dyn TokenSource>),
}

impl Outgoing {
    pub fn kind(&self) -> &'static str {
        match self {
            Outgoing::None => "unauthenticated",
            Outgoing::Header(..) => "header_injection",
            Outgoing::Token(_) => "token",
        }
    }

    /// Headers to add to every request of a backend session for `identity`.
    pub async fn headers(
        &self,
        identity: &Identity,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        match self {
            Outgoing::None => Ok(Vec::new()),
            Outgoing::Header(n, v) => Ok(vec![(n.clone(), v.clone())]),
            Outgoing::Token(t) => Ok(vec![t.header(identity).await?]),
        }
    }
}

/// Resolves a backend's strategy; `env` looks up environment variables (injected for tests).
pub fn resolve(
    backend: &str,
    strategy: Option<&BackendAuthStrategy>,
    env: &dyn Fn(&str) -> Option<String>,
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
            let value = if !hi.header_value.is_empty() {
                hi.header_value.clone()
            } else if !hi.header_value_env.is_empty() {
                match env(&hi.header_value_env) {
                    Some(v) if !v.is_empty() => v,
                    _ => {
                        return Err(cfg_err(format!(
                            "headerInjection.headerValueEnv: environment variable {} is not set",
                            hi.header_value_env
                        )));
                    }
                }
            } else {
                return Err(cfg_err(
                    "headerInjection needs headerValue or headerValueEnv".into(),
                ));
            };
            let value = HeaderValue::from_str(&value)
                .map_err(|_| cfg_err("headerInjection value is not a valid header value".into()))?;
            Ok(Outgoing::Header(name, sensitive(value)))
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
        match resolve("b", Some(&s), &env).unwrap() {
            Outgoing::Header(n, v) => {
                assert_eq!(n, "authorization");
                assert_eq!(v, "Bearer s3cret");
            }
            _ => panic!("wrong strategy"),
        }
        s.header_injection.as_mut().unwrap().header_value_env = "MISSING".into();
        let e = resolve("b", Some(&s), &env).err().unwrap().to_string();
        assert!(e.contains("MISSING") && e.contains("\"b\""), "{e}");
    }

    #[tokio::test]
    async fn token_exchange_is_a_clear_not_supported_error() {
        let s = BackendAuthStrategy {
            strategy_type: Some(StrategyType::TokenExchange),
            ..Default::default()
        };
        let o = resolve("b", Some(&s), &env).unwrap();
        let e = o
            .headers(&Identity::anonymous())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("token_exchange is not supported yet"), "{e}");
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
