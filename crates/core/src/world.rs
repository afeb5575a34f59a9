//! A snapshot of every input a reconcile (or `vmcp render`) looks at, for one namespace.
//!
//! The pure steps (validation, discovery, rendering) read only this snapshot, never the API,
//! so the operator and `vmcp render` share one code path and tests can build worlds by hand.
//! Secrets are held as key names only: no secret value ever enters the snapshot, so none can
//! leak into a rendered ConfigMap or a log line.

use std::collections::{BTreeMap, BTreeSet};

use vmcp_api::entry::MCPServerEntryPhase;
use vmcp_api::group::MCPGroupPhase;
use vmcp_api::manifest::Manifest;
use vmcp_api::{
    MCPAuthzConfig, MCPExternalAuthConfig, MCPGroup, MCPOIDCConfig, MCPRemoteProxy, MCPServer,
    MCPServerEntry, MCPTelemetryConfig, MCPToolConfig, VirtualMCPServer,
};

/// What the operator needs to know about a Deployment it created.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentState {
    pub replicas: Option<i32>,
    pub ready_replicas: i32,
    /// True when the Deployment's `Progressing` condition reports a deadline exceeded.
    pub failed: bool,
}

/// Inputs of one namespace, keyed by object name.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub namespace: String,
    pub groups: BTreeMap<String, MCPGroup>,
    pub servers: BTreeMap<String, MCPServer>,
    pub proxies: BTreeMap<String, MCPRemoteProxy>,
    pub entries: BTreeMap<String, MCPServerEntry>,
    pub auth_configs: BTreeMap<String, MCPExternalAuthConfig>,
    pub tool_configs: BTreeMap<String, MCPToolConfig>,
    /// Identity providers a VirtualMCPServer's `incomingAuth.oidcConfigRef` may name.
    pub oidc_configs: BTreeMap<String, MCPOIDCConfig>,
    /// Authorization configurations `incomingAuth.authzConfigRef` may name.
    pub authz_configs: BTreeMap<String, MCPAuthzConfig>,
    /// OpenTelemetry collectors a VirtualMCPServer's `telemetryConfigRef` may name.
    pub telemetry_configs: BTreeMap<String, MCPTelemetryConfig>,
    /// ConfigMap data (binaryData keys appear with an empty value).
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Secret key names; never values.
    pub secrets: BTreeMap<String, BTreeSet<String>>,
    /// Secret `resourceVersion`s: part of the static-mode rollout checksum, so a rotated
    /// Secret restarts the pods whose env it fills (the kubelet reads env only at start)
    /// without the operator ever hashing, let alone keeping, a value.
    pub secret_versions: BTreeMap<String, String>,
    /// Deployments by name (only the ones the operator created are loaded).
    pub deployments: BTreeMap<String, DeploymentState>,
    /// Operator policy, not cluster state: whether entries may point at loopback addresses,
    /// and the API server's address (see `url::Policy`). Carried here so
    /// validation stays pure.
    pub url_policy: crate::url::Policy,
}

/// A reference from one object to another, used to know what to re-reconcile when the
/// referenced object changes (see `deps`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(kind: &'static str, namespace: &str, name: &str) -> Self {
        ObjKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// Kind names used in dependency keys.
pub mod kinds {
    pub const GROUP: &str = "MCPGroup";
    pub const SERVER: &str = "MCPServer";
    pub const PROXY: &str = "MCPRemoteProxy";
    pub const ENTRY: &str = "MCPServerEntry";
    pub const AUTH: &str = "MCPExternalAuthConfig";
    pub const TOOL_CONFIG: &str = "MCPToolConfig";
    pub const OIDC_CONFIG: &str = "MCPOIDCConfig";
    pub const AUTHZ_CONFIG: &str = "MCPAuthzConfig";
    pub const TELEMETRY_CONFIG: &str = "MCPTelemetryConfig";
    pub const CONFIG_MAP: &str = "ConfigMap";
    pub const SECRET: &str = "Secret";
}

impl World {
    pub fn new(namespace: &str) -> Self {
        World {
            namespace: namespace.to_string(),
            ..World::default()
        }
    }

    /// True when the group exists and its status says Ready; `None` when it does not exist
    /// or is being deleted (it only waits for its finalizer then).
    pub fn group_ready(&self, name: &str) -> Option<bool> {
        let group = self.groups.get(name);
        group
            .filter(|g| g.metadata.deletion_timestamp.is_none())
            .map(|g| {
                g.status
                    .as_ref()
                    .is_some_and(|s| s.phase == MCPGroupPhase::Ready)
            })
    }

    /// True when the entry's status says Valid for its current spec. A status written for
    /// an older generation does not count: a changed `remoteUrl` must pass validation (the
    /// SSRF checks among them) before any gateway routes to it.
    pub fn entry_valid(&self, entry: &MCPServerEntry) -> bool {
        entry.status.as_ref().is_some_and(|s| {
            s.phase == MCPServerEntryPhase::Valid
                && (s.observed_generation.is_none()
                    || s.observed_generation == entry.metadata.generation)
        })
    }

    /// True when the entry's status was written for an older generation: its current spec
    /// was changed and the operator has not validated it yet. A gateway that serves the
    /// entry keeps its previous backend meanwhile (see `vmcp-gateway-kube`'s discovery).
    pub fn entry_awaiting_validation(&self, entry: &MCPServerEntry) -> bool {
        entry.status.as_ref().is_some_and(|s| {
            s.observed_generation.is_some() && s.observed_generation != entry.metadata.generation
        })
    }

    pub fn secret_has_key(&self, name: &str, key: &str) -> Option<bool> {
        self.secrets.get(name).map(|keys| keys.contains(key))
    }

    pub fn key(&self, kind: &'static str, name: &str) -> ObjKey {
        ObjKey::new(kind, &self.namespace, name)
    }
}

/// Every namespace's world plus the VirtualMCPServers, read from manifests for `vmcp render`.
#[derive(Clone, Debug, Default)]
pub struct ManifestWorlds {
    pub worlds: BTreeMap<String, World>,
    pub virtual_servers: Vec<VirtualMCPServer>,
}

/// Namespace used for manifests that name none, as `kubectl apply` would.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The namespace a manifest's object lands in: its own, or [`DEFAULT_NAMESPACE`] when it names
/// none (or an empty one).
pub fn namespace_or_default(namespace: Option<&str>) -> String {
    namespace
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_string()
}

fn ns_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    namespace_or_default(meta.namespace.as_deref())
}

impl ManifestWorlds {
    /// Sorts manifests into per-namespace worlds. Objects without a name are ignored (the API
    /// server would reject them), and the namespace defaults to `default`.
    pub fn from_manifests(manifests: Vec<Manifest>) -> Self {
        let mut out = ManifestWorlds::default();
        for m in manifests {
            out.add(m);
        }
        out
    }

    fn world(&mut self, ns: String) -> &mut World {
        self.worlds
            .entry(ns.clone())
            .or_insert_with(|| World::new(&ns))
    }

    fn add(&mut self, m: Manifest) {
        macro_rules! put {
            ($obj:expr, $field:ident) => {{
                let mut obj = $obj;
                let Some(name) = obj.metadata.name.clone() else {
                    return;
                };
                let ns = ns_of(&obj.metadata);
                obj.metadata.namespace = Some(ns.clone());
                self.world(ns).$field.insert(name, obj);
            }};
        }
        match m {
            Manifest::Group(g) => put!(g, groups),
            Manifest::Entry(e) => put!(e, entries),
            Manifest::Server(s) => put!(s, servers),
            Manifest::RemoteProxy(p) => put!(p, proxies),
            Manifest::ExternalAuth(a) => put!(a, auth_configs),
            Manifest::VirtualServer(mut v) => {
                let ns = ns_of(&v.metadata);
                v.metadata.namespace = Some(ns.clone());
                self.world(ns);
                self.virtual_servers.push(v);
            }
            Manifest::ToolConfig(t) => put!(t, tool_configs),
            Manifest::OidcConfig(o) => put!(o, oidc_configs),
            Manifest::AuthzConfig(a) => put!(a, authz_configs),
            Manifest::TelemetryConfig(t) => put!(t, telemetry_configs),
            Manifest::Other(value) => self.add_other(&value),
        }
    }

    fn add_other(&mut self, value: &serde_json::Value) {
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default();
        let api_version = value
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or_default();
        if api_version != "v1" {
            return;
        }
        let Some(name) = value.pointer("/metadata/name").and_then(|n| n.as_str()) else {
            return;
        };
        let ns = value
            .pointer("/metadata/namespace")
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE)
            .to_string();
        let string_map = |field: &str| -> BTreeMap<String, String> {
            value
                .get(field)
                .and_then(|d| d.as_object())
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        match kind {
            "ConfigMap" => {
                let mut data = string_map("data");
                for k in string_map("binaryData").into_keys() {
                    data.entry(k).or_default();
                }
                self.world(ns).config_maps.insert(name.to_string(), data);
            }
            "Secret" => {
                let keys: BTreeSet<String> = string_map("data")
                    .into_keys()
                    .chain(string_map("stringData").into_keys())
                    .collect();
                let world = self.world(ns);
                world.secrets.insert(name.to_string(), keys);
                if let Some(v) = value
                    .pointer("/metadata/resourceVersion")
                    .and_then(|v| v.as_str())
                {
                    world
                        .secret_versions
                        .insert(name.to_string(), v.to_string());
                }
            }
            _ => {}
        }
    }
}
