//! Client authentication through the operator, as real processes: an MCPOIDCConfig naming a
//! real Keycloak, a VirtualMCPServer referencing it with one Cedar policy set, an
//! MCPServerEntry of server-everything. `vmcp operator` renders the `incomingAuth.oidc` block;
//! `vmcp serve` started on the rendered file checks Keycloak's tokens, and two users of
//! different groups see and may call different tools. A client without a token is told 401.

mod common;

use std::time::Duration;

use common::{
    Client, apply, apply_group, entry, free_port, rendered_config, scratch, server_everything,
    start_gateway, start_operator, wait_listening,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde_json::json;
use vmcp_test_support::keycloak::{AUDIENCE, CLIENT, Keycloak};
use vmcp_test_support::oidc::{ALICE, BOB, token};
use vmcp_testenv::TestEnv;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keycloak_users_under_one_policy_through_the_operator() {
    let (env, kc) = tokio::join!(TestEnv::shared(), Keycloak::shared());
    let (env, kc) = (env.expect("test apiserver"), kc.expect("Keycloak"));
    env.install_crds().await.expect("CRDs");
    let ns = env.namespace("e2e-oidc").await.expect("namespace");
    let client = env.client().expect("client");
    let dir = scratch("e2e-oidc");
    let (_ev, ev_port) = server_everything().await;
    let (_operator, op_log) = start_operator(env.kubeconfig_path(), &ns, &dir);

    apply_group(&client, &ns).await;
    apply(
        &client,
        &ns,
        entry("alpha", &format!("http://127.0.0.1:{ev_port}/mcp")),
    )
    .await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPOIDCConfig",
            "metadata": {"name": "keycloak"},
            "spec": {"type": "inline", "inline": {"issuer": kc.issuer(),
                "insecureAllowHTTP": true, "jwksAllowPrivateIP": true}}}),
    )
    .await;
    apply(
        &client,
        &ns,
        json!({"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
            "metadata": {"name": "gw"},
            "spec": {"groupRef": {"name": "team"},
                "outgoingAuth": {"source": "inline"},
                "incomingAuth": {"type": "oidc",
                    "oidcConfigRef": {"name": "keycloak", "audience": AUDIENCE},
                    "authzConfig": {"type": "inline", "inline": {"policies": [
                        "permit(principal in THVGroup::\"eng\", action, resource == Tool::\"alpha_echo\");",
                        "permit(principal in THVGroup::\"sales\", action, resource == Tool::\"alpha_get-sum\");",
                    ]}}}}}),
    )
    .await;

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + WAIT;
    let yaml = loop {
        if let Some(y) = rendered_config(&cms)
            .await
            .filter(|y| y.contains("alpha") && y.contains("type: oidc"))
        {
            break y;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rendered config with the oidc block; operator log:\n{}\n{}",
            std::fs::read_to_string(&op_log).unwrap_or_default(),
            std::fs::read_to_string(dir.join("operator.err")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(yaml.contains(&format!("issuer: {}", kc.issuer())), "{yaml}");
    assert!(yaml.contains(&format!("audience: {AUDIENCE}")), "{yaml}");
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, &yaml).unwrap();

    let port = free_port();
    let gw_log = dir.join("gateway.log");
    let _gateway = start_gateway(&cfg, port, &ns, env.kubeconfig_path(), &gw_log);
    wait_listening(port).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    let alice = token(&kc, CLIENT, ALICE).await;
    let bob = token(&kc, CLIENT, BOB).await;
    let mut a = Client::connect_as(addr, Some(&alice)).await;
    let mut b = Client::connect_as(addr, Some(&bob)).await;
    let mut seen = (Vec::new(), Vec::new());
    for _ in 0..300 {
        seen = (a.tool_names().await, b.tool_names().await);
        if !seen.0.is_empty() && !seen.1.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        (
            vec!["alpha_echo".to_owned()],
            vec!["alpha_get-sum".to_owned()]
        ),
        "gateway log:\n{}",
        std::fs::read_to_string(&gw_log).unwrap_or_default()
    );
    assert_eq!(
        a.call_text("alpha_echo", json!({"message": "hi"})).await,
        "Echo: hi"
    );
    let (status, _) = b
        .rpc_status(
            9,
            "tools/call",
            json!({"name": "alpha_echo", "arguments": {"message": "hi"}}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = Client::new(addr)
        .rpc_status(1, "tools/list", json!({}))
        .await;
    assert_eq!(status, 401);
}
