//! Stage 1 of the render: the VirtualMCPServer and its world become a validated [`Input`], or
//! the render stops with the condition that says why.
//!
//! In order: the spec (`Valid`, with the podTemplateSpec patch and unsupported features), the
//! group (`GroupRefValidated`: it must exist and be Ready), authorization policies held in a
//! ConfigMap (`AuthConfigured`; fail closed: no gateway without them), the shared MCPOIDCConfig
//! and MCPAuthzConfig references (`OIDCConfigRefValidated`, `AuthzConfigRefValidated`; fail
//! closed too: a gateway is never rolled to a config that lets clients in unchecked), discovery and outgoing
//! auth (`BackendsResolved`, `AuthConfigured`: a broken default stops the render, a broken
//! per-backend auth only excludes that backend), and in static mode at least one usable backend.

use vmcp_api::VirtualMCPServer;
use vmcp_api::conditions::{reasons as r, types as t};
use vmcp_api::virtual_server::VirtualMCPServerPhase as P;
use vmcp_config::Config;
use vmcp_core::auth::{self, AuthPlan};
use vmcp_core::discovery;
use vmcp_core::world::World;

use super::{Mode, Stopped, deployment, sessions};
use crate::status::{AUTH_CONFIGURED, BACKENDS_RESOLVED, BackendReport, Cond};
use crate::validate::oidc::{self, ResolvedOidc};
use crate::validate::telemetry::{self, ResolvedTelemetry};
use crate::validate::virtual_server::check_spec;
use crate::validate::{RefProblem, authz};

/// What the later stages build from: everything checked, nothing rendered yet.
#[derive(Clone, Debug)]
pub struct Input {
    pub name: String,
    pub namespace: String,
    pub mode: Mode,
    pub group: String,
    /// The spec's gateway config, checked, with tool configs resolved and authorization
    /// policies from their ConfigMap filled in.
    pub config: Config,
    /// The group's backends whose outgoing auth resolved, in discovery order.
    pub backends: Vec<discovery::Backend>,
    pub auth: AuthPlan,
    /// Group members that are not backends, each with why.
    pub excluded: Vec<String>,
    /// The backends as `status.discoveredBackends` lists them.
    pub reports: Vec<BackendReport>,
    /// The conditions decided so far, all passing or (`BackendsResolved`, `AuthConfigured`)
    /// reporting exclusions that do not stop the render.
    pub conditions: Vec<Cond>,
    /// The resolved `oidcConfigRef`: its client-secret env var and CA mount go into the
    /// Deployment (its `oidc` block is already in `config`).
    pub oidc: Option<ResolvedOidc>,
    /// The referenced MCPAuthzConfig's spec hash, for `status.authzConfigHash`.
    pub authz_config_hash: Option<String>,
    /// The resolved `telemetryConfigRef`: its header variables and CA mount go into the
    /// Deployment (its section is already in `config`).
    pub telemetry: Option<ResolvedTelemetry>,
}

/// Stage 1: validates the spec, the group and the backends' auth.
pub fn validate(vmcp: &VirtualMCPServer, world: &World) -> Result<Input, Box<Stopped>> {
    let name = vmcp.metadata.name.clone().unwrap_or_default();
    let mode = Mode::of(vmcp);
    let mut conds: Vec<Cond> = Vec::new();

    // The spec.
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
                return Err(Stopped::new(conds, c, P::Failed));
            }
        }
    }
    let mut spec = match spec_check {
        Ok(s) => s,
        Err(ps) => {
            problems.extend(ps);
            let c = Cond::fail(t::VALID, r::VALIDATION_FAILED, problems.join("; "));
            return Err(Stopped::new(conds, c, P::Failed));
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

    // The group.
    let group = vmcp.spec.group_ref.name.clone();
    match world.group_ready(&group) {
        None => {
            let c = Cond::fail(
                t::GROUP_REF_VALIDATED,
                r::GROUP_REF_NOT_FOUND,
                format!("Referenced MCPGroup {group} not found"),
            );
            return Err(Stopped::new(conds, c, P::Failed));
        }
        Some(false) => {
            let c = Cond::fail(
                t::GROUP_REF_VALIDATED,
                r::GROUP_REF_NOT_READY,
                format!("Referenced MCPGroup {group} is not ready"),
            );
            return Err(Stopped::new(conds, c, P::Pending));
        }
        Some(true) => conds.push(Cond::ok(
            t::GROUP_REF_VALIDATED,
            r::GROUP_REF_VALID,
            format!("MCPGroup {group} is valid and ready"),
        )),
    }

    // The shared identity provider and authorization config.
    let stop_on = |conds: Vec<Cond>, condition: &str, p: RefProblem| {
        let c = Cond::fail(condition, p.reason, p.message);
        Err(Stopped::new(conds, c, P::Failed))
    };
    let resolved_oidc = match oidc::resolve(vmcp, world) {
        None => None,
        Some(Err(p)) => return stop_on(conds, oidc::CONDITION, p),
        Some(Ok(r)) => {
            conds.push(Cond::ok(
                oidc::CONDITION,
                oidc::REASON_VALID,
                format!("MCPOIDCConfig {} is valid", r.config_name),
            ));
            if let Some(incoming) = spec.config.incoming_auth.as_mut() {
                incoming.auth_type = Some(vmcp_config::IncomingAuthType::Oidc);
                incoming.oidc = Some(r.oidc.clone());
            }
            Some(r)
        }
    };
    let authz_config_hash = match authz::from_ref(vmcp, world) {
        None => None,
        Some(Err(p)) => return stop_on(conds, authz::REF_CONDITION, p),
        Some(Ok((cfg, hash))) => {
            let name = vmcp
                .spec
                .incoming_auth
                .authz_config_ref
                .as_ref()
                .map(|r| r.name.as_str())
                .unwrap_or_default();
            conds.push(Cond::ok(
                authz::REF_CONDITION,
                authz::REF_VALID,
                format!("MCPAuthzConfig {name} is valid"),
            ));
            if let Some(incoming) = spec.config.incoming_auth.as_mut() {
                incoming.authz = Some(cfg);
            }
            Some(hash)
        }
    };

    let resolved_telemetry = match telemetry::resolve(vmcp, world) {
        None => None,
        Some(Err(p)) => return stop_on(conds, telemetry::CONDITION, p),
        Some(Ok(r)) => {
            conds.push(Cond::ok(
                telemetry::CONDITION,
                telemetry::REASON_VALID,
                format!("MCPTelemetryConfig {} is valid", r.config_name),
            ));
            spec.config.telemetry = r.section.clone();
            Some(r)
        }
    };

    // Authorization policies held in a ConfigMap, then discovery and outgoing auth.
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
                return Err(Stopped::new(conds, c, P::Failed));
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
        return Err(Stopped::new(conds, c, P::Failed));
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
    let (usable, unresolved): (Vec<_>, Vec<_>) = disc
        .backends
        .into_iter()
        .partition(|b| !auth.failed.contains_key(&b.name));
    let mut excluded: Vec<String> = disc.skipped.iter().map(|s| s.to_string()).collect();
    for b in &unresolved {
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

    // Static mode needs a backend.
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
        let mut stopped = Stopped::new(conds, c, P::Pending);
        stopped.backends = reports;
        return Err(stopped);
    }

    Ok(Input {
        name,
        namespace: world.namespace.clone(),
        mode,
        group,
        config: spec.config,
        backends: usable,
        auth,
        excluded,
        reports,
        conditions: conds,
        oidc: resolved_oidc,
        authz_config_hash,
        telemetry: resolved_telemetry,
    })
}
