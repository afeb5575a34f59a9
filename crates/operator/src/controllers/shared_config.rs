//! MCPOIDCConfig, MCPAuthzConfig, MCPExternalAuthConfig and MCPTelemetryConfig controller: validation only, like the entry controller.
//! It writes each object's `Valid` condition (ToolHive's reasons `ConfigValid` /
//! `ConfigInvalid`, the message naming every problem), `observedGeneration` and `configHash`.
//!
//! The VirtualMCPServers that reference one do not wait for this status: their render checks
//! the referenced spec itself with the same function, so there is no window in which a
//! gateway runs on a config whose status has not caught up.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use vmcp_api::conditions::{reasons as r, types as t};
use vmcp_api::config_status::ConfigStatus;
use vmcp_api::{MCPAuthzConfig, MCPExternalAuthConfig, MCPOIDCConfig, MCPTelemetryConfig};

use super::{Context, RESYNC, Scope, Shutdown, Which, decoded, error_policy, track};
use crate::apply::Namespaced;
use crate::error::{Result, name_and_namespace};
use crate::status::{Cond, now, to_k8s_conditions};
use crate::validate::{authz, oidc, spec_hash, telemetry};

/// A shared config kind: how its spec is checked and hashed.
pub trait SharedConfig: Namespaced + DeserializeOwned + Send + Sync + 'static {
    const WHICH: Which;
    /// Every problem of the spec, each naming its field; empty when valid.
    fn problems(&self) -> Vec<String>;
    fn hash(&self) -> String;
    fn status(&self) -> Option<&ConfigStatus>;
    fn conditions(&self) -> &[Condition] {
        self.status()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default()
    }
}

impl SharedConfig for MCPOIDCConfig {
    const WHICH: Which = Which::OidcConfig;
    fn problems(&self) -> Vec<String> {
        oidc::check_config(&self.spec)
    }
    fn hash(&self) -> String {
        spec_hash(&self.spec)
    }
    fn status(&self) -> Option<&ConfigStatus> {
        self.status.as_ref()
    }
}

impl SharedConfig for MCPAuthzConfig {
    const WHICH: Which = Which::AuthzConfig;
    fn problems(&self) -> Vec<String> {
        authz::from_authz_spec(&self.spec).err().unwrap_or_default()
    }
    fn hash(&self) -> String {
        spec_hash(&self.spec)
    }
    fn status(&self) -> Option<&ConfigStatus> {
        self.status.as_ref()
    }
}

/// Spec problems only: whether its Secrets exist is reported on the VirtualMCPServers that
/// use it (their `AuthConfigured` condition), since the Secret may live on without the config.
impl SharedConfig for MCPExternalAuthConfig {
    const WHICH: Which = Which::ExternalAuthConfig;
    fn problems(&self) -> Vec<String> {
        vmcp_core::auth::spec_problems(&self.spec)
    }
    fn hash(&self) -> String {
        spec_hash(&self.spec)
    }
    fn status(&self) -> Option<&ConfigStatus> {
        self.status.as_ref()
    }
}

/// Spec problems only, as for MCPExternalAuthConfig: its Secrets and CA ConfigMap are checked
/// on the VirtualMCPServers that use it (`TelemetryConfigRefValidated`).
impl SharedConfig for MCPTelemetryConfig {
    const WHICH: Which = Which::TelemetryConfig;
    fn problems(&self) -> Vec<String> {
        telemetry::check_config(&self.spec)
    }
    fn hash(&self) -> String {
        spec_hash(&self.spec)
    }
    fn status(&self) -> Option<&ConfigStatus> {
        self.status.as_ref()
    }
}

/// The status of one shared config, as JSON for server-side apply (pure).
pub fn desired_status<K: SharedConfig>(obj: &K, now: &Time) -> serde_json::Value {
    let problems = obj.problems();
    let kind = K::kind(&());
    let name = obj.meta().name.clone().unwrap_or_default();
    let valid = if problems.is_empty() {
        Cond::ok(t::VALID, r::CONFIG_VALID, format!("{kind} {name} is valid"))
    } else {
        Cond::fail(t::VALID, r::CONFIG_INVALID, problems.join("; "))
    };
    let generation = obj.meta().generation;
    serde_json::json!({
        "observedGeneration": generation,
        "conditions": to_k8s_conditions(&[valid], obj.conditions(), generation, now),
        "configHash": obj.hash(),
    })
}

async fn reconcile<K: SharedConfig>(
    obj: Arc<DeserializeGuard<K>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let Some(cfg) = decoded(&obj, K::WHICH) else {
        return Ok(Action::await_change());
    };
    track(&ctx, K::WHICH, cfg.as_ref(), async {
        let (name, ns) = name_and_namespace(cfg.as_ref())?;
        let status = desired_status(cfg.as_ref(), &now());
        ctx.applier.apply_status::<K>(&ns, &name, status).await?;
        Ok(Action::requeue(RESYNC))
    })
    .await
}

/// The controller of one shared config kind, running until `shutdown`.
pub async fn run<K: SharedConfig>(ctx: Arc<Context>, scope: Scope, shutdown: Shutdown) {
    let client = ctx.client.clone();
    Controller::new(
        scope.api::<DeserializeGuard<K>>(&client),
        watcher::Config::default(),
    )
    .trigger_backoff(super::watch_backoff())
    .graceful_shutdown_on(shutdown.wait())
    .run(reconcile::<K>, error_policy, ctx)
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "shared config controller event");
        }
    })
    .await;
}
