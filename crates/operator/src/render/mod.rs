//! Render: a VirtualMCPServer and its world in, desired objects and status out. Pure: no API
//! calls, no clock (the caller stamps condition times), so the operator's reconcile and
//! `vmcp render` run exactly this code.
//!
//! Three stages, each a function with its own output type; any of the first two may stop the
//! render, leaving existing objects untouched (half-updated infrastructure is worse than stale
//! infrastructure), and says why in a condition:
//! 1. [`input::validate`] → [`input::Input`]: the spec, the group, authorization policies,
//!    discovery and outgoing auth (see that module for the order and the conditions);
//! 2. [`objects::desired`] → [`objects::Desired`]: the gateway config and the objects, in the
//!    one apply order [`objects::APPLY_ORDER`]; a config that does not validate or fit in a
//!    ConfigMap stops here;
//! 3. [`crate::status::StatusPlan`]: phase, `Ready` from the Deployment, the backends.
//!
//! A new feature (auth, telemetry) adds its checks to stage 1's input and its objects or
//! config to stage 2, not another branch in one long function.

pub mod config;
pub mod deployment;
pub mod input;
pub mod objects;
pub mod pod_template;
pub mod rbac;
pub mod service;
pub mod sessions;

use std::collections::BTreeSet;

use vmcp_api::VirtualMCPServer;
use vmcp_api::conditions::types as t;
use vmcp_api::virtual_server::{OutgoingAuthSource, VirtualMCPServerPhase};
use vmcp_config::Config;

pub use objects::{APPLY_ORDER, Object, Objects};

use crate::names;
use crate::status::{BACKENDS_RESOLVED, BackendReport, Cond, StatusPlan, readiness};
use crate::validate::authz;
use vmcp_core::discovery;
use vmcp_core::world::{ObjKey, World, kinds};

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

/// Why a stage stopped the render: the conditions decided before, the one that stopped it,
/// the phase it leaves, and the backends to report (static mode without a usable backend still
/// lists the ones it found).
#[derive(Clone, Debug)]
pub struct Stopped {
    pub conditions: Vec<Cond>,
    pub blocker: Cond,
    pub phase: VirtualMCPServerPhase,
    pub backends: Vec<BackendReport>,
}

impl Stopped {
    /// Boxed: a stage's `Result` stays small on its path that goes on.
    pub fn new(conditions: Vec<Cond>, blocker: Cond, phase: VirtualMCPServerPhase) -> Box<Self> {
        Box::new(Stopped {
            conditions,
            blocker,
            phase,
            backends: Vec::new(),
        })
    }

    /// No objects; the blocking condition plus `Ready=False` with its reason.
    fn rendered(self, url: String, dependencies: Vec<ObjKey>) -> Rendered {
        let Stopped {
            mut conditions,
            blocker,
            phase,
            backends,
        } = self;
        let message = blocker.message.clone();
        conditions.retain(|c| c.type_ != blocker.type_ && c.type_ != t::READY);
        let ready = (blocker.type_ != t::READY)
            .then(|| Cond::fail(t::READY, &blocker.reason, blocker.message.clone()));
        conditions.push(blocker);
        conditions.extend(ready);
        Rendered {
            objects: None,
            config: None,
            status: StatusPlan {
                phase,
                message,
                url,
                conditions,
                backends,
                oidc_config_hash: None,
                authz_config_hash: None,
                telemetry_config_hash: None,
            },
            dependencies,
        }
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
    let incoming = &vmcp.spec.incoming_auth;
    if let Some(r) = &incoming.oidc_config_ref {
        deps.insert(world.key(kinds::OIDC_CONFIG, &r.name));
        let inline = world
            .oidc_configs
            .get(&r.name)
            .and_then(|c| c.spec.inline.as_ref());
        if let Some(i) = inline {
            if let Some(s) = &i.client_secret_ref {
                deps.insert(world.key(kinds::SECRET, &s.name));
            }
            if let Some(c) = i
                .ca_bundle_ref
                .as_ref()
                .and_then(|c| c.config_map_ref.as_ref())
            {
                deps.insert(world.key(kinds::CONFIG_MAP, &c.name));
            }
        }
    }
    if let Some(r) = &incoming.authz_config_ref {
        deps.insert(world.key(kinds::AUTHZ_CONFIG, &r.name));
    }
    if let Some(r) = &vmcp.spec.telemetry_config_ref {
        deps.insert(world.key(kinds::TELEMETRY_CONFIG, &r.name));
        let otel = world
            .telemetry_configs
            .get(&r.name)
            .and_then(|c| c.spec.open_telemetry.as_ref());
        if let Some(o) = otel {
            for h in &o.sensitive_headers {
                deps.insert(world.key(kinds::SECRET, &h.secret_key_ref.name));
            }
            if let Some(c) = o
                .ca_bundle_ref
                .as_ref()
                .and_then(|c| c.config_map_ref.as_ref())
            {
                deps.insert(world.key(kinds::CONFIG_MAP, &c.name));
            }
        }
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

/// Renders one VirtualMCPServer against its world: the three stages in order.
pub fn render_virtual_server(
    vmcp: &VirtualMCPServer,
    world: &World,
    settings: &Settings,
) -> Rendered {
    let name = vmcp.metadata.name.clone().unwrap_or_default();
    let url = names::service_url(&name, &world.namespace);
    let dependencies = dependencies(vmcp, world);
    let input = match input::validate(vmcp, world) {
        Ok(i) => i,
        Err(stopped) => return (*stopped).rendered(url, dependencies),
    };
    let desired = match objects::desired(vmcp, world, settings, &input) {
        Ok(d) => d,
        Err(stopped) => return (*stopped).rendered(url, dependencies),
    };
    let status = status_of(input, world, url);
    Rendered {
        objects: Some(desired.objects),
        config: Some(desired.config),
        status,
        dependencies,
    }
}

/// Stage 3: the status of a render that produced its objects.
fn status_of(input: input::Input, world: &World, url: String) -> StatusPlan {
    let (phase, ready) = readiness(world.deployments.get(&names::deployment_name(&input.name)));
    let mut message = ready.message.clone();
    if !input.excluded.is_empty() {
        message.push_str(&format!(
            " ({} group member(s) excluded, see {BACKENDS_RESOLVED})",
            input.excluded.len()
        ));
    }
    let mut conditions = input.conditions;
    conditions.push(ready);
    StatusPlan {
        phase,
        message,
        url,
        conditions,
        backends: input.reports,
        oidc_config_hash: input.oidc.map(|o| o.hash),
        authz_config_hash: input.authz_config_hash,
        telemetry_config_hash: input.telemetry.map(|t| t.hash),
    }
}
