//! Client authentication at the front door: who a request comes from, and the answers for
//! those who cannot say (RFC 6750 and RFC 9728, as the MCP authorization spec asks).
//!
//! Every `/mcp` request is authenticated before its body is read, so an unauthenticated
//! client costs a header check. The answers:
//!
//! | case | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no Bearer token | 401 | `Bearer resource_metadata="<url>"` |
//! | a token that does not check out | 401 | `Bearer resource_metadata="<url>", error="invalid_token", error_description="..."` |
//! | valid, without the configured scopes | 403 | `Bearer resource_metadata="<url>", error="insufficient_scope", scope="..."` |
//! | the issuer's keys cannot be fetched | 503 | none (it is not the client's fault); nothing is served |
//!
//! `<url>` is this gateway's `/.well-known/oauth-protected-resource/mcp`, where clients find
//! which authorization server to get a token from.

// Handlers return a ready `Response` as their error (see `http.rs`).
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::http::single_header;
use super::session::Owner;
use crate::authz::{Authorizer, Principal};
use crate::backend::auth::{Identity, Subject};
use crate::jsonrpc::{self, code};
use crate::metrics::Metrics;
use crate::oidc::{AuthFailure, Verifier};

/// The well-known path of RFC 9728 metadata; the MCP endpoint's own is this plus `/mcp`.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// How long a client is asked to wait after a 503 for an unreachable issuer.
const RETRY_AFTER_SECS: &str = "5";

/// Most verified callers remembered at once ([`Remembered`]); about 100 bytes each plus
/// the claims, so a few MB at most.
const REMEMBERED_CALLERS: usize = 10_000;

/// Callers already authenticated, by the SHA-256 of their `Authorization` value: a client
/// sends the same token on every request until it expires, and checking its signature
/// (ECDSA or RSA) and building its Cedar principal is most of what client authentication
/// costs. An entry is used only while its token has not expired and the key set that
/// verified it is still the current one; only successes are remembered, so nothing a
/// client sends can put a refusal or another caller in the map.
#[derive(Default)]
struct Remembered {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], Known>>,
}

struct Known {
    caller: Caller,
    /// [`crate::oidc::Authenticated::valid_until`]: the token's `exp` (capped for an
    /// introspected one), in seconds since the epoch.
    exp: u64,
    generation: u64,
}

impl Remembered {
    fn get(&self, digest: &[u8; 32], generation: u64, now: u64) -> Option<Caller> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(digest)
            .filter(|k| k.generation == generation && now < k.exp)
            .map(|k| k.caller.clone())
    }

    fn put(&self, digest: [u8; 32], known: Known, now: u64) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= REMEMBERED_CALLERS {
            map.retain(|_, k| k.generation == known.generation && now < k.exp);
            if map.len() >= REMEMBERED_CALLERS {
                // Full of live tokens: start over rather than track recency on every hit.
                map.clear();
            }
        }
        map.insert(digest, known);
    }
}

/// The token of a `Bearer` value (the scheme is case-insensitive, RFC 7235 §2.1).
fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn digest(authorization: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(authorization.as_bytes()).into()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A 503 with `Retry-After`: nothing is served while tokens cannot be checked.
fn unavailable(msg: &str, retry_after: &'static str) -> Response {
    let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, msg);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    r
}

/// `incomingAuth.type: oidc` as the front applies it.
pub struct ClientAuth {
    pub verifier: Arc<Verifier>,
    remembered: Remembered,
    /// `oidc.resource`, else `oidc.audience` when that is a URL; empty to take the URL the
    /// request came to.
    resource: String,
    scopes: Vec<String>,
}

/// Who a request is from, as far as the rest of the gateway cares.
#[derive(Clone, Default)]
pub struct Caller {
    /// The session owner; `None` without client authentication.
    pub owner: Option<Owner>,
    /// The Cedar principal when there are policies; `None` means the anonymous one, which
    /// only a gateway without client authentication produces.
    pub principal: Option<Arc<Principal>>,
    /// The caller's identity and the token of this request, for backends that act for the
    /// user (`token_exchange`); `None` without client authentication.
    pub subject: Option<Subject>,
}

impl ClientAuth {
    pub fn new(cfg: &vmcp_config::OidcConfig, verifier: Arc<Verifier>) -> Self {
        let resource = if !cfg.resource.is_empty() {
            cfg.resource.clone()
        } else if is_http_url(&cfg.audience) {
            cfg.audience.clone()
        } else {
            String::new()
        };
        ClientAuth {
            verifier,
            remembered: Remembered::default(),
            resource,
            scopes: cfg.scopes.clone(),
        }
    }

    /// The caller of a request, or the response refusing it.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        authz: Option<&Authorizer>,
        metrics: &Metrics,
    ) -> Result<Caller, Response> {
        // A repeated or non-ASCII header is a malformed token, never the absence of one.
        let authorization = match single_header(headers, header::AUTHORIZATION) {
            Ok(v) => v,
            Err(()) => Some("malformed"),
        };
        // The generation is read before verifying, so a key set stored meanwhile makes the
        // entry stale rather than passing for the new one.
        let generation = self.verifier.key_generation();
        let now = now_secs();
        let key = authorization.map(digest);
        if let Some(key) = &key
            && let Some(caller) = self.remembered.get(key, generation, now)
        {
            return Ok(caller);
        }
        let who = match self.verifier.verify(authorization).await {
            Ok(who) => who,
            Err(f) => {
                metrics.auth_refused(f.reason());
                return Err(self.refusal(&f, headers));
            }
        };
        let principal = match authz {
            None => None,
            Some(a) => match a.principal_of(&who.claims) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    // Never fall back to the anonymous principal: its policies are not this
                    // caller's.
                    tracing::warn!(subject = %who.subject, error = %e, "no Cedar principal for an authenticated caller; refused");
                    metrics.auth_refused("no_principal");
                    return Err(plain(
                        StatusCode::FORBIDDEN,
                        "the token's claims give no authorization principal",
                    ));
                }
            },
        };
        let exp = who.valid_until;
        // Remembered under the digest of this very header, so the token kept is the one
        // every later request with that header carries.
        let subject = authorization.and_then(bearer_token).map(|token| Subject {
            identity: Identity::of(&who.issuer, &who.subject),
            token: Arc::from(token),
        });
        let caller = Caller {
            owner: Some(Owner {
                issuer: who.issuer,
                subject: who.subject,
            }),
            principal,
            subject,
        };
        if let Some(key) = key {
            self.remembered.put(
                key,
                Known {
                    caller: caller.clone(),
                    exp,
                    generation,
                },
                now,
            );
        }
        Ok(caller)
    }

    /// The answer for a refused request.
    fn refusal(&self, f: &AuthFailure, headers: &HeaderMap) -> Response {
        let meta = quoted(&self.metadata_url(headers));
        let (status, challenge, msg) = match f {
            AuthFailure::Missing => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer resource_metadata={meta}"),
                "authentication required: send a Bearer token".to_owned(),
            ),
            AuthFailure::Invalid(r) => (
                StatusCode::UNAUTHORIZED,
                format!(
                    "Bearer resource_metadata={meta}, error=\"invalid_token\", error_description={}",
                    quoted(&r.to_string())
                ),
                format!("invalid token: {r}"),
            ),
            AuthFailure::InsufficientScope => (
                StatusCode::FORBIDDEN,
                format!(
                    "Bearer resource_metadata={meta}, error=\"insufficient_scope\", scope={}",
                    quoted(&self.scopes.join(" "))
                ),
                format!(
                    "the token lacks a required scope ({})",
                    self.scopes.join(" ")
                ),
            ),
            AuthFailure::Unavailable(detail) => {
                tracing::warn!(error = %detail, "refusing a request: the token issuer cannot be reached");
                return unavailable(
                    "the token issuer cannot be reached, so no token can be checked; nothing is served until it can (retry later)",
                    RETRY_AFTER_SECS,
                );
            }
            AuthFailure::Busy => {
                // A flood of made-up tokens lands here: a log line each would be a second flood.
                tracing::debug!("refusing a request: too many opaque tokens to introspect at once");
                return unavailable(
                    "too many new tokens are being checked with the token issuer right now; retry shortly",
                    "1",
                );
            }
        };
        let mut r = plain(status, &msg);
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    }

    /// The `WWW-Authenticate` challenge of a request whose token a backend's token endpoint
    /// refused on exchange: the token is as good as invalid for this resource.
    pub fn token_refused_challenge(&self, headers: &HeaderMap) -> String {
        format!(
            "Bearer resource_metadata={}, error=\"invalid_token\", error_description=\"a backend's token endpoint refused to exchange this token\"",
            quoted(&self.metadata_url(headers))
        )
    }

    /// The resource this gateway is: the configured one, or the URL the request came to.
    fn resource(&self, headers: &HeaderMap) -> String {
        if !self.resource.is_empty() {
            return self.resource.clone();
        }
        format!("{}/mcp", request_origin(headers))
    }

    /// Where this gateway's RFC 9728 metadata is: the well-known path inserted between the
    /// resource's origin and its path (RFC 9728 §3.1).
    fn metadata_url(&self, headers: &HeaderMap) -> String {
        let resource = self.resource(headers);
        match url::Url::parse(&resource) {
            Ok(u) if u.has_host() => {
                let origin = u.origin().ascii_serialization();
                let path = u.path().trim_end_matches('/');
                format!("{origin}{METADATA_PATH}{path}")
            }
            _ => format!("{}{METADATA_PATH}/mcp", request_origin(headers)),
        }
    }

    /// The RFC 9728 document.
    pub fn metadata(&self, headers: &HeaderMap) -> Response {
        let mut doc = serde_json::json!({
            "resource": self.resource(headers),
            "authorization_servers": [self.verifier.issuer()],
            "bearer_methods_supported": ["header"],
        });
        if !self.scopes.is_empty() {
            doc["scopes_supported"] = serde_json::json!(self.scopes);
        }
        let mut r = Response::new(Body::from(doc.to_string()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// `scheme://host` of the request as the client sent it: `https` when a proxy in front
/// says so (`X-Forwarded-Proto`), the Host header (already checked against
/// `--allowed-hosts`) with anything that is not a host character dropped.
fn request_origin(headers: &HeaderMap) -> String {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let host: String = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(*c))
        .collect();
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// An RFC 7230 quoted-string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn plain(status: StatusCode, msg: &str) -> Response {
    let mut r = Response::new(Body::from(jsonrpc::response_error(
        None,
        code::INVALID_REQUEST,
        msg,
    )));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(resource: &str, audience: &str) -> ClientAuth {
        let cfg = vmcp_config::OidcConfig {
            issuer: "https://idp.example.com/realms/vmcp".into(),
            audience: audience.into(),
            resource: resource.into(),
            scopes: vec!["mcp:tools".into()],
            ..Default::default()
        };
        let tls = crate::backend::tls::test_client_config();
        ClientAuth::new(&cfg, Arc::new(Verifier::new(&cfg, tls).unwrap()))
    }

    fn host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        m
    }

    #[test]
    fn metadata_url_follows_rfc_9728() {
        let a = auth("https://gw.example.com/mcp", "vmcp-gateway");
        assert_eq!(
            a.metadata_url(&host("ignored:1")),
            "https://gw.example.com/.well-known/oauth-protected-resource/mcp"
        );
        let a = auth("", "https://gw.example.com");
        assert_eq!(
            a.metadata_url(&HeaderMap::new()),
            "https://gw.example.com/.well-known/oauth-protected-resource"
        );
        let a = auth("", "vmcp-gateway");
        assert_eq!(
            a.metadata_url(&host("127.0.0.1:8080")),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"
        );
        let mut h = host("gw.internal\"evil");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            a.metadata_url(&h),
            "https://gw.internalevil/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn challenges_name_the_metadata_and_the_error() {
        let a = auth("https://gw.example.com/mcp", "vmcp-gateway");
        let h = HeaderMap::new();
        let www = |f: AuthFailure| {
            let r = a.refusal(&f, &h);
            (
                r.status(),
                r.headers()
                    .get(header::WWW_AUTHENTICATE)
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        };
        let meta =
            "resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource/mcp\"";
        let (s, w) = www(AuthFailure::Missing);
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(w.unwrap(), format!("Bearer {meta}"));
        let (s, w) = www(AuthFailure::Invalid(crate::oidc::Refusal::Expired));
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(
            w.unwrap(),
            format!(
                "Bearer {meta}, error=\"invalid_token\", error_description=\"the token has expired\""
            )
        );
        let (s, w) = www(AuthFailure::InsufficientScope);
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            w.unwrap(),
            format!("Bearer {meta}, error=\"insufficient_scope\", scope=\"mcp:tools\"")
        );
        let (s, w) = www(AuthFailure::Unavailable("down".into()));
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(w.is_none());
    }

    /// A remembered caller counts only for its own token, under the key set that verified
    /// it, before its expiry; a full map makes room.
    #[test]
    fn remembered_callers_expire_with_their_token_and_key_set() {
        let r = Remembered::default();
        let known = |exp, generation| Known {
            caller: Caller::default(),
            exp,
            generation,
        };
        let (a, b) = (digest("Bearer a"), digest("Bearer b"));
        r.put(a, known(100, 1), 50);
        assert!(r.get(&a, 1, 99).is_some());
        assert!(r.get(&b, 1, 99).is_none(), "another token");
        assert!(r.get(&a, 2, 99).is_none(), "keys fetched since");
        assert!(r.get(&a, 1, 100).is_none(), "expired");
        for i in 0..REMEMBERED_CALLERS + 5 {
            r.put(digest(&format!("Bearer {i}")), known(1_000, 1), 50);
        }
        assert!(r.map.lock().unwrap().len() <= REMEMBERED_CALLERS);
    }

    #[test]
    fn quoting() {
        assert_eq!(quoted("a\"b\\c\nd"), "\"a\\\"b\\\\cd\"");
    }
}
