//! Where the manifests of ToolHive's compatibility checks come from.
//!
//! ToolHive's own example manifests are third-party data that the repository does not carry:
//! a developer may keep them beside the checkout, and then the compatibility tests read them
//! too. The repository's tests must pass without them, so every such test also runs, always,
//! against `tests/fixtures/toolhive-shapes/` — manifests of our own in the same shapes.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    sync::Once,
};

use crate::binaries::workspace_root;

/// Environment variable naming the directory of ToolHive's example manifests
/// (`scripts/test.sh` sets it when `../shared/compat/toolhive` exists beside the checkout).
pub const SAMPLES_ENV: &str = "VMCP_TOOLHIVE_SAMPLES";

/// What a test binary prints, once, when it runs without the samples.
pub const SKIPPED_UNSET: &str = "toolhive samples: skipped (VMCP_TOOLHIVE_SAMPLES not set; the check reads ToolHive's example manifests when they are beside the checkout)";

/// Our own manifests in the shapes of ToolHive's samples (every kind, every field the samples
/// exercise, with our own names and values). Always present.
pub fn toolhive_shapes() -> PathBuf {
    workspace_root().join("tests/fixtures/toolhive-shapes")
}

/// The directory of ToolHive's samples, if `VMCP_TOOLHIVE_SAMPLES` names one. Otherwise `None`,
/// after one line on stderr (once per test binary) saying that the check was skipped and why.
pub fn toolhive_samples() -> Option<PathBuf> {
    match samples_dir(std::env::var_os(SAMPLES_ENV), &workspace_root()) {
        Ok(dir) => Some(dir),
        Err(why) => {
            static SAID: Once = Once::new();
            SAID.call_once(|| eprintln!("{why}"));
            None
        }
    }
}

/// The samples directory for a value of the variable, or the line saying why there is none.
/// A relative path is taken from the workspace root, because each test binary runs in its own
/// crate's directory and the same setting must mean the same folder for all of them.
pub fn samples_dir(value: Option<OsString>, root: &Path) -> Result<PathBuf, String> {
    let value = value.filter(|v| !v.is_empty()).ok_or(SKIPPED_UNSET)?;
    let dir = root.join(PathBuf::from(value));
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "toolhive samples: skipped ({SAMPLES_ENV}={} is not a directory)",
            dir.display()
        ))
    }
}

/// Fields whose keys are names the user picks (labels, per-workload timeouts, tool overrides,
/// header names, ...): [`field_paths`] writes their keys as `*`, so that our fixtures cover a
/// map by having one, not by copying the samples' keys.
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "nodeSelector",
    "perWorkload",
    "toolsOverride",
    "overrides",
    "addPlaintextHeaders",
    "embeddingHeaders",
    "backends",
    "data",
    "stringData",
];

/// Fields with a closed set of values (transports, modes, strategies): [`field_paths`] keeps
/// their value, because a value the fixtures lack is a shape they do not cover.
const ENUM_FIELDS: &[&str] = &[
    "transport",
    "type",
    "source",
    "conflictResolution",
    "partialFailureMode",
    "serviceType",
];

/// Every field path of a manifest or config, for comparing what two sets of files exercise:
/// `a.b[].c: string`, `a.labels.*: string`, `spec.transport=sse`, `a.b={}` for an empty map.
/// Array items share one `[]`; keys of user-named maps are `*`; enum-like fields keep their
/// value.
pub fn field_paths(value: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    walk(value, "", "", &mut out);
    out
}

fn walk(
    value: &serde_json::Value,
    path: &str,
    field: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    use serde_json::Value;
    match value {
        Value::Object(map) if map.is_empty() => {
            out.insert(format!("{path}={{}}"));
        }
        Value::Object(map) => {
            for (key, v) in map {
                let key = if MAP_FIELDS.contains(&field) {
                    "*"
                } else {
                    key
                };
                let sub = if path.is_empty() {
                    key.to_owned()
                } else {
                    format!("{path}.{key}")
                };
                walk(v, &sub, key, out);
            }
        }
        Value::Array(items) if items.is_empty() => {
            out.insert(format!("{path}=[]"));
        }
        Value::Array(items) => {
            for v in items {
                walk(v, &format!("{path}[]"), field, out);
            }
        }
        Value::String(s) if ENUM_FIELDS.contains(&field) => {
            out.insert(format!("{path}={s}"));
        }
        Value::String(_) => {
            out.insert(format!("{path}: string"));
        }
        Value::Number(_) => {
            out.insert(format!("{path}: number"));
        }
        Value::Bool(_) => {
            out.insert(format!("{path}: bool"));
        }
        Value::Null => {
            out.insert(format!("{path}: null"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_merge_items_name_maps_by_star_and_keep_enum_values() {
        let v = serde_json::json!({
            "metadata": {"labels": {"team": "a"}},
            "spec": {"transport": "sse", "args": ["x", "y"], "env": [{"name": "A"}],
                     "perWorkload": {"w": "1s"}, "port": 1, "on": true, "none": null, "e": {}, "l": []}
        });
        let paths: Vec<String> = field_paths(&v).into_iter().collect();
        assert_eq!(
            paths,
            [
                "metadata.labels.*: string",
                "spec.args[]: string",
                "spec.e={}",
                "spec.env[].name: string",
                "spec.l=[]",
                "spec.none: null",
                "spec.on: bool",
                "spec.perWorkload.*: string",
                "spec.port: number",
                "spec.transport=sse",
            ]
        );
    }

    #[test]
    fn unset_or_empty_is_skipped_with_the_reason() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            samples_dir(None, root.path()),
            Err(SKIPPED_UNSET.to_owned())
        );
        assert_eq!(
            samples_dir(Some(OsString::new()), root.path()),
            Err(SKIPPED_UNSET.to_owned())
        );
    }

    #[test]
    fn a_missing_directory_is_skipped_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let err = samples_dir(Some("nowhere".into()), root.path()).unwrap_err();
        assert_eq!(
            err,
            format!(
                "toolhive samples: skipped (VMCP_TOOLHIVE_SAMPLES={} is not a directory)",
                root.path().join("nowhere").display()
            )
        );
    }

    #[test]
    fn relative_paths_are_taken_from_the_root_and_absolute_ones_as_they_are() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("samples")).unwrap();
        assert_eq!(
            samples_dir(Some("samples".into()), root.path()),
            Ok(root.path().join("samples"))
        );
        let abs = root.path().join("samples");
        assert_eq!(
            samples_dir(Some(abs.clone().into_os_string()), Path::new("/elsewhere")),
            Ok(abs)
        );
    }

    #[test]
    fn the_fixtures_are_in_the_repository() {
        let dir = toolhive_shapes();
        for sub in [
            "gateway-config",
            "external-auth",
            "mcp-server-entries",
            "mcp-servers",
            "tool-configs",
            "virtual-mcps",
        ] {
            assert!(dir.join(sub).is_dir(), "{}", dir.join(sub).display());
        }
    }
}
