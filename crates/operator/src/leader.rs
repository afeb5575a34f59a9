//! Leader election on a `coordination.k8s.io/v1` Lease, so only one operator replica writes.
//!
//! The holder renews the lease every `renew_every`; a replica takes it over only after
//! `duration` has passed without renewal. A holder that cannot renew for `renew_deadline`
//! (shorter than `duration`) stops its controllers first, so two replicas never write at
//! the same time (the margin covers clock skew and the standby's polling). Updates use `replace` with the lease's
//! resourceVersion (optimistic concurrency), the one write not made by server-side apply:
//! two replicas must not both succeed, and SSA with a shared field manager would let them.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

use crate::error::{Error, Result};

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name, usually).
    pub identity: String,
    /// How long a lease is valid after its last renewal (others may take it over then).
    pub duration: Duration,
    /// How often the holder renews, and how often a standby tries to acquire.
    pub renew_every: Duration,
    /// How long the holder keeps trying to renew before it gives leadership up.
    pub renew_deadline: Duration,
    /// Pause between renewal attempts after a failed one.
    pub retry_every: Duration,
}

impl LeaseConfig {
    /// The timings of client-go's defaults, scaled to renewing every 5 s: valid 15 s, give
    /// up after 10 s of failed renewals, retry every 2 s.
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(10),
            retry_every: Duration::from_secs(2),
        }
    }
}

/// One replica's handle on the lease.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Elector {
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
        }
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.cfg.duration.as_secs())
            .unwrap_or(15)
            .max(1)
    }

    /// Takes or renews the lease; `Ok(true)` when this replica holds it afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = Timestamp::now();
        let name = &self.cfg.name;
        let current = self.api.get_opt(name).await.map_err(Error::kube(format!(
            "reading lease {}/{name}",
            self.cfg.namespace
        )))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(self.duration_secs()),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(Error::kube(format!("creating lease {name}"))(e)),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.cfg.identity;
        if !ours && !holder.is_empty() {
            let secs = i64::from(spec.lease_duration_seconds.unwrap_or(self.duration_secs()));
            let renewed = spec
                .renew_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            let expires = renewed
                .checked_add(SignedDuration::from_secs(secs))
                .unwrap_or(renewed);
            if expires > now {
                return Ok(false);
            }
        }
        if !ours {
            spec.holder_identity = Some(self.cfg.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(self.duration_secs());
        match self.api.replace(name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(Error::kube(format!("updating lease {name}"))(e)),
        }
    }

    /// Blocks until the lease is held, or returns `false` if `stop` resolves first.
    pub async fn acquire(&self, stop: impl std::future::Future<Output = ()>) -> bool {
        tokio::pin!(stop);
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::select! {
                _ = &mut stop => return false,
                _ = tokio::time::sleep(self.cfg.renew_every) => {}
            }
        }
    }

    /// Renews until `stop` resolves, or until renewal has failed for `renew_deadline`
    /// (leadership lost: `Err`), or another replica holds the lease (`Err`). Every attempt is
    /// bounded by what is left of the deadline, so a hanging API call cannot keep this replica
    /// acting as leader past it.
    pub async fn hold(&self, stop: impl std::future::Future<Output = ()>) -> Result<()> {
        tokio::pin!(stop);
        let mut last_ok = tokio::time::Instant::now();
        let mut wait = self.cfg.renew_every;
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
            let left = self.cfg.renew_deadline.saturating_sub(last_ok.elapsed());
            let why = match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => {
                    last_ok = tokio::time::Instant::now();
                    wait = self.cfg.renew_every;
                    continue;
                }
                Ok(Ok(false)) => {
                    return Err(Error::Leadership(format!(
                        "lease {} was taken by another replica",
                        self.cfg.name
                    )));
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {left:?}"),
            };
            tracing::warn!(error = %why, "lease renewal failed");
            if last_ok.elapsed() >= self.cfg.renew_deadline {
                return Err(Error::Leadership(format!(
                    "could not renew lease {} for {:?} (last error: {why})",
                    self.cfg.name, self.cfg.renew_deadline
                )));
            }
            wait = self
                .cfg
                .retry_every
                .min(self.cfg.renew_deadline.saturating_sub(last_ok.elapsed()));
        }
    }

    /// Gives the lease up so another replica can take over at once.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(e) = self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "releasing the lease failed");
        }
    }
}
