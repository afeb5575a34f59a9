//! `incomingAuth.type: oidc`: who is calling, from a Bearer JWT checked against the
//! issuer's published keys.
//!
//! The pure check is [`keys`]; talking to the issuer is [`fetch`]; this module holds the
//! state in between: the key set (swapped atomically, read without locks on every request),
//! when it was fetched, and the one rate limit that every fetch passes through. That limit
//! is what makes key rotation and an issuer outage safe at once: a token signed with a new
//! key triggers one refetch, so rotation needs no restart, but a flood of tokens with random
//! `kid`s (or an issuer that is down) costs the issuer at most one request per
//! [`MIN_REFETCH_INTERVAL`]. Without keys the gateway answers 503 and serves nothing: it
//! fails closed.

pub mod fetch;
pub mod introspect;
pub mod keys;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use serde_json::{Map, Value};
use vmcp_config::OidcConfig;

pub use keys::{Expect, KeySet, Refusal};

/// How long fetched keys are used before they are fetched again (a failing refetch keeps
/// the old ones: they still verify what they verified).
pub const KEYS_TTL: Duration = Duration::from_secs(3600);

/// The least time between two fetches from the issuer, whatever asks for them.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);

/// Allowed clock difference between the gateway and the issuer for `exp` and `nbf`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// A caller whose token checked out.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub issuer: String,
    pub subject: String,
    pub claims: Map<String, Value>,
    /// Until when (seconds since the epoch) this verdict may be reused for the same token:
    /// a JWT's `exp`; for an introspected token its `exp`, but at most
    /// [`introspect::REMEMBER_AT_MOST`] from now, so that revocation takes effect.
    pub valid_until: u64,
}

/// Why a request is not let in, and so which answer it gets (docs/AUTH.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No Bearer token at all: 401 without an `error` (RFC 6750 §3.1).
    Missing,
    /// A token that is not acceptable: 401 `invalid_token`.
    Invalid(Refusal),
    /// A valid token without the configured scopes: 403 `insufficient_scope`.
    InsufficientScope,
    /// The issuer's keys (or its introspection endpoint) cannot be had: 503, nothing is
    /// served.
    Unavailable(String),
    /// Too many unknown opaque tokens to introspect right now: 503 with `Retry-After`
    /// ([`introspect`] says why there is a bound).
    Busy,
}

impl AuthFailure {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Invalid(Refusal::Malformed) => "malformed",
            AuthFailure::Invalid(Refusal::Algorithm(_)) => "algorithm",
            AuthFailure::Invalid(Refusal::UnknownKey) => "unknown_key",
            AuthFailure::Invalid(Refusal::Signature) => "signature",
            AuthFailure::Invalid(Refusal::Expired) => "expired",
            AuthFailure::Invalid(Refusal::NotYetValid) => "not_yet_valid",
            AuthFailure::Invalid(Refusal::Issuer) => "issuer",
            AuthFailure::Invalid(Refusal::Audience) => "audience",
            AuthFailure::Invalid(Refusal::MissingClaim(_)) => "missing_claim",
            AuthFailure::Invalid(Refusal::Inactive) => "inactive",
            AuthFailure::Invalid(Refusal::NotAccessToken) => "not_access_token",
            AuthFailure::InsufficientScope => "insufficient_scope",
            AuthFailure::Unavailable(_) => "issuer_unavailable",
            AuthFailure::Busy => "introspection_busy",
        }
    }
}

/// Keys as fetched, with where from and when.
struct Loaded {
    keys: KeySet,
    at: Instant,
}

/// What the rate limiter remembers about the last fetch.
#[derive(Default)]
struct LastFetch {
    at: Option<Instant>,
    error: Option<String>,
}

/// Checks tokens for one issuer and audience.
pub struct Verifier {
    expect: Expect,
    /// `jwksUrl`, or empty for discovery.
    jwks_url: String,
    insecure_allow_http: bool,
    /// Scopes every token must grant.
    scopes: Vec<String>,
    fetcher: fetch::Fetcher,
    loaded: ArcSwapOption<Loaded>,
    /// Held across a fetch, so concurrent requests that all need keys wait for one fetch.
    last_fetch: tokio::sync::Mutex<LastFetch>,
    min_refetch: Duration,
    /// How long fetched keys are used before they are refreshed ([`KEYS_TTL`]).
    keys_ttl: Duration,
    /// Bumped whenever a new key set is stored, so that what was verified with the old one
    /// can be told apart ([`Verifier::key_generation`]).
    generation: std::sync::atomic::AtomicU64,
    /// `introspectionUrl`: where tokens that are not JWTs are checked.
    introspector: Option<introspect::Introspector>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.expect.issuer)
            .field("audience", &self.expect.audience)
            .finish()
    }
}

impl Verifier {
    /// A verifier for a validated `incomingAuth.oidc`, with the TLS config for the issuer
    /// (platform roots plus `caBundlePath`). The introspection client secret is read from
    /// the environment variable `clientSecretEnv` names, here, once.
    pub fn new(cfg: &OidcConfig, tls: rustls::ClientConfig) -> Result<Self, String> {
        // ToolHive reads either flag as allowing private addresses for every issuer
        // request; so does vmcp, so that its configs mean the same here.
        let fetcher = fetch::Fetcher::new(
            tls,
            cfg.jwks_allow_private_ip || cfg.protected_resource_allow_private_ip,
            (!cfg.jwks_auth_token_path.is_empty())
                .then(|| std::path::PathBuf::from(&cfg.jwks_auth_token_path)),
        )?;
        let introspector = if cfg.introspection_url.is_empty() {
            None
        } else {
            let client = if cfg.client_id.is_empty() {
                None
            } else {
                Some((
                    cfg.client_id.clone(),
                    client_secret(&cfg.client_secret_env)?,
                ))
            };
            Some(introspect::Introspector::new(
                cfg.introspection_url.clone(),
                client,
                fetcher.clone(),
            ))
        };
        Ok(Verifier {
            expect: Expect {
                issuer: cfg.issuer.clone(),
                audience: cfg.audience.clone(),
                leeway_secs: cfg
                    .clock_skew_seconds
                    .map_or(CLOCK_SKEW.as_secs(), u64::from),
            },
            jwks_url: cfg.jwks_url.clone(),
            insecure_allow_http: cfg.insecure_allow_http,
            scopes: cfg.scopes.clone(),
            fetcher,
            loaded: ArcSwapOption::empty(),
            last_fetch: tokio::sync::Mutex::new(LastFetch::default()),
            min_refetch: MIN_REFETCH_INTERVAL,
            keys_ttl: KEYS_TTL,
            generation: std::sync::atomic::AtomicU64::new(0),
            introspector,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.expect.issuer
    }

    /// Which key set is current: it changes with every fetch that stores keys. A caller
    /// remembered from a token verified under an older generation must be verified again
    /// (a rotated-out key no longer vouches for it).
    pub fn key_generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Fetches the keys now, so the first client does not wait for them; a failure is
    /// logged and left to the first request to retry.
    pub async fn warm_up(&self) {
        if let Err(e) = self.refetch(None).await {
            tracing::warn!(issuer = %self.expect.issuer, error = %e,
                "could not fetch the issuer's keys; clients get 503 until they can be fetched");
        }
    }

    /// Checks the `Authorization` header of a request.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Authenticated, AuthFailure> {
        let token = bearer(authorization)?;
        let (claims, valid_until) = self.check(token).await?;
        if !self.scopes.is_empty() {
            let granted = keys::granted_scopes(&claims);
            if !self.scopes.iter().all(|s| granted.contains(&s.as_str())) {
                return Err(AuthFailure::InsufficientScope);
            }
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Authenticated {
            issuer: self.expect.issuer.clone(),
            subject,
            claims,
            valid_until,
        })
    }

    /// The token's claims and until when they may be reused.
    async fn check(&self, token: &str) -> Result<(Map<String, Value>, u64), AuthFailure> {
        // The header is read first, so that garbage never causes a fetch.
        match (keys::header(token), &self.introspector) {
            (Err(Refusal::Malformed), Some(i)) => {
                let now = now();
                let claims = i.introspect(token, &self.expect, now).await?;
                let until = introspected_until(&claims, now);
                return Ok((claims, until));
            }
            (r, _) => r.map_err(AuthFailure::Invalid)?,
        };
        let claims = self.check_jwt(token).await?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .map_or(0, |e| e as u64);
        Ok((claims, exp))
    }

    async fn check_jwt(&self, token: &str) -> Result<Map<String, Value>, AuthFailure> {
        let mut current = self.loaded.load_full();
        match &current {
            None => match self.refetch(None).await {
                Ok(l) => current = Some(l),
                Err(e) => return Err(AuthFailure::Unavailable(e)),
            },
            // Expired keys are refreshed by one request while every other one goes on with
            // them: a slow issuer then costs one request its latency once an hour, not every
            // request that arrives meanwhile. A failed refresh keeps them, since they still
            // verify what they verified.
            Some(l) if l.at.elapsed() >= self.keys_ttl => {
                if let Ok(last) = self.last_fetch.try_lock() {
                    drop(last);
                    if let Ok(fresh) = self.refetch(Some(l)).await {
                        current = Some(fresh);
                    }
                }
            }
            Some(_) => {}
        }
        let Some(loaded) = current else {
            return Err(AuthFailure::Unavailable("no keys".into()));
        };
        match keys::check(token, &loaded.keys, &self.expect, now()) {
            Err(Refusal::UnknownKey) => {
                // Maybe a rotation: one refetch, rate-limited for everyone.
                match self.refetch(Some(&loaded)).await {
                    Ok(fresh) => keys::check(token, &fresh.keys, &self.expect, now())
                        .map_err(AuthFailure::Invalid),
                    Err(e) if e == RATE_LIMITED => Err(AuthFailure::Invalid(Refusal::UnknownKey)),
                    Err(e) => Err(AuthFailure::Unavailable(e)),
                }
            }
            r => r.map_err(AuthFailure::Invalid),
        }
    }

    /// Fetches the keys unless another request did since `seen` was loaded (then those are
    /// returned) or the last fetch was less than `min_refetch` ago (then the error is
    /// [`RATE_LIMITED`], or the last fetch's own error when it failed).
    async fn refetch(&self, seen: Option<&Arc<Loaded>>) -> Result<Arc<Loaded>, String> {
        let mut last = self.last_fetch.lock().await;
        let now_loaded = self.loaded.load_full();
        if let Some(l) = &now_loaded
            && seen.is_none_or(|s| !Arc::ptr_eq(s, l))
            && l.at.elapsed() < self.keys_ttl
        {
            return Ok(l.clone());
        }
        if let Some(at) = last.at
            && at.elapsed() < self.min_refetch
        {
            return Err(last
                .error
                .clone()
                .unwrap_or_else(|| RATE_LIMITED.to_owned()));
        }
        last.at = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(keys) => {
                tracing::info!(issuer = %self.expect.issuer, keys = ?keys, "fetched the issuer's signing keys");
                let l = Arc::new(Loaded {
                    keys,
                    at: Instant::now(),
                });
                self.loaded.store(Some(l.clone()));
                self.generation
                    .fetch_add(1, std::sync::atomic::Ordering::Release);
                last.error = None;
                Ok(l)
            }
            Err(e) => {
                let e = format!("the token issuer's keys cannot be fetched: {e}");
                tracing::warn!(issuer = %self.expect.issuer, error = %e, "key fetch failed");
                last.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Discovery (unless `jwksUrl` is set), then the JWKS.
    async fn fetch_keys(&self) -> Result<KeySet, String> {
        let jwks_url = if self.jwks_url.is_empty() {
            self.discover().await?
        } else {
            self.jwks_url.clone()
        };
        let body = self
            .fetcher
            .get(&jwks_url, self.names_origin(&jwks_url))
            .await?;
        KeySet::parse(&body).map_err(|e| format!("{jwks_url}: {e}"))
    }

    /// The `jwks_uri` of the issuer's OIDC discovery document, which must name the same
    /// issuer (OpenID Connect Discovery §4.3: otherwise it is someone else's document).
    async fn discover(&self) -> Result<String, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.expect.issuer.trim_end_matches('/')
        );
        let body = self.fetcher.get(&url, true).await?;
        #[derive(serde::Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let d: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("{url}: not an OIDC discovery document: {e}"))?;
        if d.issuer != self.expect.issuer {
            return Err(format!(
                "{url} names issuer {:?}, not the configured {:?}",
                d.issuer, self.expect.issuer
            ));
        }
        let https = d.jwks_uri.starts_with("https://");
        if !(https || (self.insecure_allow_http && d.jwks_uri.starts_with("http://"))) {
            return Err(format!(
                "{url} names jwks_uri {:?}, which is not https (insecureAllowHttp allows http)",
                d.jwks_uri
            ));
        }
        Ok(d.jwks_uri)
    }
}

impl Verifier {
    /// Whether `url` is at an origin the configuration names (the issuer's or `jwksUrl`'s):
    /// only those get the `jwksAuthTokenPath` token, so a discovery document cannot send
    /// the gateway's own credential to a host of its choosing.
    fn names_origin(&self, url: &str) -> bool {
        let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
        let Some(o) = origin(url) else {
            return false;
        };
        origin(&self.expect.issuer).as_ref() == Some(&o)
            || (!self.jwks_url.is_empty() && origin(&self.jwks_url).as_ref() == Some(&o))
    }
}

/// Until when an introspected token's verdict may be reused: its `exp`, but never more than
/// [`introspect::REMEMBER_AT_MOST`] after `now`, so that a revocation lands.
fn introspected_until(claims: &Map<String, Value>, now: u64) -> u64 {
    let cap = now.saturating_add(introspect::REMEMBER_AT_MOST.as_secs());
    claims
        .get("exp")
        .and_then(Value::as_f64)
        .map_or(cap, |e| (e as u64).min(cap))
}

/// The introspection client secret from the environment variable `var`; an unset or empty
/// variable is a startup error naming it (and never showing a value).
fn client_secret(var: &str) -> Result<String, String> {
    if var.is_empty() {
        return Err(
            "incomingAuth.oidc.clientId is set for introspection but clientSecretEnv is not".into(),
        );
    }
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(format!(
            "incomingAuth.oidc.clientSecretEnv names {var}, which is not set or empty"
        )),
    }
}

/// The error text of a refetch refused by the rate limit.
const RATE_LIMITED: &str = "key refetch rate-limited";

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750).
fn bearer(authorization: Option<&str>) -> Result<&str, AuthFailure> {
    let Some(v) = authorization else {
        return Err(AuthFailure::Missing);
    };
    let (scheme, token) = v
        .split_once(' ')
        .ok_or(AuthFailure::Invalid(Refusal::Malformed))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthFailure::Invalid(Refusal::Malformed));
    }
    Ok(token)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An issuer on 127.0.0.1 serving one ES256 key at `/jwks`, counting the fetches;
    /// fetches after the first wait for `release` when `hold` is set.
    struct Issuer {
        url: String,
        fetches: Arc<AtomicUsize>,
        release: Arc<tokio::sync::Notify>,
        key: jsonwebtoken::EncodingKey,
    }

    async fn issuer(hold: bool) -> Issuer {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let pair = rcgen::KeyPair::generate().unwrap();
        let raw = pair.public_key_raw();
        let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256",
            "kid": "k1", "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}]})
        .to_string();
        let fetches = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Notify::new());
        let (f, r) = (fetches.clone(), release.clone());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (f, r, jwks) = (f.clone(), r.clone(), jwks.clone());
                async move {
                    if f.fetch_add(1, Ordering::SeqCst) > 0 && hold {
                        r.notified().await;
                    }
                    jwks
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        Issuer {
            url,
            fetches,
            release,
            key: jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der()),
        }
    }

    impl Issuer {
        fn verifier(&self) -> Verifier {
            let cfg = OidcConfig {
                issuer: self.url.clone(),
                audience: "gw".into(),
                jwks_url: format!("{}/jwks", self.url),
                insecure_allow_http: true,
                jwks_allow_private_ip: true,
                ..Default::default()
            };
            let tls = crate::backend::tls::test_client_config();
            Verifier::new(&cfg, tls).unwrap()
        }

        fn token(&self, kid: &str) -> String {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            h.kid = Some(kid.into());
            let claims = serde_json::json!({"iss": self.url, "aud": "gw", "sub": "alice",
                "exp": now() + 600});
            format!(
                "Bearer {}",
                jsonwebtoken::encode(&h, &claims, &self.key).unwrap()
            )
        }
    }

    /// A flood of tokens naming key ids the issuer never published costs the issuer one
    /// fetch per refetch interval, not one per token.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_key_ids_cannot_hammer_the_issuer() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let iss = issuer(false).await;
        let v = Arc::new(iss.verifier());
        assert!(v.verify(Some(&iss.token("k1"))).await.is_ok());
        assert_eq!(iss.fetches.load(Ordering::SeqCst), 1);
        let mut tasks = Vec::new();
        for i in 0..200 {
            let (v, t) = (v.clone(), iss.token(&format!("random-{i}")));
            tasks.push(tokio::spawn(async move { v.verify(Some(&t)).await }));
        }
        for t in tasks {
            assert_eq!(
                t.await.unwrap().unwrap_err(),
                AuthFailure::Invalid(Refusal::UnknownKey)
            );
        }
        // The first unknown kid may refetch (the interval had not begun), no other can.
        assert!(iss.fetches.load(Ordering::SeqCst) <= 2);
        assert!(v.verify(Some(&iss.token("k1"))).await.is_ok());
    }

    /// Expired keys are refreshed by one request while the others go on with them: with
    /// the issuer holding the refresh, a second request is still answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_key_refresh_holds_up_one_request_only() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let iss = issuer(true).await;
        let mut v = iss.verifier();
        v.keys_ttl = Duration::ZERO;
        v.min_refetch = Duration::ZERO;
        let v = Arc::new(v);
        let token = iss.token("k1");
        assert!(v.verify(Some(&token)).await.is_ok());
        let refreshing = {
            let (v, t) = (v.clone(), token.clone());
            tokio::spawn(async move { v.verify(Some(&t)).await })
        };
        // Until the issuer has the refresh request in hand.
        let deadline = Instant::now() + Duration::from_secs(10);
        while iss.fetches.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "no refresh was asked for");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let other = tokio::time::timeout(Duration::from_secs(10), v.verify(Some(&token))).await;
        assert!(
            matches!(other, Ok(Ok(_))),
            "a request waited for the refresh"
        );
        assert!(!refreshing.is_finished());
        iss.release.notify_one();
        assert!(refreshing.await.unwrap().is_ok());
    }

    #[test]
    fn introspected_tokens_are_believed_until_exp_or_five_minutes() {
        let at = |exp: Value| {
            let mut m = Map::new();
            m.insert("exp".into(), exp);
            introspected_until(&m, 1_000)
        };
        assert_eq!(at(serde_json::json!(1_060)), 1_060);
        assert_eq!(at(serde_json::json!(1_000_000)), 1_300);
        assert_eq!(introspected_until(&Map::new(), 1_000), 1_300, "no exp");
    }

    #[test]
    fn bearer_header_forms() {
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer(None), Err(AuthFailure::Missing));
        assert_eq!(
            bearer(Some("Basic dXNlcjpwdw==")),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            bearer(Some("Bearer")),
            Err(AuthFailure::Invalid(Refusal::Malformed))
        );
        assert_eq!(
            bearer(Some("Bearer  ")),
            Err(AuthFailure::Invalid(Refusal::Malformed))
        );
    }
}
