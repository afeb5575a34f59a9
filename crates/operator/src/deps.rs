//! Which objects each reconciled object read last time, so a change to a referenced object
//! (an entry's CA ConfigMap, a header Secret, an auth config, a group member) re-reconciles
//! exactly the objects that depend on it, and nothing else.
//!
//! A reference to an object that does not exist yet is recorded too: creating the missing
//! ConfigMap then triggers the re-validation that clears the condition.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::runtime::reflector::ObjectRef;

use crate::world::ObjKey;

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
