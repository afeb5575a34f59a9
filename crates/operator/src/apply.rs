//! The one writer: every object and every status the operator produces goes through
//! [`Applier`], as a server-side apply with the operator's field manager.
//!
//! Server-side apply makes a reconcile of an unchanged world free of writes: the API server
//! compares the applied configuration with what this manager already owns and, when nothing
//! differs, stores nothing (the resourceVersion stays the same). `force` is used because the
//! operator is the authority for the fields it applies; other managers (the gateway for
//! backend health, users for annotations) keep the fields the operator does not send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, name_and_namespace};
use crate::names::FIELD_MANAGER;

/// A namespaced kind the applier can read and write (`kube::Api` needs these bounds).
pub trait Namespaced:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + DeserializeOwned
    + Clone
    + std::fmt::Debug
{
}

impl<K> Namespaced for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug
{
}

/// Counts applies, and applies that changed the object (resourceVersion moved).
#[derive(Debug, Default)]
pub struct ApplyStats {
    pub applies: AtomicU64,
    pub changes: AtomicU64,
}

/// Server-side applier with a fixed field manager.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    params: PatchParams,
    pub stats: Arc<ApplyStats>,
}

impl Applier {
    pub fn new(client: Client) -> Self {
        Applier {
            client,
            params: PatchParams::apply(FIELD_MANAGER).force(),
            stats: Arc::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn record(&self, before: Option<&str>, after: Option<&str>) {
        self.stats.applies.fetch_add(1, Ordering::Relaxed);
        if before.is_none() || before != after {
            self.stats.changes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Applies a namespaced object (its metadata must carry name and namespace).
    pub async fn apply<K>(&self, obj: &K) -> Result<K>
    where
        K: Namespaced + Serialize,
    {
        let (name, ns) = name_and_namespace(obj)?;
        let api: Api<K> = Api::namespaced(self.client.clone(), &ns);
        let before = api
            .get_metadata_opt(&name)
            .await
            .map_err(Error::kube(format!("reading {} {ns}/{name}", K::kind(&()))))?
            .and_then(|m| m.metadata.resource_version);
        let applied = api
            .patch(&name, &self.params, &Patch::Apply(obj))
            .await
            .map_err(Error::kube(format!(
                "applying {} {ns}/{name}",
                K::kind(&())
            )))?;
        self.record(
            before.as_deref(),
            applied.meta().resource_version.as_deref(),
        );
        Ok(applied)
    }

    /// Sets the finalizers this operator holds on `K` `ns/name` to `finalizers` (server-side
    /// apply of `metadata.finalizers`, a set: other owners' finalizers stay; an empty list
    /// releases ours).
    pub async fn apply_finalizers<K>(&self, ns: &str, name: &str, finalizers: &[&str]) -> Result<()>
    where
        K: Namespaced,
    {
        let mut body = partial::<K>(ns, name);
        body["metadata"]["finalizers"] = serde_json::json!(finalizers);
        self.apply_partial::<K>(ns, name, &body, Part::Object, "the finalizers")
            .await
    }

    /// Applies `status` to the status subresource of `K` `ns/name`.
    pub async fn apply_status<K>(
        &self,
        ns: &str,
        name: &str,
        status: serde_json::Value,
    ) -> Result<()>
    where
        K: Namespaced,
    {
        let mut body = partial::<K>(ns, name);
        body["status"] = status;
        self.apply_partial::<K>(ns, name, &body, Part::Status, "status")
            .await
    }

    /// Sends a partial object (only the fields this manager owns) as a server-side apply.
    /// Only the count is kept: whether it changed is the caller's comparison to make.
    async fn apply_partial<K>(
        &self,
        ns: &str,
        name: &str,
        body: &serde_json::Value,
        part: Part,
        what: &str,
    ) -> Result<()>
    where
        K: Namespaced,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let patch = Patch::Apply(body);
        let sent = match part {
            Part::Object => api.patch(name, &self.params, &patch).await,
            Part::Status => api.patch_status(name, &self.params, &patch).await,
        };
        sent.map_err(Error::kube(format!(
            "applying {what} of {} {ns}/{name}",
            K::kind(&())
        )))?;
        self.stats.applies.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Which part of an object a partial apply goes to.
#[derive(Clone, Copy)]
enum Part {
    Object,
    Status,
}

/// The identifying skeleton of an apply body for `K` `ns/name`.
fn partial<K: Resource<DynamicType = ()>>(ns: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": name, "namespace": ns },
    })
}
