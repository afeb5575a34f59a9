//! Tokens from the real Keycloak of the OIDC tests (`vmcp_testenv::keycloak`): password grants
//! for the fixture's users, the admin API, and reading a token's header and claims (unverified:
//! to assert on what Keycloak issued).

use base64::Engine as _;
use serde_json::Value;

use crate::keycloak::{ADMIN, Keycloak};

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
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
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
    let p = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
