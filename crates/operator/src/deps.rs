//! Which objects each reconciled object read last time, so a change to a referenced object
//! (an entry's CA ConfigMap, a header Secret, an auth config, a group member) re-reconciles
//! exactly the objects that depend on it, and nothing else.
//!
//! A reference to an object that does not exist yet is recorded too: creating the missing
//! ConfigMap then triggers the re-validation that clears the condition.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};

use vmcp_core::world::ObjKey;

/// Dependency index of one controller's objects (`K`).
pub struct DependencyIndex<K: kube::Resource<DynamicType = ()>> {
    inner: Arc<RwLock<Inner<K>>>,
}

impl<K: kube::Resource<DynamicType = ()>> Clone for DependencyIndex<K> {
    fn clone(&self) -> Self {
        DependencyIndex {
            inner: self.inner.clone(),
        }
    }
}

impl<K: kube::Resource<DynamicType = ()>> Default for DependencyIndex<K> {
    fn default() -> Self {
        DependencyIndex {
            inner: Arc::new(RwLock::new(Inner {
                by_dep: HashMap::new(),
                by_owner: HashMap::new(),
            })),
        }
    }
}

struct Inner<K: kube::Resource<DynamicType = ()>> {
    by_dep: HashMap<ObjKey, HashSet<ObjectRef<K>>>,
    by_owner: HashMap<ObjectRef<K>, Vec<ObjKey>>,
}

impl<K: kube::Resource<DynamicType = ()>> DependencyIndex<K> {
    /// Replaces what `owner` depends on.
    pub fn record(&self, owner: ObjectRef<K>, deps: Vec<ObjKey>) {
        let Ok(mut g) = self.inner.write() else {
            return;
        };
        remove(&mut g, &owner);
        for d in &deps {
            g.by_dep.entry(d.clone()).or_default().insert(owner.clone());
        }
        g.by_owner.insert(owner, deps);
    }

    /// Forgets a deleted owner.
    pub fn forget(&self, owner: &ObjectRef<K>) {
        if let Ok(mut g) = self.inner.write() {
            remove(&mut g, owner);
        }
    }

    /// Like [`DependencyIndex::dependents`], limited to owners still in the controller's
    /// `store`. An owner deleted outright is never reconciled again, so this is where its
    /// entries are dropped: the first time one of its dependencies changes.
    pub fn live_dependents(
        &self,
        key: &ObjKey,
        store: &Store<DeserializeGuard<K>>,
    ) -> Vec<ObjectRef<K>>
    where
        K: Clone + serde::de::DeserializeOwned,
    {
        let mut out = self.dependents(key);
        out.retain(|owner| {
            let present = store.get(&owner.clone().into_kind_unchecked(())).is_some();
            if !present {
                self.forget(owner);
            }
            present
        });
        out
    }

    /// Owners that read `key` in their last reconcile.
    pub fn dependents(&self, key: &ObjKey) -> Vec<ObjectRef<K>> {
        self.inner
            .read()
            .map(|g| {
                g.by_dep
                    .get(key)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }
}

fn remove<K: kube::Resource<DynamicType = ()>>(g: &mut Inner<K>, owner: &ObjectRef<K>) {
    if let Some(old) = g.by_owner.remove(owner) {
        for d in old {
            if let Some(set) = g.by_dep.get_mut(&d) {
                set.remove(owner);
                if set.is_empty() {
                    g.by_dep.remove(&d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;
    use vmcp_api::VirtualMCPServer;

    use super::*;

    fn vmcp(name: &str) -> DeserializeGuard<VirtualMCPServer> {
        DeserializeGuard(Ok(serde_json::from_value(serde_json::json!({
            "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"}},
        }))
        .unwrap()))
    }

    #[test]
    fn owners_gone_from_the_store_are_forgotten_when_their_dependency_changes() {
        let index = DependencyIndex::<VirtualMCPServer>::default();
        let ca = ObjKey::new("ConfigMap", "ns", "ca");
        for name in ["kept", "deleted"] {
            index.record(ObjectRef::new(name).within("ns"), vec![ca.clone()]);
        }
        let mut writer = Writer::<DeserializeGuard<VirtualMCPServer>>::default();
        writer.apply_watcher_event(&Event::Apply(vmcp("kept")));
        let store = writer.as_reader();

        let live = index.live_dependents(&ca, &store);
        assert_eq!(live, vec![ObjectRef::new("kept").within("ns")]);
        // The deleted owner is out of the index altogether, not just filtered.
        assert_eq!(index.dependents(&ca), live);
        let g = index.inner.read().unwrap();
        assert!(
            !g.by_owner
                .contains_key(&ObjectRef::new("deleted").within("ns"))
        );
    }
}
