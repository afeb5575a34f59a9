//! The read step of a reconcile: builds a [`World`] for one namespace from the API.
//!
//! Objects are decoded one by one, so a single object the operator cannot decode is skipped
//! with a warning instead of blinding the operator to its whole namespace. Secrets are reduced
//! to their key names as soon as they are read.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use vmcp_api::{
    MCPAuthzConfig, MCPExternalAuthConfig, MCPGroup, MCPOIDCConfig, MCPRemoteProxy, MCPServer,
    MCPServerEntry, MCPTelemetryConfig, MCPToolConfig,
};

use crate::error::{Error, Result};
use vmcp_core::world::{DeploymentState, World};

/// How much of the world a reconcile needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need<'a> {
    /// Group members only (the MCPGroup controller).
    Members,
    /// Everything a VirtualMCPServer on group `.0` reads: the namespace's lists, and the
    /// ConfigMaps and Secrets referenced by that group's entries and by the auth configs.
    /// Entries of other groups cost no reads.
    ForGroup(&'a str),
}

async fn list<K>(client: &Client, ns: &str) -> Result<BTreeMap<String, K>>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let ar = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(Error::kube(format!("listing {} in {ns}", ar.plural)))?;
    let mut out = BTreeMap::new();
    for obj in list.items {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let decoded = serde_json::to_value(&obj).and_then(serde_json::from_value::<K>);
        match decoded {
            Ok(k) => {
                out.insert(name, k);
            }
            Err(e) => {
                tracing::warn!(kind = %ar.kind, %ns, %name, error = %e, "skipping an object that cannot be decoded")
            }
        }
    }
    Ok(out)
}

/// Reads the world of `ns`; `deployments` names the operator's Deployments to read.
pub async fn load_world(
    client: &Client,
    ns: &str,
    need: Need<'_>,
    deployments: &[String],
) -> Result<World> {
    let mut world = World::new(ns);
    world.url_policy = vmcp_core::url::Policy::from_env();
    world.servers = list::<MCPServer>(client, ns).await?;
    world.proxies = list::<MCPRemoteProxy>(client, ns).await?;
    world.entries = list::<MCPServerEntry>(client, ns).await?;
    let group = match need {
        Need::Members => return Ok(world),
        Need::ForGroup(group) => group,
    };
    world.groups = list::<MCPGroup>(client, ns).await?;
    world.auth_configs = list::<MCPExternalAuthConfig>(client, ns).await?;
    world.tool_configs = list::<MCPToolConfig>(client, ns).await?;
    world.oidc_configs = list::<MCPOIDCConfig>(client, ns).await?;
    world.authz_configs = list::<MCPAuthzConfig>(client, ns).await?;
    world.telemetry_configs = list::<MCPTelemetryConfig>(client, ns).await?;

    read_referenced(client, ns, &mut world, Some(group)).await?;
    let dep_api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for name in deployments {
        let got = dep_api
            .get_opt(name)
            .await
            .map_err(Error::kube(format!("reading Deployment {ns}/{name}")))?;
        if let Some(d) = got {
            let status = d.status.unwrap_or_default();
            let failed = status.conditions.iter().flatten().any(|c| {
                c.type_ == "Progressing"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            });
            world.deployments.insert(
                name.clone(),
                DeploymentState {
                    replicas: d.spec.and_then(|s| s.replicas),
                    ready_replicas: status.ready_replicas.unwrap_or(0),
                    failed,
                },
            );
        }
    }
    Ok(world)
}

/// Reads the ConfigMaps and Secrets that the world's entries (of `group`, when given), auth
/// configs and identity providers reference (Secrets reduced to their key names).
async fn read_referenced(
    client: &Client,
    ns: &str,
    world: &mut World,
    group: Option<&str>,
) -> Result<()> {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let in_scope = |e: &&MCPServerEntry| group.is_none_or(|g| e.spec.group_ref.name == g);
    for e in world.entries.values().filter(in_scope) {
        if let Some(cm) = e
            .spec
            .ca_bundle_ref
            .as_ref()
            .and_then(|c| c.config_map_ref.as_ref())
        {
            cms.insert(cm.name.clone());
        }
        for h in e
            .spec
            .header_forward
            .iter()
            .flat_map(|h| h.add_headers_from_secret.iter().flatten())
        {
            secrets.insert(h.value_secret_ref.name.clone());
        }
    }
    for a in world.auth_configs.values() {
        if let Some(h) = &a.spec.header_injection {
            secrets.insert(h.value_secret_ref.name.clone());
        }
        if let Some(b) = &a.spec.bearer_token {
            secrets.insert(b.token_secret_ref.name.clone());
        }
        if let Some(r) = a
            .spec
            .token_exchange
            .as_ref()
            .and_then(|t| t.client_secret_ref.as_ref())
        {
            secrets.insert(r.name.clone());
        }
    }
    // The identity providers' client secrets and CA bundles.
    for i in world
        .oidc_configs
        .values()
        .filter_map(|c| c.spec.inline.as_ref())
    {
        if let Some(s) = &i.client_secret_ref {
            secrets.insert(s.name.clone());
        }
        if let Some(c) = i
            .ca_bundle_ref
            .as_ref()
            .and_then(|c| c.config_map_ref.as_ref())
        {
            cms.insert(c.name.clone());
        }
    }
    // The collectors' secret headers and CA bundles.
    for o in world
        .telemetry_configs
        .values()
        .filter_map(|c| c.spec.open_telemetry.as_ref())
    {
        secrets.extend(
            o.sensitive_headers
                .iter()
                .map(|h| h.secret_key_ref.name.clone()),
        );
        if let Some(c) = o
            .ca_bundle_ref
            .as_ref()
            .and_then(|c| c.config_map_ref.as_ref())
        {
            cms.insert(c.name.clone());
        }
    }
    read_config_maps(client, ns, cms, world).await?;
    let secret_api: Api<Secret> = Api::namespaced(client.clone(), ns);
    for name in secrets {
        let got = secret_api
            .get_opt(&name)
            .await
            .map_err(Error::kube(format!("reading Secret {ns}/{name}")))?;
        if let Some(s) = got {
            if let Some(v) = &s.metadata.resource_version {
                world.secret_versions.insert(name.clone(), v.clone());
            }
            // Keep key names only; the values are dropped here.
            let keys: BTreeSet<String> = s
                .data
                .unwrap_or_default()
                .into_keys()
                .chain(s.string_data.unwrap_or_default().into_keys())
                .collect();
            world.secrets.insert(name, keys);
        }
    }
    Ok(())
}

/// Reads ConfigMaps by name into the world (binaryData keys with an empty value); one that
/// does not exist is left out, which validation reports.
pub async fn read_config_maps(
    client: &Client,
    ns: &str,
    names: impl IntoIterator<Item = String>,
    world: &mut World,
) -> Result<()> {
    let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for name in names {
        if world.config_maps.contains_key(&name) {
            continue;
        }
        let got = cm_api
            .get_opt(&name)
            .await
            .map_err(Error::kube(format!("reading ConfigMap {ns}/{name}")))?;
        if let Some(cm) = got {
            let mut data = cm.data.unwrap_or_default();
            for k in cm.binary_data.unwrap_or_default().into_keys() {
                data.entry(k).or_default();
            }
            world.config_maps.insert(name, data);
        }
    }
    Ok(())
}

/// The world one MCPServerEntry's validation needs, read with targeted GETs: the entry, its
/// group, its auth config, and the ConfigMap and Secrets they reference. Validating an entry
/// must not cost a list of the whole namespace: with N entries that would be N lists of N
/// objects on every resync (measured: 181 s for 1,000 entries).
pub async fn load_entry_world(client: &Client, entry: &MCPServerEntry) -> Result<World> {
    let ns = entry.metadata.namespace.clone().unwrap_or_default();
    let mut world = World::new(&ns);
    world.url_policy = vmcp_core::url::Policy::from_env();
    let group = &entry.spec.group_ref.name;
    if let Some(g) = get::<MCPGroup>(client, &ns, group).await? {
        world.groups.insert(group.clone(), g);
    }
    if let Some(auth) = &entry.spec.external_auth_config_ref
        && let Some(a) = get::<MCPExternalAuthConfig>(client, &ns, &auth.name).await?
    {
        world.auth_configs.insert(auth.name.clone(), a);
    }
    if let Some(name) = &entry.metadata.name {
        world.entries.insert(name.clone(), entry.clone());
    }
    read_referenced(client, &ns, &mut world, None).await?;
    Ok(world)
}

/// One object by name; `None` when it does not exist or cannot be decoded (logged), as the
/// namespace lists treat it.
async fn get<K>(client: &Client, ns: &str, name: &str) -> Result<Option<K>>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let ar = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let Some(obj) = api
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("reading {} {ns}/{name}", ar.kind)))?
    else {
        return Ok(None);
    };
    match serde_json::to_value(&obj).and_then(serde_json::from_value::<K>) {
        Ok(k) => Ok(Some(k)),
        Err(e) => {
            tracing::warn!(kind = %ar.kind, %ns, %name, error = %e, "skipping an object that cannot be decoded");
            Ok(None)
        }
    }
}
