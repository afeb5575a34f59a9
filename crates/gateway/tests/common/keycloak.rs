//! Tokens from the real Keycloak of `vmcp_testenv::keycloak`, and what the OIDC tests build
//! around them: a gateway config with `incomingAuth.type: oidc`, a backend that records the
//! headers it receives, a raw request helper that returns status and headers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use serde_json::{Value, json};
#[allow(unused_imports)] // each test file uses some
pub use vmcp_test_support::keycloak::{ADMIN, AUDIENCE, CLIENT, Keycloak, OTHER_CLIENT};

/// The fixture's users and their passwords.
pub const ALICE: (&str, &str) = ("alice", "alice-password");
pub const BOB: (&str, &str) = ("bob", "bob-password");

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>(),
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// An access token from the realm's token endpoint (password grant).
pub async fn token(kc: &Keycloak, client: &str, (user, password): (&str, &str)) -> String {
    token_from(&kc.token_endpoint(), client, user, password).await
}

/// An access token from another realm of the same Keycloak (password grant).
pub async fn token_in(
    kc: &Keycloak,
    realm: &str,
    client: &str,
    (user, password): (&str, &str),
) -> String {
    let endpoint = format!("{}/realms/{realm}/protocol/openid-connect/token", kc.base);
    token_from(&endpoint, client, user, password).await
}

/// The `kid` of a token's header.
pub fn kid(token: &str) -> String {
    use base64::Engine as _;
    let h = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h)
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["kid"].as_str().unwrap().to_owned()
}

/// Calls the admin API of Keycloak: `method path` with a JSON body; the status and the
/// reply as JSON (`null` when empty).
pub async fn admin(
    kc: &Keycloak,
    token: &str,
    method: http::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut b = reqwest::Client::new()
        .request(method, format!("{}/admin/realms{path}", kc.base))
        .bearer_auth(token);
    if let Some(body) = body {
        b = b
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let r = b.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn token_from(endpoint: &str, client: &str, user: &str, password: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = form(&[
        ("grant_type", "password"),
        ("client_id", client),
        ("username", user),
        ("password", password),
        ("scope", "openid"),
    ]);
    let r = reqwest::Client::new()
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(status, 200, "token endpoint: {v}");
    v["access_token"].as_str().unwrap().to_owned()
}

/// A token of the master realm's admin, for the admin API.
pub async fn admin_token(kc: &Keycloak) -> String {
    token_from(
        &format!("{}/realms/master/protocol/openid-connect/token", kc.base),
        "admin-cli",
        ADMIN.0,
        ADMIN.1,
    )
    .await
}

/// The claims of a token, unverified (to assert on what Keycloak issued).
pub fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let p = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A gateway config that checks Keycloak's tokens; `oidc_extra` adds keys to `oidc`
/// (e.g. `scopes: [x]`), `authz` an `authz:` block (indented by 2), `backend` the one backend.
pub fn oidc_config(issuer: &str, oidc_extra: &str, authz: &str, backend: SocketAddr) -> String {
    format!(
        "name: test\ngroupRef: g\nincomingAuth:\n  type: oidc\n  oidc:\n    issuer: \"{issuer}\"\n    audience: {AUDIENCE}\n    insecureAllowHttp: true\n    jwksAllowPrivateIp: true\n{oidc_extra}{authz}outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\nbackends:\n- {{name: b, url: \"http://{backend}/mcp\", transport: streamable-http}}\n"
    )
}

/// The headers of every request a [`recording_backend`] received.
pub type Recorded = Arc<Mutex<Vec<http::HeaderMap>>>;

/// [`super::rust_backend`] that also records the headers of every request.
pub async fn recording_backend() -> (SocketAddr, Recorded) {
    let seen: Recorded = Arc::default();
    let started = std::time::Instant::now();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: http::HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(headers);
                super::handle(super::Behaviour::Normal, started, body).await
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, seen)
}

/// One `/mcp` POST with an optional raw `Authorization` value and session: status, headers,
/// body as JSON (`null` when empty or not JSON).
pub async fn post(
    gw: SocketAddr,
    authorization: Option<&str>,
    session: Option<&str>,
    body: Value,
) -> (u16, http::HeaderMap, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::new()
        .post(format!("http://{gw}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    let r = b.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

pub fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

pub fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
}

/// The `WWW-Authenticate` value, or "".
pub fn challenge(h: &http::HeaderMap) -> String {
    h.get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
