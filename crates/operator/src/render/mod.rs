//! Render: a VirtualMCPServer and its world in, desired objects and status out. Pure: no API
//! calls, no clock (the caller stamps condition times), so the operator's reconcile and
//! `vmcp render` run exactly this code.
//!
//! Order of decisions (each may stop the render, leaving existing objects untouched, because
//! half-updated infrastructure is worse than stale infrastructure):
//! 1. spec validation (`Valid`), including the podTemplateSpec patch and unsupported features;
//! 2. the group must exist and be Ready (`GroupRefValidated`);
//! 3. authorization policies from a ConfigMap (`AuthConfigured`: `AuthzConfigMapNotFound`,
//!    `AuthzConfigMapInvalid`), discovery and outgoing auth (`BackendsResolved`,
//!    `AuthConfigured`); a broken default auth stops here, and so does a broken per-backend
//!    override in dynamic mode; otherwise a broken per-backend auth only excludes that backend;
//! 4. static mode needs at least one usable backend;
//! 5. objects: ServiceAccount, Role, RoleBinding, ConfigMap, Deployment, Service; a ConfigMap
//!    over the size limit stops here.

pub mod config;
pub mod deployment;
pub mod pod_template;
pub mod rbac;
pub mod service;
pub mod sessions;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use vmcp_api::VirtualMCPServer;
use vmcp_api::conditions::{reasons as r, types as t};
use vmcp_api::virtual_server::{OutgoingAuthSource, VirtualMCPServerPhase};
use vmcp_config::{Config, LogLevel, Transport};

use crate::names;
use crate::status::Cond;
use crate::validate::authz;
use crate::validate::virtual_server::{check_spec, describe};
use vmcp_core::checksum::{self, Checksum};
use vmcp_core::discovery::{self, BackendKind};
use vmcp_core::world::{DeploymentState, ObjKey, World, kinds};
use vmcp_core::{auth, ca_bundles, headers};

/// Condition type listing group members that are not backends, and why (vmcp addition).
pub const BACKENDS_RESOLVED: &str = "BackendsResolved";
/// Condition type for outgoing auth resolution (ToolHive's `AuthConfigured`).
pub const AUTH_CONFIGURED: &str = "AuthConfigured";
/// Condition type naming the objects the operator no longer renders but could not delete
/// (vmcp addition). Present only while a deletion fails, `False` with reason
/// [`PRUNE_FAILED`]: leftovers do not stop the gateway, so `Ready` and the phase are
/// untouched; the next successful prune removes the condition.
pub const ORPHANS_PRUNED: &str = "OrphansPruned";
pub const PRUNE_FAILED: &str = "PruneFailed";

/// Operator-wide settings that shape rendered objects.
#[derive(Clone, Debug)]
pub struct Settings {
    pub gateway_image: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            gateway_image: names::DEFAULT_GATEWAY_IMAGE.into(),
        }
    }
}

impl Settings {
    /// Reads `VMCP_GATEWAY_IMAGE`, falling back to the default image.
    pub fn from_env() -> Self {
        match std::env::var("VMCP_GATEWAY_IMAGE") {
            Ok(img) if !img.trim().is_empty() => Settings {
                gateway_image: img.trim().into(),
            },
            _ => Settings::default(),
        }
    }
}

/// Static (`outgoingAuth.source: inline`) or dynamic (`discovered`, the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Static,
    Dynamic,
}

impl Mode {
    pub fn of(vmcp: &VirtualMCPServer) -> Mode {
        match vmcp.spec.outgoing_auth.as_ref().map(|o| o.source) {
            Some(OutgoingAuthSource::Inline) => Mode::Static,
            _ => Mode::Dynamic,
        }
    }
}

/// The objects to apply, in apply order.
#[derive(Clone, Debug)]
pub struct Objects {
    pub service_account: Option<ServiceAccount>,
    pub role: Option<Role>,
    pub role_binding: Option<RoleBinding>,
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
}

impl Objects {
    /// Every object as JSON, in apply order (for `vmcp render`).
    pub fn to_values(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut push = |v: Result<serde_json::Value, serde_json::Error>| {
            if let Ok(v) = v {
                out.push(v);
            }
        };
        if let Some(sa) = &self.service_account {
            push(serde_json::to_value(sa));
        }
        if let Some(role) = &self.role {
            push(serde_json::to_value(role));
        }
        if let Some(rb) = &self.role_binding {
            push(serde_json::to_value(rb));
        }
        push(serde_json::to_value(&self.config_map));
        push(serde_json::to_value(&self.deployment));
        push(serde_json::to_value(&self.service));
        out
    }

    /// The names of `kind` this render wants; any other object of that kind the operator
    /// made for this VirtualMCPServer is an orphan (`Applier::prune`).
    ///
    /// The ServiceAccount the Deployment runs as is always wanted, rendered or not: a
    /// `spec.serviceAccount` that names the operator's own `<name>-vmcp` keeps it, rather
    /// than leaving the pods with an account that no longer exists.
    pub fn wanted(&self, kind: &str) -> BTreeSet<String> {
        fn name_of(m: &ObjectMeta) -> Option<String> {
            m.name.clone()
        }
        let names: Vec<Option<String>> = match kind {
            "ServiceAccount" => vec![
                self.service_account
                    .as_ref()
                    .and_then(|o| name_of(&o.metadata)),
                self.deployment
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.spec.as_ref())
                    .and_then(|p| p.service_account_name.clone()),
            ],
            "Role" => vec![self.role.as_ref().and_then(|o| name_of(&o.metadata))],
            "RoleBinding" => vec![
                self.role_binding
                    .as_ref()
                    .and_then(|o| name_of(&o.metadata)),
            ],
            "ConfigMap" => vec![name_of(&self.config_map.metadata)],
            "Deployment" => vec![name_of(&self.deployment.metadata)],
            "Service" => vec![name_of(&self.service.metadata)],
            _ => vec![],
        };
        names.into_iter().flatten().collect()
    }
}

/// One discovered backend as the operator reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendReport {
    pub name: String,
    pub url: String,
    pub transport: Transport,
    pub kind: BackendKind,
    pub auth_config_ref: Option<String>,
}

/// The operator's part of the VirtualMCPServer status.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusPlan {
    pub phase: VirtualMCPServerPhase,
    pub message: String,
    pub url: String,
    pub conditions: Vec<Cond>,
    pub backends: Vec<BackendReport>,
}

impl StatusPlan {
    /// The status after the API server refused one of the rendered objects (422 Invalid or
    /// 400 Bad Request: the spec produced an object the server rejects, e.g. a quantity in
    /// `podTemplateSpec` that does not parse). Retrying cannot help until something changes,
    /// so this is a condition, like every other validation failure.
    pub fn rejected_by_api_server(&self, object: &str, message: &str) -> StatusPlan {
        let text = format!("the API server rejected {object} rendered from this spec: {message}");
        let mut conditions: Vec<Cond> = self
            .conditions
            .iter()
            .filter(|c| c.type_ != t::VALID && c.type_ != t::READY)
            .cloned()
            .collect();
        conditions.push(Cond::fail(t::VALID, r::VALIDATION_FAILED, text.clone()));
        conditions.push(Cond::fail(t::READY, r::VALIDATION_FAILED, text.clone()));
        StatusPlan {
            phase: VirtualMCPServerPhase::Failed,
            message: text,
            conditions,
            ..self.clone()
        }
    }
}

impl StatusPlan {
    /// The status after a prune left objects behind: `OrphansPruned=False` naming each object
    /// and the API server's answer. The rest of the status is the render's, unchanged.
    pub fn prune_failed(&self, failed: &[(String, String)]) -> StatusPlan {
        if failed.is_empty() {
            return self.clone();
        }
        let list: Vec<String> = failed.iter().map(|(o, e)| format!("{o}: {e}")).collect();
        let mut conditions: Vec<Cond> = self
            .conditions
            .iter()
            .filter(|c| c.type_ != ORPHANS_PRUNED)
            .cloned()
            .collect();
        conditions.push(Cond::fail(
            ORPHANS_PRUNED,
            PRUNE_FAILED,
            format!(
                "could not delete objects the operator made for this VirtualMCPServer and no longer renders (retried with backoff): {}",
                list.join("; ")
            ),
        ));
        StatusPlan {
            conditions,
            ..self.clone()
        }
    }
}

/// The outcome of a render.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// `None` when the render stopped: existing objects are left as they are.
    pub objects: Option<Objects>,
    /// The gateway config written to the ConfigMap, when objects were rendered.
    pub config: Option<Config>,
    pub status: StatusPlan,
    /// Objects this render read; a change to any of them must re-render.
    pub dependencies: Vec<ObjKey>,
}

impl Rendered {
    /// The message of the first failed blocking condition, if the render stopped.
    pub fn blocked_reason(&self) -> Option<String> {
        self.objects.is_none().then(|| self.status.message.clone())
    }
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

/// Stops a render: no objects, the blocking condition plus `Ready=False` with its reason.
fn stop(
    mut conds: Vec<Cond>,
    blocker: Cond,
    phase: VirtualMCPServerPhase,
    url: String,
    deps: Vec<ObjKey>,
) -> Rendered {
    let message = blocker.message.clone();
    conds.retain(|c| c.type_ != blocker.type_ && c.type_ != t::READY);
    let ready = (blocker.type_ != t::READY)
        .then(|| Cond::fail(t::READY, &blocker.reason, blocker.message.clone()));
    conds.push(blocker);
    conds.extend(ready);
    Rendered {
        objects: None,
        config: None,
        status: StatusPlan {
            phase,
            message,
            url,
            conditions: conds,
            backends: vec![],
        },
        dependencies: deps,
    }
}

/// Everything a VirtualMCPServer reads from its world, for watch mapping.
pub fn dependencies(vmcp: &VirtualMCPServer, world: &World) -> Vec<ObjKey> {
    let group = &vmcp.spec.group_ref.name;
    let mut deps = BTreeSet::new();
    deps.insert(world.key(kinds::GROUP, group));
    let members = discovery::group_members(world, group);
    let mut auth_refs: BTreeSet<String> = BTreeSet::new();
    if let Some(o) = &vmcp.spec.outgoing_auth {
        let refs = o
            .default
            .iter()
            .chain(o.backends.iter().flat_map(|b| b.values()));
        auth_refs.extend(
            refs.filter_map(|c| c.external_auth_config_ref.as_ref().map(|r| r.name.clone())),
        );
    }
    for n in &members.servers {
        deps.insert(world.key(kinds::SERVER, n));
        if let Some(r) = world
            .servers
            .get(n)
            .and_then(|s| s.spec.external_auth_config_ref.as_ref())
        {
            auth_refs.insert(r.name.clone());
        }
    }
    for n in &members.proxies {
        deps.insert(world.key(kinds::PROXY, n));
        if let Some(r) = world
            .proxies
            .get(n)
            .and_then(|s| s.spec.external_auth_config_ref.as_ref())
        {
            auth_refs.insert(r.name.clone());
        }
    }
    for n in &members.entries {
        deps.insert(world.key(kinds::ENTRY, n));
        if let Some(e) = world.entries.get(n) {
            deps.extend(crate::validate::entry::entry_dependencies(e, world));
            // Its auth config's Secrets too (below): the entry controller only checks that
            // the config exists, while render resolves the Secret behind it.
            if let Some(r) = &e.spec.external_auth_config_ref {
                auth_refs.insert(r.name.clone());
            }
        }
    }
    for a in &auth_refs {
        deps.insert(world.key(kinds::AUTH, a));
        if let Some(cfg) = world.auth_configs.get(a) {
            let s = &cfg.spec;
            if let Some(h) = &s.header_injection {
                deps.insert(world.key(kinds::SECRET, &h.value_secret_ref.name));
            }
            if let Some(r) = s
                .token_exchange
                .as_ref()
                .and_then(|t| t.client_secret_ref.as_ref())
            {
                deps.insert(world.key(kinds::SECRET, &r.name));
            }
        }
    }
    if let Some((name, _)) = vmcp
        .spec
        .incoming_auth
        .authz_config
        .as_ref()
        .and_then(authz::config_map_ref)
    {
        deps.insert(world.key(kinds::CONFIG_MAP, name));
    }
    let tool_refs = vmcp
        .spec
        .config
        .as_ref()
        .and_then(|c| c.pointer("/aggregation/tools"))
        .and_then(|t| t.as_array());
    for t in tool_refs.into_iter().flatten() {
        if let Some(n) = t.pointer("/toolConfigRef/name").and_then(|n| n.as_str()) {
            deps.insert(world.key(kinds::TOOL_CONFIG, n));
        }
    }
    deps.into_iter().collect()
}

/// Renders one VirtualMCPServer against its world.
pub fn render_virtual_server(
    vmcp: &VirtualMCPServer,
    world: &World,
    settings: &Settings,
) -> Rendered {
    let name = vmcp.metadata.name.clone().unwrap_or_default();
    let ns = world.namespace.clone();
    let url = names::service_url(&name, &ns);
    let deps = dependencies(vmcp, world);
    let mode = Mode::of(vmcp);
    let mut conds: Vec<Cond> = Vec::new();
    use VirtualMCPServerPhase as P;

    // 1. Spec.
    let mut problems = Vec::new();
    let spec_check = check_spec(vmcp, world);
    if let Some(p) = &vmcp.spec.pod_template_spec {
        match deployment::check_patch(p, &name) {
            Ok(()) => conds.push(Cond::ok(
                t::POD_TEMPLATE_SPEC_VALID,
                r::POD_TEMPLATE_SPEC_VALID,
                "PodTemplateSpec is valid",
            )),
            Err(e) => {
                let c = Cond::fail(
                    t::POD_TEMPLATE_SPEC_VALID,
                    r::INVALID_POD_TEMPLATE_SPEC,
                    format!("Invalid PodTemplateSpec: {e}"),
                );
                if let Err(ps) = &spec_check {
                    problems.extend(ps.iter().cloned());
                    conds.push(Cond::fail(
                        t::VALID,
                        r::VALIDATION_FAILED,
                        problems.join("; "),
                    ));
                }
                return stop(conds, c, P::Failed, url, deps);
            }
        }
    }
    let spec = match spec_check {
        Ok(s) => s,
        Err(ps) => {
            problems.extend(ps);
            let c = Cond::fail(t::VALID, r::VALIDATION_FAILED, problems.join("; "));
            return stop(conds, c, P::Failed, url, deps);
        }
    };
    let valid_msg = if spec.warnings.is_empty() {
        "Spec validation passed".to_string()
    } else {
        format!(
            "Spec validation passed with warnings: {}",
            spec.warnings.join("; ")
        )
    };
    conds.push(Cond::ok(t::VALID, r::VALIDATION_SUCCEEDED, valid_msg));
    conds.push(sessions::session_storage_warning(vmcp));

    // 2. Group.
    let group = vmcp.spec.group_ref.name.clone();
    match world.group_ready(&group) {
        None => {
            let c = Cond::fail(
                t::GROUP_REF_VALIDATED,
                r::GROUP_REF_NOT_FOUND,
                format!("Referenced MCPGroup {group} not found"),
            );
            return stop(conds, c, P::Failed, url, deps);
        }
        Some(false) => {
            let c = Cond::fail(
                t::GROUP_REF_VALIDATED,
                r::GROUP_REF_NOT_READY,
                format!("Referenced MCPGroup {group} is not ready"),
            );
            return stop(conds, c, P::Pending, url, deps);
        }
        Some(true) => conds.push(Cond::ok(
            t::GROUP_REF_VALIDATED,
            r::GROUP_REF_VALID,
            format!("MCPGroup {group} is valid and ready"),
        )),
    }

    // 3. Authorization policies held in a ConfigMap (fail closed: no gateway without
    //    them), then discovery and outgoing auth.
    let mut spec = spec;
    if let Some(a) = vmcp.spec.incoming_auth.authz_config.as_ref()
        && authz::config_map_ref(a).is_some()
    {
        match authz::from_config_map(a, world) {
            Ok(cfg) => {
                if let Some(incoming) = spec.config.incoming_auth.as_mut() {
                    incoming.authz = Some(cfg);
                }
            }
            Err(p) => {
                let c = Cond::fail(AUTH_CONFIGURED, p.reason, p.message);
                return stop(conds, c, P::Failed, url, deps);
            }
        }
    }
    let disc = discovery::discover(world, &group);
    let auth = auth::plan(
        vmcp.spec.outgoing_auth.as_ref(),
        &disc.backends,
        world,
        mode == Mode::Static,
    );
    if !auth.global_errors.is_empty() {
        let c = Cond::fail(
            AUTH_CONFIGURED,
            "AuthInvalid",
            auth.global_errors.join("; "),
        );
        return stop(conds, c, P::Failed, url, deps);
    }
    conds.push(if auth.failed.is_empty() {
        Cond::ok(
            AUTH_CONFIGURED,
            "AuthValid",
            "Authentication configuration is valid",
        )
    } else {
        let msgs: Vec<String> = auth
            .failed
            .iter()
            .map(|(b, e)| format!("backend {b} excluded: {e}"))
            .collect();
        Cond::fail(AUTH_CONFIGURED, "AuthInvalid", msgs.join("; "))
    });
    let usable: Vec<&discovery::Backend> = disc
        .backends
        .iter()
        .filter(|b| !auth.failed.contains_key(&b.name))
        .collect();
    let mut excluded: Vec<String> = disc.skipped.iter().map(|s| s.to_string()).collect();
    for b in disc
        .backends
        .iter()
        .filter(|b| auth.failed.contains_key(&b.name))
    {
        excluded.push(format!(
            "{} {}: outgoing auth could not be resolved",
            b.kind.kind(),
            b.name
        ));
    }
    let resolved_msg = format!("{} backend(s) discovered in group {group}", usable.len());
    conds.push(if excluded.is_empty() {
        Cond::ok(BACKENDS_RESOLVED, "AllMembersResolved", resolved_msg)
    } else {
        Cond::fail(
            BACKENDS_RESOLVED,
            "MembersExcluded",
            format!("{resolved_msg}; excluded: {}", excluded.join("; ")),
        )
    });
    let reports: Vec<BackendReport> = usable
        .iter()
        .map(|b| BackendReport {
            name: b.name.clone(),
            url: b.url.clone(),
            transport: b.transport,
            kind: b.kind,
            auth_config_ref: auth.config_refs.get(&b.name).cloned(),
        })
        .collect();

    // 4. Static mode needs a backend.
    if mode == Mode::Static && usable.is_empty() {
        let detail = if excluded.is_empty() {
            "the group has no members".to_string()
        } else {
            excluded.join("; ")
        };
        let c = Cond::fail(
            t::READY,
            r::BACKENDS_UNAVAILABLE,
            format!(
                "static mode (outgoingAuth.source: inline) needs at least one usable backend, but group {group} has none ({detail}); the gateway is not deployed until one is available"
            ),
        );
        let mut rendered = stop(conds, c, P::Pending, url, deps);
        rendered.status.backends = reports;
        return rendered;
    }

    // 5. Objects.
    let owner = vmcp.controller_owner_ref(&()).map(|mut o| {
        o.block_owner_deletion = Some(true);
        o
    });
    let mut used_env = BTreeSet::new();
    let mut env: BTreeMap<String, k8s_openapi::api::core::v1::EnvVar> = auth.env.clone();
    used_env.extend(env.keys().cloned());
    let mut ca_mounts = Vec::new();
    let mut static_backends = Vec::new();
    let mut sum = Checksum::default();
    // Dynamic mode: the gateway reads entries' CA bundles and secret headers through the
    // API itself, so nothing per backend is mounted, and a change of the group's members
    // never rolls the gateway's pods.
    for b in usable.iter().filter(|_| mode == Mode::Static) {
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
            &group,
            ca.as_ref(),
            headers.as_ref(),
        ));
        if let Some(ca) = ca {
            let content = world
                .config_maps
                .get(&ca.config_map)
                .and_then(|d| d.get(&ca.key))
                .cloned()
                .unwrap_or_default();
            sum.part("ca", &format!("{}/{}/{}", ca.entry, ca.config_map, ca.key))
                .part("ca-content", &content);
            ca_mounts.push(ca);
        }
    }
    let gateway_config = config::finish(spec.config, mode, &auth, static_backends);
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
        return stop(conds, c, P::Failed, url, deps);
    }
    let yaml = match gateway_config.to_yaml_string() {
        Ok(y) => y,
        Err(e) => {
            let c = Cond::fail(
                t::VALID,
                r::VALIDATION_FAILED,
                format!("the gateway config cannot be serialised: {e}"),
            );
            return stop(conds, c, P::Failed, url, deps);
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
        return stop(conds, c, P::Failed, url, deps);
    }
    let env: Vec<_> = env.into_values().collect();
    for e in &env {
        if let Some(s) = e
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        {
            sum.part("secret", &format!("{}={}/{}", e.name, s.name, s.key));
        }
    }
    let content_checksum = checksum::sha256_hex(&yaml);
    sum.part(names::CONFIG_KEY, &yaml);
    let rollout_checksum = sum.finish();

    let labels = names::base_labels(&name);
    let mut cm_meta = meta(names::config_map_name(&name), &ns, labels.clone(), &owner);
    cm_meta.annotations = Some(BTreeMap::from([(
        names::CONTENT_CHECKSUM_ANNOTATION.to_string(),
        content_checksum,
    )]));
    let config_map = ConfigMap {
        metadata: cm_meta,
        data: Some(BTreeMap::from([(names::CONFIG_KEY.to_string(), yaml)])),
        ..ConfigMap::default()
    };
    let rbac_name = names::rbac_name(&name);
    let (service_account, role, role_binding, sa_name) =
        match vmcp.spec.service_account.clone().filter(|s| !s.is_empty()) {
            Some(sa) => (None, None, None, sa),
            None => (
                Some(rbac::service_account(
                    meta(rbac_name.clone(), &ns, labels.clone(), &owner),
                    vmcp.spec.image_pull_secrets.clone(),
                )),
                Some(rbac::role(
                    meta(rbac_name.clone(), &ns, labels.clone(), &owner),
                    mode,
                )),
                Some(rbac::role_binding(
                    meta(rbac_name.clone(), &ns, labels.clone(), &owner),
                    &name,
                    &ns,
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
        meta: meta(names::deployment_name(&name), &ns, labels.clone(), &owner),
        vmcp: &name,
        namespace: &ns,
        image: &settings.gateway_image,
        debug,
        service_account: sa_name,
        env,
        ca_mounts: &ca_mounts,
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
            return stop(conds, c, P::Failed, url, deps);
        }
    };
    let service = service::service(
        meta(names::service_name(&name), &ns, labels, &owner),
        &name,
        vmcp.spec.service_type,
        vmcp.spec.session_affinity,
    );

    let (phase, ready) = readiness(world.deployments.get(&names::deployment_name(&name)));
    let mut message = ready.message.clone();
    if !excluded.is_empty() {
        message.push_str(&format!(
            " ({} group member(s) excluded, see {BACKENDS_RESOLVED})",
            excluded.len()
        ));
    }
    conds.push(ready);
    Rendered {
        objects: Some(Objects {
            service_account,
            role,
            role_binding,
            config_map,
            deployment,
            service,
        }),
        config: Some(gateway_config),
        status: StatusPlan {
            phase,
            message,
            url,
            conditions: conds,
            backends: reports,
        },
        dependencies: deps,
    }
}

/// Phase and `Ready` from the Deployment's status.
fn readiness(d: Option<&DeploymentState>) -> (VirtualMCPServerPhase, Cond) {
    use VirtualMCPServerPhase as P;
    match d {
        Some(d) if d.ready_replicas > 0 => (
            P::Ready,
            Cond::ok(
                t::READY,
                r::DEPLOYMENT_READY,
                "Virtual MCP server is running",
            ),
        ),
        Some(d) if d.failed => (
            P::Failed,
            Cond::fail(
                t::READY,
                r::DEPLOYMENT_FAILED,
                "Virtual MCP server failed to start",
            ),
        ),
        Some(d) if d.replicas == Some(0) => (
            P::Pending,
            Cond::fail(
                t::READY,
                r::DEPLOYMENT_NOT_READY,
                "Virtual MCP server is scaled to zero replicas",
            ),
        ),
        _ => (
            P::Pending,
            Cond::fail(
                t::READY,
                r::DEPLOYMENT_NOT_READY,
                "Virtual MCP server is starting",
            ),
        ),
    }
}
