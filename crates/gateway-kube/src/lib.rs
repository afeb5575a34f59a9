//! vmcp-gateway-kube: what the gateway does with the Kubernetes API when it runs for a
//! VirtualMCPServer (`VMCP_NAME`, `VMCP_NAMESPACE` and credentials available): report each
//! backend's health into the VirtualMCPServer's status with its own field manager.
//!
//! The gateway itself (`vmcp-gateway`) stays free of Kubernetes; this crate watches its
//! in-memory health state and writes it out. Ownership of status fields: `docs/STATUS.md`.

pub mod report;

pub use report::{FIELD_MANAGER, Reporter, Target};

use std::sync::Arc;
use std::time::Duration;

/// How often the in-memory health is compared with what was last reported.
const TICK: Duration = Duration::from_secs(1);

/// Attaches Kubernetes reporting to a running gateway when `VMCP_NAME` and `VMCP_NAMESPACE`
/// are set; credentials come from the cluster or `KUBECONFIG`. Without them the gateway runs
/// as before. Must be called inside a Tokio runtime.
pub fn attach(cfg: &vmcp_config::Config, agg: Arc<vmcp_gateway::aggregate::Aggregator>) {
    let Some(target) = Target::from_env() else {
        tracing::debug!("VMCP_NAME/VMCP_NAMESPACE not set: no status reporting");
        return;
    };
    let interval = report::interval_of(cfg);
    tokio::spawn(async move {
        match kube::Client::try_default().await {
            Ok(client) => {
                tracing::info!(vmcp = %target.name, namespace = %target.namespace, ?interval,
                    "reporting backend health to the VirtualMCPServer status");
                let _ = Reporter::new(client, target, interval)
                    .spawn(agg, TICK)
                    .await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "no Kubernetes credentials: status reporting disabled")
            }
        }
    });
}
