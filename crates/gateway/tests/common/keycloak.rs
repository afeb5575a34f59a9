//! What the OIDC tests build around the real Keycloak (its tokens come from
//! `vmcp_test_support::oidc`): a gateway config with `incomingAuth.type: oidc` and a raw
//! request helper that returns status and headers (the recording backend is in `common`).

use std::net::SocketAddr;

use serde_json::{Value, json};
#[allow(unused_imports)] // each test file uses some
pub use vmcp_test_support::keycloak::{
    ADMIN, AUDIENCE, CLIENT, EXCHANGE_AUDIENCE, GATEWAY_CLIENT, Keycloak, OTHER_CLIENT, REALM,
};
#[allow(unused_imports)]
pub use vmcp_test_support::oidc::*;

/// A gateway config that checks Keycloak's tokens; `oidc_extra` adds keys to `oidc`
/// (e.g. `scopes: [x]`), `authz` an `authz:` block (indented by 2), `backend` the one backend.
pub fn oidc_config(issuer: &str, oidc_extra: &str, authz: &str, backend: SocketAddr) -> String {
    format!(
        "name: test\ngroupRef: g\nincomingAuth:\n  type: oidc\n  oidc:\n    issuer: \"{issuer}\"\n    audience: {AUDIENCE}\n    insecureAllowHttp: true\n    jwksAllowPrivateIp: true\n{oidc_extra}{authz}outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\nbackends:\n- {{name: b, url: \"http://{backend}/mcp\", transport: streamable-http}}\n"
    )
}

/// The headers of every request a [`recording_backend`] received.
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
