//! Helpers shared by the api tests: the finished (v1beta1) schema of a kind and YAML loading.
#![allow(dead_code)]

use serde_json::Value;

/// The openAPIV3Schema of `kind`'s storage version, as it is written to deploy/crds.
pub fn schema(kind: &str) -> Value {
    let crd = vmcp_api::crd::all_crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for {kind}"));
    let version = crd.spec.versions.into_iter().find(|v| v.storage).unwrap();
    serde_json::to_value(version.schema.unwrap().open_api_v3_schema.unwrap()).unwrap()
}

/// A YAML document as JSON.
pub fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

/// The object with the API server's defaulting applied (schema `default`s).
pub fn defaulted(kind: &str, object: &Value) -> Value {
    kube::core::cel::apply_defaults(&schema(kind), object)
}

/// Runs the kind's CEL rules on `object`; returns the failure messages (empty when valid).
pub fn cel_failures(kind: &str, object: &Value) -> Vec<String> {
    match kube::core::cel::Validator::new().validate(&schema(kind), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}
