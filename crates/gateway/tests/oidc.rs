//! `incomingAuth.type: oidc` against a real Keycloak (one per test binary, realm from
//! `tests/fixtures/keycloak/vmcp-realm.json`): real tokens from its token endpoint, keys
//! from its discovery document and JWKS. What is asserted is what a client sees: the
//! status, the `WWW-Authenticate` challenge, the RFC 9728 document, which tools each user
//! sees and may call, and what reaches the backend.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::keycloak::*;
use common::*;
use serde_json::{Value, json};

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn metadata_url(gw: std::net::SocketAddr) -> String {
    format!("http://{gw}/.well-known/oauth-protected-resource/mcp")
}

async fn get_json(url: &str) -> Value {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

async fn keycloak() -> std::sync::Arc<Keycloak> {
    Keycloak::shared().await.expect("Keycloak starts")
}

/// Asserts a 401 whose challenge names the metadata and, for a token that was sent, the
/// `invalid_token` error with a description containing `why`.
#[track_caller]
fn assert_invalid(
    (status, headers, body): &(u16, http::HeaderMap, Value),
    gw: std::net::SocketAddr,
    why: &str,
) {
    assert_eq!(*status, 401, "{body}");
    let c = challenge(headers);
    assert!(
        c.starts_with(&format!(
            "Bearer resource_metadata=\"{}\", error=\"invalid_token\", error_description=\"",
            metadata_url(gw)
        )),
        "{c}"
    );
    assert!(c.contains(why), "{why:?} not in {c}");
}

/// A valid token is accepted; everything else gets 401 with the right challenge, and none
/// of them creates a session or reaches the backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_and_bad_ones_get_401_with_the_challenge() {
    let kc = keycloak().await;
    let (backend, seen) = recording_backend().await;
    let gw = gateway(&oidc_config(&kc.issuer(), "", "", backend)).await;
    let alice = token(&kc, CLIENT, ALICE).await;
    assert_eq!(claims(&alice)["groups"], json!(["eng"]));

    // Good: a session, and the backend's tools.
    let (status, h, body) = post(
        gw.addr,
        Some(&format!("Bearer {alice}")),
        None,
        initialize(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let session = h["mcp-session-id"].to_str().unwrap().to_owned();
    let (status, _, body) = post(
        gw.addr,
        Some(&format!("Bearer {alice}")),
        Some(&session),
        tools_list(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["tools"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    let reached = seen.lock().unwrap().len();

    // Missing: no `error` attribute (RFC 6750 §3.1).
    let (status, h, _) = post(gw.addr, None, None, initialize()).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge(&h),
        format!("Bearer resource_metadata=\"{}\"", metadata_url(gw.addr))
    );
    // Another scheme is no Bearer token either.
    let (status, h, _) = post(gw.addr, Some("Basic YWxpY2U6YWxpY2U="), None, initialize()).await;
    assert_eq!(status, 401);
    assert!(!challenge(&h).contains("error="), "{}", challenge(&h));

    // Malformed.
    for bad in ["Bearer not-a-jwt", "Bearer a.b.c", "Bearer "] {
        let r = post(gw.addr, Some(bad), None, initialize()).await;
        assert_invalid(&r, gw.addr, "not a well-formed JWT");
    }
    // Another audience: a real Keycloak token of the other client.
    let other = token(&kc, OTHER_CLIENT, ALICE).await;
    assert_eq!(claims(&other)["iss"], kc.issuer());
    let r = post(
        gw.addr,
        Some(&format!("Bearer {other}")),
        None,
        initialize(),
    )
    .await;
    assert_invalid(&r, gw.addr, "another audience");

    // Tampered: alice's token with bob's subject in it.
    let parts: Vec<&str> = alice.split('.').collect();
    let mut c = claims(&alice);
    c["sub"] = json!("someone-else");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    let r = post(
        gw.addr,
        Some(&format!("Bearer {tampered}")),
        None,
        initialize(),
    )
    .await;
    assert_invalid(&r, gw.addr, "signature does not verify");
    // A signature cut off.
    let r = post(
        gw.addr,
        Some(&format!("Bearer {}.{}.", parts[0], parts[1])),
        None,
        initialize(),
    )
    .await;
    assert_eq!(r.0, 401);

    // `alg: none`, with the real claims and the real kid.
    let header: Value = {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[0])
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let none = json!({"alg": "none", "typ": "JWT", "kid": header["kid"]});
    let unsigned = format!("{}.{}.", b64(none.to_string().as_bytes()), parts[1]);
    let r = post(
        gw.addr,
        Some(&format!("Bearer {unsigned}")),
        None,
        initialize(),
    )
    .await;
    assert_invalid(&r, gw.addr, "algorithm none is not accepted");

    // HS256 keyed with the realm's public key (the algorithm-confusion attack), in each
    // form an attacker might try: the JWK's modulus and the certificate.
    let jwks = get_json(&format!("{}/protocol/openid-connect/certs", kc.issuer())).await;
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap();
    let cert_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        rsa["x5c"][0].as_str().unwrap()
    );
    for secret in [rsa["n"].as_str().unwrap().as_bytes(), cert_pem.as_bytes()] {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = header["kid"].as_str().map(str::to_owned);
        let forged = jsonwebtoken::encode(
            &h,
            &claims(&alice),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap();
        let r = post(
            gw.addr,
            Some(&format!("Bearer {forged}")),
            None,
            initialize(),
        )
        .await;
        assert_invalid(&r, gw.addr, "algorithm HS256 is not accepted");
    }

    // None of the refused requests reached the backend or made a session.
    assert_eq!(seen.lock().unwrap().len(), reached);
    let status: Value = Client::new(gw.addr).get_json("/status").await;
    assert_eq!(status["sessions"], 1, "{status}");
    let metrics = Client::new(gw.addr).get_text("/metrics").await;
    for reason in ["missing", "malformed", "audience", "signature", "algorithm"] {
        assert!(
            metrics.contains(&format!("vmcp_auth_refused_total{{reason=\"{reason}\"}}")),
            "{reason}: {metrics}"
        );
    }
}

/// A token whose issuer is not the configured one is refused even though its signature is
/// good: the gateway is told another issuer and fetches this realm's keys directly
/// (`jwksUrl`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_another_issuer_is_refused() {
    let kc = keycloak().await;
    let backend = rust_backend(Behaviour::Normal).await;
    let elsewhere = format!("{}/realms/elsewhere", kc.base);
    let extra = format!(
        "    jwksUrl: \"{}/protocol/openid-connect/certs\"\n",
        kc.issuer()
    );
    let gw = gateway(&oidc_config(&elsewhere, &extra, "", backend)).await;
    let alice = token(&kc, CLIENT, ALICE).await;
    let r = post(
        gw.addr,
        Some(&format!("Bearer {alice}")),
        None,
        initialize(),
    )
    .await;
    assert_invalid(&r, gw.addr, "another issuer");
}

/// Keycloak's tokens of `short-cli` live 2 s; past that and the configured 1 s clock skew
/// (`clockSkewSeconds`) they are refused as expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused() {
    let kc = keycloak().await;
    let backend = rust_backend(Behaviour::Normal).await;
    let gw = gateway(&oidc_config(
        &kc.issuer(),
        "    clockSkewSeconds: 1\n",
        "",
        backend,
    ))
    .await;
    let short = token(&kc, "short-cli", ALICE).await;
    let c = claims(&short);
    let exp = c["exp"].as_u64().unwrap();
    assert!(exp - c["iat"].as_u64().unwrap() <= 2, "{c}");
    let r = post(
        gw.addr,
        Some(&format!("Bearer {short}")),
        None,
        initialize(),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.2);
    // Until a whole second past exp + skew (the claims are in whole seconds).
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let past = (exp + 2) as f64 - now();
    if past > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(past)).await;
    }
    let r = post(
        gw.addr,
        Some(&format!("Bearer {short}")),
        None,
        initialize(),
    )
    .await;
    assert_invalid(&r, gw.addr, "expired");
}

/// RFC 9728 metadata at both well-known paths: this gateway as the resource, Keycloak as
/// the authorization server, the configured scopes, header-only bearer tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protected_resource_metadata_names_the_issuer() {
    let kc = keycloak().await;
    let backend = rust_backend(Behaviour::Normal).await;
    let gw = gateway(&oidc_config(
        &kc.issuer(),
        "    scopes: [openid, profile]\n",
        "",
        backend,
    ))
    .await;
    let c = Client::new(gw.addr);
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let r = c
            .http
            .get(format!("{}{path}", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json");
        let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(
            doc,
            json!({
                "resource": format!("http://{}/mcp", gw.addr),
                "authorization_servers": [kc.issuer()],
                "scopes_supported": ["openid", "profile"],
                "bearer_methods_supported": ["header"],
            }),
            "{path}"
        );
    }
    // The issuer named there is a real one: its discovery document says so.
    let d = get_json(&format!("{}/.well-known/openid-configuration", kc.issuer())).await;
    assert_eq!(d["issuer"], kc.issuer());
}

/// Configured scopes are required: a valid token without them gets 403 `insufficient_scope`
/// naming them; one with them (Keycloak grants `profile` and `email` by default) is let in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scopes_get_403_insufficient_scope() {
    let kc = keycloak().await;
    let backend = rust_backend(Behaviour::Normal).await;
    let alice = token(&kc, CLIENT, ALICE).await;
    let granted = claims(&alice)["scope"].as_str().unwrap().to_owned();
    assert!(granted.split(' ').any(|s| s == "profile"), "{granted}");

    let gw = gateway(&oidc_config(
        &kc.issuer(),
        "    scopes: [profile, 'mcp:admin']\n",
        "",
        backend,
    ))
    .await;
    let (status, h, _) = post(
        gw.addr,
        Some(&format!("Bearer {alice}")),
        None,
        initialize(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge(&h),
        format!(
            "Bearer resource_metadata=\"{}\", error=\"insufficient_scope\", scope=\"profile mcp:admin\"",
            metadata_url(gw.addr)
        )
    );
    let gw = gateway(&oidc_config(
        &kc.issuer(),
        "    scopes: [profile, email]\n",
        "",
        backend,
    ))
    .await;
    let (status, _, body) = post(
        gw.addr,
        Some(&format!("Bearer {alice}")),
        None,
        initialize(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// A session belongs to the caller whose token created it: bob's token, or none, with
/// alice's session id is refused (as an unknown session, so ids cannot be probed), bob
/// cannot end it, and alice goes on using it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_bound_to_its_caller() {
    let kc = keycloak().await;
    let backend = rust_backend(Behaviour::Normal).await;
    let gw = gateway(&oidc_config(&kc.issuer(), "", "", backend)).await;
    let alice = format!("Bearer {}", token(&kc, CLIENT, ALICE).await);
    let bob = format!("Bearer {}", token(&kc, CLIENT, BOB).await);
    let (status, h, _) = post(gw.addr, Some(&alice), None, initialize()).await;
    assert_eq!(status, 200);
    let session = h["mcp-session-id"].to_str().unwrap().to_owned();

    let (status, _, body) = post(gw.addr, Some(&bob), Some(&session), tools_list()).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["message"], "unknown or expired session");
    let (status, h, _) = post(gw.addr, None, Some(&session), tools_list()).await;
    assert_eq!(status, 401);
    assert!(challenge(&h).starts_with("Bearer resource_metadata="));

    // GET stream and DELETE are bound the same way.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("http://{}/mcp", gw.addr))
        .header("accept", "text/event-stream")
        .header("authorization", &bob)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .delete(format!("http://{}/mcp", gw.addr))
        .header("authorization", &bob)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let (status, _, body) = post(gw.addr, Some(&alice), Some(&session), tools_list()).await;
    assert_eq!(status, 200, "{body}");
    let r = http
        .delete(format!("http://{}/mcp", gw.addr))
        .header("authorization", &alice)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

/// The client's token is the gateway's business only: no backend request carries the
/// Authorization header or the token anywhere in its headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_token_never_reaches_a_backend() {
    let kc = keycloak().await;
    let (backend, seen) = recording_backend().await;
    let gw = gateway(&oidc_config(&kc.issuer(), "", "", backend)).await;
    let alice = token(&kc, CLIENT, ALICE).await;
    let mut c = Client::connect_as(gw.addr, Some(&alice)).await;
    let mut names = c.tool_names().await;
    names.sort();
    assert_eq!(names, ["b_add", "b_sleep"]);
    let r = c
        .rpc(
            "tools/call",
            json!({"name": "b_add", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(text_of(&r), "5", "{r}");
    let seen = seen.lock().unwrap();
    assert!(
        seen.len() >= 3,
        "initialize, tools/list and the call reach the backend"
    );
    for h in seen.iter() {
        assert!(h.get("authorization").is_none(), "{h:?}");
        for (name, v) in h {
            assert!(
                !String::from_utf8_lossy(v.as_bytes()).contains(&alice[alice.len() - 20..]),
                "{name} carries the client's token"
            );
        }
    }
}

/// The issuer down: every request is refused with 503 (never served as anonymous), and the
/// refusals are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_issuer_fails_closed_with_503() {
    let kc = keycloak().await;
    let (backend, seen) = recording_backend().await;
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = gateway(&oidc_config(
        &format!("http://127.0.0.1:{dead}/realms/vmcp"),
        "",
        "",
        backend,
    ))
    .await;
    let alice = token(&kc, CLIENT, ALICE).await;
    for _ in 0..3 {
        let (status, h, body) = post(
            gw.addr,
            Some(&format!("Bearer {alice}")),
            None,
            initialize(),
        )
        .await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(h["retry-after"], "5");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("token issuer cannot be reached"),
            "{body}"
        );
    }
    // A token is still needed to be told so: without one it is a plain 401.
    assert_eq!(post(gw.addr, None, None, initialize()).await.0, 401);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|h| h.get("authorization").is_none())
    );
    let metrics = Client::new(gw.addr).get_text("/metrics").await;
    assert!(
        metrics.contains("vmcp_auth_refused_total{reason=\"issuer_unavailable\"} 3"),
        "{metrics}"
    );
}

/// One Cedar policy set, two Keycloak users: alice (group `eng`) sees and calls `b_add`,
/// bob (group `sales`) sees and calls `b_sleep`, and neither may call the other's tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_from_keycloak_decide_tools_under_one_policy() {
    let kc = keycloak().await;
    let backend = rust_backend(Behaviour::Normal).await;
    let authz = concat!(
        "  authz:\n    type: cedar\n    policies:\n",
        "      - 'permit(principal in THVGroup::\"eng\", action == Action::\"call_tool\", resource == Tool::\"b_add\");'\n",
        "      - 'permit(principal in THVGroup::\"sales\", action == Action::\"call_tool\", resource == Tool::\"b_sleep\");'\n",
        "      - 'permit(principal, action == Action::\"call_tool\", resource == Tool::\"b_add\") when { principal.claim_preferred_username == \"nobody\" };'\n",
    );
    let gw = gateway(&oidc_config(&kc.issuer(), "", authz, backend)).await;
    let alice = token(&kc, CLIENT, ALICE).await;
    let bob = token(&kc, CLIENT, BOB).await;
    let mut a = Client::connect_as(gw.addr, Some(&alice)).await;
    let mut b = Client::connect_as(gw.addr, Some(&bob)).await;
    assert_eq!(a.tool_names().await, ["b_add"]);
    assert_eq!(b.tool_names().await, ["b_sleep"]);

    let add = json!({"name": "b_add", "arguments": {"a": 1, "b": 2}});
    let sleep = json!({"name": "b_sleep", "arguments": {"seconds": 0}});
    let (status, r) = a.rpc_status(10, "tools/call", add.clone()).await;
    assert_eq!((status, text_of(&r).as_str()), (200, "3"), "{r}");
    let (status, r) = a.rpc_status(11, "tools/call", sleep.clone()).await;
    assert_eq!(status, 403, "{r}");
    assert_eq!(r["error"]["message"], "call denied by authorization policy");
    let (status, r) = b.rpc_status(12, "tools/call", add).await;
    assert_eq!(status, 403, "{r}");
    let (status, r) = b.rpc_status(13, "tools/call", sleep).await;
    assert_eq!(status, 200, "{r}");
}

/// A pod-less in-cluster caller: the real API server of `vmcp-testenv` is the issuer
/// (`type: kubernetesServiceAccount` renders this config). The gateway fetches the API
/// server's JWKS with its own service-account token (`jwksAuthTokenPath`; the API server
/// serves the keys only to service accounts) over TLS verified with the cluster CA; an
/// agent's TokenRequest token for the gateway's audience is accepted, one for another
/// audience is refused, and without the gateway's token file the keys cannot be had (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_of_the_api_server_are_checked() {
    let env = TestEnv::shared().await.expect("the test API server starts");
    let ns = env.namespace("sa-oidc").await.unwrap();
    let own = env
        .service_account_token_for(&ns, "vmcp-gateway", &[])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{own}\n")).unwrap();
    let agent = env
        .service_account_token_for(&ns, "agent", &[AUDIENCE])
        .await
        .unwrap();
    let elsewhere = env
        .service_account_token_for(&ns, "agent", &["another-service"])
        .await
        .unwrap();
    let api = env.config().cluster_url.to_string();
    let jwks = format!("{}/openid/v1/jwks", api.trim_end_matches('/'));
    let backend = rust_backend(Behaviour::Normal).await;
    let config = |token_path: &str| {
        format!(
            "name: test\ngroupRef: g\nincomingAuth:\n  type: oidc\n  oidc:\n    issuer: {issuer}\n    audience: {AUDIENCE}\n    jwksUrl: {jwks}\n    caBundlePath: {ca}\n{token_path}    jwksAllowPrivateIp: true\n  authz:\n    type: cedar\n    policies:\n      - 'permit(principal == Client::\"system:serviceaccount:{ns}:agent\", action, resource);'\noutgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\nbackends:\n- {{name: b, url: \"http://{backend}/mcp\", transport: streamable-http}}\n",
            issuer = TestEnv::SERVICE_ACCOUNT_ISSUER,
            ca = env.ca_cert_path().display(),
        )
    };
    let gw = gateway(&config(&format!(
        "    jwksAuthTokenPath: {}\n",
        token_file.display()
    )))
    .await;
    assert_eq!(claims(&agent)["iss"], TestEnv::SERVICE_ACCOUNT_ISSUER);

    let mut c = Client::connect_as(gw.addr, Some(&agent)).await;
    assert_eq!(c.tool_names().await, ["b_add", "b_sleep"]);
    assert_eq!(c.call_text("b_add", json!({"a": 2, "b": 3})).await, "5");

    let r = post(
        gw.addr,
        Some(&format!("Bearer {elsewhere}")),
        None,
        initialize(),
    )
    .await;
    assert_invalid(&r, gw.addr, "audience");

    // The API server refuses its keys to anonymous callers: without the token file the
    // gateway cannot check any token, and says so.
    let blind = gateway(&config("")).await;
    let (status, _, body) = post(
        blind.addr,
        Some(&format!("Bearer {agent}")),
        None,
        initialize(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
}

/// Key rotation without a restart, in a realm of its own (so that no other test's tokens
/// lose their key): a new signing key is added with a higher priority and the old one
/// disabled through Keycloak's admin API. The gateway has never seen the new `kid`; its
/// one rate-limited refetch finds it, so the new token is accepted, and a token of the
/// old key, gone from the key set, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_realm_key_is_used_without_a_restart() {
    use http::Method;
    let kc = keycloak().await;
    let root = admin_token(&kc).await;
    let mut realm: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/keycloak/vmcp-realm.json"
    ))
    .unwrap();
    realm["realm"] = json!("rotation");
    let (status, body) = admin(&kc, &root, Method::POST, "", Some(realm)).await;
    assert_eq!(status, 201, "creating the realm: {body}");
    let issuer = format!("{}/realms/rotation", kc.base);
    let backend = rust_backend(Behaviour::Normal).await;
    let gw = gateway(&oidc_config(&issuer, "", "", backend)).await;

    let old = token_in(&kc, "rotation", CLIENT, ALICE).await;
    let r = post(gw.addr, Some(&format!("Bearer {old}")), None, initialize()).await;
    assert_eq!(r.0, 200, "{}", r.2);
    let keys_seen = std::time::Instant::now();

    let (_, info) = admin(&kc, &root, Method::GET, "/rotation", None).await;
    let realm_id = info["id"].as_str().unwrap().to_owned();
    let (_, providers) = admin(
        &kc,
        &root,
        Method::GET,
        "/rotation/components?type=org.keycloak.keys.KeyProvider",
        None,
    )
    .await;
    let signing: Vec<Value> = providers
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["providerId"] == "rsa-generated")
        .cloned()
        .collect();
    assert!(!signing.is_empty(), "{providers}");
    let (status, body) = admin(
        &kc,
        &root,
        Method::POST,
        "/rotation/components",
        Some(json!({
            "name": "rotated",
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": {"priority": ["500"], "enabled": ["true"], "active": ["true"], "algorithm": ["RS256"]},
        })),
    )
    .await;
    assert_eq!(status, 201, "adding a key: {body}");
    for mut c in signing {
        c["config"]["enabled"] = json!(["false"]);
        c["config"]["active"] = json!(["false"]);
        let path = format!("/rotation/components/{}", c["id"].as_str().unwrap());
        let (status, body) = admin(&kc, &root, Method::PUT, &path, Some(c)).await;
        assert_eq!(status, 204, "disabling the old key: {body}");
    }

    let new = token_in(&kc, "rotation", CLIENT, ALICE).await;
    assert_ne!(kid(&new), kid(&old), "Keycloak signs with the new key");
    // The refetch for an unknown kid is allowed once per MIN_REFETCH_INTERVAL; the last
    // fetch was at the latest when the first token was checked.
    let wait = vmcp_gateway::oidc::MIN_REFETCH_INTERVAL + Duration::from_millis(500);
    if let Some(left) = wait.checked_sub(keys_seen.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let r = post(gw.addr, Some(&format!("Bearer {new}")), None, initialize()).await;
    assert_eq!(r.0, 200, "the new key is fetched: {}", r.2);
    let r = post(gw.addr, Some(&format!("Bearer {old}")), None, initialize()).await;
    assert_invalid(&r, gw.addr, "");
}

/// The official Python SDK as the caller, with Keycloak tokens in its `headers`: alice and
/// bob see their own tools under one policy set, and the SDK without a token is told 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_calls_with_a_bearer_token() {
    let kc = keycloak().await;
    let backend = rust_backend(Behaviour::Normal).await;
    let authz = concat!(
        "  authz:\n    type: cedar\n    policies:\n",
        "      - 'permit(principal in THVGroup::\"eng\", action, resource == Tool::\"b_add\");'\n",
        "      - 'permit(principal in THVGroup::\"sales\", action, resource == Tool::\"b_sleep\");'\n",
    );
    let gw = gateway(&oidc_config(&kc.issuer(), "", authz, backend)).await;
    let script = r#"
import asyncio, json, sys
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

def status_of(e):
    if isinstance(e, httpx.HTTPStatusError):
        return e.response.status_code
    for inner in getattr(e, "exceptions", []):
        s = status_of(inner)
        if s is not None:
            return s
    return None

async def as_user(url, token):
    async with streamablehttp_client(url, headers={"Authorization": "Bearer " + token}) as (r, w, _):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = [t.name for t in (await s.list_tools()).tools]
            return tools

async def main(arg):
    a = json.loads(arg)
    out = {"alice": await as_user(a["url"], a["alice"]), "bob": await as_user(a["url"], a["bob"])}
    async with streamablehttp_client(a["url"], headers={"Authorization": "Bearer " + a["alice"]}) as (r, w, _):
        async with ClientSession(r, w) as s:
            await s.initialize()
            out["sum"] = (await s.call_tool("b_add", {"a": 20, "b": 22})).content[0].text
    try:
        async with streamablehttp_client(a["url"]) as (r, w, _):
            async with ClientSession(r, w) as s:
                await asyncio.wait_for(s.initialize(), 20)
        out["anonymous"] = "served"
    except BaseException as e:
        out["anonymous"] = status_of(e) or repr(e)
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"#;
    let arg = json!({
        "url": format!("http://{}/mcp", gw.addr),
        "alice": token(&kc, CLIENT, ALICE).await,
        "bob": token(&kc, CLIENT, BOB).await,
    });
    let v = python_json(script, &arg.to_string(), Duration::from_secs(90)).await;
    assert_eq!(
        v,
        json!({"alice": ["b_add"], "bob": ["b_sleep"], "sum": "42", "anonymous": 401})
    );
}
