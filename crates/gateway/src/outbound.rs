//! The one place the gateway makes HTTP clients: backends (every transport, health checks and
//! capability fetches ride on them), the OIDC issuer (discovery and JWKS) and, as they come,
//! token endpoints and collectors.
//!
//! Every client follows no redirect. The URLs the gateway calls are checked where they are
//! declared (the operator's URL guard, the config validator); a `3xx` that the client obeyed
//! would send the request, with whatever secret header it carries, to a URL nobody checked,
//! and the answer would be served as the checked backend's own. So a redirect is an answer
//! like any other, which callers turn into an error that names it ([`refused_redirect`]).
//!
//! TLS is the caller's `rustls` config (the trusted roots differ per backend CA bundle);
//! everything else is fixed here so that no client can be built without it.
//!
//! Where a client may connect is its [`Reach`]. A guarded client resolves names itself and
//! drops every address that the SSRF classes (`vmcp_config::addr`) do not allow it, so a name
//! that passed the operator's URL check and later resolves to a private, loopback or metadata
//! address (DNS rebinding, or a record changed after the check) is refused when the
//! connection is made, with an error that names the addresses.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use vmcp_config::addr::{Class, classify_ip};

use http::{HeaderMap, StatusCode, header};

/// How long establishing a connection (TCP and TLS) may take. Requests have no client-wide
/// deadline on purpose: event streams stay open for hours, and each call is bounded by its
/// backend's timeout where it is made.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle pooled connection is kept.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The longest part of a `Location` value repeated in an error: it comes from the remote
/// and ends up in logs and `/status`.
const MAX_LOCATION_SHOWN: usize = 256;

/// Which addresses a client may connect to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reach {
    /// Check every address (false: workloads, whose in-cluster names are private by design).
    pub guarded: bool,
    /// Private addresses are allowed (an entry's `allowPrivateEndpoint`).
    pub private: bool,
    /// Loopback addresses too, when `private` is (`--allow-loopback-endpoints`, local
    /// development and tests only).
    pub loopback: bool,
}

impl Reach {
    /// No address check.
    pub const ANY: Reach = Reach {
        guarded: false,
        private: true,
        loopback: true,
    };

    /// `None` when `ip` may be connected to; otherwise what it is, for the error.
    pub fn refuses(&self, ip: IpAddr) -> Option<String> {
        if !self.guarded {
            return None;
        }
        match classify_ip(ip, &[]) {
            Class::Public => None,
            Class::Private(_) if self.private => None,
            Class::Loopback(_) if self.private && self.loopback => None,
            Class::Private(what) => Some(format!(
                "{ip} is {what}, refused without allowPrivateEndpoint"
            )),
            Class::Loopback(what) => Some(format!(
                "{ip} is {what}, refused unless the entry has allowPrivateEndpoint and the gateway runs with --allow-loopback-endpoints"
            )),
            Class::Blocked(what) => Some(format!("{ip} is {what}, never allowed")),
        }
    }
}

/// Builds an HTTP client with the gateway's outbound rules, the given TLS config and reach.
pub fn client(tls: rustls::ClientConfig, reach: Reach) -> Result<reqwest::Client, reqwest::Error> {
    // No proxy from the environment either: `HTTP(S)_PROXY` in the pod would send every
    // call to the proxy, past the guarded resolver, which would then judge the proxy's
    // address instead of the destination's.
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true);
    if reach.guarded {
        b = b.dns_resolver(Arc::new(Guarded(reach)));
    }
    b.build()
}

/// The resolver of a guarded client: the system's answers, less what [`Reach`] refuses.
/// (An IP literal is never resolved; `Builder` checks those when it builds the backend.)
struct Guarded(Reach);

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.0;
        Box::pin(async move {
            let allowed = allowed_addrs(name.as_str(), 0, reach).await?;
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The addresses `host` resolves to that `reach` allows (an IP literal is judged as it is),
/// or why there are none. Every guarded connection of the gateway resolves through this.
pub async fn allowed_addrs(
    host: &str,
    port: u16,
    reach: Reach,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
        .into_iter()
        .partition(|a| reach.refuses(a.ip()).is_none());
    if allowed.is_empty() {
        let why: Vec<String> = refused
            .iter()
            .filter_map(|a| reach.refuses(a.ip()))
            .collect();
        let msg = if why.is_empty() {
            format!("{host} resolves to no address")
        } else {
            format!(
                "{host} resolves only to refused addresses: {}",
                why.join("; ")
            )
        };
        return Err(msg.into());
    }
    if !refused.is_empty() {
        tracing::warn!(%host, refused = ?refused, "some addresses of a name refused");
    }
    Ok(allowed)
}

/// A TCP connector for clients that are not reqwest (the OTLP/gRPC exporter's tonic channel):
/// the same guarded resolution, [`CONNECT_TIMEOUT`] per connection, no Nagle.
#[derive(Clone, Copy, Debug)]
pub struct GuardedConnector(pub Reach);

impl tower_service::Service<http::Uri> for GuardedConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::TcpStream>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let reach = self.0;
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or("no host")?
                .trim_matches(['[', ']'])
                .to_owned();
            let https = uri.scheme_str() == Some("https");
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let addrs = allowed_addrs(&host, port, reach).await?;
            let mut last: Option<std::io::Error> = None;
            for a in addrs {
                match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(a)).await
                {
                    Ok(Ok(s)) => {
                        let _ = s.set_nodelay(true);
                        return Ok(hyper_util::rt::TokioIo::new(s));
                    }
                    Ok(Err(e)) => last = Some(e),
                    Err(_) => {
                        last = Some(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("connecting to {a} took over {CONNECT_TIMEOUT:?}"),
                        ))
                    }
                }
            }
            Err(last.map_or_else(|| "no address".into(), |e| e.into()))
        })
    }
}

/// For a `3xx` answer, the sentence saying what was refused: the status and where it
/// pointed. `None` for every other status.
///
/// The `Location` value is the remote's: shown escaped, without a password it may embed,
/// and cut to a bounded length.
pub fn refused_redirect(status: StatusCode, headers: &HeaderMap) -> Option<String> {
    if !status.is_redirection() {
        return None;
    }
    let Some(location) = headers.get(header::LOCATION) else {
        return Some(format!(
            "HTTP {status} without a Location header: the gateway follows no redirects"
        ));
    };
    Some(format!(
        "HTTP {status} to {:?}, not followed: the gateway follows no redirects",
        shown_url(&String::from_utf8_lossy(location.as_bytes()))
    ))
}

/// A URL the remote named (a `Location`, an SSE `endpoint`), fit for a log line or
/// `/status`: without a password it may embed, cut to a bounded length. Quote it with `{:?}`
/// so control characters come out escaped.
pub fn shown_url(text: &str) -> String {
    let text = match url::Url::parse(text) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => text.to_owned(),
    };
    match text.char_indices().nth(MAX_LOCATION_SHOWN) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gRPC exporter's connector applies the same reach as the reqwest clients: a
    /// loopback collector without the flags is refused before any connection is made.
    #[tokio::test]
    async fn the_guarded_connector_refuses_what_reach_refuses() {
        use tower_service::Service;
        let guarded = Reach {
            guarded: true,
            private: false,
            loopback: false,
        };
        let err = GuardedConnector(guarded)
            .call("http://127.0.0.1:9".parse().unwrap())
            .await
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("refused") && err.contains("127.0.0.1"),
            "{err}"
        );
        let err = GuardedConnector(guarded)
            .call("http://169.254.169.254:80".parse().unwrap())
            .await
            .expect_err("refused")
            .to_string();
        assert!(err.contains("never allowed"), "{err}");
    }
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn tls() -> rustls::ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    }

    fn with_location(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, http::HeaderValue::from_static(v));
        h
    }

    #[test]
    fn only_3xx_is_a_refused_redirect() {
        let h = with_location("http://127.0.0.1:9/elsewhere");
        for s in [200, 202, 404, 500] {
            assert_eq!(refused_redirect(StatusCode::from_u16(s).unwrap(), &h), None);
        }
        for s in [301, 302, 303, 307, 308] {
            let msg = refused_redirect(StatusCode::from_u16(s).unwrap(), &h).unwrap();
            assert!(msg.contains(&format!("HTTP {s}")), "{msg}");
            assert!(msg.contains("\"http://127.0.0.1:9/elsewhere\""), "{msg}");
        }
        let msg = refused_redirect(StatusCode::FOUND, &HeaderMap::new()).unwrap();
        assert!(
            msg.contains("302") && msg.contains("without a Location"),
            "{msg}"
        );
    }

    #[test]
    fn location_is_escaped_bounded_and_loses_its_password() {
        let msg = refused_redirect(
            StatusCode::TEMPORARY_REDIRECT,
            &with_location("http://u:hunter2@127.0.0.1/x"),
        )
        .unwrap();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("u:redacted@127.0.0.1"), "{msg}");

        let long = format!("/{}", "a".repeat(5000));
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, long.parse().unwrap());
        let msg = refused_redirect(StatusCode::TEMPORARY_REDIRECT, &h).unwrap();
        assert!(msg.len() < 400, "{} bytes", msg.len());

        // Quotes and tabs come out escaped, bytes that are not UTF-8 replaced.
        let mut h = HeaderMap::new();
        h.insert(
            header::LOCATION,
            http::HeaderValue::from_bytes(b"/a\"b\t\xff").unwrap(),
        );
        let msg = refused_redirect(StatusCode::MOVED_PERMANENTLY, &h).unwrap();
        assert!(msg.contains("\"/a\\\"b\\t\u{fffd}\""), "{msg}");
    }

    /// The client answers a redirect with the redirect itself; the place it points at is
    /// never contacted.
    #[tokio::test]
    async fn clients_follow_no_redirect() {
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other_addr = other.local_addr().unwrap();
        let reached = Arc::new(AtomicUsize::new(0));
        let r = reached.clone();
        tokio::spawn(async move {
            while let Ok((_sock, _)) = other.accept().await {
                r.fetch_add(1, Ordering::SeqCst);
            }
        });
        let target = format!("http://{other_addr}/stolen");
        let app = axum::Router::new().fallback(move || {
            let target = target.clone();
            async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, target)],
                    "",
                )
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });

        let c = client(tls(), Reach::ANY).unwrap();
        let resp = c
            .post(format!("http://{addr}/mcp"))
            .header("x-secret", "s3cret")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
        let msg = refused_redirect(resp.status(), resp.headers()).unwrap();
        assert!(
            msg.contains(&format!("http://{other_addr}/stolen")),
            "{msg}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            reached.load(Ordering::SeqCst),
            0,
            "the redirect was followed"
        );
    }
}
