//! `spec.podTemplateSpec`: the user's strategic-merge patch over the generated pod template.
//!
//! Supported (the parts of Kubernetes strategic merge that pod templates use in practice):
//! - maps merge recursively; a `null` value deletes the key;
//! - lists of containers, initContainers, ephemeralContainers, volumes, env, envFrom-free
//!   named lists, imagePullSecrets and resourceClaims merge by `name`; volumeMounts by
//!   `mountPath`; ports by `containerPort`; a list item `{name: x, $patch: delete}` removes
//!   the item; new items are appended;
//! - every other list is replaced as a whole (tolerations, args, command, ...).
//!
//! Not supported: `$retainKeys`, `$setElementOrder`, `$deleteFromPrimitiveList` and
//! `$patch: replace` (they are reported as an error, not ignored). The selector labels are
//! re-applied after the merge, because a patched label would orphan the Deployment's pods.

use serde_json::{Map, Value};

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("spec.podTemplateSpec must be an object")]
    NotAnObject,
    #[error("spec.podTemplateSpec{path}: directive {directive} is not supported")]
    Unsupported { path: String, directive: String },
    #[error("spec.podTemplateSpec{path}: expected {expected}")]
    Shape {
        path: String,
        expected: &'static str,
    },
    #[error("spec.podTemplateSpec: the patched pod template is invalid: {0}")]
    Invalid(String),
}

fn merge_key(list_field: &str) -> Option<&'static str> {
    match list_field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "volumeMounts" | "volumeDevices" => Some("mountPath"),
        "ports" => Some("containerPort"),
        _ => None,
    }
}

/// Applies `patch` to `base` (both JSON forms of a PodTemplateSpec).
pub fn merge(base: &mut Value, patch: &Value) -> Result<(), PatchError> {
    if !patch.is_object() {
        return Err(PatchError::NotAnObject);
    }
    merge_value(base, patch, "")
}

fn merge_value(base: &mut Value, patch: &Value, path: &str) -> Result<(), PatchError> {
    match patch {
        Value::Object(p) => {
            check_directives(p, path)?;
            if !base.is_object() {
                *base = Value::Object(Map::new());
            }
            let Value::Object(b) = base else {
                return Ok(());
            };
            for (k, v) in p {
                let child = format!("{path}.{k}");
                match v {
                    Value::Null => {
                        b.remove(k);
                    }
                    Value::Array(items) => match merge_key(k) {
                        Some(key) => {
                            let target = b.entry(k.clone()).or_insert_with(|| Value::Array(vec![]));
                            merge_list(target, items, key, &child)?;
                        }
                        None => {
                            b.insert(k.clone(), v.clone());
                        }
                    },
                    Value::Object(_) => {
                        let target = b.entry(k.clone()).or_insert(Value::Null);
                        merge_value(target, v, &child)?;
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
            Ok(())
        }
        other => {
            *base = other.clone();
            Ok(())
        }
    }
}

fn check_directives(p: &Map<String, Value>, path: &str) -> Result<(), PatchError> {
    for k in p.keys() {
        if k.starts_with('$') && k != "$patch" {
            return Err(PatchError::Unsupported {
                path: path.into(),
                directive: k.clone(),
            });
        }
    }
    match p.get("$patch") {
        None => Ok(()),
        Some(Value::String(s)) if s == "delete" => Ok(()),
        Some(other) => Err(PatchError::Unsupported {
            path: path.into(),
            directive: format!("$patch: {other}"),
        }),
    }
}

fn merge_list(
    target: &mut Value,
    items: &[Value],
    key: &str,
    path: &str,
) -> Result<(), PatchError> {
    if !target.is_array() {
        *target = Value::Array(vec![]);
    }
    let Value::Array(list) = target else {
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::Object(obj) = item else {
            return Err(PatchError::Shape {
                path: at,
                expected: "an object",
            });
        };
        check_directives(obj, &at)?;
        let Some(id) = obj.get(key).filter(|v| !v.is_null()) else {
            return Err(PatchError::Shape {
                path: at,
                expected: "an item with its merge key",
            });
        };
        let pos = list.iter().position(|e| e.get(key) == Some(id));
        let delete = obj.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                list.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => merge_value(&mut list[p], item, &at)?,
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                merge_value(&mut fresh, item, &at)?;
                list.push(fresh);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_container_by_name_and_replaces_other_lists() {
        let mut base = json!({"spec": {"containers": [
            {"name": "vmcp", "image": "a", "env": [{"name": "X", "value": "1"}],
             "args": ["serve"]}],
            "tolerations": [{"key": "a"}]}});
        let patch = json!({"spec": {
            "containers": [{"name": "vmcp", "env": [{"name": "Y", "value": "2"}],
                            "resources": {"limits": {"memory": "1Gi"}}},
                           {"name": "sidecar", "image": "s"}],
            "tolerations": [{"key": "b"}],
            "nodeSelector": {"disktype": "ssd"}}});
        merge(&mut base, &patch).unwrap();
        let c = &base["spec"]["containers"];
        assert_eq!(c[0]["image"], "a");
        assert_eq!(c[0]["args"], json!(["serve"]));
        assert_eq!(
            c[0]["env"],
            json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])
        );
        assert_eq!(c[0]["resources"]["limits"]["memory"], "1Gi");
        assert_eq!(c[1]["name"], "sidecar");
        assert_eq!(base["spec"]["tolerations"], json!([{"key": "b"}]));
        assert_eq!(base["spec"]["nodeSelector"]["disktype"], "ssd");
    }

    #[test]
    fn delete_directive_and_null() {
        let mut base =
            json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}], "hostNetwork": true}});
        let patch =
            json!({"spec": {"volumes": [{"name": "a", "$patch": "delete"}], "hostNetwork": null}});
        merge(&mut base, &patch).unwrap();
        assert_eq!(base, json!({"spec": {"volumes": [{"name": "b"}]}}));
    }

    #[test]
    fn unsupported_directives_are_errors() {
        let mut base = json!({});
        let err = merge(&mut base, &json!({"spec": {"$retainKeys": ["a"]}})).unwrap_err();
        assert!(err.to_string().contains("$retainKeys"), "{err}");
        assert_eq!(merge(&mut base, &json!([1])), Err(PatchError::NotAnObject));
    }
}
