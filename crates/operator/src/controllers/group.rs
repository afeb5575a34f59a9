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
use crate::discovery::{Members, group_members};
use crate::error::{Error, Result, name_and_namespace};
use crate::read::{Need, load_world};
use crate::status::{Cond, now, to_k8s_conditions};
use crate::world::{World, kinds};

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

/// One reconcile of one group (public so tests can drive it directly).
pub async fn reconcile_inner(group: Arc<MCPGroup>, ctx: Arc<Context>) -> Result<Action> {
    let (name, ns) = name_and_namespace(group.as_ref())?;
    let world = load_world(&ctx.client, &ns, Need::Members, &[]).await?;
    let members = group_members(&world, &name);
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

fn member_keys(world: &World, m: &Members) -> Vec<crate::world::ObjKey> {
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
        let mut out = deps.dependents(&crate::world::ObjKey::new(kind, ns, name));
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
    .trigger_backoff(super::WatchBackoff::default())
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
