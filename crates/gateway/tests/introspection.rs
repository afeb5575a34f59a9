//! `introspectionUrl` against a real Ory Hydra (one per test binary, `vmcp_testenv::hydra`):
//! its opaque client-credentials tokens are introspected at its admin API (RFC 7662). What
//! is asserted is what a client sees: who it is to Cedar and to its session, and the 401s
//! and 503s of tokens that must not get in.

mod common;

use base64::Engine as _;
use common::keycloak::*;
use common::*;
use serde_json::json;
use vmcp_test_support::hydra::Hydra;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

async fn hydra() -> std::sync::Arc<Hydra> {
    Hydra::shared().await.expect("Hydra starts")
}

/// A client of Hydra's, unique to the test (one Hydra serves the whole binary), allowed to
/// ask for the gateway's audience.
async fn client(h: &Hydra, name: &str) -> (String, String) {
    let id = format!("{name}-{}", vmcp_test_support::free_port());
    let secret = format!("{id}-secret-for-the-test");
    hydra_client(h, &id, &secret, &[AUDIENCE]).await;
    (id, secret)
}

/// A gateway that checks JWTs against Hydra's keys and introspects everything else at
/// `introspection_url`, with `authz` (indented by 2).
fn config(
    h: &Hydra,
    introspection_url: &str,
    authz: &str,
    backend: std::net::SocketAddr,
) -> String {
    oidc_config(
        &h.issuer(),
        &format!("    introspectionUrl: \"{introspection_url}\"\n"),
        authz,
        backend,
    )
}

async fn metrics(gw: std::net::SocketAddr) -> String {
    let r = reqwest::get(format!("http://{gw}/metrics")).await.unwrap();
    r.text().await.unwrap()
}

/// Asserts that `authorization` gets 401 `invalid_token` with `why` in the challenge.
async fn assert_refused(gw: std::net::SocketAddr, authorization: &str, why: &str) {
    let (status, hd, body) = post(gw, Some(authorization), None, initialize()).await;
    assert_eq!(status, 401, "{body}");
    let c = challenge(&hd);
    assert!(
        c.contains("error=\"invalid_token\"") && c.contains(why),
        "{why:?} not in {c}"
    );
}

/// Two Hydra clients under one policy set: each opaque token is introspected, its `sub`
/// is the Cedar principal (different tools for each) and owns the session it opens; a
/// token for another audience, a revoked one, and a JWT-shaped forgery get 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_are_introspected_and_their_subject_is_the_caller() {
    let h = hydra().await;
    let a = client(&h, "svc-a").await;
    let b = client(&h, "svc-b").await;
    let backend = rust_backend(Behaviour::Normal).await;
    let authz = format!(
        "  authz:\n    type: cedar\n    policies:\n      - 'permit(principal == Client::\"{}\", action, resource == Tool::\"b_add\");'\n      - 'permit(principal == Client::\"{}\", action, resource == Tool::\"b_sleep\") when {{ principal.claim_client_id == \"{}\" && principal.claim_scope == \"mcp\" }};'\n",
        a.0, b.0, b.0
    );
    let gw = gateway(&config(&h, &h.introspection_endpoint(), &authz, backend)).await;
    let a_token = hydra_token(&h, (&a.0, &a.1), Some(AUDIENCE)).await;
    let b_token = hydra_token(&h, (&b.0, &b.1), Some(AUDIENCE)).await;
    assert!(a_token.starts_with("ory_at_"), "an opaque token: {a_token}");

    let mut ca = Client::connect_as(gw.addr, Some(&a_token)).await;
    let mut cb = Client::connect_as(gw.addr, Some(&b_token)).await;
    assert_eq!(ca.tool_names().await, ["b_add"]);
    assert_eq!(cb.tool_names().await, ["b_sleep"]);
    let (status, r) = ca
        .rpc_status(
            10,
            "tools/call",
            json!({"name": "b_add", "arguments": {"a": 1, "b": 2}}),
        )
        .await;
    assert_eq!((status, text_of(&r).as_str()), (200, "3"), "{r}");

    // The session belongs to the subject Hydra vouched for.
    let (status, hd, _) = post(
        gw.addr,
        Some(&format!("Bearer {a_token}")),
        None,
        initialize(),
    )
    .await;
    assert_eq!(status, 200);
    let session = hd["mcp-session-id"].to_str().unwrap().to_owned();
    let (status, _, body) = post(
        gw.addr,
        Some(&format!("Bearer {b_token}")),
        Some(&session),
        tools_list(),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // A real token of the same Hydra without the gateway's audience.
    let no_aud = hydra_token(&h, (&a.0, &a.1), None).await;
    assert_refused(gw.addr, &format!("Bearer {no_aud}"), "another audience").await;
    // Revoked before the gateway ever saw it: Hydra says inactive.
    let revoked = hydra_token(&h, (&a.0, &a.1), Some(AUDIENCE)).await;
    hydra_revoke(&h, (&a.0, &a.1), &revoked).await;
    assert_refused(gw.addr, &format!("Bearer {revoked}"), "not active").await;
    // Made up, in the shape of Hydra's tokens.
    assert_refused(gw.addr, "Bearer ory_at_madeup.madeup", "not active").await;
    // A JWT is never introspected: one signed with a key Hydra does not publish is refused
    // on its own merits (Hydra would not know it either way).
    let forged = [
        b64(br#"{"alg":"RS256","kid":"not-hydras"}"#),
        b64(format!(
            r#"{{"iss":"{}","aud":"{AUDIENCE}","sub":"{}","exp":4000000000}}"#,
            h.issuer(),
            a.0
        )
        .as_bytes()),
        b64(b"signature"),
    ]
    .join(".");
    assert_refused(
        gw.addr,
        &format!("Bearer {forged}"),
        "a key the issuer does not publish",
    )
    .await;
    // Not a token at all: refused without asking Hydra.
    assert_refused(gw.addr, "Bearer {\"x\":1}", "not a well-formed JWT").await;

    let metrics = metrics(gw.addr).await;
    assert!(
        metrics.contains("vmcp_auth_refused_total{reason=\"inactive\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vmcp_auth_refused_total{reason=\"audience\"} 1"),
        "{metrics}"
    );
}

/// An introspection endpoint that cannot be reached fails closed: 503 with `Retry-After`,
/// never a request served, and the metric says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_introspection_endpoint_fails_closed() {
    let h = hydra().await;
    let a = client(&h, "svc-down").await;
    let backend = rust_backend(Behaviour::Normal).await;
    let nowhere = format!(
        "http://127.0.0.1:{}/admin/oauth2/introspect",
        vmcp_test_support::free_port()
    );
    let gw = gateway(&config(&h, &nowhere, "", backend)).await;
    let token = hydra_token(&h, (&a.0, &a.1), Some(AUDIENCE)).await;
    for _ in 0..2 {
        let (status, hd, _) = post(
            gw.addr,
            Some(&format!("Bearer {token}")),
            None,
            initialize(),
        )
        .await;
        assert_eq!(status, 503);
        assert!(hd.contains_key("retry-after"));
    }
    let metrics = metrics(gw.addr).await;
    assert!(
        metrics.contains("vmcp_auth_refused_total{reason=\"issuer_unavailable\"} 2"),
        "{metrics}"
    );
}
