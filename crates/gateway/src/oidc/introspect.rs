//! `introspectionUrl`: RFC 7662 token introspection for tokens that are not JWTs (opaque
//! access tokens, as Ory Hydra, Okta's opaque mode or Google issue them).
//!
//! Only a token that cannot be read as a JWT is introspected, as in ToolHive: a JWT is
//! checked against the issuer's keys and refused on its own merits, so an introspection
//! endpoint never becomes a way around a failed signature check.
//!
//! Asking the authorization server costs it a request per unknown token, and anyone can
//! send tokens, so three things bound what a flood of made-up tokens costs it: tokens that
//! are not even RFC 6750 `b64token`s (or longer than [`keys::MAX_TOKEN_BYTES`]) are refused
//! without a request; at most [`MAX_INFLIGHT`] introspections are in flight; and new
//! introspections start at most [`RATE_PER_SEC`] a second (burst [`BURST`]). Beyond that
//! the request gets 503 with `Retry-After` ([`AuthFailure::Busy`]); callers already
//! remembered by the front (successes only, see `front::auth`) are not affected.
//!
//! What the answer must say ([`judge`]): `active: true`, an access token (not a refresh
//! or ID token where the server says which), the configured issuer when it names one, the
//! configured audience, a subject, and times that have not passed (with the clock skew).

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::keys::{self, Expect, Refusal};
use super::{AuthFailure, fetch::Fetcher};

/// Most introspection requests in flight at once.
pub const MAX_INFLIGHT: usize = 8;

/// New introspections allowed per second, sustained.
pub const RATE_PER_SEC: f64 = 20.0;

/// New introspections allowed at once after a quiet spell.
pub const BURST: f64 = 40.0;

/// Longest a request waits for an in-flight slot before it is answered 503.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// Longest an introspection answer is believed (the front remembers the caller this long
/// at most): a token revoked at the authorization server is refused again within this
/// time even when its `exp` is hours away.
pub const REMEMBER_AT_MOST: Duration = Duration::from_secs(300);

/// Largest introspection answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The introspection endpoint and the gateway's client credentials for it.
pub struct Introspector {
    url: String,
    /// `clientId` and the secret from `clientSecretEnv`; `None` when no `clientId` is set
    /// (an endpoint that takes no client authentication, such as Hydra's admin API).
    client: Option<(String, String)>,
    fetcher: Fetcher,
    slots: tokio::sync::Semaphore,
    bucket: std::sync::Mutex<Bucket>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Introspector")
            .field("url", &self.url)
            .field("client_id", &self.client.as_ref().map(|c| &c.0))
            .finish()
    }
}

/// A token bucket: `tokens` left as of `at`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes one token if there is one, refilling at `rate` a second up to `burst`.
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        self.tokens = (self.tokens + earned).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Introspector {
    /// The introspector for `url`; `client` is `(clientId, secret)` when the gateway
    /// authenticates to the endpoint.
    pub fn new(url: String, client: Option<(String, String)>, fetcher: Fetcher) -> Self {
        Introspector {
            url,
            client,
            fetcher,
            slots: tokio::sync::Semaphore::new(MAX_INFLIGHT),
            bucket: std::sync::Mutex::new(Bucket {
                tokens: BURST,
                at: Instant::now(),
            }),
        }
    }

    /// Asks the endpoint about `token` and judges the answer.
    pub async fn introspect(
        &self,
        token: &str,
        expect: &Expect,
        now: u64,
    ) -> Result<Map<String, Value>, AuthFailure> {
        if token.len() > keys::MAX_TOKEN_BYTES || !is_b64token(token) {
            return Err(AuthFailure::Invalid(Refusal::Malformed));
        }
        let admitted = self
            .bucket
            .lock()
            .map(|mut b| b.take(Instant::now(), RATE_PER_SEC, BURST))
            .unwrap_or(false);
        if !admitted {
            return Err(AuthFailure::Busy);
        }
        let Ok(Ok(_slot)) = tokio::time::timeout(SLOT_WAIT, self.slots.acquire()).await else {
            return Err(AuthFailure::Busy);
        };
        let client = self
            .client
            .as_ref()
            .map(|(id, secret)| (id.as_str(), secret.as_str()));
        let body = self
            .fetcher
            .post_form(
                &self.url,
                &[("token", token), ("token_type_hint", "access_token")],
                client,
                MAX_ANSWER_BYTES,
            )
            .await
            .map_err(|e| AuthFailure::Unavailable(format!("token introspection failed: {e}")))?;
        let answer: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
            AuthFailure::Unavailable(format!(
                "token introspection failed: {}: not an RFC 7662 answer: {e}",
                self.url
            ))
        })?;
        judge(answer, expect, now).map_err(AuthFailure::Invalid)
    }
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Whether an introspection answer lets the caller in; the claims it gives when it does
/// (`active` removed). Pure, so every rule is tested without a server.
pub fn judge(
    mut answer: Map<String, Value>,
    expect: &Expect,
    now: u64,
) -> Result<Map<String, Value>, Refusal> {
    if answer.remove("active") != Some(Value::Bool(true)) {
        return Err(Refusal::Inactive);
    }
    // Hydra says `token_use`; Keycloak says `typ` (`Bearer` for access tokens, `Refresh`,
    // `Offline` or `ID` for the others). A refresh token is a credential for the token
    // endpoint, never for a resource server.
    let str_of = |k: &str| answer.get(k).and_then(Value::as_str);
    if str_of("token_use").is_some_and(|u| u != "access_token")
        || str_of("typ").is_some_and(|t| {
            ["refresh", "offline", "id"].contains(&t.to_ascii_lowercase().as_str())
        })
    {
        return Err(Refusal::NotAccessToken);
    }
    if let Some(iss) = answer.get("iss")
        && iss.as_str() != Some(expect.issuer.as_str())
    {
        return Err(Refusal::Issuer);
    }
    let audience_ok = match answer.get("aud") {
        None => return Err(Refusal::MissingClaim("aud".into())),
        Some(Value::String(a)) => *a == expect.audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&expect.audience)),
        Some(_) => false,
    };
    if !audience_ok {
        return Err(Refusal::Audience);
    }
    let num = |k: &str| answer.get(k).and_then(Value::as_f64);
    let leeway = expect.leeway_secs as f64;
    if let Some(exp) = num("exp")
        && exp + leeway <= now as f64
    {
        return Err(Refusal::Expired);
    }
    if let Some(nbf) = num("nbf")
        && nbf > now as f64 + leeway
    {
        return Err(Refusal::NotYetValid);
    }
    match str_of("sub") {
        Some(s) if !s.trim().is_empty() => {}
        _ => return Err(Refusal::MissingClaim("sub".into())),
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect() -> Expect {
        Expect {
            issuer: "https://idp.example.com/".into(),
            audience: "gw".into(),
            leeway_secs: 30,
        }
    }

    fn answer(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const NOW: u64 = 1_800_000_000;

    fn good() -> Value {
        json!({"active": true, "sub": "svc-a", "aud": ["gw", "other"], "iss": "https://idp.example.com/",
               "exp": NOW + 600, "scope": "mcp:tools", "token_use": "access_token", "client_id": "svc-a"})
    }

    #[test]
    fn an_active_access_token_for_us_is_let_in_without_active() {
        let claims = judge(answer(good()), &expect(), NOW).unwrap();
        assert_eq!(claims["sub"], "svc-a");
        assert_eq!(claims["scope"], "mcp:tools");
        assert!(!claims.contains_key("active"));
        // RFC 7662 makes all but `active` optional: iss, exp and the type may be absent.
        let bare = json!({"active": true, "sub": "s", "aud": "gw"});
        assert!(judge(answer(bare), &expect(), NOW).is_ok());
    }

    #[test]
    fn each_rule_refuses_on_its_own() {
        let with = |k: &str, v: Value| {
            let mut a = answer(good());
            a.insert(k.into(), v);
            judge(a, &expect(), NOW)
        };
        let without = |k: &str| {
            let mut a = answer(good());
            a.remove(k);
            judge(a, &expect(), NOW)
        };
        assert_eq!(with("active", json!(false)), Err(Refusal::Inactive));
        assert_eq!(with("active", json!("true")), Err(Refusal::Inactive));
        assert_eq!(without("active"), Err(Refusal::Inactive));
        assert_eq!(
            with("token_use", json!("refresh_token")),
            Err(Refusal::NotAccessToken)
        );
        assert_eq!(with("typ", json!("Refresh")), Err(Refusal::NotAccessToken));
        assert_eq!(with("typ", json!("ID")), Err(Refusal::NotAccessToken));
        assert!(with("typ", json!("Bearer")).is_ok());
        assert_eq!(
            with("iss", json!("https://evil.example.com/")),
            Err(Refusal::Issuer)
        );
        assert_eq!(with("aud", json!("other")), Err(Refusal::Audience));
        assert_eq!(with("aud", json!(["a", "b"])), Err(Refusal::Audience));
        assert_eq!(with("aud", json!(7)), Err(Refusal::Audience));
        assert_eq!(without("aud"), Err(Refusal::MissingClaim("aud".into())));
        assert_eq!(with("exp", json!(NOW - 31)), Err(Refusal::Expired));
        assert!(with("exp", json!(NOW - 29)).is_ok(), "within the skew");
        assert_eq!(with("nbf", json!(NOW + 31)), Err(Refusal::NotYetValid));
        assert_eq!(without("sub"), Err(Refusal::MissingClaim("sub".into())));
        assert_eq!(
            with("sub", json!(" ")),
            Err(Refusal::MissingClaim("sub".into()))
        );
    }

    #[test]
    fn only_b64tokens_are_worth_asking_about() {
        assert!(is_b64token("ory_at_abc-DEF.123~+/=="));
        assert!(!is_b64token("a b"));
        assert!(!is_b64token("=="));
        assert!(!is_b64token("tok\u{e9}n"));
        assert!(!is_b64token("a\"b"));
    }

    /// An endpoint on 127.0.0.1 that counts its requests, remembers the last Authorization
    /// and body, and says `active` for the token `good` only.
    async fn endpoint() -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    ) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let app = axum::Router::new().route(
            "/introspect",
            axum::routing::post(move |headers: http::HeaderMap, body: String| {
                let s = s.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    let active = body.starts_with("token=good&");
                    s.lock().unwrap().push((auth, body));
                    json!({"active": active, "sub": "svc", "aud": "gw"}).to_string()
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/introspect", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        (url, seen)
    }

    fn introspector(url: String) -> Introspector {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = crate::backend::tls::test_client_config();
        Introspector::new(
            url,
            Some(("gw client".into(), "s3cr:t&".into())),
            Fetcher::new(tls, true, None).unwrap(),
        )
    }

    /// RFC 7662 §2.1 and RFC 6749 §2.3.1: a form POST with the token and its type hint, and
    /// HTTP Basic with id and secret each form-encoded first.
    #[tokio::test]
    async fn the_request_is_a_form_post_with_basic_client_authentication() {
        use base64::Engine as _;
        let (url, seen) = endpoint().await;
        let i = introspector(url);
        let claims = i.introspect("good", &expect(), NOW).await.unwrap();
        assert_eq!(claims["sub"], "svc");
        let (auth, body) = seen.lock().unwrap()[0].clone();
        assert_eq!(body, "token=good&token_type_hint=access_token");
        let basic = base64::engine::general_purpose::STANDARD.encode("gw+client:s3cr%3At%26");
        assert_eq!(auth, format!("Basic {basic}"));
        assert_eq!(
            i.introspect("other", &expect(), NOW).await.unwrap_err(),
            AuthFailure::Invalid(Refusal::Inactive)
        );
    }

    /// A flood of made-up tokens reaches the endpoint at most a burst's worth at once; the
    /// rest are answered Busy without a request, and garbage never costs one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_made_up_tokens_cannot_hammer_the_endpoint() {
        let (url, seen) = endpoint().await;
        let i = std::sync::Arc::new(introspector(url));
        assert_eq!(
            i.introspect("not a token", &expect(), NOW)
                .await
                .unwrap_err(),
            AuthFailure::Invalid(Refusal::Malformed)
        );
        assert!(seen.lock().unwrap().is_empty());
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let i = i.clone();
                tokio::spawn(
                    async move { i.introspect(&format!("made-up-{n}"), &expect(), NOW).await },
                )
            })
            .collect();
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Err(AuthFailure::Busy) => busy += 1,
                Err(AuthFailure::Invalid(Refusal::Inactive)) => {}
                other => panic!("{other:?}"),
            }
        }
        let asked = seen.lock().unwrap().len();
        // The burst, plus what the rate earned while the flood lasted.
        assert!(asked <= BURST as usize + 10, "{asked} introspections");
        assert_eq!(asked + busy, 200);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket {
            tokens: 3.0,
            at: t0,
        };
        assert!((0..3).all(|_| b.take(t0, 2.0, 3.0)));
        assert!(!b.take(t0, 2.0, 3.0));
        let later = t0 + Duration::from_millis(500);
        assert!(
            b.take(later, 2.0, 3.0),
            "one earned in half a second at 2/s"
        );
        assert!(!b.take(later, 2.0, 3.0));
        let much_later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(much_later, 2.0, 3.0)));
        assert!(!b.take(much_later, 2.0, 3.0), "never more than the burst");
    }
}
