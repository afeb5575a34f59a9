//! The one writer: every object and every status the operator produces goes through
//! [`Applier`], as a server-side apply with the operator's field manager.
//!
//! Server-side apply makes a reconcile of an unchanged world free of writes: the API server
//! compares the applied configuration with what this manager already owns and, when nothing
//! differs, stores nothing (the resourceVersion stays the same). `force` is used because the
//! operator is the authority for the fields it applies; other managers (the gateway for
//! backend health, users for annotations) keep the fields the operator does not send.
//!
//! The applier is also the only place that deletes: [`Applier::prune`] removes objects the
//! operator created for an owner and no longer renders (the ServiceAccount, Role and
//! RoleBinding once `spec.serviceAccount` names the user's own, or an object a previous
//! version rendered under another name). Owner references alone do not do that: the garbage
//! collector removes dependents only when their owner goes, not when the owner's spec stops
//! wanting them. Which objects are orphans is the pure [`is_orphan`]; a user's object never
//! qualifies, because it lacks the operator's label or a controller reference to the owner.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, name_and_namespace};
use crate::names::{FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE};

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

/// Counts applies, applies that changed the object (resourceVersion moved), and deletions.
#[derive(Debug, Default)]
pub struct ApplyStats {
    pub applies: AtomicU64,
    pub changes: AtomicU64,
    pub deletes: AtomicU64,
}

/// What one prune did: the objects it deleted and those it could not delete, each named
/// `Kind ns/name`. A failure never stops the prune of the other objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    /// (object or list that failed, the error).
    pub failed: Vec<(String, String)>,
}

/// Whether `meta` is an object the operator made for the owner with UID `owner_uid` and no
/// longer wants: it carries the operator's managed-by label *and* a controller owner
/// reference with that UID, is not in `keep`, and is not already being deleted.
///
/// Both marks are required: the label alone is something a user can copy onto an object of
/// their own, and an owner reference alone is what another controller's (or a user's) object
/// pointing at the VirtualMCPServer would carry.
pub fn is_orphan(meta: &ObjectMeta, owner_uid: &str, keep: &BTreeSet<String>) -> bool {
    let labelled = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY_VALUE);
    let controlled = meta
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == owner_uid);
    let wanted = meta.name.as_ref().is_none_or(|n| keep.contains(n));
    labelled && controlled && !wanted && meta.deletion_timestamp.is_none() && !owner_uid.is_empty()
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

    /// Deletes the `K` objects in namespace `ns` that [`is_orphan`] picks for the owner with
    /// UID `owner_uid`, keeping those named in `keep`, and records the outcome in `report`.
    ///
    /// Each deletion is preconditioned on the UID and resourceVersion that were listed, so an
    /// object replaced or changed in between (a user adopting it, say) is not deleted: the API
    /// server answers 409 and the change itself triggers the next reconcile, which looks
    /// again. An object already gone (404) is fine. Dependents (a Deployment's ReplicaSets)
    /// are left to the garbage collector (background propagation).
    pub async fn prune<K>(
        &self,
        ns: &str,
        owner_uid: &str,
        keep: &BTreeSet<String>,
        report: &mut PruneReport,
    ) where
        K: Namespaced,
    {
        let kind = K::kind(&());
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}");
        let listed = match api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
        {
            Ok(l) => l,
            Err(e) => {
                report
                    .failed
                    .push((format!("listing {kind}s in {ns}"), e.to_string()));
                return;
            }
        };
        for item in listed
            .items
            .iter()
            .filter(|o| is_orphan(&o.metadata, owner_uid, keep))
        {
            let name = item.metadata.name.clone().unwrap_or_default();
            let what = format!("{kind} {ns}/{name}");
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: item.metadata.uid.clone(),
                    resource_version: item.metadata.resource_version.clone(),
                }),
                ..DeleteParams::background()
            };
            match api.delete(&name, &params).await {
                Ok(_) => {
                    self.stats.deletes.fetch_add(1, Ordering::Relaxed);
                    report.deleted.push(what);
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    tracing::debug!(object = %what, message = %s.message,
                        "not pruned: changed since it was listed; the change triggers a new look");
                }
                Err(e) => report.failed.push((what, e.to_string())),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};

    fn owned(name: &str, uid: &str, controller: bool, labelled: bool) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            labels: labelled
                .then(|| [(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())].into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "toolhive.stacklok.dev/v1beta1".into(),
                kind: "VirtualMCPServer".into(),
                name: "gw".into(),
                uid: uid.into(),
                controller: Some(controller),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn only_labelled_objects_controlled_by_the_owner_and_unwanted_are_orphans() {
        let keep: BTreeSet<String> = ["gw-vmcp-config".to_string()].into();
        assert!(is_orphan(&owned("gw-vmcp", "u1", true, true), "u1", &keep));
        assert!(
            !is_orphan(&owned("gw-vmcp-config", "u1", true, true), "u1", &keep),
            "still rendered"
        );
        assert!(
            !is_orphan(&owned("gw-vmcp", "u2", true, true), "u1", &keep),
            "another owner's (a VirtualMCPServer of the same name, recreated)"
        );
        assert!(
            !is_orphan(&owned("gw-vmcp", "u1", false, true), "u1", &keep),
            "a non-controller reference is someone else's object pointing at ours"
        );
        assert!(
            !is_orphan(&owned("gw-vmcp", "u1", true, false), "u1", &keep),
            "without the label it is not the operator's"
        );
        let mut user = owned("gw-vmcp", "u1", true, true);
        user.owner_references = None;
        assert!(!is_orphan(&user, "u1", &keep), "a user's labelled object");
        let mut going = owned("gw-vmcp", "u1", true, true);
        going.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert!(!is_orphan(&going, "u1", &keep), "already being deleted");
        assert!(
            !is_orphan(&owned("gw-vmcp", "", true, true), "", &keep),
            "an owner without a UID owns nothing"
        );
    }
}
