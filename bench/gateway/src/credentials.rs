//! What credentials to backends cost per call: three release gateways with the same OIDC
//! client authentication (so every call carries the same validated caller token) and the
//! same backend, differing only in `outgoingAuth` — none, `header_injection` of a fixed
//! value, and `token_exchange` against an in-process RFC 8693 endpoint on 127.0.0.1, whose
//! answer is cached (every client sends the same token, so after the first call each one is
//! a cache hit). Measured side by side by [`crate::compare::compare`]; the number of requests
//! the token endpoint got is printed, to show the calls were hits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::compare::compare;
use crate::oidc::Issuer;
use crate::{BEARER, Gateway, Opts, backend};

/// A token endpoint that answers every exchange with a token valid for an hour and counts
/// the requests.
async fn token_endpoint() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                (
                    [("content-type", "application/json")],
                    format!(
                        r#"{{"access_token":"exchanged-{n}","token_type":"Bearer","expires_in":3600,"issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}}"#
                    ),
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok((format!("http://{addr}/token"), count))
}

pub async fn run(o: &Opts) -> anyhow::Result<()> {
    let issuer = Issuer::start().await?;
    BEARER
        .set(issuer.token()?)
        .map_err(|_| anyhow::anyhow!("the bench token is set once"))?;
    let (token_url, exchanges) = token_endpoint().await?;
    let be = backend::start("b0_".into(), 2).await?;
    let backends = [("b0".to_owned(), be)];
    let incoming = issuer.incoming();
    let header = "outgoingAuth: {source: inline, default: {type: header_injection, headerInjection: {headerName: X-Api-Key, headerValue: bench-key}}}\n";
    let exchange = format!(
        "outgoingAuth:\n  source: inline\n  default:\n    type: token_exchange\n    tokenExchange:\n      tokenUrl: \"{token_url}\"\n      clientId: bench-gateway\n      clientSecret: bench-secret\n      audience: bench-backend\n      allowPrivateIp: true\n      insecureAllowHttp: true\n"
    );
    let gws = [
        (
            "no outgoing auth",
            Gateway::start_with(o, &backends, &incoming).await?,
        ),
        (
            "header_injection",
            Gateway::start_configured(o, &backends, &incoming, header).await?,
        ),
        (
            "token_exchange (cached)",
            Gateway::start_configured(o, &backends, &incoming, &exchange).await?,
        ),
    ];
    compare(o, "Backend credentials", &gws).await?;
    println!(
        "\nToken endpoint requests during the run: {} (the gateway's own client-credentials token and one exchange for the callers' one token; every other call was a cache hit)",
        exchanges.load(Ordering::SeqCst)
    );
    cache_hits(&token_url, o.n).await
}

/// The cost of one cache hit in isolation: the gateway's own `Exchanger` (as
/// `vmcp serve` builds it, against the same loopback endpoint) filled with 1 and then
/// 10,000 distinct caller tokens, then asked `n` times round-robin, on one task and on two
/// concurrent ones (the cache is one mutex-guarded map). Nanoseconds per hit of wall time.
async fn cache_hits(token_url: &str, n: usize) -> anyhow::Result<()> {
    use vmcp_gateway::backend::exchange::{Exchanger, Settings};
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let fetcher =
        vmcp_gateway::oidc::fetch::Fetcher::new(tls, true, None).map_err(|e| anyhow::anyhow!(e))?;
    let ex = Arc::new(Exchanger::new(
        Settings {
            token_url: token_url.to_owned(),
            client: Some(("bench-gateway".into(), "bench-secret".into())),
            audience: "bench-backend".into(),
            scopes: Vec::new(),
            subject_token_type: String::new(),
        },
        fetcher,
    ));
    // Caller tokens as long as real JWTs (the key is their SHA-256).
    let subject = |i: usize| format!("{}{i:08}", "eyJhbGciOiJSUzI1NiJ9.".repeat(40));
    println!("\n### Token-exchange cache hit, in isolation\n");
    println!("| cached caller tokens | tasks | hits | ns per hit |");
    println!("| ---: | ---: | ---: | ---: |");
    let mut filled = 0;
    for size in [1usize, 10_000] {
        while filled < size {
            ex.header(&subject(filled))
                .await
                .map_err(|e| anyhow::anyhow!("exchange: {e}"))?;
            filled += 1;
        }
        let tokens: Arc<Vec<String>> = Arc::new((0..size).map(subject).collect());
        for tasks in [1usize, 2] {
            let per_task = n.max(1000) * 10 / tasks;
            let started = std::time::Instant::now();
            let mut handles = Vec::new();
            for t in 0..tasks {
                let (ex, tokens) = (ex.clone(), tokens.clone());
                handles.push(tokio::spawn(async move {
                    for i in 0..per_task {
                        let tok = &tokens[(i * 7919 + t) % tokens.len()];
                        if ex.header(tok).await.is_err() {
                            return Err(anyhow::anyhow!("a cached token was not a hit"));
                        }
                    }
                    Ok(())
                }));
            }
            for h in handles {
                h.await??;
            }
            let hits = per_task * tasks;
            let ns = started.elapsed().as_nanos() as f64 / hits as f64;
            println!("| {size} | {tasks} | {hits} | {ns:.0} |");
        }
    }
    let exchanged = ex.counts.exchanges.load(Ordering::Relaxed);
    anyhow::ensure!(
        exchanged as usize == filled,
        "{exchanged} exchanges for {filled} tokens: the timed calls were not all hits"
    );
    println!("\n{filled} exchanges in all: every timed call was a cache hit.");
    Ok(())
}
