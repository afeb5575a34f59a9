//! Mounting each entry's CA bundle ConfigMap into the gateway, at
//! `/etc/toolhive/ca-bundles/<entry>/<key>` (ToolHive's path), so static configs can name the
//! file in `caBundlePath` and the gateway trusts that CA for that backend only.

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, KeyToPath, Volume, VolumeMount};
use vmcp_api::MCPServerEntry;

use crate::checksum::short_hash;
use crate::world::World;
use vmcp_config::CA_BUNDLE_ROOT;

/// Kubernetes volume names are DNS labels: at most 63 characters.
const MAX_VOLUME_NAME: usize = 63;
const VOLUME_PREFIX: &str = "ca-bundle-";

/// One entry's CA bundle mount.
#[derive(Clone, Debug, PartialEq)]
pub struct CaMount {
    pub entry: String,
    pub config_map: String,
    pub key: String,
    /// The file the gateway reads (`caBundlePath`).
    pub file_path: String,
    pub volume: Volume,
    pub mount: VolumeMount,
}

/// `ca-bundle-<entry>`. Volume names are DNS labels, while entry names may hold dots and be
/// longer: then it is `ca-bundle-<entry with '.' as '-', cut to 44, trailing '-' removed>-<8
/// hex of sha256(entry)>`, so distinct entries (`a.b`, `a-b`) keep distinct volumes.
pub fn volume_name(entry: &str) -> String {
    let label = entry.replace('.', "-");
    let plain = format!("{VOLUME_PREFIX}{label}");
    if label == entry && plain.len() <= MAX_VOLUME_NAME {
        return plain;
    }
    let cut: String = label.chars().take(44).collect();
    format!(
        "{VOLUME_PREFIX}{}-{}",
        cut.trim_end_matches('-'),
        short_hash(entry)
    )
}

/// The mount for an entry with a `caBundleRef`, or `None` without one (or when an optional
/// ConfigMap is absent, in which case system CAs apply).
pub fn plan_for_entry(entry: &MCPServerEntry, world: &World) -> Option<CaMount> {
    let cm = entry.spec.ca_bundle_ref.as_ref()?.config_map_ref.as_ref()?;
    let name = entry.metadata.name.clone()?;
    let key = cm.key_or_default().to_string();
    let present = world
        .config_maps
        .get(&cm.name)
        .is_some_and(|d| d.contains_key(&key));
    if !present && cm.optional == Some(true) {
        return None;
    }
    let dir = format!("{CA_BUNDLE_ROOT}/{name}");
    let (volume, mount) = config_map_mount(&volume_name(&name), &cm.name, &key, &dir);
    Some(CaMount {
        entry: name,
        config_map: cm.name.clone(),
        file_path: format!("{dir}/{key}"),
        volume,
        mount,
        key,
    })
}

/// One key of a ConfigMap as the file `<dir>/<key>`, read-only: how every CA bundle reaches
/// the gateway (an entry's here, the OIDC issuer's in the operator), so all are mounted alike.
pub fn config_map_mount(
    volume: &str,
    config_map: &str,
    key: &str,
    dir: &str,
) -> (Volume, VolumeMount) {
    (
        Volume {
            name: volume.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map.to_string(),
                items: Some(vec![KeyToPath {
                    key: key.to_string(),
                    path: key.to_string(),
                    mode: None,
                }]),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        VolumeMount {
            name: volume.to_string(),
            mount_path: dir.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    )
}
