//! vmcp-gateway-kube: what the gateway does with the Kubernetes API when it runs for a
//! VirtualMCPServer (`VMCP_NAME`, `VMCP_NAMESPACE` and credentials available): discover its
//! backends in dynamic mode ([`discover`]) and report each backend's health into the
//! VirtualMCPServer's status with its own field manager ([`report`]).
//!
//! The gateway itself (`vmcp-gateway`) stays free of Kubernetes; this crate feeds it the
//! backend set and watches its in-memory health state. Ownership of status fields:
//! `docs/STATUS.md`.
#![forbid(unsafe_code)]

pub mod discover;
pub mod report;

pub use report::{FIELD_MANAGER, Reporter, Target};

use std::time::Duration;

use vmcp_gateway::Gateway;

/// How often the in-memory health is compared with what was last reported.
const TICK: Duration = Duration::from_secs(1);

/// Attaches Kubernetes discovery (dynamic mode: a config without backends) and status
/// reporting to a running gateway when `VMCP_NAME` and `VMCP_NAMESPACE` are set;
/// credentials come from the cluster or `KUBECONFIG`. Without them the gateway serves its
/// static backends (or, in dynamic mode, an empty set, with a warning). Must be called
/// inside a Tokio runtime.
pub fn attach(cfg: &vmcp_config::Config, gw: &Gateway) {
    let dynamic = !cfg.is_static();
    let members = gw.members.clone();
    let Some(target) = Target::from_env() else {
        if dynamic {
            tracing::warn!(
                "no backends listed and VMCP_NAME/VMCP_NAMESPACE not set: nothing to discover, serving an empty view"
            );
            members.apply(Vec::new());
        }
        tracing::debug!("VMCP_NAME/VMCP_NAMESPACE not set: no status reporting");
        return;
    };
    let interval = report::interval_of(cfg);
    let cfg = cfg.clone();
    let agg = gw.aggregator.clone();
    tokio::spawn(async move {
        let client = match kube::Client::try_default().await {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "no Kubernetes credentials: discovery and status reporting disabled");
                if dynamic {
                    members.apply(Vec::new());
                }
                return;
            }
        };
        if dynamic {
            tracing::info!(vmcp = %target.name, namespace = %target.namespace, group = %cfg.group_ref,
                "dynamic mode: discovering backends from the Kubernetes API");
            tokio::spawn(discover::run(
                client.clone(),
                target.namespace.clone(),
                cfg.clone(),
                members,
            ));
        }
        tracing::info!(vmcp = %target.name, namespace = %target.namespace, ?interval,
            "reporting backend health to the VirtualMCPServer status");
        let _ = Reporter::new(client, target, interval)
            .spawn(agg, TICK)
            .await;
    });
}
