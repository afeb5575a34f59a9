//! The live backend set of a running gateway and the per-backend health-check loops.
//!
//! [`Members::apply`] takes the whole desired set, every time: backends whose spec is
//! unchanged keep their client, sessions and health history; new or changed ones are built
//! and fetched; missing ones are closed. The aggregator then swaps the set in one step and
//! tells connected clients what changed through list_changed. Static mode applies once, at
//! start; dynamic mode applies on every change the Kubernetes watches see.
//!
//! The health-check loop also keeps each backend's part of the view fresh in the background:
//! a backend that does not promise `listChanged` notifications is re-listed after every
//! successful check, one that does every [`SAFETY_NET_CHECKS`] checks (a notification can be
//! lost with a dropped stream), and one missing from the view as soon as it answers again.
//! Refreshes keep the previous lists until the new ones land, and clients hear
//! `list_changed` only when something changed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::aggregate::Aggregator;
use crate::backend::build::{BackendSpec, Builder};
use crate::backend::pool::{Backend, Caller};
use crate::error::ServeError;

/// A backend that pushes list changes is still re-listed every this many health checks.
pub const SAFETY_NET_CHECKS: u32 = 10;

/// Whether a backend promises `notifications/*/list_changed` for every list it offers
/// (`capabilities.<tools|resources|prompts>.listChanged`), so polling it can be rare.
pub fn pushes_list_changes(capabilities: &serde_json::Value) -> bool {
    ["tools", "resources", "prompts"]
        .iter()
        .all(|k| match capabilities.get(*k) {
            None | Some(serde_json::Value::Null) => true,
            Some(v) => v.get("listChanged") == Some(&serde_json::Value::Bool(true)),
        })
}

/// How often and how long each backend is pinged.
#[derive(Clone, Copy, Debug)]
pub struct HealthChecks {
    pub interval: Duration,
    /// `None`: the backend's own call timeout.
    pub timeout: Option<Duration>,
}

struct Member {
    spec: BackendSpec,
    backend: Arc<Backend>,
    checker: JoinHandle<()>,
}

impl Drop for Member {
    /// A member that is dropped (removed, replaced) must not keep pinging its backend.
    fn drop(&mut self) {
        self.checker.abort();
    }
}

pub struct Members {
    agg: Arc<Aggregator>,
    builder: Builder,
    checks: HealthChecks,
    current: Mutex<BTreeMap<String, Member>>,
}

impl Members {
    pub fn new(agg: Arc<Aggregator>, builder: Builder, checks: HealthChecks) -> Self {
        Members {
            agg,
            builder,
            checks,
            current: Mutex::new(BTreeMap::new()),
        }
    }

    /// Applies the desired backend set. A backend that cannot be built (a bad CA bundle, a
    /// missing secret value) is left out and reported in the result and in
    /// the aggregator's `left_out` (and so in the VirtualMCPServer status); the others are
    /// served. Returns the build errors by backend.
    pub fn apply(&self, specs: Vec<BackendSpec>) -> BTreeMap<String, String> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut next: BTreeMap<String, Member> = BTreeMap::new();
        let mut failed = BTreeMap::new();
        for spec in specs {
            let name = spec.name.clone();
            if next.contains_key(&name) {
                failed.insert(name, "backend name used twice".to_owned());
                continue;
            }
            match current.remove(&name) {
                Some(m) if m.spec == spec => {
                    next.insert(name, m);
                    continue;
                }
                // Changed: the old client's health checks stop here; its sessions are
                // closed when the aggregator swaps it out.
                Some(old) => old.checker.abort(),
                None => {}
            }
            match self.builder.build(&spec) {
                Ok(backend) => {
                    let checker = self.spawn_checker(&name, backend.clone());
                    next.insert(
                        name,
                        Member {
                            spec,
                            backend,
                            checker,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(backend = %name, error = %e, "backend left out");
                    failed.insert(name, e.to_string());
                }
            }
        }
        // What is left in `current` was removed or replaced.
        for (name, gone) in std::mem::take(&mut *current) {
            gone.checker.abort();
            if !next.contains_key(&name) {
                tracing::info!(backend = %name, "backend removed");
            }
        }
        let set: BTreeMap<String, Arc<Backend>> = next
            .iter()
            .map(|(k, m)| (k.clone(), m.backend.clone()))
            .collect();
        *current = next;
        let fetched = self.agg.replace_backends(set);
        if !fetched.is_empty() {
            tracing::info!(backends = ?fetched, "backends added or changed");
        }
        self.agg.set_left_out(failed.clone());
        failed
    }

    /// Shows in `/status` (`membersNotServed`) the group members discovery found and does not
    /// serve, each with why.
    pub fn report_not_served(&self, why: Vec<String>) {
        self.agg.set_not_served(why);
    }

    /// Like [`Members::apply`], but any backend that cannot be built is an error and nothing
    /// is applied: static mode, where a broken backend is a configuration mistake that
    /// must stop the start.
    pub fn apply_strict(&self, specs: Vec<BackendSpec>) -> Result<(), ServeError> {
        match self.apply(specs).into_iter().next() {
            None => Ok(()),
            Some((backend, what)) => Err(ServeError::Backend { backend, what }),
        }
    }

    /// Stops every health-check loop.
    pub fn stop(&self) {
        for m in self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            m.checker.abort();
        }
    }

    fn spawn_checker(&self, name: &str, b: Arc<Backend>) -> JoinHandle<()> {
        let agg = Arc::downgrade(&self.agg);
        let name = name.to_owned();
        let interval = self.checks.interval;
        let timeout = self
            .checks
            .timeout
            .unwrap_or(b.timeout)
            .min(interval.max(Duration::from_secs(1)));
        tokio::spawn(async move {
            let mut checks: u32 = 0;
            loop {
                tokio::time::sleep(interval).await;
                if b.check(timeout).await.is_err() {
                    continue;
                }
                let Some(agg) = agg.upgrade() else { return };
                checks = checks.wrapping_add(1);
                let due = !agg.has_part(&name)
                    || checks.is_multiple_of(SAFETY_NET_CHECKS)
                    || !b
                        .capabilities(&Caller::gateway())
                        .await
                        .is_ok_and(|c| pushes_list_changes(&c));
                if due {
                    agg.refresh(&name).await;
                }
            }
        })
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_backends_promising_every_list_change_push() {
        assert!(pushes_list_changes(&json!({})));
        assert!(pushes_list_changes(
            &json!({"tools": {"listChanged": true}, "logging": {}})
        ));
        assert!(pushes_list_changes(&json!({
            "tools": {"listChanged": true},
            "resources": {"listChanged": true, "subscribe": true},
            "prompts": {"listChanged": true},
        })));
        assert!(!pushes_list_changes(&json!({"tools": {}})));
        assert!(!pushes_list_changes(
            &json!({"tools": {"listChanged": false}})
        ));
        assert!(!pushes_list_changes(&json!({
            "tools": {"listChanged": true},
            "prompts": {},
        })));
    }
}
