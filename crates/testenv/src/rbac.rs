//! Acting as a ServiceAccount, and granting it Roles.
//!
//! The operator and the gateway run as ServiceAccounts whose Roles we ship;
//! a test that runs them as admin would never notice a missing rule. So a
//! test can get a client that authenticates with a real token from the
//! TokenRequest API (the same kind of token a pod gets), and the API server's
//! RBAC authorizer decides what it may do.

use std::{fmt::Debug, time::Duration};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
    rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
};
use kube::{
    Api, Client, Resource,
    api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams},
    config::AuthInfo,
};
use serde::de::DeserializeOwned;

use crate::{
    env::{FIELD_MANAGER, TestEnv},
    error::{Error, Result},
};

/// Lifetime asked for service-account tokens; longer than any test binary.
const TOKEN_SECONDS: i64 = 3600;

/// A namespaced RBAC rule: `verbs` on `resources` in `api_group` (`""` for
/// the core group).
pub fn rule(api_group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        api_groups: Some(vec![api_group.to_owned()]),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..PolicyRule::default()
    }
}

impl TestEnv {
    /// A client authenticated as ServiceAccount `namespace/name`, created if
    /// missing, with a token from the TokenRequest API. Build it on the
    /// runtime that uses it, as with [`TestEnv::client`].
    pub async fn service_account_client(&self, namespace: &str, name: &str) -> Result<Client> {
        let token = self.service_account_token(namespace, name).await?;
        let mut config = self.config();
        config.default_namespace = namespace.to_owned();
        // Going through serde builds the secret-wrapped token field without
        // depending on the `secrecy` crate version kube uses.
        config.auth_info =
            serde_json::from_value::<AuthInfo>(serde_json::json!({ "token": token }))
                .map_err(|err| Error::Supervisor(format!("building a token AuthInfo: {err}")))?;
        Client::try_from(config).map_err(Error::Client)
    }

    /// A kubeconfig file for ServiceAccount `namespace/name` (created if missing), for
    /// running a process (`vmcp serve`) with exactly that account's permissions, as in a pod.
    pub async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<std::path::PathBuf> {
        let token = self.service_account_token(namespace, name).await?;
        let admin = std::fs::read_to_string(self.kubeconfig_path())
            .map_err(Error::io("reading the admin kubeconfig"))?;
        let mut doc: serde_yaml::Value = serde_yaml::from_str(&admin)
            .map_err(|err| Error::Supervisor(format!("parsing the admin kubeconfig: {err}")))?;
        doc["users"][0]["user"] = serde_yaml::to_value(serde_json::json!({ "token": token }))
            .map_err(|err| Error::Supervisor(format!("building a token user: {err}")))?;
        doc["contexts"][0]["context"]["namespace"] = namespace.into();
        let text = serde_yaml::to_string(&doc)
            .map_err(|err| Error::Supervisor(format!("writing a kubeconfig: {err}")))?;
        let path = self.dir().join(format!("sa-{namespace}-{name}.kubeconfig"));
        std::fs::write(&path, text).map_err(Error::io(format!("writing {}", path.display())))?;
        Ok(path)
    }

    async fn service_account_token(&self, namespace: &str, name: &str) -> Result<String> {
        self.service_account_token_for(namespace, name, &[]).await
    }

    /// A TokenRequest token of ServiceAccount `namespace/name` (created if missing) for
    /// `audiences` (the API server's own when empty), as a pod's projected token with
    /// `audience:` set is.
    pub async fn service_account_token_for(
        &self,
        namespace: &str,
        name: &str,
        audiences: &[&str],
    ) -> Result<String> {
        let admin = self.client()?;
        let accounts = Api::<ServiceAccount>::namespaced(admin, namespace);
        let account = ServiceAccount {
            metadata: meta(namespace, name),
            ..ServiceAccount::default()
        };
        accounts
            .patch(name, &apply_params(), &Patch::Apply(&account))
            .await
            .map_err(Error::api(format!(
                "applying serviceaccount {namespace}/{name}"
            )))?;

        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(TOKEN_SECONDS),
                audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        let token = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .map_err(Error::api(format!(
                "requesting a token for serviceaccount {namespace}/{name}"
            )))?
            .status
            .map(|status| status.token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| Error::EmptyToken {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?;
        Ok(token)
    }

    /// Applies Role `role` in `namespace` with exactly `rules`, and a
    /// RoleBinding of the same name giving it to ServiceAccount
    /// `service_account`. Calling it again with other rules replaces them
    /// (server-side apply), which is how a test adds or removes a permission.
    pub async fn bind_role(
        &self,
        namespace: &str,
        service_account: &str,
        role: &str,
        rules: Vec<PolicyRule>,
    ) -> Result<()> {
        let admin = self.client()?;
        let role_object = Role {
            metadata: meta(namespace, role),
            rules: Some(rules),
        };
        Api::<Role>::namespaced(admin.clone(), namespace)
            .patch(role, &apply_params(), &Patch::Apply(&role_object))
            .await
            .map_err(Error::api(format!("applying role {namespace}/{role}")))?;

        let binding = RoleBinding {
            metadata: meta(namespace, role),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".to_owned(),
                kind: "Role".to_owned(),
                name: role.to_owned(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_owned(),
                name: service_account.to_owned(),
                namespace: Some(namespace.to_owned()),
                ..Subject::default()
            }]),
        };
        Api::<RoleBinding>::namespaced(admin, namespace)
            .patch(role, &apply_params(), &Patch::Apply(&binding))
            .await
            .map_err(Error::api(format!(
                "applying rolebinding {namespace}/{role}"
            )))?;
        Ok(())
    }
}

/// Whether `api` may list: `Ok(false)` only for 403 Forbidden, so a broken
/// token (401) or a missing resource (404) is an error, not a "no".
pub async fn can_list<K>(api: &Api<K>) -> Result<bool>
where
    K: Resource + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(false),
        Err(source) => Err(Error::Api {
            action: format!("listing {}", K::plural(&Default::default())),
            source,
        }),
    }
}

/// Waits until [`can_list`] answers `allowed`. RBAC changes reach the
/// authorizer through an informer, a little after the write returns, so a
/// test that just changed a Role must wait rather than check once.
pub async fn wait_for_list_access<K>(api: &Api<K>, allowed: bool, timeout: Duration) -> Result<()>
where
    K: Resource + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if can_list(api).await? == allowed {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::AccessTimeout {
                what: format!("list {}", K::plural(&Default::default())),
                observed: if allowed { "denied" } else { "allowed" },
                timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        ..ObjectMeta::default()
    }
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}
