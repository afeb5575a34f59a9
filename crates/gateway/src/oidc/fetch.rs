//! Talking to the issuer: OIDC discovery, the JWKS and token introspection, through the gateway's one outbound
//! client builder (no redirects, TLS verified against the platform roots plus
//! `caBundlePath`, connect timeout) with a whole-request deadline and a size cap.
//!
//! Private and loopback addresses are refused unless `jwksAllowPrivateIp` (or, as in
//! ToolHive, `protectedResourceAllowPrivateIp`) is set, and
//! metadata and link-local ones always: a token's issuer is configuration, but discovery hands
//! back a `jwks_uri` the gateway did not choose, and a name may resolve anywhere. The classes
//! and the resolver are the backends' ([`crate::outbound::Reach`]): literal addresses are
//! judged here, every address a name resolves to by the guarded client.

use std::net::IpAddr;
use std::time::Duration;

use http::StatusCode;

use crate::outbound::Reach;

/// Longest a discovery or JWKS request may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest discovery or JWKS document read.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Largest bearer token file read (`jwksAuthTokenPath`); projected service-account tokens
/// are about 1 KiB.
const MAX_TOKEN_BYTES: u64 = 16 * 1024;

/// The issuer's HTTP client and the address rule it was built with.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    reach: Reach,
    /// `jwksAuthTokenPath`: the file whose token goes with requests to the origins the
    /// configuration names (see [`Fetcher::get`]).
    token_path: Option<std::path::PathBuf>,
    /// The configuration key that allows private addresses, named when one is refused.
    allow_key: &'static str,
}

impl Fetcher {
    pub fn new(
        tls: rustls::ClientConfig,
        allow_private: bool,
        token_path: Option<std::path::PathBuf>,
    ) -> Result<Self, String> {
        let reach = Reach {
            guarded: true,
            private: allow_private,
            loopback: allow_private,
        };
        let client = crate::outbound::client(tls, reach)
            .map_err(|e| format!("building the issuer's HTTP client: {e}"))?;
        Ok(Fetcher {
            client,
            reach,
            token_path,
            allow_key: "jwksAllowPrivateIp",
        })
    }

    /// The same client for another configuration section: a refused private address
    /// names `key` as what allows it.
    pub fn allowed_by(mut self, key: &'static str) -> Self {
        self.allow_key = key;
        self
    }

    /// GETs a JSON document; every failure is a sentence naming the URL. With
    /// `with_token` the `jwksAuthTokenPath` token is sent as `Authorization: Bearer`, read
    /// from the file now (projected tokens rotate); the caller sets it only for the
    /// origins the configuration itself names, never for one a discovery document chose.
    pub async fn get(&self, url: &str, with_token: bool) -> Result<bytes::Bytes, String> {
        let parsed = self.target(url)?;
        let token = match (&self.token_path, with_token) {
            (Some(path), true) => Some(read_token(path).await?),
            _ => None,
        };
        let mut req = self
            .client
            .get(parsed)
            // RFC 7517's own type first: the Kubernetes API server answers a JWKS
            // request for plain JSON with 406.
            .header(
                http::header::ACCEPT,
                "application/jwk-set+json, application/json",
            );
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        self.send(url, req, MAX_DOCUMENT_BYTES).await
    }

    /// POSTs an `application/x-www-form-urlencoded` body (RFC 7662 introspection) with
    /// HTTP Basic client authentication when `client` is given, and reads a JSON answer of
    /// at most `max_bytes`. Errors name the URL and the status, never the body: an
    /// authorization server's error text may quote what it was sent.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        client: Option<(&str, &str)>,
        max_bytes: usize,
    ) -> Result<bytes::Bytes, String> {
        match self.post_form_answer(url, form, client, max_bytes).await? {
            (StatusCode::OK, body) => Ok(body),
            (status, _) => Err(format!("{url}: HTTP {status}")),
        }
    }

    /// [`Fetcher::post_form`], but any status that is not a redirect comes back with its
    /// body (bounded like a success's), for endpoints whose refusals say why in JSON
    /// (RFC 6749 §5.2 `error` codes). The caller decides what of it to repeat.
    pub async fn post_form_answer(
        &self,
        url: &str,
        form: &[(&str, &str)],
        client: Option<(&str, &str)>,
        max_bytes: usize,
    ) -> Result<(StatusCode, bytes::Bytes), String> {
        let parsed = self.target(url)?;
        let mut req = self
            .client
            .post(parsed)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            );
        if let Some((id, secret)) = client {
            // RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(id), Some(enc(secret)));
        }
        self.answer(url, req, max_bytes).await
    }

    /// `url` parsed, unless its host is a literal address the reach rule refuses (names are
    /// judged by the guarded resolver when connecting).
    fn target(&self, url: &str) -> Result<url::Url, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
            _ => None,
        };
        if let Some(why) = literal.and_then(|ip| self.reach.refuses(ip)) {
            return Err(format!(
                "{url}: {why} ({} allows private addresses)",
                self.allow_key
            ));
        }
        Ok(parsed)
    }

    /// Sends `req` under [`FETCH_TIMEOUT`] and reads a 200 answer of at most `max_bytes`;
    /// a redirect is refused, as everywhere in the gateway.
    async fn send(
        &self,
        url: &str,
        req: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<bytes::Bytes, String> {
        match self.answer(url, req, max_bytes).await? {
            (StatusCode::OK, body) => Ok(body),
            (status, _) => Err(format!("{url}: HTTP {status}")),
        }
    }

    /// Sends `req` under [`FETCH_TIMEOUT`] and reads the answer of at most `max_bytes`,
    /// whatever its status; a redirect is refused.
    async fn answer(
        &self,
        url: &str,
        req: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<(StatusCode, bytes::Bytes), String> {
        let fut = async {
            let resp = req
                .send()
                .await
                .map_err(|e| format!("{url}: {}", error_chain(&e)))?;
            if let Some(msg) = crate::outbound::refused_redirect(resp.status(), resp.headers()) {
                return Err(format!("{url}: {msg}"));
            }
            let status = resp.status();
            if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
                return Err(format!("{url}: document larger than {max_bytes} bytes"));
            }
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("{url}: {}", error_chain(&e)))?
            {
                body.extend_from_slice(&chunk);
                if body.len() > max_bytes {
                    return Err(format!("{url}: document larger than {max_bytes} bytes"));
                }
            }
            Ok((status, bytes::Bytes::from(body)))
        };
        tokio::time::timeout(FETCH_TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| Err(format!("{url}: no answer within {FETCH_TIMEOUT:?}")))
    }
}

/// The token in `path`, trimmed; errors name the file, never its content.
async fn read_token(path: &std::path::Path) -> Result<String, String> {
    let shown = path.display();
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("jwksAuthTokenPath {shown}: {e}"))?;
    if meta.len() > MAX_TOKEN_BYTES {
        return Err(format!(
            "jwksAuthTokenPath {shown}: larger than {MAX_TOKEN_BYTES} bytes"
        ));
    }
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("jwksAuthTokenPath {shown}: {e}"))?;
    let token = text.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "jwksAuthTokenPath {shown}: not a bearer token (empty, or not visible ASCII)"
        ));
    }
    Ok(token.to_owned())
}

/// An error with its causes, which reqwest keeps in `source()` ("error sending request"
/// alone says nothing).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls() -> rustls::ClientConfig {
        crate::backend::tls::test_client_config()
    }

    /// Without the allow flag, a loopback issuer is refused before any connection: the
    /// listener never sees one, by literal address or by a name that resolves there.
    #[tokio::test]
    async fn private_issuers_are_refused_unless_allowed() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = accepted.clone();
        tokio::spawn(async move {
            while let Ok((_s, _)) = l.accept().await {
                a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let strict = Fetcher::new(tls(), false, None).unwrap();
        let e = strict
            .get(&format!("http://127.0.0.1:{port}/certs"), false)
            .await
            .unwrap_err();
        assert!(e.contains("a loopback address"), "{e}");
        let e = strict
            .get(&format!("http://localhost:{port}/certs"), false)
            .await
            .unwrap_err();
        assert!(e.contains("resolves only to refused addresses"), "{e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);

        let open = Fetcher::new(tls(), true, None).unwrap();
        // Connects now (the listener answers nothing and closes, so it is an error, but
        // one from the connection, not the guard).
        let e = open
            .get(&format!("http://127.0.0.1:{port}/certs"), false)
            .await
            .unwrap_err();
        assert!(!e.contains("refused"), "{e}");
        assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }
}
