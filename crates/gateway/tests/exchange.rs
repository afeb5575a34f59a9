//! `token_exchange` (RFC 8693) against a real Keycloak's standard token exchange: callers
//! authenticate with their own Keycloak tokens, the gateway (confidential client
//! `vmcp-gateway`) exchanges each for a token whose audience is the backend's, and a backend
//! of the test's own records what it receives. The tokens it got are verified here against
//! Keycloak's JWKS. A counting proxy in front of the token endpoint shows how many exchanges
//! the gateway asked for, and can stand in for an endpoint that is down.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::keycloak::*;
use common::*;
use serde_json::{Value, json};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

async fn keycloak() -> Arc<Keycloak> {
    Keycloak::shared().await.expect("Keycloak starts")
}

/// What the proxy saw: the `grant_type` of every request.
type Grants = Arc<Mutex<Vec<String>>>;

/// A loopback proxy for `upstream` (Keycloak's token endpoint) that records the grant type
/// of every request and, while `down` is set, answers 503 itself.
async fn token_proxy(upstream: String) -> (String, Grants, Arc<AtomicBool>) {
    proxy_refusing(upstream, false).await
}

/// [`token_proxy`] that, with `no_client_credentials`, answers client-credentials grants
/// as Keycloak does for a client without service accounts (`unauthorized_client`).
async fn proxy_refusing(
    upstream: String,
    no_client_credentials: bool,
) -> (String, Grants, Arc<AtomicBool>) {
    let grants: Grants = Arc::default();
    let down = Arc::new(AtomicBool::new(false));
    let (g, d) = (grants.clone(), down.clone());
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let (g, d, upstream) = (g.clone(), d.clone(), upstream.clone());
            async move {
                let grant = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "grant_type")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                g.lock().unwrap().push(grant.clone());
                if d.load(Ordering::SeqCst) {
                    return (http::StatusCode::SERVICE_UNAVAILABLE, String::new());
                }
                if no_client_credentials && grant == "client_credentials" {
                    let refusal = json!({"error": "unauthorized_client",
                        "error_description": "Client not enabled to retrieve service account"});
                    return (http::StatusCode::UNAUTHORIZED, refusal.to_string());
                }
                let mut req = reqwest::Client::new()
                    .post(upstream)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
                if let Some(a) = headers.get("authorization") {
                    req = req.header("authorization", a.clone());
                }
                let resp = req.send().await.unwrap();
                let status = http::StatusCode::from_u16(resp.status().as_u16()).unwrap();
                (status, resp.text().await.unwrap())
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/token"), grants, down)
}

/// The message of a JSON-RPC error reply.
fn error_of(reply: &Value) -> String {
    reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {reply}"))
        .to_owned()
}

fn exchanges(grants: &Grants) -> usize {
    grants
        .lock()
        .unwrap()
        .iter()
        .filter(|g| *g == TOKEN_EXCHANGE)
        .count()
}

/// A gateway that checks Keycloak tokens and exchanges them for backend `b` at `token_url`
/// with `secret`; backend `plain` takes no credentials.
fn config(
    kc: &Keycloak,
    token_url: &str,
    secret: &str,
    b: std::net::SocketAddr,
    plain: std::net::SocketAddr,
) -> String {
    let (client_id, _) = GATEWAY_CLIENT;
    format!(
        r#"name: test
groupRef: g
incomingAuth:
  type: oidc
  oidc:
    issuer: "{issuer}"
    audience: {AUDIENCE}
    insecureAllowHttp: true
    jwksAllowPrivateIp: true
outgoingAuth:
  source: inline
  default: {{type: unauthenticated}}
  backends:
    b:
      type: token_exchange
      tokenExchange:
        tokenUrl: "{token_url}"
        clientId: {client_id}
        clientSecret: {secret}
        audience: {EXCHANGE_AUDIENCE}
        allowPrivateIp: true
        insecureAllowHttp: true
backends:
- {{name: b, url: "http://{b}/mcp", transport: streamable-http}}
- {{name: plain, url: "http://{plain}/mcp", transport: streamable-http}}
"#,
        issuer = kc.issuer()
    )
}

/// The claims of `token` after checking it as the backend would: signature against
/// Keycloak's JWKS, issuer, audience [`EXCHANGE_AUDIENCE`], expiry.
async fn verified(kc: &Keycloak, token: &str) -> Value {
    let url = format!("{}/protocol/openid-connect/certs", kc.issuer());
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[EXCHANGE_AUDIENCE]);
    v.set_issuer(&[kc.issuer()]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap_or_else(|e| panic!("the backend would refuse its token: {e}"))
        .claims
}

/// The distinct bearer tokens a recording backend received, in order of first arrival.
fn bearers(seen: &Recorded) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in seen.lock().unwrap().iter() {
        if let Some(t) = h
            .get("authorization")
            .and_then(|v| v.to_str().unwrap().strip_prefix("Bearer "))
            && !out.iter().any(|o| o == t)
        {
            out.push(t.to_owned());
        }
    }
    out
}

/// The backend's tokens whose `sub` is `sub`, verified.
async fn tokens_of(kc: &Keycloak, seen: &Recorded, sub: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for t in bearers(seen) {
        let c = verified(kc, &t).await;
        if &c["sub"] == sub {
            out.push(c);
        }
    }
    out
}

/// alice and bob call one backend through one gateway: it receives a token for each, made
/// by Keycloak for its own audience, with the caller as subject; repeated calls reuse the
/// cached exchange, and a new one is made once the exchanged token nears its end (the
/// `vmcp-gateway` client's tokens live 10 s). The other backend sees no credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_reaches_the_backend_with_its_own_exchanged_token_once_per_lifetime() {
    let kc = keycloak().await;
    let (proxy, grants, _) = token_proxy(kc.token_endpoint()).await;
    let (b, seen) = recording_backend().await;
    let (plain, plain_seen) = recording_backend().await;
    let gw = gateway(&config(&kc, &proxy, GATEWAY_CLIENT.1, b, plain)).await;
    let alice = token(&kc, CLIENT, ALICE).await;
    let bob = token(&kc, CLIENT, BOB).await;
    let (alice_sub, bob_sub) = (claims(&alice)["sub"].clone(), claims(&bob)["sub"].clone());

    let mut a = Client::connect_as(gw.addr, Some(&alice)).await;
    let mut names = a.tool_names().await;
    names.sort();
    assert_eq!(names, ["b_add", "b_sleep", "plain_add", "plain_sleep"]);
    for i in 0..5 {
        assert_eq!(
            a.call_text("b_add", json!({"a": i, "b": 1})).await,
            (i + 1).to_string()
        );
    }
    let mut bb = Client::connect_as(gw.addr, Some(&bob)).await;
    assert_eq!(bb.call_text("b_add", json!({"a": 2, "b": 2})).await, "4");
    assert_eq!(a.call_text("plain_add", json!({"a": 1, "b": 1})).await, "2");
    assert_eq!(exchanges(&grants), 2, "one exchange each: {grants:?}");

    let alices = tokens_of(&kc, &seen, &alice_sub).await;
    let bobs = tokens_of(&kc, &seen, &bob_sub).await;
    assert_eq!(alices.len(), 1, "alice's calls share one exchanged token");
    assert_eq!(bobs.len(), 1);
    for (c, user) in [(&alices[0], "alice"), (&bobs[0], "bob")] {
        assert_eq!(c["preferred_username"], user, "{c}");
        assert_eq!(c["azp"], GATEWAY_CLIENT.0, "made for the gateway: {c}");
    }
    // Never the caller's own token, on either backend.
    for h in seen
        .lock()
        .unwrap()
        .iter()
        .chain(plain_seen.lock().unwrap().iter())
    {
        let v = h
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            !v.contains(&alice) && !v.contains(&bob),
            "a caller's token was forwarded"
        );
    }
    assert!(
        plain_seen
            .lock()
            .unwrap()
            .iter()
            .all(|h| h.get("authorization").is_none()),
        "the unauthenticated backend got a credential"
    );

    // The exchanged token lives 10 s and is used until 1 s before its end.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(a.call_text("b_add", json!({"a": 7, "b": 1})).await, "8");
    assert_eq!(exchanges(&grants), 3, "{grants:?}");
    assert_eq!(tokens_of(&kc, &seen, &alice_sub).await.len(), 2);

    let metrics = a.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"vmcp_token_exchange_total{backend="b",result="exchange"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"vmcp_token_exchange_total{backend="b",result="hit"} 4"#),
        "{metrics}"
    );
}

/// The token endpoint down, then refusing the gateway's credentials: calls to that backend
/// get an error naming it and the token exchange; the other backend keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_endpoint_names_the_backend_and_spares_the_others() {
    let kc = keycloak().await;
    let (proxy, _, down) = token_proxy(kc.token_endpoint()).await;
    let (b, seen) = recording_backend().await;
    let (plain, _) = recording_backend().await;
    let alice = token(&kc, CLIENT, ALICE).await;

    down.store(true, Ordering::SeqCst);
    let gw = gateway(&config(&kc, &proxy, GATEWAY_CLIENT.1, b, plain)).await;
    let mut a = Client::connect_as(gw.addr, Some(&alice)).await;
    let names = a.tool_names().await;
    assert!(names.contains(&"b_add".to_owned()), "{names:?}");
    let r = error_of(
        &a.rpc(
            "tools/call",
            json!({"name": "b_add", "arguments": {"a": 1, "b": 1}}),
        )
        .await,
    );
    assert!(
        r.contains(r#"backend "b""#)
            && r.contains("token exchange failed")
            && r.contains("HTTP 503"),
        "{r}"
    );
    assert_eq!(a.call_text("plain_add", json!({"a": 1, "b": 1})).await, "2");
    // Back up: the next call (after the failure is no longer held) succeeds.
    down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(a.call_text("b_add", json!({"a": 1, "b": 1})).await, "2");
    let metrics = a.get_text("/metrics").await;
    assert!(
        metrics
            .contains(r#"vmcp_token_exchange_failures_total{backend="b",reason="unavailable"} 1"#),
        "{metrics}"
    );
    let _ = seen;

    // Wrong client secret: Keycloak refuses the gateway, which says so without the secret
    // or anything Keycloak wrote about it.
    let (b2, seen2) = recording_backend().await;
    let gw = gateway(&config(
        &kc,
        &kc.token_endpoint(),
        "not-the-secret",
        b2,
        plain,
    ))
    .await;
    let mut a = Client::connect_as(gw.addr, Some(&alice)).await;
    let r = error_of(
        &a.rpc(
            "tools/call",
            json!({"name": "b_add", "arguments": {"a": 1, "b": 1}}),
        )
        .await,
    );
    assert!(
        r.contains(r#"backend "b""#) && r.contains("refused the gateway's request"),
        "{r}"
    );
    assert!(!r.contains("not-the-secret"), "{r}");
    assert!(
        seen2
            .lock()
            .unwrap()
            .iter()
            .all(|h| h.get("authorization").is_none()),
        "no call of alice's reached the backend without its token"
    );
    assert_eq!(a.call_text("plain_add", json!({"a": 2, "b": 1})).await, "3");
}

/// A user of the test's own: created through the admin API with `password`, so revoking its
/// sessions touches no other test's users. Returns its id.
async fn new_user(kc: &Keycloak, root: &str, name: &str, password: &str) -> String {
    use http::Method;
    let body = json!({
        "username": name, "enabled": true, "email": format!("{name}@example.com"),
        "emailVerified": true, "firstName": name, "lastName": "Test",
        "credentials": [{"type": "password", "value": password, "temporary": false}]
    });
    let path = format!("/{REALM}/users");
    let (status, reply) = admin(kc, root, Method::POST, &path, Some(body)).await;
    assert_eq!(status, 201, "creating user {name}: {reply}");
    let (_, found) = admin(
        kc,
        root,
        Method::GET,
        &format!("{path}?username={name}&exact=true"),
        None,
    )
    .await;
    found[0]["id"].as_str().unwrap().to_owned()
}

/// A token the gateway still accepts (signature and expiry are fine) whose Keycloak session
/// was revoked: the token endpoint refuses to exchange it (RFC 8693 `invalid_request`, once
/// bob's exchange has shown the gateway's request is well formed), and the caller is told to
/// authenticate again with HTTP 401 and an `invalid_token` challenge, not a backend failure.
/// The other backend still serves the same token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_caller_token_is_answered_401_with_a_challenge() {
    use http::Method;
    let kc = keycloak().await;
    let root = admin_token(&kc).await;
    let name = format!("revoked-{}", std::process::id());
    let password = "revoked-password";
    let id = new_user(&kc, &root, &name, password).await;
    let user = token(&kc, CLIENT, (&name, password)).await;
    let (b, seen) = recording_backend().await;
    let (plain, _) = recording_backend().await;
    let gw = gateway(&config(
        &kc,
        &kc.token_endpoint(),
        GATEWAY_CLIENT.1,
        b,
        plain,
    ))
    .await;
    let bob = token(&kc, CLIENT, BOB).await;
    let mut b_client = Client::connect_as(gw.addr, Some(&bob)).await;
    assert_eq!(
        b_client.call_text("b_add", json!({"a": 1, "b": 2})).await,
        "3"
    );
    seen.lock().unwrap().clear();
    let mut c = Client::connect_as(gw.addr, Some(&user)).await;
    assert!(c.tool_names().await.contains(&"b_add".to_owned()));

    let (status, _) = admin(
        &kc,
        &root,
        Method::POST,
        &format!("/{REALM}/users/{id}/logout"),
        None,
    )
    .await;
    assert_eq!(status, 204, "logging {name} out");
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "b_add", "arguments": {"a": 1, "b": 1}}});
    let r = c.send(body.to_string()).await.unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    let challenge = r
        .headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ")
            && challenge.contains(r#"error="invalid_token""#)
            && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    let reply: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(reply["id"], 7, "{reply}");
    let msg = error_of(&reply);
    assert!(
        msg.contains(r#"backend "b""#) && msg.contains("authenticate again"),
        "{msg}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|h| h.get("authorization").is_none()),
        "nothing reached the backend without an exchanged token"
    );
    assert_eq!(c.call_text("plain_add", json!({"a": 2, "b": 2})).await, "4");
    let metrics = c.get_text("/metrics").await;
    assert!(
        metrics.contains(
            r#"vmcp_token_exchange_failures_total{backend="b",reason="subject_refused"} 1"#
        ),
        "{metrics}"
    );
}

/// A backend that answers only users, and a gateway that has no token of its own for it
/// (its client gets no client-credentials token): the backend is healthy and marked as
/// needing a user token in /status, not failing; the first authenticated caller's list
/// fetches its tools, which every caller then sees, and each caller's call carries its own
/// exchanged token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_answers_only_users_is_listed_from_the_first_callers_view() {
    let kc = keycloak().await;
    let (proxy, _, _) = proxy_refusing(kc.token_endpoint(), true).await;
    let (b, seen) = recording_backend_requiring(Some("authorization")).await;
    let (plain, _) = recording_backend().await;
    let gw = gateway(&config(&kc, &proxy, GATEWAY_CLIENT.1, b, plain)).await;
    let status_of = |s: &Value| {
        s["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "b")
            .cloned()
            .unwrap()
    };
    let alice = token(&kc, CLIENT, ALICE).await;
    let mut a = Client::connect_as(gw.addr, Some(&alice)).await;
    let before = status_of(&a.get_json("/status").await);
    assert_eq!(before["health"], "healthy", "{before}");
    assert_eq!(before["needsUserToken"], true, "{before}");
    assert!(before["capabilityError"].is_null(), "{before}");
    assert!(before["lastError"].is_null(), "{before}");

    let names = a.tool_names().await;
    assert!(
        names.contains(&"b_add".to_owned()) && names.contains(&"plain_add".to_owned()),
        "{names:?}"
    );
    assert_eq!(a.call_text("b_add", json!({"a": 1, "b": 1})).await, "2");
    let bob = token(&kc, CLIENT, BOB).await;
    let mut bc = Client::connect_as(gw.addr, Some(&bob)).await;
    assert!(bc.tool_names().await.contains(&"b_add".to_owned()));
    assert_eq!(bc.call_text("b_add", json!({"a": 2, "b": 1})).await, "3");

    let after = status_of(&a.get_json("/status").await);
    assert_eq!(after["health"], "healthy", "{after}");
    assert!(after["tools"].as_u64().unwrap() >= 2, "{after}");
    let alice_sub = claims(&alice)["sub"].clone();
    let bob_sub = claims(&bob)["sub"].clone();
    assert!(!tokens_of(&kc, &seen, &alice_sub).await.is_empty());
    assert!(!tokens_of(&kc, &seen, &bob_sub).await.is_empty());
}
