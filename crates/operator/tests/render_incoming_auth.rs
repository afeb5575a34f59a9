//! The pure render of client authentication from shared configs: an MCPOIDCConfig behind
//! `incomingAuth.oidcConfigRef` and an MCPAuthzConfig behind `incomingAuth.authzConfigRef`,
//! in static and dynamic mode, and every way a reference can fail (closed).

mod common;

use common::{GROUP, assert_oidc_pod, cond, config_roundtrip, render_yaml, world_from_yaml};
use k8s_openapi::api::core::v1::PodSpec;
use vmcp_config::IncomingAuthType;
use vmcp_core::world::{ObjKey, kinds};
use vmcp_operator::names::CONFIG_CHECKSUM_ANNOTATION;
use vmcp_operator::render::{Rendered, Settings, render_virtual_server};

const SECRET_VALUE: &str = "oidc-client-secret-never-rendered";

const PROVIDER: &str = r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPOIDCConfig
metadata: {name: corp-idp, namespace: default}
spec:
  type: inline
  inline:
    issuer: https://id.example.com/realms/corp
    clientId: eng-gateway
    clientSecretRef: {name: idp-client, key: secret}
    caBundleRef: {configMapRef: {name: idp-ca, key: idp.pem}}
    jwksAllowPrivateIP: true
"#;

fn world(source: &str, incoming: &str, extra: &str) -> String {
    format!(
        r#"{GROUP}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPRemoteProxy
metadata: {{name: jira, namespace: default}}
spec: {{remoteUrl: "https://jira.example.com/mcp", groupRef: {{name: team}}}}
status: {{url: "http://mcp-jira-remote-proxy.default.svc.cluster.local:8080"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: idp-client, namespace: default}}
stringData: {{secret: {SECRET_VALUE}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: idp-ca, namespace: default}}
data: {{idp.pem: "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {{name: eng, namespace: default}}
spec:
  groupRef: {{name: team}}
  incomingAuth: {incoming}
  outgoingAuth: {{source: {source}}}
---
{extra}"#
    )
}

const OIDC_REF: &str =
    "{type: oidc, oidcConfigRef: {name: corp-idp, audience: eng-gateway, scopes: [mcp:tools]}}";

fn pod(r: &Rendered) -> &PodSpec {
    let d = &r.objects.as_ref().expect("rendered").deployment;
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn checksum(r: &Rendered) -> String {
    let d = &r.objects.as_ref().expect("rendered").deployment;
    let meta = d.spec.as_ref().unwrap().template.metadata.as_ref().unwrap();
    meta.annotations.as_ref().unwrap()[CONFIG_CHECKSUM_ANNOTATION].clone()
}

fn config_text(r: &Rendered) -> String {
    r.objects
        .as_ref()
        .expect("rendered")
        .config_map
        .data
        .as_ref()
        .unwrap()["config.yaml"]
        .clone()
}

#[test]
fn an_inline_provider_renders_the_oidc_block_the_secret_env_and_the_ca_mount_in_both_modes() {
    for source in ["inline", "discovered"] {
        let (r, _) = render_yaml(&world(source, OIDC_REF, PROVIDER));
        let cfg = config_roundtrip(&r);
        let auth = cfg.incoming_auth.as_ref().unwrap();
        assert_eq!(auth.auth_type, Some(IncomingAuthType::Oidc), "{source}");
        let text = config_text(&r);
        let oidc_yaml = &text[text.find("  oidc:").expect("an oidc block")..];
        let want = "  oidc:
    issuer: https://id.example.com/realms/corp
    clientId: eng-gateway
    clientSecretEnv: VMCP_OIDC_CLIENT_SECRET
    audience: eng-gateway
    resource: http://vmcp-eng.default.svc.cluster.local:4483
    scopes:
    - mcp:tools
    jwksAllowPrivateIp: true
    caBundlePath: /etc/toolhive/ca-bundles/_oidc/idp.pem
";
        assert!(oidc_yaml.starts_with(want), "{source}:\n{oidc_yaml}");
        assert!(!text.contains(SECRET_VALUE));

        assert_oidc_pod(pod(&r), ("idp-client", "secret"), ("idp-ca", "idp.pem"));

        let c = cond(&r, "OIDCConfigRefValidated");
        assert_eq!((c.ok, c.reason.as_str()), (true, "OIDCConfigRefValid"));
        assert_eq!(
            r.status.oidc_config_hash.as_ref().map(String::len),
            Some(16)
        );
        for dep in [
            ObjKey::new(kinds::OIDC_CONFIG, "default", "corp-idp"),
            ObjKey::new(kinds::SECRET, "default", "idp-client"),
            ObjKey::new(kinds::CONFIG_MAP, "default", "idp-ca"),
        ] {
            assert!(r.dependencies.contains(&dep), "{source}: {dep:?}");
        }
    }
}

#[test]
fn a_service_account_provider_names_the_issuers_keys_and_the_pods_token() {
    let provider = "apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPOIDCConfig
metadata: {name: corp-idp, namespace: default}
spec:
  type: kubernetesServiceAccount
  kubernetesServiceAccount: {serviceAccount: caller}
";
    let (r, _) = render_yaml(&world(
        "discovered",
        "{type: oidc, oidcConfigRef: {name: corp-idp, audience: eng, resourceUrl: 'https://mcp.example.com/eng'}}",
        provider,
    ));
    let text = config_text(&r);
    let oidc_yaml = &text[text.find("  oidc:").expect("an oidc block")..];
    let want = "  oidc:
    issuer: https://kubernetes.default.svc
    audience: eng
    resource: https://mcp.example.com/eng
    jwksUrl: https://kubernetes.default.svc/openid/v1/jwks
    jwksAllowPrivateIp: true
    caBundlePath: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    jwksAuthTokenPath: /var/run/secrets/kubernetes.io/serviceaccount/token
";
    assert!(oidc_yaml.starts_with(want), "{oidc_yaml}");
    let p = pod(&r);
    assert!(
        !p.containers[0]
            .env
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e.name == "VMCP_OIDC_CLIENT_SECRET")
    );
    assert!(
        !p.volumes
            .as_ref()
            .unwrap()
            .iter()
            .any(|v| v.name == "oidc-ca-bundle")
    );
}

#[test]
fn a_changed_provider_changes_the_config_and_rolls_the_pods() {
    let (a, _) = render_yaml(&world("inline", OIDC_REF, PROVIDER));
    let (b, _) = render_yaml(&world(
        "inline",
        OIDC_REF,
        &PROVIDER.replace("realms/corp", "realms/staff"),
    ));
    assert!(config_text(&b).contains("issuer: https://id.example.com/realms/staff"));
    assert_ne!(checksum(&a), checksum(&b));
    assert_ne!(a.status.oidc_config_hash, b.status.oidc_config_hash);
    // A new CA bundle rolls them too (the gateway reads it at start).
    let (c, _) = render_yaml(&world("inline", OIDC_REF, PROVIDER).replace("AAA", "BBB"));
    assert_eq!(config_text(&a), config_text(&c));
    assert_ne!(checksum(&a), checksum(&c));
}

#[test]
fn a_provider_that_does_not_resolve_stops_the_render_naming_it() {
    let (r, _) = render_yaml(&world("inline", OIDC_REF, ""));
    assert!(r.objects.is_none(), "never a fail-open config");
    let c = cond(&r, "OIDCConfigRefValidated");
    assert_eq!((c.ok, c.reason.as_str()), (false, "OIDCConfigRefNotFound"));
    assert_eq!(
        c.message,
        "MCPOIDCConfig default/corp-idp referenced by spec.incomingAuth.oidcConfigRef not found"
    );
    assert!(!cond(&r, "Ready").ok);
    assert!(
        r.dependencies
            .contains(&ObjKey::new(kinds::OIDC_CONFIG, "default", "corp-idp"))
    );

    for (change, field) in [
        (
            ("https://id.example.com", "http://id.example.com"),
            "spec.inline.issuer: must use https",
        ),
        (
            ("name: idp-client", "name: gone"),
            "spec.inline.clientSecretRef: Secret default/gone not found",
        ),
        (
            ("key: secret", "key: other"),
            "spec.inline.clientSecretRef: Secret default/idp-client has no key \"other\"",
        ),
        (
            ("name: idp-ca", "name: no-ca"),
            "spec.inline.caBundleRef: ConfigMap default/no-ca not found",
        ),
    ] {
        let (r, _) = render_yaml(&world(
            "discovered",
            OIDC_REF,
            &PROVIDER.replace(change.0, change.1),
        ));
        assert!(r.objects.is_none(), "{field}");
        let c = cond(&r, "OIDCConfigRefValidated");
        assert_eq!(c.reason, "OIDCConfigRefNotValid", "{field}");
        assert!(
            c.message
                .starts_with("MCPOIDCConfig default/corp-idp is not valid: ")
                && c.message.contains(field),
            "{field}: {}",
            c.message
        );
        assert!(!c.message.contains(SECRET_VALUE));
    }
}

/// Renders a VirtualMCPServer that bypasses admission (the API server's CEL rule requires an
/// oidcConfigRef with type oidc, so only objects stored before that rule look like this).
fn render_unadmitted(vmcp_yaml: &str) -> Rendered {
    let (world, _) = world_from_yaml(&world("discovered", "{type: anonymous}", ""));
    let vmcp: vmcp_api::VirtualMCPServer = serde_yaml::from_str(vmcp_yaml).unwrap();
    render_virtual_server(&vmcp, &world, &Settings::default())
}

#[test]
fn type_oidc_needs_a_provider_from_a_reference_or_the_config() {
    let base = "apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {name: eng, namespace: default}
spec:
  groupRef: {name: team}
  incomingAuth: {type: oidc}
";
    let r = render_unadmitted(base);
    assert!(r.objects.is_none());
    let v = cond(&r, "Valid");
    assert!(
        !v.ok
            && v.message
                .contains("spec.incomingAuth.oidcConfigRef is required when type is oidc"),
        "{}",
        v.message
    );

    // The older shape: the provider written into spec.config.incomingAuth.oidc.
    let r = render_unadmitted(&format!(
        "{base}  config:\n    incomingAuth:\n      type: oidc\n      oidc: {{issuer: 'https://id.example.com', audience: eng}}\n"
    ));
    let cfg = config_roundtrip(&r);
    let oidc = cfg.incoming_auth.as_ref().unwrap().oidc.as_ref().unwrap();
    assert_eq!(
        (oidc.issuer.as_str(), oidc.audience.as_str()),
        ("https://id.example.com", "eng")
    );
    assert_eq!(
        oidc.resource,
        "http://vmcp-eng.default.svc.cluster.local:4483"
    );
    assert!(
        cond(&r, "Valid")
            .message
            .contains("spec.config.incomingAuth.oidc is used as written")
    );
    // ... checked like any other config: an http issuer is named by its field.
    let r = render_unadmitted(&format!(
        "{base}  config:\n    incomingAuth:\n      type: oidc\n      oidc: {{issuer: 'http://id.example.com', audience: eng}}\n"
    ));
    assert!(r.objects.is_none());
    assert!(
        cond(&r, "Valid")
            .message
            .contains("spec.config.incomingAuth.oidc.issuer (as rendered): must use https"),
        "{}",
        cond(&r, "Valid").message
    );
}

const AUTHZ: &str = r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPAuthzConfig
metadata: {name: shared-policies, namespace: default}
spec:
  type: cedarv1
  config:
    policies:
      - 'permit(principal, action == Action::"call_tool", resource);'
    entities_json: "[]"
    group_claim_name: groups
"#;

#[test]
fn a_shared_cedar_config_renders_its_policies_and_other_types_are_named() {
    for source in ["inline", "discovered"] {
        let (r, _) = render_yaml(&world(
            source,
            "{type: anonymous, authzConfigRef: {name: shared-policies}}",
            AUTHZ,
        ));
        let cfg = config_roundtrip(&r);
        let authz = cfg.incoming_auth.as_ref().unwrap().authz.as_ref().unwrap();
        assert_eq!(authz.authz_type, Some(vmcp_config::AuthzType::Cedar));
        assert_eq!(
            authz.policies,
            [r#"permit(principal, action == Action::"call_tool", resource);"#]
        );
        assert_eq!(authz.group_claim_name, "groups");
        let c = cond(&r, "AuthzConfigRefValidated");
        assert_eq!((c.ok, c.reason.as_str()), (true, "AuthzConfigRefValid"));
        assert!(r.status.authz_config_hash.is_some());
        assert!(r.dependencies.contains(&ObjKey::new(
            kinds::AUTHZ_CONFIG,
            "default",
            "shared-policies"
        )));
    }
    // With OIDC too: both blocks, from both references.
    let (r, _) = render_yaml(&world(
        "inline",
        "{type: oidc, oidcConfigRef: {name: corp-idp, audience: eng}, authzConfigRef: {name: shared-policies}}",
        &format!("{PROVIDER}---\n{AUTHZ}"),
    ));
    let cfg = config_roundtrip(&r);
    let auth = cfg.incoming_auth.as_ref().unwrap();
    assert!(auth.oidc.is_some() && auth.authz.is_some());

    let (a, _) = render_yaml(&world(
        "inline",
        "{type: anonymous, authzConfigRef: {name: shared-policies}}",
        AUTHZ,
    ));
    let (b, _) = render_yaml(&world(
        "inline",
        "{type: anonymous, authzConfigRef: {name: shared-policies}}",
        &AUTHZ.replace("call_tool", "list_tools"),
    ));
    assert_ne!(config_text(&a), config_text(&b));
    assert_ne!(checksum(&a), checksum(&b));

    for (spec, want) in [
        (
            AUTHZ.replace("cedarv1", "httpv1"),
            "spec.type: \"httpv1\" is not supported for a VirtualMCPServer; only cedarv1 is",
        ),
        (
            AUTHZ.replace("resource);", "resource"),
            "spec.config.policies[0]: ",
        ),
        (
            AUTHZ.replace("\"[]\"", "\"{}\""),
            "spec.config.entities_json: must be a JSON array",
        ),
    ] {
        let (r, _) = render_yaml(&world(
            "inline",
            "{type: anonymous, authzConfigRef: {name: shared-policies}}",
            &spec,
        ));
        assert!(r.objects.is_none(), "{want}");
        let c = cond(&r, "AuthzConfigRefValidated");
        assert_eq!(c.reason, "AuthzConfigRefNotValid");
        assert!(
            c.message
                .starts_with("MCPAuthzConfig default/shared-policies is not valid: ")
                && c.message.contains(want),
            "{want}: {}",
            c.message
        );
    }
}
