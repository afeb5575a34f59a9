//! Reading multi-document YAML manifests into typed objects, for `vmcp render` and tests.
//!
//! Errors name the file, the document's position and the field path, because a user with a
//! directory of manifests needs to know exactly which object is wrong.
//!
//! Manifest files are untrusted input, read with the same guards as the gateway config
//! (`vmcp_config::input`): a size cap enforced before and during the read, and a nesting-depth
//! scan before the YAML parser, whose cost grows quadratically with flow nesting.
//!
//! Manifests are read once per command or test, never on a hot path, so the objects are kept
//! inline (no boxing) and the errors carry their context as plain strings.
#![allow(clippy::large_enum_variant, clippy::result_large_err)]

use std::path::Path;

use serde::Deserialize;
use vmcp_config::input::{self, InputError};

use crate::{
    MCPAuthzConfig, MCPExternalAuthConfig, MCPGroup, MCPOIDCConfig, MCPRemoteProxy, MCPServer,
    MCPServerEntry, MCPTelemetryConfig, MCPToolConfig, VirtualMCPServer,
    crd::{DEPRECATED_VERSION, GROUP, STORAGE_VERSION},
};

/// Largest manifest file or text read, in bytes (16 MiB). The API server stores no object over
/// 1.5 MiB (etcd's default request limit), so only accidents and hostile files reach this.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// One object from a manifest file.
#[derive(Clone, Debug)]
pub enum Manifest {
    Group(MCPGroup),
    Entry(MCPServerEntry),
    Server(MCPServer),
    RemoteProxy(MCPRemoteProxy),
    VirtualServer(VirtualMCPServer),
    ExternalAuth(MCPExternalAuthConfig),
    ToolConfig(MCPToolConfig),
    OidcConfig(MCPOIDCConfig),
    AuthzConfig(MCPAuthzConfig),
    TelemetryConfig(MCPTelemetryConfig),
    /// Any other kind (ConfigMaps, Secrets, kinds vmcp does not define), kept as JSON.
    Other(serde_json::Value),
}

impl Manifest {
    /// `(kind, namespace, name)` as written (namespace `None` when the manifest leaves it to
    /// the reader), to find an object defined twice.
    pub fn identity(&self) -> (String, Option<String>, Option<String>) {
        use kube::Resource;
        fn of<K: Resource<DynamicType = ()>>(o: &K) -> (String, Option<String>, Option<String>) {
            let m = o.meta();
            (
                K::kind(&()).into_owned(),
                m.namespace.clone(),
                m.name.clone(),
            )
        }
        match self {
            Manifest::Group(o) => of(o),
            Manifest::Entry(o) => of(o),
            Manifest::Server(o) => of(o),
            Manifest::RemoteProxy(o) => of(o),
            Manifest::VirtualServer(o) => of(o),
            Manifest::ExternalAuth(o) => of(o),
            Manifest::ToolConfig(o) => of(o),
            Manifest::OidcConfig(o) => of(o),
            Manifest::TelemetryConfig(o) => of(o),
            Manifest::AuthzConfig(o) => of(o),
            Manifest::Other(v) => {
                let text = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_owned);
                (
                    text("/kind").unwrap_or_default(),
                    text("/metadata/namespace"),
                    text("/metadata/name"),
                )
            }
        }
    }
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read, or its text was refused before parsing. (`error` is in the
    /// message and not a `source()`, so printed error chains do not repeat it.)
    #[error("{source_name}: {error}")]
    Input {
        source_name: String,
        error: InputError,
    },
    #[error("{source_name}: document {index}: invalid YAML: {message}")]
    Yaml {
        source_name: String,
        index: usize,
        message: String,
    },
    /// The document is not a Kubernetes object: not a mapping, no apiVersion or kind, or a
    /// version of vmcp's API group that is not served.
    #[error("{source_name}: document {index}: {message}")]
    Object {
        source_name: String,
        index: usize,
        message: String,
    },
    /// The API server would refuse the object (`admission`): one entry per problem.
    #[error("{source_name}: document {index} ({kind} {name}): {}", problems.join("; "))]
    Refused {
        source_name: String,
        index: usize,
        kind: String,
        name: String,
        problems: Vec<String>,
    },
    #[error("{source_name}: document {index} ({kind} {name}): {path}: {message}")]
    Field {
        source_name: String,
        index: usize,
        kind: String,
        name: String,
        path: String,
        message: String,
    },
}

/// Reads and parses a manifest file of at most [`MAX_MANIFEST_BYTES`]; errors name the file.
pub fn read_manifest_file(path: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let source_name = path.display().to_string();
    match input::read_text(path, MAX_MANIFEST_BYTES) {
        Ok(text) => parse_manifests(&text, &source_name),
        Err(error) => Err(ManifestError::Input { source_name, error }),
    }
}

/// Parses every document of `text`. `source_name` (usually the file path) is used in errors.
/// Empty documents are skipped; documents are numbered from 1.
pub fn parse_manifests(text: &str, source_name: &str) -> Result<Vec<Manifest>, ManifestError> {
    input::check_text(text, MAX_MANIFEST_BYTES).map_err(|error| ManifestError::Input {
        source_name: source_name.to_string(),
        error,
    })?;
    let mut out = Vec::new();
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = serde_json::Value::deserialize(document).map_err(|e| ManifestError::Yaml {
            source_name: source_name.to_string(),
            index,
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        out.push(classify(value, source_name, index)?);
    }
    Ok(out)
}

fn classify(
    mut value: serde_json::Value,
    source_name: &str,
    index: usize,
) -> Result<Manifest, ManifestError> {
    let object_error = |message: String| ManifestError::Object {
        source_name: source_name.to_string(),
        index,
        message,
    };
    if !value.is_object() {
        // `kubectl apply` refuses these too; a list or a scalar here is a mistake in the file.
        return Err(object_error(
            "not a Kubernetes object: expected a mapping with apiVersion, kind and metadata".into(),
        ));
    }
    let text_field = |field: &str| match value.get(field) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(serde_json::Value::String(_)) | None => {
            Err(object_error(format!("{field} is not set")))
        }
        Some(other) => Err(object_error(format!(
            "{field}: expected a string, got {other}"
        ))),
    };
    let api_version = text_field("apiVersion")?;
    let kind = text_field("kind")?;
    let (group, version) = match api_version.split_once('/') {
        Some(gv) => gv,
        None if api_version == GROUP => (GROUP, ""),
        None => ("", api_version.as_str()),
    };
    if group != GROUP {
        return Ok(Manifest::Other(value));
    }
    if version != STORAGE_VERSION && version != DEPRECATED_VERSION {
        return Err(object_error(format!(
            "apiVersion {api_version}: version {version:?} of {GROUP} is not served \
             (served: {STORAGE_VERSION}, {DEPRECATED_VERSION})"
        )));
    }
    // The API server defaults an omitted spec to `{}` for these kinds; do the same offline.
    if crate::crd::OPTIONAL_SPEC_KINDS.contains(&kind.as_str())
        && let Some(map) = value.as_object_mut()
    {
        map.entry("spec").or_insert_with(|| serde_json::json!({}));
    }
    let name = match value.pointer("/metadata/name") {
        Some(serde_json::Value::String(n)) if !n.trim().is_empty() => n.clone(),
        // The API server refuses these; offline, an unnamed object would be dropped unseen.
        _ => {
            return Err(object_error(format!(
                "{kind}: metadata.name: Required value (generateName is not supported)"
            )));
        }
    };
    let field_error = |path: String, message: String| ManifestError::Field {
        source_name: source_name.to_string(),
        index,
        kind: kind.clone(),
        name: name.clone(),
        path,
        message,
    };
    let problems = crate::admission::problems(&kind, &value);
    if !problems.is_empty() {
        return Err(ManifestError::Refused {
            source_name: source_name.to_string(),
            index,
            kind,
            name,
            problems,
        });
    }
    fn typed<T: serde::de::DeserializeOwned>(
        value: serde_json::Value,
    ) -> Result<T, (String, String)> {
        serde_path_to_error::deserialize(value)
            .map_err(|e| (e.path().to_string(), e.inner().to_string()))
    }
    let result = match kind.as_str() {
        "MCPGroup" => typed(value).map(Manifest::Group),
        "MCPServerEntry" => typed(value).map(Manifest::Entry),
        "MCPServer" => typed(value).map(Manifest::Server),
        "MCPRemoteProxy" => typed(value).map(Manifest::RemoteProxy),
        "VirtualMCPServer" => typed(value).map(Manifest::VirtualServer),
        "MCPExternalAuthConfig" => typed(value).map(Manifest::ExternalAuth),
        "MCPToolConfig" => typed(value).map(Manifest::ToolConfig),
        "MCPOIDCConfig" => typed(value).map(Manifest::OidcConfig),
        "MCPAuthzConfig" => typed(value).map(Manifest::AuthzConfig),
        "MCPTelemetryConfig" => typed(value).map(Manifest::TelemetryConfig),
        _ => Ok(Manifest::Other(value)),
    };
    result.map_err(|(path, message)| field_error(path, message))
}
