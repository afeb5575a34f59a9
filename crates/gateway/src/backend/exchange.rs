//! `token_exchange`: RFC 8693 token exchange, so a backend that acts for the user gets a
//! token for *that* user with its own audience, made from the caller's validated token.
//!
//! Exchanging on every call would put the token endpoint on the request path of every tool
//! call (ToolHive does, its #2380), so results are cached: per subject token (its SHA-256;
//! the audience and scopes are this backend's, one exchanger per backend), until shortly
//! before the `expires_in` the endpoint gave ([`lifetime`]). Concurrent misses for one key
//! wait for one exchange; a failure is remembered for [`FAILURE_HELD`] so a burst of calls
//! against a refusing or absent endpoint costs it one request, not one each. The cache
//! holds at most [`MAX_ENTRIES`] tokens (expired ones go first, then everything: a flood of
//! distinct callers can cost exchanges, never memory).
//!
//! The gateway's own requests (health checks, capability lists) have no caller: with
//! client credentials configured they carry a client-credentials token for the same
//! audience ([`Exchanger::service_header`]), otherwise no token.
//!
//! The token endpoint is configuration, reached through the issuer's client rules
//! ([`Fetcher`]: no redirects, TLS as for backends, a deadline, private addresses only with
//! `allowPrivateIp`). What it answers on refusal is repeated only as its RFC 6749 `error`
//! code, never `error_description`, which may quote what it was sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode};

use crate::oidc::fetch::Fetcher;

/// Most exchanged tokens kept per backend.
pub const MAX_ENTRIES: usize = 10_000;

/// How long a failed exchange is the answer for the same subject token.
pub const FAILURE_HELD: Duration = Duration::from_secs(2);

/// Largest token endpoint answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// `expires_in` assumed when the endpoint gives none (RFC 6749 only recommends it).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Why a backend got no exchanged token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeFailure {
    /// The call has no caller token to exchange (an anonymous caller).
    #[error("the call carries no caller token to exchange")]
    NoSubject,
    /// The endpoint refused the caller's token (`invalid_grant`, `invalid_token`, or
    /// `invalid_request` once the gateway's request is known good, see [`blame`]): the
    /// caller should get a new one.
    #[error("the token endpoint refused the caller's token ({0})")]
    SubjectRefused(String),
    /// The endpoint refused the gateway (its client credentials, the audience or the
    /// scopes it asked for): a configuration problem of the gateway's.
    #[error("the token endpoint refused the gateway's request ({0})")]
    Refused(String),
    /// No usable answer: unreachable, a 5xx, not JSON, no token in it.
    #[error("token endpoint unavailable: {0}")]
    Unavailable(String),
}

impl ExchangeFailure {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            ExchangeFailure::NoSubject => "no_subject",
            ExchangeFailure::SubjectRefused(_) => "subject_refused",
            ExchangeFailure::Refused(_) => "refused",
            ExchangeFailure::Unavailable(_) => "unavailable",
        }
    }
}

/// The settings of one backend's exchange (`outgoingAuth` `tokenExchange`), secret resolved.
#[derive(Clone)]
pub struct Settings {
    pub token_url: String,
    /// `clientId` and its secret; the secret may be empty for a public client, whose id is
    /// then sent in the form.
    pub client: Option<(String, String)>,
    pub audience: String,
    pub scopes: Vec<String>,
    /// A URN; empty means an access token.
    pub subject_token_type: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Settings")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client.as_ref().map(|c| &c.0))
            .field("audience", &self.audience)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Counts since start, for `/metrics` (callers' tokens only; the service token is not
/// counted).
#[derive(Default, Debug)]
pub struct Counts {
    pub hits: AtomicU64,
    pub exchanges: AtomicU64,
    failures: Mutex<HashMap<&'static str, u64>>,
}

impl Counts {
    fn failed(&self, f: &ExchangeFailure) {
        *self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(f.reason())
            .or_default() += 1;
    }

    /// Failures by reason.
    pub fn failures(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<_> = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, n)| (*k, *n))
            .collect();
        v.sort_unstable();
        v
    }
}

/// What the cache holds for one key.
#[derive(Clone)]
enum Held {
    Token(HeaderValue, Instant),
    Failed(ExchangeFailure, Instant),
}

impl Held {
    fn current(&self, now: Instant) -> Option<Result<HeaderValue, ExchangeFailure>> {
        match self {
            Held::Token(h, until) if now < *until => Some(Ok(h.clone())),
            Held::Failed(f, until) if now < *until => Some(Err(f.clone())),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Entry {
    held: Mutex<Option<Held>>,
    /// Held by the one exchange in flight for this key; the others wait on it.
    fill: tokio::sync::Mutex<()>,
}

impl Entry {
    fn current(&self, now: Instant) -> Option<Result<HeaderValue, ExchangeFailure>> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|h| h.current(now))
    }

    fn is_live(&self, now: Instant) -> bool {
        self.current(now).is_some()
    }
}

/// One backend's token exchange and its cache.
pub struct Exchanger {
    settings: Settings,
    fetcher: Fetcher,
    cache: Mutex<HashMap<[u8; 32], Arc<Entry>>>,
    /// The client-credentials token for the gateway's own requests.
    service: Entry,
    pub counts: Counts,
    /// Whether the last [`Exchanger::service_header`] found a token.
    service_held: AtomicBool,
    /// Whether the endpoint has exchanged a token for this gateway: from then on the
    /// gateway's request is known to be well formed (see [`blame`]).
    exchanged_once: AtomicBool,
}

impl Exchanger {
    pub fn new(settings: Settings, fetcher: Fetcher) -> Self {
        Exchanger {
            settings,
            fetcher,
            cache: Mutex::default(),
            service: Entry::default(),
            counts: Counts::default(),
            exchanged_once: Default::default(),
            service_held: Default::default(),
        }
    }

    /// The `Authorization` value for a call made for the holder of `subject_token`.
    pub async fn header(&self, subject_token: &str) -> Result<HeaderValue, ExchangeFailure> {
        let key = digest(subject_token);
        let entry = self.entry(key);
        if let Some(r) = entry.current(Instant::now()) {
            self.counts.hits.fetch_add(1, Ordering::Relaxed);
            return r;
        }
        let _filling = entry.fill.lock().await;
        // Filled by the exchange this call waited for.
        if let Some(r) = entry.current(Instant::now()) {
            self.counts.hits.fetch_add(1, Ordering::Relaxed);
            return r;
        }
        self.counts.exchanges.fetch_add(1, Ordering::Relaxed);
        let form = self.exchange_form(subject_token);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.fill(&entry, &pairs, true).await
    }

    /// The `Authorization` value for the gateway's own requests: a client-credentials
    /// token, when client credentials are configured.
    /// Whether the gateway's own requests carry a token of its own: it has client
    /// credentials and the endpoint gave it a client-credentials token the last time it
    /// asked ([`Exchanger::service_header`]).
    pub fn serves_the_gateway(&self) -> bool {
        self.service_held.load(Ordering::Relaxed)
    }

    /// The client-credentials token for the gateway's own requests, if it has one.
    pub async fn service_header(&self) -> Option<HeaderValue> {
        let got = self.service_token().await;
        self.service_held.store(got.is_some(), Ordering::Relaxed);
        got
    }

    async fn service_token(&self) -> Option<HeaderValue> {
        self.settings
            .client
            .as_ref()
            .filter(|(_, s)| !s.is_empty())?;
        if let Some(r) = self.service.current(Instant::now()) {
            return r.ok();
        }
        let _filling = self.service.fill.lock().await;
        if let Some(r) = self.service.current(Instant::now()) {
            return r.ok();
        }
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        self.target_params(&mut form);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = self.fill(&self.service, &pairs, false).await;
        if let Err(e) = &got {
            tracing::warn!(token_url = %self.settings.token_url, error = %e, "no client-credentials token for the gateway's own requests; they go without one");
        }
        got.ok()
    }

    fn entry(&self, key: [u8; 32]) -> Arc<Entry> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = cache.get(&key) {
            return e.clone();
        }
        if cache.len() >= MAX_ENTRIES {
            let now = Instant::now();
            cache.retain(|_, e| e.is_live(now));
            if cache.len() >= MAX_ENTRIES {
                // Full of live tokens: start over rather than track recency on every hit.
                cache.clear();
            }
        }
        cache.entry(key).or_default().clone()
    }

    /// Form fields naming what the token is for.
    fn target_params(&self, form: &mut Vec<(&'static str, String)>) {
        let s = &self.settings;
        if !s.audience.is_empty() {
            form.push(("audience", s.audience.clone()));
        }
        if !s.scopes.is_empty() {
            form.push(("scope", s.scopes.join(" ")));
        }
    }

    fn exchange_form(&self, subject_token: &str) -> Vec<(&'static str, String)> {
        let s = &self.settings;
        let subject_type = if s.subject_token_type.is_empty() {
            ACCESS_TOKEN_TYPE
        } else {
            s.subject_token_type.as_str()
        };
        let mut form = vec![
            ("grant_type", GRANT_TOKEN_EXCHANGE.to_owned()),
            ("subject_token", subject_token.to_owned()),
            ("subject_token_type", subject_type.to_owned()),
            ("requested_token_type", ACCESS_TOKEN_TYPE.to_owned()),
        ];
        self.target_params(&mut form);
        form
    }

    /// Asks the endpoint and stores what it said in `entry`; `counted` failures are the
    /// callers' (the metric), the others the service token's.
    async fn fill(
        &self,
        entry: &Entry,
        form: &[(&str, &str)],
        counted: bool,
    ) -> Result<HeaderValue, ExchangeFailure> {
        let mut form = form.to_vec();
        // A public client names itself in the form (RFC 6749 §3.2.1); a confidential one
        // authenticates with Basic.
        let basic = match &self.settings.client {
            Some((id, secret)) if !secret.is_empty() => Some((id.as_str(), secret.as_str())),
            Some((id, _)) => {
                form.push(("client_id", id.as_str()));
                None
            }
            None => None,
        };
        let post =
            self.fetcher
                .post_form_answer(&self.settings.token_url, &form, basic, MAX_ANSWER_BYTES);
        let span = crate::telemetry::in_span().then(|| {
            let grant = if counted {
                "token-exchange"
            } else {
                "client_credentials"
            };
            crate::telemetry::span::token_exchange(grant)
        });
        let answer = match &span {
            Some(s) => tracing::Instrument::instrument(post, s.clone()).await,
            None => post.await,
        };
        let now = Instant::now();
        let outcome = match answer {
            Ok((status, body)) => read_answer(status, &body),
            Err(e) => Err(ExchangeFailure::Unavailable(e)),
        };
        let outcome = if counted {
            match outcome {
                Ok(o) => {
                    self.exchanged_once.store(true, Ordering::Relaxed);
                    Ok(o)
                }
                Err(f) => Err(blame(f, self.exchanged_once.load(Ordering::Relaxed))),
            }
        } else {
            outcome
        };
        if let (Some(s), Err(f)) = (&span, &outcome) {
            crate::telemetry::span::fail(s, f.reason());
        }
        let held = match &outcome {
            Ok((header, lifetime)) => Held::Token(header.clone(), now + *lifetime),
            Err(f) => {
                if counted {
                    self.counts.failed(f);
                }
                Held::Failed(f.clone(), now + FAILURE_HELD)
            }
        };
        *entry.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(held);
        outcome.map(|(h, _)| h)
    }
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// How long a token that the endpoint says lives `expires_in` is used: until a tenth of
/// its life (at least 1 s, at most 30 s) before it ends, so a call never leaves with a
/// token that expires on the way. A token with less than that left is used once.
pub fn lifetime(expires_in: Option<u64>) -> Duration {
    let total = expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs);
    let margin = (total / 10).clamp(Duration::from_secs(1), Duration::from_secs(30));
    total.saturating_sub(margin)
}

/// Reads a token endpoint's answer (RFC 6749 §5.1/§5.2, RFC 8693 §2.2): the
/// `Authorization` value and how long to use it, or why not.
pub fn read_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<(HeaderValue, Duration), ExchangeFailure> {
    #[derive(serde::Deserialize)]
    struct Answer {
        access_token: Option<String>,
        token_type: Option<String>,
        expires_in: Option<serde_json::Value>,
        error: Option<String>,
    }
    let parsed: Option<Answer> = serde_json::from_slice(body).ok();
    if !status.is_success() {
        let code = parsed
            .and_then(|a| a.error)
            .filter(|c| is_error_code(c))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        return Err(match code.as_str() {
            "invalid_grant" | "invalid_token" => ExchangeFailure::SubjectRefused(code),
            _ if status.is_server_error() => ExchangeFailure::Unavailable(code),
            _ => ExchangeFailure::Refused(code),
        });
    }
    let unusable = |what: &str| ExchangeFailure::Unavailable(format!("answer {what}"));
    let a = parsed.ok_or_else(|| unusable("is not a JSON token response"))?;
    let token = a
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unusable("has no access_token"))?;
    // RFC 8693 §2.2.1: `N_A` when the issued token is not an access token; vmcp asks for
    // an access token and sends it as a bearer token.
    match a.token_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("bearer") || t.eq_ignore_ascii_case("n_a") => {}
        None => {}
        Some(_) => return Err(unusable("has a token_type other than Bearer")),
    }
    // Some servers send a string.
    let expires_in = match a.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| unusable("has an access_token that is not a header value"))?;
    header.set_sensitive(true);
    Ok((header, lifetime(expires_in)))
}

/// Whose fault an exchange refusal is. RFC 8693 §2.2.2 answers `invalid_request` both for
/// a malformed request and for a subject token that is "invalid for any reason" (Keycloak
/// does so for a revoked session). Once the endpoint has exchanged a token for this
/// gateway, its request is known to be well formed, so `invalid_request` is the caller's
/// token; before that it reads as the gateway's configuration, which an operator must fix.
pub fn blame(failure: ExchangeFailure, exchanged_before: bool) -> ExchangeFailure {
    match failure {
        ExchangeFailure::Refused(code) if exchanged_before && code == "invalid_request" => {
            ExchangeFailure::SubjectRefused(code)
        }
        f => f,
    }
}

/// RFC 6749 §5.2: `error` is %x20-21 / %x23-5B / %x5D-7E; shown only when it is one,
/// and short.
fn is_error_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_until_shortly_before_it_expires() {
        assert_eq!(lifetime(Some(300)), Duration::from_secs(270));
        assert_eq!(lifetime(Some(3600)), Duration::from_secs(3570));
        assert_eq!(lifetime(Some(10)), Duration::from_secs(9));
        assert_eq!(lifetime(Some(1)), Duration::ZERO);
        assert_eq!(lifetime(Some(0)), Duration::ZERO);
        assert_eq!(lifetime(None), Duration::from_secs(54));
    }

    #[test]
    fn invalid_request_blames_the_caller_only_once_the_request_is_known_good() {
        let req = || ExchangeFailure::Refused("invalid_request".into());
        assert_eq!(blame(req(), false), req());
        assert_eq!(
            blame(req(), true),
            ExchangeFailure::SubjectRefused("invalid_request".into())
        );
        let client = ExchangeFailure::Refused("invalid_client".into());
        assert_eq!(blame(client.clone(), true), client);
        let down = ExchangeFailure::Unavailable("HTTP 503".into());
        assert_eq!(blame(down.clone(), true), down);
    }

    #[test]
    fn answers_are_read_and_refusals_classified_by_code_only() {
        let ok = br#"{"access_token":"abc.def","token_type":"Bearer","expires_in":120,"issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}"#;
        let (h, life) = read_answer(StatusCode::OK, ok).unwrap();
        assert_eq!(h.to_str().unwrap(), "Bearer abc.def");
        assert!(h.is_sensitive());
        assert_eq!(life, Duration::from_secs(108));
        let string_expiry = br#"{"access_token":"t","token_type":"N_A","expires_in":"60"}"#;
        assert_eq!(
            read_answer(StatusCode::OK, string_expiry).unwrap().1,
            Duration::from_secs(54)
        );
        let refused = |status: u16, body: &str| {
            read_answer(StatusCode::from_u16(status).unwrap(), body.as_bytes()).unwrap_err()
        };
        assert_eq!(
            refused(
                400,
                r#"{"error":"invalid_grant","error_description":"token of alice@corp expired"}"#
            ),
            ExchangeFailure::SubjectRefused("invalid_grant".into())
        );
        assert_eq!(
            refused(
                401,
                r#"{"error":"invalid_client","error_description":"secret s3cret wrong"}"#
            ),
            ExchangeFailure::Refused("invalid_client".into())
        );
        assert_eq!(
            refused(403, "<html>denied</html>"),
            ExchangeFailure::Refused("HTTP 403".into())
        );
        assert_eq!(
            refused(503, ""),
            ExchangeFailure::Unavailable("HTTP 503".into())
        );
        // An `error` that is not an RFC 6749 code is not repeated.
        let quoted = refused(400, r#"{"error":"bad \"token\" eyJhbGciOi..."}"#);
        assert_eq!(quoted, ExchangeFailure::Refused("HTTP 400".into()));
        for what in [
            &br#"{"token_type":"Bearer"}"#[..],
            br#"{"access_token":"t","token_type":"DPoP"}"#,
            br#"{"access_token":"a\nb"}"#,
            b"not json",
        ] {
            assert!(matches!(
                read_answer(StatusCode::OK, what),
                Err(ExchangeFailure::Unavailable(_))
            ));
        }
    }

    /// A loopback token endpoint that counts requests, keeps the last form and
    /// Authorization, and answers with `answer` after 100 ms (so concurrent calls overlap).
    async fn endpoint(
        answer: (u16, &'static str),
    ) -> (String, Arc<AtomicU64>, Arc<Mutex<Option<(String, String)>>>) {
        let count = Arc::new(AtomicU64::new(0));
        let last = Arc::new(Mutex::new(None));
        let (c, l) = (count.clone(), last.clone());
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(move |headers: http::HeaderMap, body: String| {
                let (c, l) = (c.clone(), l.clone());
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    let subject = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "subject_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    *l.lock().unwrap() = Some((body, auth));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let text = answer.1.replace("{subject}", &subject);
                    (
                        StatusCode::from_u16(answer.0).unwrap(),
                        [(http::header::CONTENT_TYPE, "application/json")],
                        text,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/token"), count, last)
    }

    fn exchanger(token_url: String) -> Exchanger {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fetcher = Fetcher::new(crate::backend::tls::test_client_config(), true, None).unwrap();
        Exchanger::new(
            Settings {
                token_url,
                client: Some(("gw".into(), "s3cret".into())),
                audience: "backend-a".into(),
                scopes: vec!["read".into(), "write".into()],
                subject_token_type: String::new(),
            },
            fetcher,
        )
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_exchange_and_later_calls_hit_the_cache() {
        let (url, count, last) = endpoint((
            200,
            r#"{"access_token":"for-{subject}","token_type":"Bearer","expires_in":300}"#,
        ))
        .await;
        let x = Arc::new(exchanger(url));
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let x = x.clone();
                tokio::spawn(async move { x.header("alice-token").await })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap().unwrap(), "Bearer for-alice-token");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1, "one exchange for 20 calls");
        assert_eq!(x.counts.hits.load(Ordering::SeqCst), 19);
        let (form, auth) = last.lock().unwrap().clone().unwrap();
        let form: HashMap<String, String> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(form["grant_type"], GRANT_TOKEN_EXCHANGE);
        assert_eq!(form["subject_token_type"], ACCESS_TOKEN_TYPE);
        assert_eq!(form["audience"], "backend-a");
        assert_eq!(form["scope"], "read write");
        assert!(
            !form.contains_key("client_id"),
            "a confidential client uses Basic"
        );
        assert_eq!(auth, "Basic Z3c6czNjcmV0");
        // Another caller's token is another exchange, with another result.
        assert_eq!(x.header("bob-token").await.unwrap(), "Bearer for-bob-token");
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert_eq!(
            x.header("alice-token").await.unwrap(),
            "Bearer for-alice-token"
        );
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_about_to_expire_is_exchanged_again() {
        let (url, count, _) = endpoint((
            200,
            r#"{"access_token":"t","token_type":"Bearer","expires_in":1}"#,
        ))
        .await;
        let x = exchanger(url);
        x.header("alice-token").await.unwrap();
        x.header("alice-token").await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 2, "a 1 s token is used once");
    }

    #[tokio::test]
    async fn a_refusal_answers_a_burst_once_and_is_asked_again_later() {
        let (url, count, _) = endpoint((
            400,
            r#"{"error":"invalid_grant","error_description":"subject {subject} is revoked"}"#,
        ))
        .await;
        let x = Arc::new(exchanger(url));
        let calls: Vec<_> = (0..10)
            .map(|_| {
                let x = x.clone();
                tokio::spawn(async move { x.header("revoked-token").await })
            })
            .collect();
        for c in calls {
            let e = c.await.unwrap().unwrap_err();
            assert_eq!(e, ExchangeFailure::SubjectRefused("invalid_grant".into()));
            assert!(!e.to_string().contains("revoked-token"), "{e}");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(x.counts.failures(), vec![("subject_refused", 1)]);
        tokio::time::sleep(FAILURE_HELD).await;
        x.header("revoked-token").await.unwrap_err();
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_gateways_own_calls_get_a_client_credentials_token() {
        let (url, count, last) = endpoint((
            200,
            r#"{"access_token":"service","token_type":"Bearer","expires_in":300}"#,
        ))
        .await;
        let x = exchanger(url);
        assert_eq!(x.service_header().await.unwrap(), "Bearer service");
        assert_eq!(x.service_header().await.unwrap(), "Bearer service");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let (form, _) = last.lock().unwrap().clone().unwrap();
        assert!(
            form.starts_with("grant_type=client_credentials&audience=backend-a"),
            "{form}"
        );
    }

    #[test]
    fn the_settings_never_print_the_secret() {
        let s = Settings {
            token_url: "https://idp/token".into(),
            client: Some(("gw".into(), "s3cret".into())),
            audience: "backend".into(),
            scopes: vec![],
            subject_token_type: String::new(),
        };
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
