//! Validation of an MCPServerEntry against the world: the whole job of the entry controller,
//! and what `vmcp render` uses to decide which entries count as Valid.
//!
//! Every check runs (no early return) so one status shows every problem. The entry is never
//! contacted: reachability is the gateway's business (health checks, circuit breaker).

use vmcp_api::MCPServerEntry;
use vmcp_api::conditions::{reasons as r, types as t};
use vmcp_api::entry::MCPServerEntryPhase;

use crate::status::Cond;
use vmcp_core::url::check_remote_url;
use vmcp_core::world::{ObjKey, World, kinds};

/// Outcome of validating one entry.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryVerdict {
    /// The five (or six) conditions, `Valid` last.
    pub conditions: Vec<Cond>,
    pub phase: MCPServerEntryPhase,
}

impl EntryVerdict {
    pub fn is_valid(&self) -> bool {
        self.phase == MCPServerEntryPhase::Valid
    }

    /// Messages of the failed checks, for the VirtualMCPServer's status.
    pub fn problems(&self) -> Vec<String> {
        self.conditions
            .iter()
            .filter(|c| !c.ok && c.type_ != t::VALID)
            .map(|c| c.message.clone())
            .collect()
    }
}

pub fn validate_entry(entry: &MCPServerEntry, world: &World) -> EntryVerdict {
    let spec = &entry.spec;
    let mut conds = Vec::with_capacity(6);

    conds.push(
        match check_remote_url(
            &spec.remote_url,
            spec.allow_private_endpoint,
            &world.url_policy,
        ) {
            Ok(()) => Cond::ok(
                t::REMOTE_URL_VALIDATED,
                r::REMOTE_URL_VALID,
                "Remote URL is valid",
            ),
            Err(msg) => Cond::fail(t::REMOTE_URL_VALIDATED, r::REMOTE_URL_INVALID, msg),
        },
    );

    let group = &spec.group_ref.name;
    conds.push(match world.group_ready(group) {
        _ if group.is_empty() => Cond::fail(
            t::GROUP_REF_VALIDATED,
            r::GROUP_REF_NOT_FOUND,
            "spec.groupRef.name is empty",
        ),
        None => Cond::fail(
            t::GROUP_REF_VALIDATED,
            r::GROUP_REF_NOT_FOUND,
            format!("Referenced MCPGroup {group} not found"),
        ),
        Some(false) => Cond::fail(
            t::GROUP_REF_VALIDATED,
            r::GROUP_REF_NOT_READY,
            format!("Referenced MCPGroup {group} is not ready"),
        ),
        Some(true) => Cond::ok(
            t::GROUP_REF_VALIDATED,
            r::GROUP_REF_IS_VALID,
            "Referenced MCPGroup exists and is ready",
        ),
    });

    conds.push(match &spec.external_auth_config_ref {
        None => Cond::ok(
            t::EXTERNAL_AUTH_CONFIG_VALIDATED,
            r::AUTH_CONFIG_NOT_CONFIGURED,
            "No external auth config referenced",
        ),
        Some(a) if world.auth_configs.contains_key(&a.name) => Cond::ok(
            t::EXTERNAL_AUTH_CONFIG_VALIDATED,
            r::AUTH_CONFIG_VALID,
            format!("MCPExternalAuthConfig {} exists", a.name),
        ),
        Some(a) => Cond::fail(
            t::EXTERNAL_AUTH_CONFIG_VALIDATED,
            r::AUTH_CONFIG_NOT_FOUND,
            format!("Referenced MCPExternalAuthConfig {} not found", a.name),
        ),
    });

    conds.push(ca_bundle_condition(entry, world));

    let secret_headers = spec
        .header_forward
        .as_ref()
        .and_then(|h| h.add_headers_from_secret.as_ref())
        .filter(|l| !l.is_empty());
    if let Some(headers) = secret_headers {
        let mut missing = Vec::new();
        for h in headers {
            let s = &h.value_secret_ref;
            match world.secret_has_key(&s.name, &s.key) {
                None => missing.push(format!(
                    "header {}: Secret {} not found",
                    h.header_name, s.name
                )),
                Some(false) => missing.push(format!(
                    "header {}: Secret {} has no key {}",
                    h.header_name, s.name, s.key
                )),
                Some(true) => {}
            }
        }
        conds.push(if missing.is_empty() {
            Cond::ok(
                t::HEADER_SECRET_REFS_VALIDATED,
                r::HEADER_SECRETS_VALID,
                "All header Secrets exist",
            )
        } else {
            Cond::fail(
                t::HEADER_SECRET_REFS_VALIDATED,
                r::HEADER_SECRET_NOT_FOUND,
                missing.join("; "),
            )
        });
    }

    let all_ok = conds.iter().all(|c| c.ok);
    if all_ok {
        conds.push(Cond::ok(
            t::VALID,
            r::CONFIG_VALID,
            "All referenced resources are valid",
        ));
    } else {
        let failed: Vec<String> = conds
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.type_, c.message))
            .collect();
        conds.push(Cond::fail(t::VALID, r::CONFIG_INVALID, failed.join("; ")));
    }
    EntryVerdict {
        conditions: conds,
        phase: if all_ok {
            MCPServerEntryPhase::Valid
        } else {
            MCPServerEntryPhase::Failed
        },
    }
}

fn ca_bundle_condition(entry: &MCPServerEntry, world: &World) -> Cond {
    let Some(cm) = entry
        .spec
        .ca_bundle_ref
        .as_ref()
        .and_then(|c| c.config_map_ref.as_ref())
    else {
        return Cond::ok(
            t::CA_BUNDLE_REF_VALIDATED,
            r::CA_BUNDLE_REF_NOT_CONFIGURED,
            "No CA bundle referenced",
        );
    };
    let key = cm.key_or_default();
    let optional = cm.optional == Some(true);
    match world.config_maps.get(&cm.name) {
        Some(data) if data.contains_key(key) => Cond::ok(
            t::CA_BUNDLE_REF_VALIDATED,
            r::CA_BUNDLE_REF_VALID,
            format!("ConfigMap {} has key {key}", cm.name),
        ),
        _ if optional => Cond::ok(
            t::CA_BUNDLE_REF_VALIDATED,
            r::CA_BUNDLE_REF_VALID,
            format!(
                "Optional CA bundle ConfigMap {} (key {key}) is absent; system CAs are used",
                cm.name
            ),
        ),
        Some(_) => Cond::fail(
            t::CA_BUNDLE_REF_VALIDATED,
            r::CA_BUNDLE_REF_NOT_FOUND,
            format!("CA bundle ConfigMap {} has no key {key}", cm.name),
        ),
        None => Cond::fail(
            t::CA_BUNDLE_REF_VALIDATED,
            r::CA_BUNDLE_REF_NOT_FOUND,
            format!("CA bundle ConfigMap {} not found", cm.name),
        ),
    }
}

/// Objects whose change can change this entry's verdict.
pub fn entry_dependencies(entry: &MCPServerEntry, world: &World) -> Vec<ObjKey> {
    let spec = &entry.spec;
    let mut deps = vec![world.key(kinds::GROUP, &spec.group_ref.name)];
    if let Some(a) = &spec.external_auth_config_ref {
        deps.push(world.key(kinds::AUTH, &a.name));
    }
    if let Some(cm) = spec
        .ca_bundle_ref
        .as_ref()
        .and_then(|c| c.config_map_ref.as_ref())
    {
        deps.push(world.key(kinds::CONFIG_MAP, &cm.name));
    }
    for h in spec
        .header_forward
        .iter()
        .flat_map(|h| h.add_headers_from_secret.iter().flatten())
    {
        deps.push(world.key(kinds::SECRET, &h.value_secret_ref.name));
    }
    deps
}
