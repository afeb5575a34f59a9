//! `spec.incomingAuth.oidcConfigRef` → the gateway config's `incomingAuth.oidc`.
//!
//! The MCPOIDCConfig holds what several gateways share (issuer, keys, client, CA); the
//! reference holds what is one gateway's own (audience, scopes, resource URL). Both are
//! resolved here, purely, into the one config type the gateway reads, plus what the pod needs
//! beside it: the client secret as an environment variable from a `secretKeyRef` (never in
//! the ConfigMap) and the issuer's CA bundle as a mounted ConfigMap.
//!
//! Fail closed: a reference that does not resolve stops the render, so a running gateway keeps
//! its previous configuration and is never rolled to one that lets clients in unchecked.

use k8s_openapi::api::core::v1::EnvVar;
use vmcp_api::VirtualMCPServer;
use vmcp_api::oidc_config::{
    DEFAULT_K8S_ISSUER, K8S_CA_BUNDLE_PATH, K8S_TOKEN_PATH, MCPOIDCConfigSpec, OIDCSourceType,
};
use vmcp_api::refs::SecretKeyRef;
use vmcp_api::virtual_server::OIDCConfigRef;
use vmcp_config::{CA_BUNDLE_ROOT, Config, IncomingAuth, IncomingAuthType, OidcConfig, Severity};
use vmcp_core::world::World;

use super::{FileCa, RefProblem, spec_hash as config_hash};
use crate::names;

/// The variable the gateway reads the client secret from (ToolHive's name).
pub const CLIENT_SECRET_ENV: &str = "VMCP_OIDC_CLIENT_SECRET";
/// Where the issuer's CA bundle is mounted: under the one CA root, in a directory whose
/// leading `_` no MCPServerEntry name can have (they are DNS subdomains), so it never meets an
/// entry's `<root>/<entry>` mount.
pub const CA_DIR_NAME: &str = "_oidc";
/// The pod volume of that bundle (entries' volumes are `ca-bundle-*`).
pub const CA_VOLUME: &str = "oidc-ca-bundle";

/// ToolHive's condition on the VirtualMCPServer, and its reasons.
pub const CONDITION: &str = "OIDCConfigRefValidated";
pub const REASON_VALID: &str = "OIDCConfigRefValid";
pub const REASON_NOT_FOUND: &str = "OIDCConfigRefNotFound";
pub const REASON_NOT_VALID: &str = "OIDCConfigRefNotValid";

/// A resolved reference: the gateway's `incomingAuth.oidc` and what the pod needs for it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedOidc {
    pub config_name: String,
    pub oidc: OidcConfig,
    /// `VMCP_OIDC_CLIENT_SECRET` from the Secret, when the provider has a client secret.
    pub env: Option<EnvVar>,
    pub ca: Option<FileCa>,
    /// The MCPOIDCConfig's spec hash, copied into `status.oidcConfigHash`.
    pub hash: String,
}

/// The provider's share of the gateway's `oidc` block (no audience, scopes or resource yet),
/// with the Secret and CA ConfigMap it names.
struct Shared {
    oidc: OidcConfig,
    secret: Option<SecretKeyRef>,
    ca: Option<(String, String)>,
}

fn shared(spec: &MCPOIDCConfigSpec) -> Result<Shared, Vec<String>> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    match spec.source_type {
        OIDCSourceType::KubernetesServiceAccount => {
            if spec.inline.is_some() {
                return Err(vec![
                    "spec.inline must not be set when type is kubernetesServiceAccount".into(),
                ]);
            }
            // An absent sub-object is the all-defaults one, as in ToolHive.
            let k = spec.kubernetes_service_account.clone().unwrap_or_default();
            let issuer = match k.issuer.trim() {
                "" => DEFAULT_K8S_ISSUER.to_string(),
                _ => k.issuer.clone(),
            };
            // The gateway sends the token file only to the origins its config names, and the
            // API server's discovery document names its advertised address, not
            // kubernetes.default.svc: name the key set at the issuer itself.
            let jwks_url = k
                .jwks_url
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| format!("{}/openid/v1/jwks", issuer.trim_end_matches('/')));
            let cluster = k.use_cluster_auth.unwrap_or(true);
            let oidc = OidcConfig {
                issuer,
                jwks_url,
                introspection_url: text(&k.introspection_url),
                ca_bundle_path: if cluster {
                    K8S_CA_BUNDLE_PATH.into()
                } else {
                    String::new()
                },
                jwks_auth_token_path: if cluster {
                    K8S_TOKEN_PATH.into()
                } else {
                    String::new()
                },
                // The API server sits on a cluster address.
                jwks_allow_private_ip: cluster,
                ..OidcConfig::default()
            };
            Ok(Shared {
                oidc,
                secret: None,
                ca: None,
            })
        }
        OIDCSourceType::Inline => {
            if spec.kubernetes_service_account.is_some() {
                return Err(vec![
                    "spec.kubernetesServiceAccount must not be set when type is inline".into(),
                ]);
            }
            let Some(i) = &spec.inline else {
                return Err(vec!["spec.inline is required when type is inline".into()]);
            };
            let mut problems = Vec::new();
            if let Some(s) = &i.client_secret_ref
                && (s.name.is_empty() || s.key.is_empty())
            {
                problems.push("spec.inline.clientSecretRef: name and key are required".into());
            }
            let ca = match i.ca_bundle_ref.as_ref() {
                None => None,
                Some(c) => match c.config_map_ref.as_ref().filter(|r| !r.name.is_empty()) {
                    Some(r) => Some((r.name.clone(), r.key_or_default().to_string())),
                    None => {
                        problems
                            .push("spec.inline.caBundleRef.configMapRef.name is required".into());
                        None
                    }
                },
            };
            let oidc = OidcConfig {
                issuer: i.issuer.clone(),
                client_id: text(&i.client_id),
                client_secret_env: if i.client_secret_ref.is_some() {
                    CLIENT_SECRET_ENV.into()
                } else {
                    String::new()
                },
                jwks_url: text(&i.jwks_url),
                introspection_url: text(&i.introspection_url),
                ca_bundle_path: ca
                    .as_ref()
                    .map(|(_, key)| format!("{CA_BUNDLE_ROOT}/{CA_DIR_NAME}/{key}"))
                    .unwrap_or_default(),
                jwks_auth_token_path: text(&i.jwks_auth_token_path),
                jwks_allow_private_ip: i.jwks_allow_private_ip,
                protected_resource_allow_private_ip: i.protected_resource_allow_private_ip,
                insecure_allow_http: i.insecure_allow_http,
                ..OidcConfig::default()
            };
            if problems.is_empty() {
                Ok(Shared {
                    oidc,
                    secret: i.client_secret_ref.clone(),
                    ca,
                })
            } else {
                Err(problems)
            }
        }
    }
}

/// The spec field of the MCPOIDCConfig a gateway config key comes from.
fn spec_field(source: OIDCSourceType, key: &str) -> String {
    let section = match source {
        OIDCSourceType::Inline => "inline",
        OIDCSourceType::KubernetesServiceAccount => "kubernetesServiceAccount",
    };
    let key = match key {
        "insecureAllowHttp" => "insecureAllowHTTP",
        "jwksAllowPrivateIp" => "jwksAllowPrivateIP",
        "protectedResourceAllowPrivateIp" => "protectedResourceAllowPrivateIP",
        other => other,
    };
    format!("spec.{section}.{key}")
}

/// Every problem of an MCPOIDCConfig on its own (its `Valid` condition), each naming its spec
/// field. The settings go through the gateway's own validator, so a provider the gateway
/// would refuse to start with is refused here.
pub fn check_config(spec: &MCPOIDCConfigSpec) -> Vec<String> {
    let shared = match shared(spec) {
        Ok(s) => s,
        Err(problems) => return problems,
    };
    let mut oidc = shared.oidc;
    // The audience is each gateway's own; stand in for it to check the rest.
    oidc.audience = "audience".into();
    let config = Config {
        name: "check".into(),
        group_ref: "check".into(),
        incoming_auth: Some(IncomingAuth {
            auth_type: Some(IncomingAuthType::Oidc),
            oidc: Some(oidc),
            authz: None,
        }),
        ..Config::default()
    };
    config
        .validate()
        .problems
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .filter_map(|p| {
            let key = p.path.strip_prefix("incomingAuth.oidc.")?;
            Some(format!(
                "{}: {}",
                spec_field(spec.source_type, key),
                p.message
            ))
        })
        .collect()
}

/// Resolves the VirtualMCPServer's reference against its world: `None` without one.
pub fn resolve(vmcp: &VirtualMCPServer, world: &World) -> Option<Result<ResolvedOidc, RefProblem>> {
    let r = vmcp.spec.incoming_auth.oidc_config_ref.as_ref()?;
    let name = vmcp.metadata.name.clone().unwrap_or_default();
    Some(resolve_ref(r, &name, world))
}

fn resolve_ref(r: &OIDCConfigRef, vmcp: &str, world: &World) -> Result<ResolvedOidc, RefProblem> {
    let ns = &world.namespace;
    let cfg_name = &r.name;
    let not_valid = |what: String| RefProblem {
        reason: REASON_NOT_VALID,
        message: format!("MCPOIDCConfig {ns}/{cfg_name} is not valid: {what}"),
    };
    let Some(cfg) = world.oidc_configs.get(cfg_name) else {
        return Err(RefProblem {
            reason: REASON_NOT_FOUND,
            message: format!(
                "MCPOIDCConfig {ns}/{cfg_name} referenced by spec.incomingAuth.oidcConfigRef not found"
            ),
        });
    };
    let problems = check_config(&cfg.spec);
    if !problems.is_empty() {
        return Err(not_valid(problems.join("; ")));
    }
    let shared = shared(&cfg.spec).map_err(|p| not_valid(p.join("; ")))?;
    if let Some(s) = &shared.secret {
        match world.secret_has_key(&s.name, &s.key) {
            Some(true) => {}
            Some(false) => {
                return Err(not_valid(format!(
                    "spec.inline.clientSecretRef: Secret {ns}/{} has no key {:?}",
                    s.name, s.key
                )));
            }
            None => {
                return Err(not_valid(format!(
                    "spec.inline.clientSecretRef: Secret {ns}/{} not found",
                    s.name
                )));
            }
        }
    }
    if let Some((cm, key)) = &shared.ca {
        match world.config_maps.get(cm) {
            Some(data) if data.contains_key(key) => {}
            Some(_) => {
                return Err(not_valid(format!(
                    "spec.inline.caBundleRef: ConfigMap {ns}/{cm} has no key {key:?}"
                )));
            }
            None => {
                return Err(not_valid(format!(
                    "spec.inline.caBundleRef: ConfigMap {ns}/{cm} not found"
                )));
            }
        }
    }
    let mut oidc = shared.oidc;
    oidc.audience = r.audience.clone();
    // Scopes are what the gateway requires of a token (403 insufficient_scope otherwise) and
    // advertises; unlike ToolHive's runtime there is no implicit `openid`.
    oidc.scopes = r.scopes.clone().unwrap_or_default();
    oidc.resource = default_resource(r.resource_url.as_deref(), vmcp, &world.namespace);
    Ok(ResolvedOidc {
        config_name: cfg_name.clone(),
        env: shared
            .secret
            .as_ref()
            .map(|s| super::secret_env(CLIENT_SECRET_ENV, &s.name, &s.key)),
        ca: shared
            .ca
            .map(|(cm, key)| FileCa::mounted(CA_VOLUME, CA_DIR_NAME, cm, key)),
        hash: config_hash(&cfg.spec),
        oidc,
    })
}

/// The resource indicator clients are told to ask tokens for: the reference's `resourceUrl`,
/// else the gateway's real in-cluster URL. ToolHive's default is
/// `http://<name>.<ns>.svc.cluster.local:4483`, a host no Service of its own answers on (its
/// Service is `vmcp-<name>`); ours names the Service clients actually reach.
pub fn default_resource(resource_url: Option<&str>, vmcp: &str, namespace: &str) -> String {
    match resource_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => u.to_string(),
        None => names::service_url(vmcp, namespace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmcp_api::MCPOIDCConfig;

    fn cfg(yaml: &str) -> MCPOIDCConfig {
        serde_yaml::from_str(&format!(
            "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPOIDCConfig\nmetadata: {{name: idp, namespace: ns}}\nspec:\n{yaml}"
        ))
        .unwrap()
    }

    fn reference(resource: Option<&str>) -> OIDCConfigRef {
        OIDCConfigRef {
            name: "idp".into(),
            audience: "aud".into(),
            scopes: Some(vec!["mcp".into()]),
            resource_url: resource.map(String::from),
        }
    }

    #[test]
    fn service_account_defaults_name_the_issuer_keys_and_the_pods_own_files() {
        let mut w = World::new("ns");
        w.oidc_configs.insert(
            "idp".into(),
            cfg("  type: kubernetesServiceAccount\n  kubernetesServiceAccount: {}\n"),
        );
        let r = resolve_ref(&reference(None), "gw", &w).unwrap();
        assert_eq!(r.oidc.issuer, DEFAULT_K8S_ISSUER);
        assert_eq!(
            r.oidc.jwks_url,
            "https://kubernetes.default.svc/openid/v1/jwks"
        );
        assert_eq!(r.oidc.ca_bundle_path, K8S_CA_BUNDLE_PATH);
        assert_eq!(r.oidc.jwks_auth_token_path, K8S_TOKEN_PATH);
        assert!(r.oidc.jwks_allow_private_ip);
        assert_eq!(r.oidc.resource, "http://vmcp-gw.ns.svc.cluster.local:4483");
        assert_eq!((r.env, r.ca), (None, None));

        w.oidc_configs.insert(
            "idp".into(),
            cfg("  type: kubernetesServiceAccount\n  kubernetesServiceAccount: {issuer: 'https://k8s.example.com/', jwksUrl: 'https://k8s.example.com/keys', useClusterAuth: false}\n"),
        );
        let r = resolve_ref(&reference(Some("https://mcp.example.com/")), "gw", &w).unwrap();
        assert_eq!(r.oidc.jwks_url, "https://k8s.example.com/keys");
        assert_eq!(r.oidc.ca_bundle_path, "");
        assert_eq!(r.oidc.jwks_auth_token_path, "");
        assert!(!r.oidc.jwks_allow_private_ip);
        assert_eq!(r.oidc.resource, "https://mcp.example.com/");
    }

    #[test]
    fn inline_secret_and_ca_are_checked_and_delivered_outside_the_config() {
        let mut w = World::new("ns");
        w.oidc_configs.insert(
            "idp".into(),
            cfg("  type: inline\n  inline:\n    issuer: https://id.example.com\n    clientId: gw\n    clientSecretRef: {name: s, key: k}\n    caBundleRef: {configMapRef: {name: ca}}\n    jwksAllowPrivateIP: true\n"),
        );
        let e = resolve_ref(&reference(None), "gw", &w).unwrap_err();
        assert_eq!(e.reason, REASON_NOT_VALID);
        assert!(
            e.message.contains("clientSecretRef: Secret ns/s not found"),
            "{e}"
        );
        w.secrets.insert("s".into(), ["k".to_string()].into());
        let e = resolve_ref(&reference(None), "gw", &w).unwrap_err();
        assert!(
            e.message.contains("caBundleRef: ConfigMap ns/ca not found"),
            "{e}"
        );
        w.config_maps.insert(
            "ca".into(),
            [("ca.crt".to_string(), "PEM".to_string())].into(),
        );
        let r = resolve_ref(&reference(None), "gw", &w).unwrap();
        assert_eq!(r.oidc.client_secret_env, CLIENT_SECRET_ENV);
        assert_eq!(
            r.oidc.ca_bundle_path,
            "/etc/toolhive/ca-bundles/_oidc/ca.crt"
        );
        assert!(r.oidc.jwks_allow_private_ip && !r.oidc.protected_resource_allow_private_ip);
        let env = r.env.unwrap();
        let sel = env.value_from.unwrap().secret_key_ref.unwrap();
        assert_eq!(
            (env.name.as_str(), sel.name.as_str(), sel.key.as_str()),
            (CLIENT_SECRET_ENV, "s", "k")
        );
        assert!(env.value.is_none());
        let ca = r.ca.unwrap();
        assert_eq!(ca.mount.mount_path, "/etc/toolhive/ca-bundles/_oidc");
        assert_eq!(ca.volume.config_map.unwrap().name, "ca");
    }

    #[test]
    fn problems_name_the_mcpoidcconfig_field() {
        let p = check_config(
            &cfg("  type: inline\n  inline: {issuer: 'http://id.example.com'}\n").spec,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("spec.inline.issuer: must use https"),
            "{p:?}"
        );
        assert!(check_config(&cfg("  type: inline\n  inline: {issuer: 'http://id.example.com', insecureAllowHTTP: true}\n").spec).is_empty());
        let p = check_config(&cfg("  type: inline\n").spec);
        assert_eq!(p, ["spec.inline is required when type is inline"]);
        let p = check_config(&cfg("  type: inline\n  inline: {issuer: 'https://id.example.com', jwksAuthTokenPath: relative/token}\n").spec);
        assert!(p[0].starts_with("spec.inline.jwksAuthTokenPath: "), "{p:?}");
        let mut w = World::new("ns");
        w.oidc_configs.insert(
            "idp".into(),
            cfg("  type: inline\n  inline: {issuer: 'ftp://x'}\n"),
        );
        let e = resolve_ref(&reference(None), "gw", &w).unwrap_err();
        assert_eq!(e.reason, REASON_NOT_VALID);
        assert!(
            e.message
                .starts_with("MCPOIDCConfig ns/idp is not valid: spec.inline.issuer: "),
            "{e}"
        );
        let e = resolve_ref(&reference(None), "gw", &World::new("ns")).unwrap_err();
        assert_eq!(e.reason, REASON_NOT_FOUND);
    }

    #[test]
    fn the_hash_follows_the_settings() {
        let a = cfg("  type: inline\n  inline: {issuer: 'https://a.example.com'}\n");
        let b = cfg("  type: inline\n  inline: {issuer: 'https://b.example.com'}\n");
        assert_eq!(config_hash(&a.spec), config_hash(&a.clone().spec));
        assert_ne!(config_hash(&a.spec), config_hash(&b.spec));
    }
}
