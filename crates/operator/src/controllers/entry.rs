//! MCPServerEntry controller: validation only. It writes `status.phase` (Valid/Failed) and
//! the six condition types, and re-validates when anything the entry references changes
//! (its group, auth config, CA ConfigMap, header Secrets), through the dependency index.
//! It never contacts the remote URL.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Resource;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use vmcp_api::{MCPExternalAuthConfig, MCPGroup, MCPServerEntry};

use super::{Context, RESYNC, Scope, Shutdown, Which, decoded, error_policy, track};
use crate::error::{Result, name_and_namespace};
use crate::read::load_entry_world;
use crate::status::{now, to_k8s_conditions};
use crate::validate::entry::{entry_dependencies, validate_entry};
use vmcp_core::world::{ObjKey, kinds};

async fn reconcile(
    obj: Arc<DeserializeGuard<MCPServerEntry>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let Some(entry) = decoded(&obj, Which::Entry) else {
        return Ok(Action::await_change());
    };
    track(
        &ctx,
        Which::Entry,
        entry.as_ref(),
        reconcile_inner(entry.clone(), ctx.clone()),
    )
    .await
}

/// One reconcile of one entry (public so tests can drive it directly).
pub async fn reconcile_inner(entry: Arc<MCPServerEntry>, ctx: Arc<Context>) -> Result<Action> {
    let (name, ns) = name_and_namespace(entry.as_ref())?;
    // A transient read error returns before any condition is written.
    let world = load_entry_world(&ctx.client, &entry).await?;
    ctx.entry_deps.record(
        ObjectRef::from_obj(entry.as_ref()),
        entry_dependencies(&entry, &world),
    );
    let verdict = validate_entry(&entry, &world);
    let existing = entry
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let generation = entry.metadata.generation;
    let status = serde_json::json!({
        "observedGeneration": generation,
        "phase": verdict.phase,
        "conditions": to_k8s_conditions(&verdict.conditions, existing, generation, &now()),
    });
    ctx.applier
        .apply_status::<MCPServerEntry>(&ns, &name, status)
        .await?;
    Ok(Action::requeue(RESYNC))
}

fn by_index(
    ctx: &Arc<Context>,
    store: Store<DeserializeGuard<MCPServerEntry>>,
    kind: &'static str,
) -> impl Fn(&kube::api::ObjectMeta) -> Vec<ObjectRef<DeserializeGuard<MCPServerEntry>>> + Clone + use<>
{
    let deps = ctx.entry_deps.clone();
    move |meta| match (meta.namespace.as_deref(), meta.name.as_deref()) {
        (Some(ns), Some(name)) => deps
            .live_dependents(&ObjKey::new(kind, ns, name), &store)
            .into_iter()
            .map(|r| r.into_kind_unchecked(()))
            .collect(),
        _ => vec![],
    }
}

/// The MCPServerEntry controller, running until `shutdown`.
pub async fn run(ctx: Arc<Context>, scope: Scope, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let cfg = watcher::Config::default();
    let controller = Controller::new(
        scope.api::<DeserializeGuard<MCPServerEntry>>(&client),
        cfg.clone(),
    )
    .trigger_backoff(super::watch_backoff());
    let store = controller.store();
    let groups = by_index(&ctx, store.clone(), kinds::GROUP);
    let auths = by_index(&ctx, store.clone(), kinds::AUTH);
    let cms = by_index(&ctx, store.clone(), kinds::CONFIG_MAP);
    let secrets = by_index(&ctx, store, kinds::SECRET);
    controller
        .watches(
            scope.api::<DeserializeGuard<MCPGroup>>(&client),
            cfg.clone(),
            move |g: DeserializeGuard<MCPGroup>| groups(g.meta()),
        )
        .watches(
            scope.api::<DeserializeGuard<MCPExternalAuthConfig>>(&client),
            cfg.clone(),
            move |a: DeserializeGuard<MCPExternalAuthConfig>| auths(a.meta()),
        )
        .watches(
            scope.api::<ConfigMap>(&client),
            cfg.clone(),
            move |c: ConfigMap| cms(&c.metadata),
        )
        .watches(scope.api::<Secret>(&client), cfg, move |s: Secret| {
            secrets(&s.metadata)
        })
        .graceful_shutdown_on(shutdown.wait())
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "mcpserverentry controller event");
            }
        })
        .await;
}
