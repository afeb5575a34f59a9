//! Names, labels, paths and annotation keys of everything the operator creates.
//!
//! They follow ToolHive (`<name>-vmcp`, `<name>-vmcp-config`, `vmcp-<name>`, port 4483, the CA
//! mount root) so that dashboards, NetworkPolicies and runbooks written for ToolHive keep
//! working; they live in one module so a rename is one edit.

use std::collections::BTreeMap;

pub use vmcp_api::virtual_server::VMCP_PORT;

/// Field manager of every server-side apply the operator makes (objects and status).
pub const FIELD_MANAGER: &str = "vmcp-operator";

/// Label that marks objects created by this operator; owned-object watches select on it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "vmcp-operator";

/// Pod-template annotation whose change rolls the gateway pods.
pub const CONFIG_CHECKSUM_ANNOTATION: &str = "toolhive.stacklok.dev/runconfig-checksum";
/// ConfigMap annotation with the checksum of its content.
pub const CONTENT_CHECKSUM_ANNOTATION: &str = "toolhive.stacklok.dev/content-checksum";

/// Key of the gateway config inside the ConfigMap.
pub const CONFIG_KEY: &str = "config.yaml";
/// Where the ConfigMap is mounted in the gateway container.
pub const CONFIG_MOUNT_DIR: &str = "/etc/vmcp-config";
/// Name of the config volume.
pub const CONFIG_VOLUME: &str = "vmcp-config";
/// Name of the gateway container; `podTemplateSpec` patches address it by this name.
pub const CONTAINER_NAME: &str = "vmcp";
/// Root under which each entry's CA bundle is mounted: one constant for the operator and the
/// gateway, in the config crate both read.
pub use vmcp_config::CA_BUNDLE_ROOT;

/// Image of the gateway when `VMCP_GATEWAY_IMAGE` is unset: the same binary, same version.
pub const DEFAULT_GATEWAY_IMAGE: &str = concat!("vmcp:", env!("CARGO_PKG_VERSION"));

/// A ConfigMap may hold at most 1 MiB; keep a margin for metadata and annotations.
pub const MAX_CONFIGMAP_DATA_BYTES: usize = 1024 * 1024 - 16 * 1024;

/// ServiceAccount, Role and RoleBinding name.
pub fn rbac_name(vmcp: &str) -> String {
    format!("{vmcp}-vmcp")
}

pub fn config_map_name(vmcp: &str) -> String {
    format!("{vmcp}-vmcp-config")
}

pub fn deployment_name(vmcp: &str) -> String {
    vmcp.to_string()
}

pub fn service_name(vmcp: &str) -> String {
    format!("vmcp-{vmcp}")
}

/// The in-cluster URL clients use, written to `status.url`.
pub fn service_url(vmcp: &str, namespace: &str) -> String {
    format!(
        "http://{}.{namespace}.svc.cluster.local:{VMCP_PORT}",
        service_name(vmcp)
    )
}

/// Labels shared by the Deployment, its pods and the Service (ToolHive's set), plus our
/// managed-by marker. The selector uses the same set, so it never changes after creation.
pub fn base_labels(vmcp: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(vmcp);
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    labels
}

/// The Deployment selector and Service selector (immutable once created).
pub fn selector_labels(vmcp: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".into(), "virtualmcpserver".into()),
        ("app.kubernetes.io/name".into(), "virtualmcpserver".into()),
        ("app.kubernetes.io/instance".into(), vmcp.into()),
        ("toolhive".into(), "true".into()),
        ("toolhive-name".into(), vmcp.into()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_toolhive() {
        assert_eq!(rbac_name("eng"), "eng-vmcp");
        assert_eq!(config_map_name("eng"), "eng-vmcp-config");
        assert_eq!(service_name("eng"), "vmcp-eng");
        assert_eq!(
            service_url("eng", "ns"),
            "http://vmcp-eng.ns.svc.cluster.local:4483"
        );
    }
}
