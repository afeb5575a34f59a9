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
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::compare::compare;
use crate::{BEARER, Gateway, Opts, backend};

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
