//! Schema helpers for shapes that Rust types cannot express on their own: free-form objects
//! that Kubernetes must keep as they are, and list annotations.
//!
//! The CRD post-processing that applies to whole documents lives in `crd.rs`; these are the
//! per-field building blocks used through `#[schemars(schema_with = ...)]`.

use schemars::{Schema, SchemaGenerator, json_schema};

/// An object whose content the API server stores unchanged (`x-kubernetes-preserve-unknown-fields`).
/// Used for pass-through data such as `podTemplateSpec` and for auth types vmcp does not
/// interpret yet, so that ToolHive manifests still apply.
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// The condition list used by every status: a map keyed by `type`.
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let item =
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>();
    json_schema!({
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"]
    })
}

/// A list of unique strings (`x-kubernetes-list-type: set`).
pub fn string_set(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {"type": "string"},
        "x-kubernetes-list-type": "set"
    })
}

/// A list of strings replaced as a whole by server-side apply (`x-kubernetes-list-type: atomic`).
pub fn string_atomic(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {"type": "string"},
        "x-kubernetes-list-type": "atomic"
    })
}
