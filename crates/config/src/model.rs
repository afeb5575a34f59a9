//! The top of the configuration tree: [`Config`], its backends, and the sections vmcp keeps but
//! does not act on yet.
//!
//! This is the one type the operator serialises into the `config.yaml` key of the gateway's
//! ConfigMap and the gateway reads back, and the type of `spec.config` in the VirtualMCPServer
//! CRD. Key names, enum strings and omitted-when-empty behaviour follow ToolHive's `Config`, so
//! manifests and config files written for ToolHive read the same here.
//!
//! Shapes are kept friendly to Kubernetes structural schemas: plain structs, string enums,
//! `Option`, `Vec` and `BTreeMap<String, _>`; no untagged or internally tagged enums, no
//! flatten. Enum variants carry plain `//` comments, because documented variants make schemars
//! emit `oneOf` instead of a plain `enum`.
//!
//! The types deliberately do not use `deny_unknown_fields`: the strict loader (`crate::load`)
//! rejects unknown keys with their paths, while the CRD path can read the same type leniently
//! (ToolHive's CRD preserves unknown fields in `spec.config`, and a Kubernetes client must not
//! fail to decode such an object).

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::aggregation::Aggregation;
use crate::auth::{IncomingAuth, OutgoingAuth};
use crate::operational::Operational;

/// A section vmcp accepts and writes back unchanged but does not implement yet.
///
/// Kept as a JSON object so nothing is lost on a read-modify-write round trip.
pub type Unsupported = serde_json::Map<String, serde_json::Value>;

/// The gateway configuration (`config.yaml`, and `spec.config` of a VirtualMCPServer).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// Name of the virtual MCP server. The operator sets it to the VirtualMCPServer's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,

    /// Name of the MCPGroup (or ToolHive group) whose members are the backends.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group_ref: String,

    /// Backends for static mode. When non-empty the gateway serves exactly these and does not
    /// discover anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<Backend>,

    /// How clients authenticate to the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incoming_auth: Option<IncomingAuth>,

    /// How the gateway authenticates to backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outgoing_auth: Option<OutgoingAuth>,

    /// Tool aggregation: conflict resolution, filters, renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<Aggregation>,

    /// Inline composite tool workflows (not supported yet; kept verbatim).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "preserved_object_list")]
    pub composite_tools: Vec<Unsupported>,

    /// References to VirtualMCPCompositeToolDefinition resources (not supported yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub composite_tool_refs: Vec<CompositeToolRef>,

    /// Timeouts, health checks and failure handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operational: Option<Operational>,

    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,

    /// OpenTelemetry traces (ToolHive's keys; read by [`crate::TelemetrySettings::read`], kept
    /// verbatim so a config round-trips).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub telemetry: Option<Unsupported>,

    /// Audit logging (ToolHive's keys; read by [`crate::AuditSettings::read`], kept
    /// verbatim so a config round-trips).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub audit: Option<Unsupported>,

    /// Tool-search optimizer (not supported yet; kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub optimizer: Option<Unsupported>,

    /// Script execution mode (not supported yet; kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub code_mode: Option<Unsupported>,

    /// Shared session storage (not supported yet; kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub session_storage: Option<Unsupported>,

    /// Rate limiting (not supported yet; kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub rate_limiting: Option<Unsupported>,

    /// Client request headers forwarded verbatim to every backend.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passthrough_headers: Vec<String>,
}

/// One backend of static mode.
// `name`, `url` and `transport` are required by the CRD schema (as in ToolHive); the file
// reader leaves them to the validator, which reports every missing one with its path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[schemars(extend("required" = ["name", "url", "transport"]))]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    /// Backend identifier; the key used by `outgoingAuth.backends`, `aggregation.tools[].workload`
    /// and `operational.timeouts.perWorkload`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,

    /// The MCP endpoint, used verbatim (for example `https://host/mcp` or `http://host/sse`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub url: String,

    /// MCP transport of the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,

    /// `entry` for a remote server declared by an MCPServerEntry; absent (or `""`) for
    /// workloads.
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "backend_type_or_empty"
    )]
    #[schemars(schema_with = "backend_type_schema")]
    pub backend_type: Option<BackendType>,

    // The operator mounts each entry's bundle under `CA_BUNDLE_ROOT`.
    /// Absolute path of a PEM CA bundle trusted for this backend (entries only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_bundle_path: String,

    /// An entry's `allowPrivateEndpoint` (vmcp addition): the addresses its name resolves to
    /// may be private. Without it the gateway refuses to connect an entry to a private,
    /// loopback or metadata address, whatever the URL looked like when it was checked.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_private_endpoint: bool,

    /// Free-form labels; `group` is reserved and set to `groupRef`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Where the operator mounts each entry's CA bundle (`<root>/<entry>/<key>`, ToolHive's path)
/// and where the gateway expects it; the one definition both read.
pub const CA_BUNDLE_ROOT: &str = "/etc/toolhive/ca-bundles";

/// Network transport of a backend.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Transport {
    #[serde(rename = "sse")]
    Sse,
    #[serde(rename = "streamable-http")]
    StreamableHttp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::StreamableHttp => "streamable-http",
        }
    }
}

/// Kind of backend; workloads (MCPServer, MCPRemoteProxy) leave the field out.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum BackendType {
    // A remote MCP server declared by an MCPServerEntry, reached directly.
    #[serde(rename = "entry")]
    Entry,
}

/// Reads `backends[].type`. ToolHive's enum is `entry;""`: an explicit empty string means "not
/// an entry", the same as leaving the key out, so it is read as `None` and written back
/// without the key (what ToolHive's own `omitempty` writes for it, too).
fn backend_type_or_empty<'de, D>(de: D) -> Result<Option<BackendType>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Option<BackendType>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("`entry` or \"\" (not an entry)")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v {
                "entry" => Ok(Some(BackendType::Entry)),
                "" => Ok(None),
                other => Err(E::custom(format!(
                    "unknown variant `{other}`, expected `entry` or \"\" (not an entry)"
                ))),
            }
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: serde::Deserializer<'de>>(
            self,
            de: D2,
        ) -> Result<Self::Value, D2::Error> {
            de.deserialize_str(self)
        }
    }
    de.deserialize_option(Visitor)
}

/// Schema of `backends[].type`: ToolHive's enum, with the empty string.
fn backend_type_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": ["entry", ""],
        "nullable": true,
    })
}

/// A reference to a VirtualMCPCompositeToolDefinition in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompositeToolRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl Config {
    /// Static mode: the backends are listed here and nothing is discovered.
    pub fn is_static(&self) -> bool {
        !self.backends.is_empty()
    }

    /// The backend with this name, if listed.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }
}

/// Schema of a kept-verbatim section: any object, preserved by the API server.
pub(crate) fn preserved_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema of a list of kept-verbatim objects.
pub(crate) fn preserved_object_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}

fn is_false(b: &bool) -> bool {
    !*b
}
