//! MCPOIDCConfig and MCPAuthzConfig references against a real kube-apiserver, with the
//! controllers in-process: what the gateway gets (ConfigMap, Deployment), the conditions on
//! both sides, re-renders on change, and that a reference that stops resolving never rolls
//! the gateway to a config that lets clients in unchecked.

mod common;

use common::harness::{Harness, WAIT, start};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DeleteParams, PostParams};
use vmcp_api::{MCPAuthzConfig, MCPOIDCConfig, VirtualMCPServer};
use vmcp_operator::names::CONFIG_CHECKSUM_ANNOTATION;
use vmcp_testenv::eventually;

const GROUP: &str =
    "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: team}\nspec: {}\n";

const SECRET_VALUE: &str = "live-oidc-client-secret";

fn gateway(incoming: &str) -> String {
    format!(
        "---\napiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {{name: gw}}\nspec:\n  groupRef: {{name: team}}\n  incomingAuth: {incoming}\n  outgoingAuth: {{source: discovered}}\n"
    )
}

fn provider(issuer: &str) -> String {
    format!(
        "apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPOIDCConfig
metadata: {{name: idp}}
spec:
  type: inline
  inline:
    issuer: {issuer}
    clientId: gw
    clientSecretRef: {{name: idp-client, key: secret}}
    caBundleRef: {{configMapRef: {{name: idp-ca}}}}
"
    )
}

const PROVIDER_INPUTS: &str = "apiVersion: v1
kind: Secret
metadata: {name: idp-client}
stringData: {secret: live-oidc-client-secret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: idp-ca}
data: {ca.crt: \"-----BEGIN CERTIFICATE-----\\nAAA\\n-----END CERTIFICATE-----\\n\"}
";

fn condition<'a>(conds: &'a [Condition], t: &str) -> Option<&'a Condition> {
    conds.iter().find(|c| c.type_ == t)
}

impl Harness {
    /// Waits for condition `t` of VirtualMCPServer `gw` to have `reason`; returns its message.
    async fn gw_condition(&self, t: &str, reason: &str) -> String {
        let vmcps: Api<VirtualMCPServer> = self.api();
        eventually(&format!("{t}={reason}"), WAIT, || async {
            let st = vmcps.get("gw").await.ok()?.status?;
            let c = condition(&st.conditions, t)?;
            (c.reason == reason).then(|| c.message.clone())
        })
        .await
    }

    async fn gw_config(&self) -> Option<String> {
        let cms: Api<ConfigMap> = self.api();
        cms.get_opt("gw-vmcp-config")
            .await
            .ok()??
            .data?
            .remove("config.yaml")
    }

    /// Waits until the rendered config contains `what`; returns it.
    async fn gw_config_with(&self, what: &str) -> String {
        eventually(what, WAIT, || async {
            self.gw_config().await.filter(|c| c.contains(what))
        })
        .await
    }

    async fn rollout_checksum(&self) -> String {
        let deps: Api<Deployment> = self.api();
        let d = deps.get("gw").await.expect("the gateway Deployment");
        let t = d.spec.unwrap().template;
        t.metadata.unwrap().annotations.unwrap()[CONFIG_CHECKSUM_ANNOTATION].clone()
    }
}

#[tokio::test]
async fn an_oidc_config_reference_renders_follows_changes_and_fails_closed() {
    let h = start("op-oidc").await;
    h.apply(&format!(
        "{GROUP}{}",
        gateway("{type: oidc, oidcConfigRef: {name: idp, audience: gw-api, scopes: [mcp]}}")
    ))
    .await;
    // No MCPOIDCConfig yet: ToolHive's condition, and nothing rendered at all.
    let m = h
        .gw_condition("OIDCConfigRefValidated", "OIDCConfigRefNotFound")
        .await;
    assert!(
        m.contains(&format!("MCPOIDCConfig {}/idp", h.ns)) && m.ends_with("not found"),
        "{m}"
    );
    assert!(
        h.gw_config().await.is_none(),
        "no config without its provider"
    );
    let deps: Api<Deployment> = h.api();
    assert!(deps.get_opt("gw").await.unwrap().is_none());

    // Creating it (and what it names) renders the gateway.
    h.apply(PROVIDER_INPUTS).await;
    h.apply(&provider("https://id.example.com/realms/a")).await;
    let text = h
        .gw_config_with("issuer: https://id.example.com/realms/a")
        .await;
    let cfg = vmcp_config::Config::from_yaml_str(&text).unwrap();
    assert!(cfg.validate().is_ok(), "{:?}", cfg.validate().problems);
    let oidc = cfg.incoming_auth.as_ref().unwrap().oidc.as_ref().unwrap();
    assert_eq!(oidc.audience, "gw-api");
    assert_eq!(oidc.scopes, ["mcp"]);
    assert_eq!(oidc.client_secret_env, "VMCP_OIDC_CLIENT_SECRET");
    assert_eq!(oidc.ca_bundle_path, "/etc/toolhive/ca-bundles/_oidc/ca.crt");
    assert_eq!(
        oidc.resource,
        format!("http://vmcp-gw.{}.svc.cluster.local:4483", h.ns)
    );
    assert!(!text.contains(SECRET_VALUE));
    h.gw_condition("OIDCConfigRefValidated", "OIDCConfigRefValid")
        .await;

    let d = eventually("the gateway Deployment", WAIT, || async {
        deps.get_opt("gw").await.ok()?
    })
    .await;
    let pod = d.spec.unwrap().template.spec.unwrap();
    common::assert_oidc_pod(&pod, ("idp-client", "secret"), ("idp-ca", "ca.crt"));

    // The MCPOIDCConfig's own status, and its hash on the VirtualMCPServer.
    let oidcs: Api<MCPOIDCConfig> = h.api();
    let hash = eventually("MCPOIDCConfig Valid with a hash", WAIT, || async {
        let st = oidcs.get("idp").await.ok()?.status?;
        let c = condition(&st.conditions, "Valid")?;
        (c.status == "True" && c.reason == "ConfigValid").then_some(())?;
        st.config_hash
    })
    .await;
    let vmcps: Api<VirtualMCPServer> = h.api();
    eventually("oidcConfigHash", WAIT, || async {
        let st = vmcps.get("gw").await.ok()?.status?;
        (st.oidc_config_hash.as_deref() == Some(hash.as_str())).then_some(())
    })
    .await;

    // A change to the MCPOIDCConfig re-renders: new issuer, new rollout checksum, new hash.
    let before = h.rollout_checksum().await;
    h.apply(&provider("https://id.example.com/realms/b")).await;
    h.gw_config_with("issuer: https://id.example.com/realms/b")
        .await;
    let after = eventually("a new rollout checksum", WAIT, || async {
        let now = h.rollout_checksum().await;
        (now != before).then_some(now)
    })
    .await;
    eventually("a new oidcConfigHash", WAIT, || async {
        let st = vmcps.get("gw").await.ok()?.status?;
        st.oidc_config_hash.filter(|h| *h != hash)
    })
    .await;

    // An invalid provider is named on both objects; the gateway keeps the last good config.
    h.apply(&provider("http://id.example.com/realms/c")).await;
    let m = h
        .gw_condition("OIDCConfigRefValidated", "OIDCConfigRefNotValid")
        .await;
    assert!(m.contains("spec.inline.issuer: must use https"), "{m}");
    let m = eventually("MCPOIDCConfig ConfigInvalid", WAIT, || async {
        let st = oidcs.get("idp").await.ok()?.status?;
        let c = condition(&st.conditions, "Valid")?;
        (c.reason == "ConfigInvalid").then(|| c.message.clone())
    })
    .await;
    assert!(m.starts_with("spec.inline.issuer: must use https"), "{m}");
    let text = h.gw_config().await.expect("the config is kept");
    assert!(
        text.contains("issuer: https://id.example.com/realms/b") && text.contains("type: oidc"),
        "{text}"
    );
    assert_eq!(h.rollout_checksum().await, after, "not rolled");

    // Deleted: NotFound, and still the last good config, never an anonymous one.
    oidcs.delete("idp", &DeleteParams::default()).await.unwrap();
    h.gw_condition("OIDCConfigRefValidated", "OIDCConfigRefNotFound")
        .await;
    let text = h.gw_config().await.expect("the config is kept");
    assert!(
        text.contains("issuer: https://id.example.com/realms/b"),
        "{text}"
    );
    assert_eq!(h.rollout_checksum().await, after, "not rolled");
    h.stop().await;
}

fn policies(kind: &str, policy: &str) -> String {
    format!(
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPAuthzConfig\nmetadata: {{name: shared}}\nspec:\n  type: {kind}\n  config:\n    policies: ['{policy}']\n"
    )
}

#[tokio::test]
async fn an_authz_config_reference_renders_and_follows_changes() {
    let h = start("op-authzref").await;
    h.apply(&format!(
        "{GROUP}{}",
        gateway("{type: anonymous, authzConfigRef: {name: shared}}")
    ))
    .await;
    let m = h
        .gw_condition("AuthzConfigRefValidated", "AuthzConfigRefNotFound")
        .await;
    assert!(m.contains("MCPAuthzConfig") && m.contains("/shared"), "{m}");
    assert!(h.gw_config().await.is_none());

    h.apply(&policies("cedarv1", "permit(principal, action, resource);"))
        .await;
    h.gw_config_with("permit(principal, action, resource);")
        .await;
    h.gw_condition("AuthzConfigRefValidated", "AuthzConfigRefValid")
        .await;
    h.apply(&policies("cedarv1", "forbid(principal, action, resource);"))
        .await;
    let text = h
        .gw_config_with("forbid(principal, action, resource);")
        .await;
    assert!(!text.contains("permit("), "{text}");

    // Another authorizer type is named, on the VirtualMCPServer and on the object itself.
    h.apply(&policies("httpv1", "x")).await;
    let m = h
        .gw_condition("AuthzConfigRefValidated", "AuthzConfigRefNotValid")
        .await;
    assert!(m.contains("spec.type: \"httpv1\" is not supported"), "{m}");
    let authz: Api<MCPAuthzConfig> = h.api();
    eventually("MCPAuthzConfig ConfigInvalid", WAIT, || async {
        let st = authz.get("shared").await.ok()?.status?;
        let c = condition(&st.conditions, "Valid")?;
        (c.reason == "ConfigInvalid" && c.message.contains("httpv1")).then_some(())
    })
    .await;
    assert!(
        h.gw_config()
            .await
            .unwrap()
            .contains("forbid(principal, action, resource);")
    );

    // The API server refuses inline policies beside a reference (ToolHive's CEL rule).
    let both: VirtualMCPServer = serde_yaml::from_str(&gateway(
        "{type: anonymous, authzConfigRef: {name: shared}, authzConfig: {type: inline, inline: {policies: ['permit(principal, action, resource);']}}}",
    ).replace("name: gw", "name: both")).unwrap();
    let vmcps: Api<VirtualMCPServer> = h.api();
    let err = vmcps
        .create(&PostParams::default(), &both)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("authzConfig and authzConfigRef are mutually exclusive"),
        "{err}"
    );
    h.stop().await;
}
