//! Tokens from the real Keycloak of the OIDC tests (`vmcp_testenv::keycloak`): password grants
//! for the fixture's users, the admin API, and reading a token's header and claims (unverified:
//! to assert on what Keycloak issued); and opaque tokens from the real Hydra of the
//! introspection tests (`vmcp_testenv::hydra`): clients, client-credentials tokens, revocation.

use base64::Engine as _;
use serde_json::Value;

use crate::hydra::Hydra;
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

/// A confidential client of the real Hydra (`vmcp_testenv::hydra`) with the client
/// credentials grant, allowed to ask for `audiences`: created through the admin API
/// (Hydra keeps the id and secret given).
pub async fn hydra_client(h: &Hydra, id: &str, secret: &str, audiences: &[&str]) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = serde_json::json!({
        "client_id": id, "client_secret": secret, "grant_types": ["client_credentials"],
        "audience": audiences, "scope": "mcp", "token_endpoint_auth_method": "client_secret_basic"
    });
    let r = reqwest::Client::new()
        .post(format!("{}/admin/clients", h.admin))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 201, "creating Hydra client {id}: {text}");
}

/// An opaque access token of a [`hydra_client`] (client credentials grant), for `audience`
/// when given.
pub async fn hydra_token(h: &Hydra, (id, secret): (&str, &str), audience: Option<&str>) -> String {
    let mut pairs = vec![("grant_type", "client_credentials"), ("scope", "mcp")];
    if let Some(a) = audience {
        pairs.push(("audience", a));
    }
    let (status, v) = hydra_form(&h.token_endpoint(), (id, secret), &pairs).await;
    assert_eq!(status, 200, "Hydra token endpoint: {v}");
    v["access_token"].as_str().unwrap().to_owned()
}

/// Revokes a token at Hydra (RFC 7009), as its client.
pub async fn hydra_revoke(h: &Hydra, (id, secret): (&str, &str), token: &str) {
    let url = format!("{}/oauth2/revoke", h.public);
    let (status, v) = hydra_form(&url, (id, secret), &[("token", token)]).await;
    assert_eq!(status, 200, "Hydra revocation: {v}");
}

async fn hydra_form(url: &str, (id, secret): (&str, &str), pairs: &[(&str, &str)]) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = reqwest::Client::new()
        .post(url)
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
