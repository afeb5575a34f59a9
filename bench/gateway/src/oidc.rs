//! What client authentication costs: two release gateways on the same backend, one with
//! `incomingAuth.type: anonymous` and one with `oidc` (keys fetched once from an in-process
//! issuer on 127.0.0.1 and cached), measured side by side in interleaved rounds and
//! reported as ratios. Every client sends the same ES256 token to both, so the requests are
//! byte for byte the same; the anonymous gateway ignores it.
//!
//! A third gateway adds ToolHive's permit-all Cedar policy, so that the principal built
//! from the token's claims and the decision for it are counted too.
//!
//! Two measures: concurrent `tools/call` (calls per gateway CPU-second, the throughput
//! scenario) and sequential `tools/call` on one connection (added p50/p99).

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::{BEARER, Gateway, Opts, backend, call, call_body, calls, mcp, pct};

/// Interleaved rounds per configuration; the median round is reported.
const ROUNDS: usize = 3;

/// Sequential calls per block of the latency measure (blocks alternate between gateways).
const BLOCK: usize = 250;

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// An issuer of our own: an ES256 key, its JWKS served at `http://{addr}/jwks`.
pub(crate) struct Issuer {
    addr: SocketAddr,
    key: jsonwebtoken::EncodingKey,
}

impl Issuer {
    pub(crate) async fn start() -> anyhow::Result<Issuer> {
        let pair = rcgen::KeyPair::generate()?; // ECDSA P-256
        let raw = pair.public_key_raw(); // 0x04 || x || y
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "bench",
            "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
        }]})
        .to_string();
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { ([("content-type", "application/json")], jwks) }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        tokio::spawn(async move { axum::serve(l, app).await });
        let key = jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der());
        Ok(Issuer { addr, key })
    }

    fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A token for `bench-gateway` valid for an hour, with the claims a Keycloak access
    /// token has (groups, scope, names), so the claim handling is the real one.
    pub(crate) fn token(&self) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some("bench".into());
        let claims = serde_json::json!({
            "iss": self.issuer(), "aud": "bench-gateway", "sub": "bench-user",
            "iat": now, "exp": now + 3600, "azp": "bench-cli", "scope": "openid profile",
            "preferred_username": "bench", "groups": ["eng", "bench"],
            "jti": format!("{now}-bench"),
        });
        Ok(jsonwebtoken::encode(&h, &claims, &self.key)?)
    }

    pub(crate) fn incoming(&self) -> String {
        format!(
            "incomingAuth:\n  type: oidc\n  oidc:\n    issuer: \"{}\"\n    audience: bench-gateway\n    jwksUrl: \"{}/jwks\"\n    insecureAllowHttp: true\n    jwksAllowPrivateIp: true\n",
            self.issuer(),
            self.issuer()
        )
    }
}

pub async fn run(o: &Opts) -> anyhow::Result<()> {
    let issuer = Issuer::start().await?;
    BEARER
        .set(issuer.token()?)
        .map_err(|_| anyhow::anyhow!("the bench token is set once"))?;
    let be = backend::start("b0_".into(), 2).await?;
    let backends = [("b0".to_owned(), be)];
    let permit_all = format!(
        "{}  authz:\n    type: cedar\n    policies: ['permit(principal, action, resource);']\n",
        issuer.incoming()
    );
    let gws = [
        ("anonymous", Gateway::start(o, &backends).await?),
        (
            "oidc (cached JWKS)",
            Gateway::start_with(o, &backends, &issuer.incoming()).await?,
        ),
        (
            "oidc + Cedar permit-all",
            Gateway::start_with(o, &backends, &permit_all).await?,
        ),
    ];
    compare(o, "Client authentication", &gws).await
}

/// Measures `gws` side by side — concurrent `tools/call` throughput in interleaved rounds,
/// then sequential `tools/call` latency in interleaved blocks — and prints both tables under
/// `title`, each gateway against the first.
pub(crate) async fn compare(o: &Opts, title: &str, gws: &[(&str, Gateway)]) -> anyhow::Result<()> {
    let mut tools = Vec::new();
    for (_, gw) in gws {
        tools.push(gw.wait_tools(2).await?);
    }

    let mut per_cpu = vec![Vec::new(); gws.len()];
    let mut per_sec = vec![Vec::new(); gws.len()];
    for _ in 0..ROUNDS {
        for (i, (_, gw)) in gws.iter().enumerate() {
            let r = calls(o, gw.addr, &tools[i], &gw.pid().to_string()).await?;
            per_cpu[i].push(r.per_gateway_cpu_second());
            per_sec[i].push(r.per_second());
        }
    }
    println!(
        "\n### {title}: tools/call throughput, {} concurrent clients, {ROUNDS} interleaved rounds of {} s\n",
        o.concurrency, o.seconds
    );
    println!(
        "| gateway | req/s (median) | calls per gateway CPU-second (median) | ratio to {} (CPU) | gateway CPU µs per call |",
        gws[0].0
    );
    println!("|---|---|---|---|---|");
    let base = median(per_cpu[0].clone());
    for (i, (name, _)) in gws.iter().enumerate() {
        let (c, s) = (median(per_cpu[i].clone()), median(per_sec[i].clone()));
        println!(
            "| {name} | {s:.0} | {c:.0} | {:.3} | {:.1} |",
            c / base,
            1e6 / c
        );
    }

    let mut clients = Vec::new();
    for (i, (_, gw)) in gws.iter().enumerate() {
        let mut c = mcp(gw.addr, 1);
        c.try_initialize(serde_json::json!({})).await?;
        let body = call_body(7, &tools[i]);
        for _ in 0..500 {
            call(&c, &body).await?;
        }
        clients.push((c, body));
    }
    let mut times = vec![Vec::with_capacity(o.n); gws.len()];
    let deadline = Instant::now() + Duration::from_secs(120);
    while times[0].len() < o.n && Instant::now() < deadline {
        for (i, (c, body)) in clients.iter().enumerate() {
            for _ in 0..BLOCK {
                let t = Instant::now();
                call(c, body).await?;
                times[i].push(t.elapsed());
            }
        }
    }
    for t in &mut times {
        t.sort();
    }
    println!(
        "\n### {title}: sequential tools/call on one connection, {} calls each, interleaved in blocks of {BLOCK}\n",
        times[0].len()
    );
    println!("| gateway | p50 ms | p99 ms | added p50 µs | added p99 µs |");
    println!("|---|---|---|---|---|");
    let (b50, b99) = (pct(&times[0], 50.0), pct(&times[0], 99.0));
    for (i, (name, _)) in gws.iter().enumerate() {
        let (p50, p99) = (pct(&times[i], 50.0), pct(&times[i], 99.0));
        println!(
            "| {name} | {p50:.3} | {p99:.3} | {:.1} | {:.1} |",
            (p50 - b50) * 1e3,
            (p99 - b99) * 1e3
        );
    }
    Ok(())
}
