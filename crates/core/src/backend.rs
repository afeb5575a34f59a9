//! One backend of a group as the gateway config names it: URL, transport, type, CA bundle path
//! and header metadata. The operator writes these into a static-mode ConfigMap; the gateway's
//! dynamic discovery derives the same entries from the same inputs, so both modes serve the
//! same backends.

use vmcp_config::BackendType;

use crate::ca_bundles::CaMount;
use crate::discovery::{Backend, BackendKind};
use crate::headers::HeaderPlan;

/// One static backend entry.
pub fn static_backend(
    b: &Backend,
    group: &str,
    ca: Option<&CaMount>,
    headers: Option<&HeaderPlan>,
) -> vmcp_config::Backend {
    let mut metadata = headers.map(|h| h.metadata.clone()).unwrap_or_default();
    metadata.insert("group".into(), group.to_string());
    vmcp_config::Backend {
        name: b.name.clone(),
        url: b.url.clone(),
        transport: Some(b.transport),
        backend_type: (b.kind == BackendKind::Entry).then_some(BackendType::Entry),
        ca_bundle_path: ca.map(|c| c.file_path.clone()).unwrap_or_default(),
        allow_private_endpoint: b
            .entry
            .as_ref()
            .is_some_and(|e| e.spec.allow_private_endpoint),
        metadata,
    }
}
