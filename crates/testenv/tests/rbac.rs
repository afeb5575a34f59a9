//! RBAC is enforced for a ServiceAccount's real token: a Role without a
//! resource denies it, adding the rule allows it, removing it denies again.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use vmcp_testenv::{TestEnv, can_list, rule, wait_for_list_access};

const RBAC_PROPAGATION: Duration = Duration::from_secs(30);

#[tokio::test]
async fn service_account_list_is_governed_by_its_role() {
    let env = TestEnv::shared().await.unwrap();
    let ns = env.namespace("rbac").await.unwrap();

    // The Role grants something, just not configmaps.
    env.bind_role(
        &ns,
        "reader",
        "reader",
        vec![rule("", &["secrets"], &["list"])],
    )
    .await
    .unwrap();
    let client = env.service_account_client(&ns, "reader").await.unwrap();
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    let secrets = Api::<Secret>::namespaced(client, &ns);

    // The token authenticates (a 401 would be an error, not `false`) and
    // the granted resource becomes listable ...
    wait_for_list_access(&secrets, true, RBAC_PROPAGATION)
        .await
        .unwrap();
    // ... while the missing one is a 403.
    assert!(
        !can_list(&config_maps).await.unwrap(),
        "configmaps must be denied"
    );

    env.bind_role(
        &ns,
        "reader",
        "reader",
        vec![rule("", &["secrets", "configmaps"], &["list"])],
    )
    .await
    .unwrap();
    wait_for_list_access(&config_maps, true, RBAC_PROPAGATION)
        .await
        .unwrap();

    // Server-side apply replaced the rule set, so dropping the rule revokes.
    env.bind_role(
        &ns,
        "reader",
        "reader",
        vec![rule("", &["secrets"], &["list"])],
    )
    .await
    .unwrap();
    wait_for_list_access(&config_maps, false, RBAC_PROPAGATION)
        .await
        .unwrap();
}

#[tokio::test]
async fn service_account_is_confined_to_its_namespace() {
    let env = TestEnv::shared().await.unwrap();
    let home = env.namespace("rbac-home").await.unwrap();
    let other = env.namespace("rbac-other").await.unwrap();
    env.bind_role(
        &home,
        "worker",
        "worker",
        vec![rule("", &["configmaps"], &["list"])],
    )
    .await
    .unwrap();
    let client = env.service_account_client(&home, "worker").await.unwrap();

    wait_for_list_access(
        &Api::<ConfigMap>::namespaced(client.clone(), &home),
        true,
        RBAC_PROPAGATION,
    )
    .await
    .unwrap();
    assert!(
        !can_list(&Api::<ConfigMap>::namespaced(client, &other))
            .await
            .unwrap()
    );
}
