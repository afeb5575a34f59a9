//! MCPGroup controller: keeps `status` listing the group's members by kind (sorted, with
//! counts), phase Ready and `MCPServersChecked`. VirtualMCPServers and entries wait for the
//! group to be Ready; the lists are informational (membership is declared on the members).

use std::sync::Arc;

use futures::StreamExt;
use kube::Resource;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use vmcp_api::conditions::{reasons as r, types as t};
use vmcp_api::group::{MCPGroupPhase, MCPGroupStatus};
use vmcp_api::{MCPGroup, MCPRemoteProxy, MCPServer, MCPServerEntry};

use super::{Context, RESYNC, Scope, Shutdown, Which, decoded, error_policy, track};
use crate::error::{Error, Result, name_and_namespace};
use crate::read::{Need, load_world};
use crate::status::{Cond, now, to_k8s_conditions};
use vmcp_core::discovery::{BackendKind, Members, group_members};
use vmcp_core::world::{World, kinds};

/// The status a group should have, given its members.
pub fn desired_status(
    group: &MCPGroup,
    members: &Members,
    now: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> MCPGroupStatus {
    let existing = group
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let cond = Cond::ok(
        t::MCP_SERVERS_CHECKED,
        r::LIST_MCP_SERVERS_CHECK_SUCCEEDED,
        "Successfully listed group members",
    );
    let count = |v: &Vec<String>| i32::try_from(v.len()).unwrap_or(i32::MAX);
    MCPGroupStatus {
        observed_generation: group.metadata.generation,
        phase: MCPGroupPhase::Ready,
        server_count: count(&members.servers),
        servers: members.servers.clone(),
        remote_proxy_count: count(&members.proxies),
        remote_proxies: members.proxies.clone(),
        entry_count: count(&members.entries),
        entries: members.entries.clone(),
        conditions: to_k8s_conditions(&[cond], existing, group.metadata.generation, now),
    }
}

async fn reconcile(obj: Arc<DeserializeGuard<MCPGroup>>, ctx: Arc<Context>) -> Result<Action> {
    let Some(group) = decoded(&obj, Which::Group) else {
        return Ok(Action::await_change());
    };
    track(
        &ctx,
        Which::Group,
        group.as_ref(),
        reconcile_inner(group.clone(), ctx.clone()),
    )
    .await
}

/// ToolHive's finalizer name, so that either operator may release a group the other marked.
pub const FINALIZER: &str = "toolhive.stacklok.dev/mcpgroup-finalizer";

/// One reconcile of one group (public so tests can drive it directly).
///
/// The finalizer exists so that deleting a group is seen at all: without it the object is
/// gone before any reconcile, and the MCPServers and MCPRemoteProxies naming it (which no
/// controller of ours validates) would keep `GroupRefValidated=True` for ever. Entries and
/// VirtualMCPServers validate their group themselves and see a deleting group as gone.
pub async fn reconcile_inner(group: Arc<MCPGroup>, ctx: Arc<Context>) -> Result<Action> {
    let (name, ns) = name_and_namespace(group.as_ref())?;
    let finalized = group
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER);
    if group.metadata.deletion_timestamp.is_some() {
        if finalized {
            let world = load_world(&ctx.client, &ns, Need::Members, &[]).await?;
            mark_members(&ctx, &world, &name, MemberMark::GroupDeleted).await;
            ctx.applier
                .apply_finalizers::<MCPGroup>(&ns, &name, &[])
                .await?;
        }
        ctx.group_deps.forget(&ObjectRef::from_obj(group.as_ref()));
        return Ok(Action::await_change());
    }
    if !finalized {
        // Without it the group still works; only its deletion goes unnoticed by the members
        // that nothing else validates. Not worth failing the whole reconcile for.
        if let Err(e) = ctx
            .applier
            .apply_finalizers::<MCPGroup>(&ns, &name, &[FINALIZER])
            .await
        {
            tracing::warn!(%ns, group = %name, error = %e, "could not add the group's finalizer");
        }
    }
    let world = match load_world(&ctx.client, &ns, Need::Members, &[]).await {
        Ok(w) => w,
        Err(e) => {
            // As in ToolHive: a failed list shows on the group (an RBAC gap stays visible),
            // and the reconcile is retried with backoff.
            let status = failed_status(&group, &e.to_string(), &now());
            if let Ok(value) = serde_json::to_value(&status) {
                let _ = ctx
                    .applier
                    .apply_status::<MCPGroup>(&ns, &name, value)
                    .await;
            }
            return Err(e);
        }
    };
    let members = group_members(&world, &name);
    mark_members(&ctx, &world, &name, MemberMark::GroupBack).await;
    ctx.group_deps.record(
        ObjectRef::from_obj(group.as_ref()),
        member_keys(&world, &members),
    );
    let status = desired_status(&group, &members, &now());
    let value = serde_json::to_value(&status).map_err(|source| Error::Serialize {
        what: format!("MCPGroup {ns}/{name} status"),
        source,
    })?;
    ctx.applier
        .apply_status::<MCPGroup>(&ns, &name, value)
        .await?;
    Ok(Action::requeue(RESYNC))
}

/// The status of a group whose members could not be listed.
pub fn failed_status(
    group: &MCPGroup,
    why: &str,
    now: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> MCPGroupStatus {
    let existing = group
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let cond = Cond::fail(
        t::MCP_SERVERS_CHECKED,
        r::LIST_MCP_SERVERS_CHECK_FAILED,
        format!("Failed to list group members: {why}"),
    );
    MCPGroupStatus {
        observed_generation: group.metadata.generation,
        phase: MCPGroupPhase::Failed,
        conditions: to_k8s_conditions(&[cond], existing, group.metadata.generation, now),
        ..MCPGroupStatus::default()
    }
}

/// What [`mark_members`] writes on the MCPServers and MCPRemoteProxies of a group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MemberMark {
    /// The group is being deleted: `GroupRefValidated=False/GroupRefNotFound`.
    GroupDeleted,
    /// The group exists (again): members still marked deleted by us get
    /// `GroupRefValidated=True/GroupRefValid`; no other member is written.
    GroupBack,
}

/// The marker message of [`MemberMark::GroupDeleted`], so a recreated group can take back
/// exactly what this operator wrote.
fn deleted_message(group: &str) -> String {
    format!("Referenced MCPGroup {group} is being deleted")
}

/// Writes the `GroupRefValidated` condition of the group's MCPServers and MCPRemoteProxies
/// (only that condition, with the operator's field manager, so the members' own controllers
/// keep the rest). Failures are logged per member and do not stop the others, as in ToolHive:
/// a member that cannot be marked must not keep the group from being deleted.
async fn mark_members(ctx: &Context, world: &World, group: &str, mark: MemberMark) {
    let members = group_members(world, group);
    let deleted = deleted_message(group);
    let condition = |ok: bool| {
        let (status, reason, message) = if ok {
            (
                "True",
                r::GROUP_REF_VALID,
                format!("MCPGroup {group} is valid"),
            )
        } else {
            ("False", r::GROUP_REF_NOT_FOUND, deleted.clone())
        };
        serde_json::json!({"conditions": [{
            "type": t::GROUP_REF_VALIDATED, "status": status, "reason": reason,
            "message": message, "lastTransitionTime": now(),
        }]})
    };
    let marked_by_us =
        |conds: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>| {
            conds.into_iter().flatten().any(|c| {
                c.type_ == t::GROUP_REF_VALIDATED && c.status == "False" && c.message == deleted
            })
        };
    let ns = &world.namespace;
    let conditions = |kind: BackendKind, name: &str| match kind {
        BackendKind::Server => world
            .servers
            .get(name)
            .and_then(|s| s.status.as_ref())
            .map(|s| &s.conditions),
        _ => world
            .proxies
            .get(name)
            .and_then(|p| p.status.as_ref())
            .map(|p| &p.conditions),
    };
    let targets = (members.servers.iter().map(|n| (BackendKind::Server, n))).chain(
        members
            .proxies
            .iter()
            .map(|n| (BackendKind::RemoteProxy, n)),
    );
    for (kind, name) in targets {
        if mark == MemberMark::GroupBack && !marked_by_us(conditions(kind, name)) {
            continue;
        }
        let status = condition(mark == MemberMark::GroupBack);
        let applied = match kind {
            BackendKind::Server => {
                ctx.applier
                    .apply_status::<MCPServer>(ns, name, status)
                    .await
            }
            _ => {
                ctx.applier
                    .apply_status::<MCPRemoteProxy>(ns, name, status)
                    .await
            }
        };
        if let Err(e) = applied {
            tracing::warn!(%ns, kind = kind.kind(), %name, error = %e, "could not mark the member's group reference");
        }
    }
}

fn member_keys(world: &World, m: &Members) -> Vec<vmcp_core::world::ObjKey> {
    let mut keys = Vec::new();
    keys.extend(m.servers.iter().map(|n| world.key(kinds::SERVER, n)));
    keys.extend(m.proxies.iter().map(|n| world.key(kinds::PROXY, n)));
    keys.extend(m.entries.iter().map(|n| world.key(kinds::ENTRY, n)));
    keys
}

/// The group a member names, plus the groups that listed it last time (it may have moved).
fn member_mapper(
    ctx: &Arc<Context>,
    kind: &'static str,
) -> impl Fn(&kube::api::ObjectMeta, Option<&str>) -> Vec<ObjectRef<DeserializeGuard<MCPGroup>>>
+ Clone
+ use<> {
    let deps = ctx.group_deps.clone();
    move |meta, group| {
        let (Some(ns), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) else {
            return vec![];
        };
        let mut out = deps.dependents(&vmcp_core::world::ObjKey::new(kind, ns, name));
        if let Some(g) = group.filter(|g| !g.is_empty()) {
            out.push(ObjectRef::new(g).within(ns));
        }
        out.into_iter().map(|r| r.into_kind_unchecked(())).collect()
    }
}

/// The MCPGroup controller, running until `shutdown`.
pub async fn run(ctx: Arc<Context>, scope: Scope, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let cfg = watcher::Config::default();
    let servers = member_mapper(&ctx, kinds::SERVER);
    let proxies = member_mapper(&ctx, kinds::PROXY);
    let entries = member_mapper(&ctx, kinds::ENTRY);
    Controller::new(
        scope.api::<DeserializeGuard<MCPGroup>>(&client),
        cfg.clone(),
    )
    .trigger_backoff(super::watch_backoff())
    .watches(
        scope.api::<DeserializeGuard<MCPServer>>(&client),
        cfg.clone(),
        move |s: DeserializeGuard<MCPServer>| {
            let group = s.0.as_ref().ok().and_then(|s| s.spec.group_ref.as_ref());
            servers(s.meta(), group.map(|g| g.name.as_str()))
        },
    )
    .watches(
        scope.api::<DeserializeGuard<MCPRemoteProxy>>(&client),
        cfg.clone(),
        move |p: DeserializeGuard<MCPRemoteProxy>| {
            let group = p.0.as_ref().ok().and_then(|p| p.spec.group_ref.as_ref());
            proxies(p.meta(), group.map(|g| g.name.as_str()))
        },
    )
    .watches(
        scope.api::<DeserializeGuard<MCPServerEntry>>(&client),
        cfg,
        move |e: DeserializeGuard<MCPServerEntry>| {
            let group = e.0.as_ref().ok().map(|e| e.spec.group_ref.name.as_str());
            entries(e.meta(), group)
        },
    )
    .graceful_shutdown_on(shutdown.wait())
    .run(reconcile, error_policy, ctx)
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "mcpgroup controller event");
        }
    })
    .await;
}
