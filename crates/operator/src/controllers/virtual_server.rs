//! VirtualMCPServer controller: read the namespace's world, render, apply the objects in
//! order (ServiceAccount, Role, RoleBinding, ConfigMap, Deployment, Service), prune the
//! objects it made earlier and no longer renders, then apply the operator's part of the
//! status.
//!
//! Watches: the VirtualMCPServer, its children (Deployment, Service, ServiceAccount, Role,
//! RoleBinding by label; ConfigMaps by owner), group members (re-reconciling only the
//! servers whose group names the member, or that listed it last time), and everything the
//! last render read (auth configs, their Secrets, CA ConfigMaps, header Secrets, the
//! authorization policies' ConfigMap, the MCPOIDCConfig with its Secret and CA ConfigMap,
//! the MCPAuthzConfig, the MCPTelemetryConfig with its Secrets and CA ConfigMap) through the
//! dependency index.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Resource;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::PredicateConfig;
use kube::runtime::{WatchStreamExt, predicates, watcher};
use vmcp_api::{
    MCPAuthzConfig, MCPExternalAuthConfig, MCPGroup, MCPOIDCConfig, MCPRemoteProxy, MCPServer,
    MCPServerEntry, MCPTelemetryConfig, MCPToolConfig, VirtualMCPServer,
};

use super::{Context, RESYNC, Scope, Shutdown, Which, decoded, error_policy, owner_vmcp, track};
use crate::apply::{Namespaced, PruneReport};
use crate::error::{Error, Result, name_and_namespace};
use crate::names::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, deployment_name};
use crate::read::{Need, load_world, read_config_maps};
use crate::render::{APPLY_ORDER, Object, Objects, render_virtual_server};
use crate::status::{now, virtual_server_status};
use crate::validate::authz;
use vmcp_core::discovery::entries_awaiting_validation;
use vmcp_core::world::{ObjKey, kinds};

async fn reconcile(
    obj: Arc<DeserializeGuard<VirtualMCPServer>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let Some(vmcp) = decoded(&obj, Which::VirtualServer) else {
        return Ok(Action::await_change());
    };
    track(
        &ctx,
        Which::VirtualServer,
        vmcp.as_ref(),
        reconcile_inner(vmcp.clone(), ctx.clone()),
    )
    .await
}

/// One reconcile of one VirtualMCPServer (public so tests can drive it directly).
pub async fn reconcile_inner(vmcp: Arc<VirtualMCPServer>, ctx: Arc<Context>) -> Result<Action> {
    let (name, ns) = name_and_namespace(vmcp.as_ref())?;
    if vmcp.metadata.deletion_timestamp.is_some() {
        // Being deleted (foreground deletion, or another controller's finalizer): the garbage
        // collector is removing its objects, and applying them again would re-create what it
        // just deleted, so that a foreground deletion never completes.
        ctx.vmcp_deps.forget(&ObjectRef::from_obj(vmcp.as_ref()));
        tracing::debug!(%ns, %name, "being deleted; nothing to reconcile");
        return Ok(Action::await_change());
    }
    let mut world = load_world(
        &ctx.client,
        &ns,
        Need::ForGroup(&vmcp.spec.group_ref.name),
        &[deployment_name(&name)],
    )
    .await?;
    let pending = entries_awaiting_validation(&world, &vmcp.spec.group_ref.name);
    if let Some(left) = ctx
        .validation_hold
        .wait_for(&pending, std::time::Instant::now())
    {
        // The entry's status write re-triggers this reconcile; the requeue is the bound.
        tracing::debug!(%ns, %name, ?pending, "waiting for edited entries to be validated");
        return Ok(Action::requeue(left));
    }
    // The authorization policies' ConfigMap, if that is their source (watched through the
    // dependency index like the entries' CA ConfigMaps).
    let authz_cm = vmcp
        .spec
        .incoming_auth
        .authz_config
        .as_ref()
        .and_then(authz::config_map_ref)
        .map(|(cm, _)| cm.to_owned());
    read_config_maps(&ctx.client, &ns, authz_cm, &mut world).await?;
    let rendered = render_virtual_server(&vmcp, &world, &ctx.settings);
    ctx.vmcp_deps.record(
        ObjectRef::from_obj(vmcp.as_ref()),
        rendered.dependencies.clone(),
    );
    let mut plan = rendered.status.clone();
    let mut next = Action::requeue(RESYNC);
    let mut prune_error = None;
    if let Some(objs) = &rendered.objects {
        match apply_objects(&ctx, objs).await {
            Ok(()) => {
                // Only after every rendered object is in place (the Deployment already runs
                // as the new ServiceAccount), and never after a stopped render or a rejected
                // apply: those leave the existing objects as they are.
                let uid = vmcp.metadata.uid.as_deref().unwrap_or_default();
                let report = prune_orphans(&ctx, &ns, uid, objs).await;
                for what in &report.deleted {
                    tracing::info!(%ns, %name, object = %what, "pruned: no longer rendered");
                }
                for (what, error) in &report.failed {
                    tracing::warn!(%ns, %name, object = %what, %error, "could not prune an object no longer rendered");
                }
                if !report.failed.is_empty() {
                    plan = plan.prune_failed(&report.failed);
                    prune_error = Some(Error::Prune {
                        owner: format!("VirtualMCPServer {ns}/{name}"),
                        failed: report.failed,
                    });
                }
            }
            Err(e) => {
                let Some((what, message)) = e.rejected_object() else {
                    return Err(e);
                };
                tracing::warn!(%ns, %name, %what, %message, "the API server rejected a rendered object");
                plan = plan.rejected_by_api_server(what.trim_start_matches("applying "), message);
                // Until the spec or a dependency changes (each triggers a reconcile).
                next = Action::await_change();
            }
        }
    } else if let Some(why) = rendered.blocked_reason() {
        tracing::info!(%ns, %name, reason = %why, "not updating infrastructure");
    }
    let status = virtual_server_status(&plan, &vmcp, &now());
    ctx.applier
        .apply_status::<VirtualMCPServer>(&ns, &name, status)
        .await?;
    // A failed deletion is retried with the controller's backoff, after the status above has
    // told the user about it: everything else this reconcile did stays done.
    match prune_error {
        Some(e) => Err(e),
        None => Ok(next),
    }
}

/// Deletes every object of the kinds the render produces that the operator made for this
/// VirtualMCPServer (UID `owner_uid`) and `objs` no longer contains. Every kind is tried,
/// whatever fails before it.
async fn prune_orphans(ctx: &Context, ns: &str, owner_uid: &str, objs: &Objects) -> PruneReport {
    async fn kind<K: Namespaced>(
        ctx: &Context,
        ns: &str,
        owner_uid: &str,
        objs: &Objects,
        report: &mut PruneReport,
    ) {
        let keep = objs.wanted(&K::kind(&()));
        ctx.applier.prune::<K>(ns, owner_uid, &keep, report).await;
    }
    let mut report = PruneReport::default();
    // Dependents first: the reverse of the apply order.
    for k in APPLY_ORDER.iter().rev() {
        match *k {
            "Service" => kind::<Service>(ctx, ns, owner_uid, objs, &mut report).await,
            "Deployment" => kind::<Deployment>(ctx, ns, owner_uid, objs, &mut report).await,
            "ConfigMap" => kind::<ConfigMap>(ctx, ns, owner_uid, objs, &mut report).await,
            "RoleBinding" => kind::<RoleBinding>(ctx, ns, owner_uid, objs, &mut report).await,
            "Role" => kind::<Role>(ctx, ns, owner_uid, objs, &mut report).await,
            "ServiceAccount" => kind::<ServiceAccount>(ctx, ns, owner_uid, objs, &mut report).await,
            other => unreachable!("APPLY_ORDER names {other}, which prune does not know"),
        }
    }
    report
}

/// Applies the rendered objects in their apply order, stopping at the first failure.
async fn apply_objects(ctx: &Context, objs: &Objects) -> Result<()> {
    let a = &ctx.applier;
    for o in objs.in_apply_order() {
        match o {
            Object::ServiceAccount(x) => drop(a.apply(x).await?),
            Object::Role(x) => drop(a.apply(x).await?),
            Object::RoleBinding(x) => drop(a.apply(x).await?),
            Object::ConfigMap(x) => drop(a.apply(x).await?),
            Object::Deployment(x) => drop(a.apply(x).await?),
            Object::Service(x) => drop(a.apply(x).await?),
        }
    }
    Ok(())
}

/// What a reconcile reads from the VirtualMCPServer itself: the spec (its generation),
/// whether it is being deleted, and the health the gateway reported per backend (the phase
/// rule, docs/STATUS.md). A gateway moves `lastHealthCheck` on every reporting interval, 30 s
/// per replica by default; without this filter each such write would cost a full reconcile.
fn reconcile_inputs(v: &DeserializeGuard<VirtualMCPServer>) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let Ok(v) = &v.0 else {
        // Undecodable: let every change through; the reconcile reports it.
        return predicates::resource_version(v);
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.metadata.generation.hash(&mut h);
    v.metadata.deletion_timestamp.is_some().hash(&mut h);
    let backends = v
        .status
        .as_ref()
        .and_then(|s| s.discovered_backends.as_ref());
    for b in backends.into_iter().flatten() {
        b.name.hash(&mut h);
        format!("{:?}", b.status).hash(&mut h);
    }
    Some(h.finish())
}

/// VirtualMCPServers that read `key` last time, plus those whose group is `group`.
fn mapper(
    ctx: &Arc<Context>,
    store: Store<DeserializeGuard<VirtualMCPServer>>,
    kind: &'static str,
) -> impl Fn(&kube::api::ObjectMeta, Option<&str>) -> Vec<ObjectRef<DeserializeGuard<VirtualMCPServer>>>
+ Clone
+ use<> {
    let deps = ctx.vmcp_deps.clone();
    move |meta, group| {
        let (Some(ns), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) else {
            return vec![];
        };
        let mut out = deps.live_dependents(&ObjKey::new(kind, ns, name), &store);
        if let Some(g) = group.filter(|g| !g.is_empty()) {
            for v in store.state() {
                let Ok(v) = &v.0 else { continue };
                if v.metadata.namespace.as_deref() == Some(ns) && v.spec.group_ref.name == g {
                    out.push(ObjectRef::from_obj(v));
                }
            }
        }
        guarded_refs(out)
    }
}

/// Controller keys are refs to the guarded type; the object behind them is the same.
fn guarded_refs<K: Resource<DynamicType = ()>>(
    refs: impl IntoIterator<Item = ObjectRef<K>>,
) -> Vec<ObjectRef<DeserializeGuard<K>>> {
    refs.into_iter()
        .map(|r| r.into_kind_unchecked(()))
        .collect()
}

/// The VirtualMCPServer controller, running until `shutdown`.
pub async fn run(ctx: Arc<Context>, scope: Scope, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let cfg = watcher::Config::default();
    let owned =
        watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    let (reader, writer) = reflector::store();
    let main = watcher(
        scope.api::<DeserializeGuard<VirtualMCPServer>>(&client),
        cfg.clone(),
    )
    .backoff(super::watch_backoff())
    .reflect(writer)
    .applied_objects()
    .predicate_filter(reconcile_inputs, PredicateConfig::default());
    let controller = Controller::for_stream(main, reader).trigger_backoff(super::watch_backoff());
    let store = controller.store();
    let groups = mapper(&ctx, store.clone(), kinds::GROUP);
    let servers = mapper(&ctx, store.clone(), kinds::SERVER);
    let proxies = mapper(&ctx, store.clone(), kinds::PROXY);
    let entries = mapper(&ctx, store.clone(), kinds::ENTRY);
    let auths = mapper(&ctx, store.clone(), kinds::AUTH);
    let secrets = mapper(&ctx, store.clone(), kinds::SECRET);
    let tools = mapper(&ctx, store.clone(), kinds::TOOL_CONFIG);
    let oidcs = mapper(&ctx, store.clone(), kinds::OIDC_CONFIG);
    let authzs = mapper(&ctx, store.clone(), kinds::AUTHZ_CONFIG);
    let telemetries = mapper(&ctx, store.clone(), kinds::TELEMETRY_CONFIG);
    let cms = mapper(&ctx, store, kinds::CONFIG_MAP);
    controller
        .owns(scope.api::<Deployment>(&client), owned.clone())
        .owns(scope.api::<Service>(&client), owned.clone())
        .owns(scope.api::<ServiceAccount>(&client), owned.clone())
        .owns(scope.api::<Role>(&client), owned.clone())
        .owns(scope.api::<RoleBinding>(&client), owned)
        .watches(
            scope.api::<ConfigMap>(&client),
            cfg.clone(),
            move |c: ConfigMap| {
                let mut out = cms(&c.metadata, None);
                out.extend(guarded_refs(owner_vmcp(&c.metadata)));
                out
            },
        )
        .watches(
            scope.api::<DeserializeGuard<MCPGroup>>(&client),
            cfg.clone(),
            move |g: DeserializeGuard<MCPGroup>| groups(g.meta(), g.meta().name.as_deref()),
        )
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
            cfg.clone(),
            move |e: DeserializeGuard<MCPServerEntry>| {
                let group = e.0.as_ref().ok().map(|e| e.spec.group_ref.name.as_str());
                entries(e.meta(), group)
            },
        )
        .watches(
            scope.api::<DeserializeGuard<MCPExternalAuthConfig>>(&client),
            cfg.clone(),
            move |a: DeserializeGuard<MCPExternalAuthConfig>| auths(a.meta(), None),
        )
        .watches(
            scope.api::<DeserializeGuard<MCPToolConfig>>(&client),
            cfg.clone(),
            move |t: DeserializeGuard<MCPToolConfig>| tools(t.meta(), None),
        )
        .watches(
            scope.api::<DeserializeGuard<MCPOIDCConfig>>(&client),
            cfg.clone(),
            move |o: DeserializeGuard<MCPOIDCConfig>| oidcs(o.meta(), None),
        )
        .watches(
            scope.api::<DeserializeGuard<MCPAuthzConfig>>(&client),
            cfg.clone(),
            move |a: DeserializeGuard<MCPAuthzConfig>| authzs(a.meta(), None),
        )
        .watches(
            scope.api::<DeserializeGuard<MCPTelemetryConfig>>(&client),
            cfg.clone(),
            move |t: DeserializeGuard<MCPTelemetryConfig>| telemetries(t.meta(), None),
        )
        .watches(scope.api::<Secret>(&client), cfg, move |s: Secret| {
            secrets(&s.metadata, None)
        })
        .graceful_shutdown_on(shutdown.wait())
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "virtualmcpserver controller event");
            }
        })
        .await;
}
