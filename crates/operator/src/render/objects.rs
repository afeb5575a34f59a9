//! Stage 2 of the render: a validated [`Input`] becomes the desired objects, or the render
//! stops (a generated config that does not validate, does not serialise or does not fit in a
//! ConfigMap; a podTemplateSpec patch that cannot be applied).
//!
//! [`Objects`] is also the one definition of the order they are applied in ([`APPLY_ORDER`],
//! [`Objects::in_apply_order`]); pruning goes the other way.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, EnvVar, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use serde::Serialize;
use vmcp_api::VirtualMCPServer;
use vmcp_api::conditions::{reasons as r, types as t};
use vmcp_api::virtual_server::VirtualMCPServerPhase as P;
use vmcp_config::{Config, LogLevel};
use vmcp_core::checksum::{self, Checksum};
use vmcp_core::world::World;
use vmcp_core::{ca_bundles, headers};

use super::input::Input;
use super::{Mode, Settings, Stopped, config, deployment, rbac, service};
use crate::names;
use crate::status::Cond;
use crate::validate::virtual_server::describe;

/// The kinds a render produces, in apply order: the ServiceAccount, Role and RoleBinding
/// before the Deployment that runs as them, the ConfigMap before the Deployment that mounts
/// it, the Service last. Pruning deletes in the reverse order, dependents first.
pub const APPLY_ORDER: [&str; 6] = [
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Deployment",
    "Service",
];

/// The objects to apply.
#[derive(Clone, Debug)]
pub struct Objects {
    pub service_account: Option<ServiceAccount>,
    pub role: Option<Role>,
    pub role_binding: Option<RoleBinding>,
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
}

/// One rendered object, typed, for code that walks them in order.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(untagged)]
pub enum Object<'a> {
    ServiceAccount(&'a ServiceAccount),
    Role(&'a Role),
    RoleBinding(&'a RoleBinding),
    ConfigMap(&'a ConfigMap),
    Deployment(&'a Deployment),
    Service(&'a Service),
}

impl Object<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::Role(_) => "Role",
            Object::RoleBinding(_) => "RoleBinding",
            Object::ConfigMap(_) => "ConfigMap",
            Object::Deployment(_) => "Deployment",
            Object::Service(_) => "Service",
        }
    }

    fn meta(&self) -> &ObjectMeta {
        match self {
            Object::ServiceAccount(o) => &o.metadata,
            Object::Role(o) => &o.metadata,
            Object::RoleBinding(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
        }
    }
}

impl Objects {
    /// Every object, in [`APPLY_ORDER`].
    pub fn in_apply_order(&self) -> Vec<Object<'_>> {
        let mut out: Vec<Object<'_>> = Vec::with_capacity(APPLY_ORDER.len());
        out.extend(self.service_account.as_ref().map(Object::ServiceAccount));
        out.extend(self.role.as_ref().map(Object::Role));
        out.extend(self.role_binding.as_ref().map(Object::RoleBinding));
        out.push(Object::ConfigMap(&self.config_map));
        out.push(Object::Deployment(&self.deployment));
        out.push(Object::Service(&self.service));
        out
    }

    /// Every object as JSON, in apply order (for `vmcp render`).
    pub fn to_values(&self) -> Vec<serde_json::Value> {
        self.in_apply_order()
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect()
    }

    /// The names of `kind` this render wants; any other object of that kind the operator
    /// made for this VirtualMCPServer is an orphan (`Applier::prune`).
    ///
    /// The ServiceAccount the Deployment runs as is always wanted, rendered or not: a
    /// `spec.serviceAccount` that names the operator's own `<name>-vmcp` keeps it, rather
    /// than leaving the pods with an account that no longer exists.
    pub fn wanted(&self, kind: &str) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self
            .in_apply_order()
            .iter()
            .filter(|o| o.kind() == kind)
            .filter_map(|o| o.meta().name.clone())
            .collect();
        if kind == "ServiceAccount" {
            names.extend(
                self.deployment
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.spec.as_ref())
                    .and_then(|p| p.service_account_name.clone()),
            );
        }
        names
    }
}

/// What stage 2 produces.
#[derive(Clone, Debug)]
pub struct Desired {
    pub objects: Objects,
    /// The gateway config written to the ConfigMap.
    pub config: Config,
}

fn meta(
    name: String,
    namespace: &str,
    labels: BTreeMap<String, String>,
    owner: &Option<OwnerReference>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_string()),
        labels: Some(labels),
        owner_references: owner.clone().map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// A mounted ConfigMap key's content, for the rollout checksum: a new CA bundle must roll the
/// pods, since the gateway reads it when it starts. Empty when absent (validation said so).
fn config_map_value<'w>(world: &'w World, config_map: &str, key: &str) -> &'w str {
    world
        .config_maps
        .get(config_map)
        .and_then(|d| d.get(key))
        .map_or("", String::as_str)
}

/// Stops stage 2 after stage 1's conditions.
fn stop(input: &Input, blocker: Cond) -> Box<Stopped> {
    Stopped::new(input.conditions.clone(), blocker, P::Failed)
}

/// Stage 2: the objects for a validated input.
pub fn desired(
    vmcp: &VirtualMCPServer,
    world: &World,
    settings: &Settings,
    input: &Input,
) -> Result<Desired, Box<Stopped>> {
    let (name, ns, mode) = (&input.name, &input.namespace, input.mode);
    let owner = vmcp.controller_owner_ref(&()).map(|mut o| {
        o.block_owner_deletion = Some(true);
        o
    });
    let mut used_env = BTreeSet::new();
    let mut env: BTreeMap<String, EnvVar> = input.auth.env.clone();
    // The OIDC client secret, from its Secret; the config names only the variable.
    if let Some(e) = input.oidc.as_ref().and_then(|o| o.env.as_ref()) {
        env.insert(e.name.clone(), e.clone());
    }
    // The collector's secret headers, likewise.
    for e in input.telemetry.iter().flat_map(|t| &t.env) {
        env.insert(e.name.clone(), e.clone());
    }
    used_env.extend(env.keys().cloned());
    let mut ca_mounts = Vec::new();
    let mut static_backends = Vec::new();
    let mut sum = Checksum::default();
    // Dynamic mode: the gateway reads entries' CA bundles and secret headers through the
    // API itself, so nothing per backend is mounted, and a change of the group's members
    // never rolls the gateway's pods.
    for b in input.backends.iter().filter(|_| mode == Mode::Static) {
        let (ca, headers) = match &b.entry {
            Some(e) => {
                let ca = ca_bundles::plan_for_entry(e, world);
                let h = headers::plan_for_entry(e, &mut used_env);
                (ca, Some(h))
            }
            None => (None, None),
        };
        if let Some(h) = &headers {
            for e in &h.env {
                env.insert(e.name.clone(), e.clone());
            }
        }
        static_backends.push(vmcp_core::backend::static_backend(
            b,
            &input.group,
            ca.as_ref(),
            headers.as_ref(),
        ));
        if let Some(ca) = ca {
            let content = config_map_value(world, &ca.config_map, &ca.key);
            sum.part("ca", &format!("{}/{}/{}", ca.entry, ca.config_map, ca.key))
                .part("ca-content", content);
            ca_mounts.push(ca);
        }
    }
    // The issuer's and the collector's CA bundles are mounted in both modes: the gateway
    // reads them from files.
    let oidc_ca = input.oidc.as_ref().and_then(|o| o.ca.as_ref());
    if let Some(ca) = oidc_ca {
        let content = config_map_value(world, &ca.config_map, &ca.key);
        sum.part("oidc-ca", &format!("{}/{}", ca.config_map, ca.key))
            .part("oidc-ca-content", content);
    }
    let otel_ca = input.telemetry.as_ref().and_then(|t| t.ca.as_ref());
    if let Some(ca) = otel_ca {
        let content = config_map_value(world, &ca.config_map, &ca.key);
        sum.part("otel-ca", &format!("{}/{}", ca.config_map, ca.key))
            .part("otel-ca-content", content);
    }
    let gateway_config = config::finish(input.config.clone(), mode, &input.auth, static_backends);
    let report = gateway_config.validate();
    if report.has_errors() {
        let msgs: Vec<String> = report.errors().map(describe).collect();
        let c = Cond::fail(
            t::VALID,
            r::VALIDATION_FAILED,
            format!(
                "the generated gateway config is invalid: {}",
                msgs.join("; ")
            ),
        );
        return Err(stop(input, c));
    }
    let yaml = match gateway_config.to_yaml_string() {
        Ok(y) => y,
        Err(e) => {
            let c = Cond::fail(
                t::VALID,
                r::VALIDATION_FAILED,
                format!("the gateway config cannot be serialised: {e}"),
            );
            return Err(stop(input, c));
        }
    };
    if yaml.len() > names::MAX_CONFIGMAP_DATA_BYTES {
        let c = Cond::fail(
            t::READY,
            "ConfigTooLarge",
            format!(
                "the gateway config is {} bytes, over the ConfigMap limit of {} bytes; reduce the number of backends or split the group",
                yaml.len(),
                names::MAX_CONFIGMAP_DATA_BYTES
            ),
        );
        return Err(stop(input, c));
    }
    let env: Vec<_> = env.into_values().collect();
    for e in &env {
        if let Some(s) = e
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        {
            // Without a known version (a manifest rendered offline) the part is what it was
            // before versions counted, so upgrading the operator does not roll every gateway.
            let part = match world.secret_versions.get(&s.name) {
                Some(version) => format!("{}={}/{}@{version}", e.name, s.name, s.key),
                None => format!("{}={}/{}", e.name, s.name, s.key),
            };
            sum.part("secret", &part);
        }
    }
    let content_checksum = checksum::sha256_hex(&yaml);
    sum.part(names::CONFIG_KEY, &yaml);
    let rollout_checksum = sum.finish();

    let labels = names::base_labels(name);
    let mut cm_meta = meta(names::config_map_name(name), ns, labels.clone(), &owner);
    cm_meta.annotations = Some(BTreeMap::from([(
        names::CONTENT_CHECKSUM_ANNOTATION.to_string(),
        content_checksum,
    )]));
    let config_map = ConfigMap {
        metadata: cm_meta,
        data: Some(BTreeMap::from([(names::CONFIG_KEY.to_string(), yaml)])),
        ..ConfigMap::default()
    };
    let rbac_name = names::rbac_name(name);
    let (service_account, role, role_binding, sa_name) =
        match vmcp.spec.service_account.clone().filter(|s| !s.is_empty()) {
            Some(sa) => (None, None, None, sa),
            None => (
                Some(rbac::service_account(
                    meta(rbac_name.clone(), ns, labels.clone(), &owner),
                    vmcp.spec.image_pull_secrets.clone(),
                )),
                Some(rbac::role(
                    meta(rbac_name.clone(), ns, labels.clone(), &owner),
                    mode,
                )),
                Some(rbac::role_binding(
                    meta(rbac_name.clone(), ns, labels.clone(), &owner),
                    name,
                    ns,
                )),
                rbac_name,
            ),
        };
    let debug = gateway_config
        .operational
        .as_ref()
        .and_then(|o| o.log_level)
        == Some(LogLevel::Debug);
    let deployment = match deployment::deployment(deployment::DeploymentInput {
        meta: meta(names::deployment_name(name), ns, labels.clone(), &owner),
        vmcp: name,
        namespace: ns,
        image: &settings.gateway_image,
        debug,
        service_account: sa_name,
        env,
        ca_mounts: &ca_mounts,
        file_cas: oidc_ca.into_iter().chain(otel_ca).collect(),
        checksum: &rollout_checksum,
        replicas: vmcp.spec.replicas,
        image_pull_secrets: vmcp.spec.image_pull_secrets.clone(),
        pod_template_patch: vmcp.spec.pod_template_spec.as_ref(),
    }) {
        Ok(d) => d,
        Err(e) => {
            let c = Cond::fail(
                t::POD_TEMPLATE_SPEC_VALID,
                r::INVALID_POD_TEMPLATE_SPEC,
                format!("Invalid PodTemplateSpec: {e}"),
            );
            return Err(stop(input, c));
        }
    };
    let service = service::service(
        meta(names::service_name(name), ns, labels, &owner),
        name,
        vmcp.spec.service_type,
        vmcp.spec.session_affinity,
    );
    Ok(Desired {
        objects: Objects {
            service_account,
            role,
            role_binding,
            config_map,
            deployment,
            service,
        },
        config: gateway_config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named<T: Default>(name: &str, set: impl FnOnce(&mut T, ObjectMeta)) -> T {
        let mut o = T::default();
        set(
            &mut o,
            ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
        );
        o
    }

    #[test]
    fn objects_walk_in_the_one_apply_order() {
        let all = Objects {
            service_account: Some(named("sa", |o: &mut ServiceAccount, m| o.metadata = m)),
            role: Some(named("role", |o: &mut Role, m| o.metadata = m)),
            role_binding: Some(named("rb", |o: &mut RoleBinding, m| o.metadata = m)),
            config_map: named("cm", |o: &mut ConfigMap, m| o.metadata = m),
            deployment: named("d", |o: &mut Deployment, m| o.metadata = m),
            service: named("s", |o: &mut Service, m| o.metadata = m),
        };
        let kinds: Vec<&str> = all.in_apply_order().iter().map(|o| o.kind()).collect();
        assert_eq!(kinds, APPLY_ORDER);
        let without_rbac = Objects {
            service_account: None,
            role: None,
            role_binding: None,
            ..all.clone()
        };
        let kinds: Vec<&str> = without_rbac
            .in_apply_order()
            .iter()
            .map(|o| o.kind())
            .collect();
        assert_eq!(kinds, &APPLY_ORDER[3..]);
        assert_eq!(all.wanted("Role"), BTreeSet::from(["role".to_string()]));
        assert!(without_rbac.wanted("Role").is_empty());
        let values = all.to_values();
        assert_eq!(values.len(), 6);
        assert_eq!(values[0]["metadata"]["name"], "sa");
        assert_eq!(values[5]["metadata"]["name"], "s");
    }
}
