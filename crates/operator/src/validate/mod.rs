//! Pure validation: entry URLs (SSRF), entries against their world, VirtualMCPServer specs.

pub mod authz;
pub mod entry;
pub mod names;
pub mod oidc;
pub mod superseded;
pub mod telemetry;
pub mod virtual_server;

/// Why a VirtualMCPServer's reference to a shared config (MCPOIDCConfig, MCPAuthzConfig) does
/// not resolve: ToolHive's condition reason and a message naming the object and field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RefProblem {
    pub reason: &'static str,
    pub message: String,
}

/// A CA bundle from a ConfigMap, mounted as a file the gateway reads (the OIDC issuer's, the
/// trace collector's): in static and dynamic mode alike.
#[derive(Clone, Debug, PartialEq)]
pub struct FileCa {
    pub config_map: String,
    pub key: String,
    pub file_path: String,
    pub volume: k8s_openapi::api::core::v1::Volume,
    pub mount: k8s_openapi::api::core::v1::VolumeMount,
}

impl FileCa {
    /// `key` of `config_map` as `{CA_BUNDLE_ROOT}/{dir_name}/{key}`, in pod volume `volume`.
    /// `dir_name` starts with `_`, which no MCPServerEntry name (a DNS subdomain) can, so it
    /// never meets an entry's `<root>/<entry>` mount.
    pub fn mounted(volume: &str, dir_name: &str, config_map: String, key: String) -> FileCa {
        let dir = format!("{}/{dir_name}", vmcp_config::CA_BUNDLE_ROOT);
        let (volume, mount) =
            vmcp_core::ca_bundles::config_map_mount(volume, &config_map, &key, &dir);
        FileCa {
            file_path: format!("{dir}/{key}"),
            volume,
            mount,
            config_map,
            key,
        }
    }
}

/// The variable `var` from `key` of Secret `secret` (which must exist: the pod does not start
/// without it, rather than run without the credential).
pub fn secret_env(var: &str, secret: &str, key: &str) -> k8s_openapi::api::core::v1::EnvVar {
    use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
    EnvVar {
        name: var.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// A hash of a shared config's spec (ToolHive's `status.configHash`): it changes whenever a
/// setting does, so the status of every VirtualMCPServer using it shows which version it runs.
pub fn spec_hash<T: serde::Serialize>(spec: &T) -> String {
    let text = serde_json::to_string(spec).unwrap_or_default();
    vmcp_core::checksum::sha256_hex(&text)[..16].to_string()
}
