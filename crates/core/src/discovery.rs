//! Group membership and backend discovery: which members of an MCPGroup become gateway
//! backends, with which URL and transport.
//!
//! Output is sorted by name so the rendered ConfigMap (and its checksum) is deterministic;
//! members that cannot be backends yet are returned as `skipped` with a reason, so the status
//! can say why a backend is missing instead of silently leaving it out.

use vmcp_api::MCPServerEntry;
use vmcp_api::server::ServerTransport;
use vmcp_config::Transport;

use crate::world::{ObjKey, World, kinds};

/// The kind of workload behind a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackendKind {
    Server,
    RemoteProxy,
    Entry,
}

impl BackendKind {
    /// The Kubernetes kind, as written to `status.discoveredBackends[].type`.
    pub fn kind(self) -> &'static str {
        match self {
            BackendKind::Server => kinds::SERVER,
            BackendKind::RemoteProxy => kinds::PROXY,
            BackendKind::Entry => kinds::ENTRY,
        }
    }
}

/// One backend the gateway can route to.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub name: String,
    pub kind: BackendKind,
    pub url: String,
    pub transport: Transport,
    /// The workload's own `externalAuthConfigRef`.
    pub auth_config_ref: Option<String>,
    /// The entry, for entries (CA bundle, headers).
    pub entry: Option<MCPServerEntry>,
}

/// A member that is not a backend (yet), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub name: String,
    pub kind: BackendKind,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.kind.kind(), self.name, self.reason)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Discovery {
    pub backends: Vec<Backend>,
    pub skipped: Vec<Skipped>,
}

/// Names of the group's members by kind, each sorted (the MCPGroup status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    pub servers: Vec<String>,
    pub proxies: Vec<String>,
    pub entries: Vec<String>,
}

pub fn group_members(world: &World, group: &str) -> Members {
    let in_group = |g: Option<&vmcp_api::refs::MCPGroupRef>| g.is_some_and(|g| g.name == group);
    // BTreeMap iteration is already sorted by name.
    Members {
        servers: world
            .servers
            .iter()
            .filter(|(_, s)| in_group(s.spec.group_ref.as_ref()))
            .map(|(n, _)| n.clone())
            .collect(),
        proxies: world
            .proxies
            .iter()
            .filter(|(_, p)| in_group(p.spec.group_ref.as_ref()))
            .map(|(n, _)| n.clone())
            .collect(),
        entries: world
            .entries
            .iter()
            .filter(|(_, e)| e.spec.group_ref.name == group)
            .map(|(n, _)| n.clone())
            .collect(),
    }
}

/// The group's entries whose spec changed since the operator last validated them, with the
/// generation awaiting validation. Until validated they are not backends (`discover`), so a
/// VirtualMCPServer rendered now would drop them and roll its pods twice for one edit.
pub fn entries_awaiting_validation(world: &World, group: &str) -> Vec<(ObjKey, i64)> {
    world
        .entries
        .iter()
        .filter(|(_, e)| e.spec.group_ref.name == group && world.entry_awaiting_validation(e))
        .map(|(n, e)| {
            (
                world.key(kinds::ENTRY, n),
                e.metadata.generation.unwrap_or_default(),
            )
        })
        .collect()
}

/// The transport the MCPServer's proxy speaks: SSE servers stay SSE; stdio servers are
/// exposed per `proxyMode`; streamable-http stays streamable-http. (ToolHive's static path
/// used `proxyMode` alone, turning SSE servers into streamable-http: its quirk Q6.)
pub fn server_transport(transport: ServerTransport, proxy_mode: Transport) -> Transport {
    match (transport, proxy_mode) {
        (ServerTransport::Sse, _) => Transport::Sse,
        (ServerTransport::StreamableHttp, _) => Transport::StreamableHttp,
        (ServerTransport::Stdio, mode) => mode,
    }
}

fn status_url(url: Option<&String>) -> Option<String> {
    url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty())
}

/// Discovers the backends of `group`, sorted by name. When two members of different kinds
/// share a name, the first in kind order (MCPServer, MCPRemoteProxy, MCPServerEntry) wins
/// and the other is skipped, because backend names must be unique in the gateway.
pub fn discover(world: &World, group: &str) -> Discovery {
    let members = group_members(world, group);
    let mut found: Vec<Backend> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    // MCPServers and MCPRemoteProxies: a backend once their proxy reports `status.url`.
    let mut from_status = |name: &String,
                           kind: BackendKind,
                           url: Option<&String>,
                           transport: Transport,
                           auth: Option<String>| {
        match status_url(url) {
            Some(url) => found.push(Backend {
                name: name.clone(),
                kind,
                url,
                transport,
                auth_config_ref: auth,
                entry: None,
            }),
            None => skipped.push(Skipped {
                name: name.clone(),
                kind,
                reason: "status.url is empty (not running yet)".into(),
            }),
        }
    };
    for name in &members.servers {
        if let Some(s) = world.servers.get(name) {
            from_status(
                name,
                BackendKind::Server,
                s.status.as_ref().and_then(|st| st.url.as_ref()),
                server_transport(s.spec.transport, s.spec.proxy_mode),
                s.spec
                    .external_auth_config_ref
                    .as_ref()
                    .map(|r| r.name.clone()),
            );
        }
    }
    for name in &members.proxies {
        if let Some(p) = world.proxies.get(name) {
            from_status(
                name,
                BackendKind::RemoteProxy,
                p.status.as_ref().and_then(|st| st.url.as_ref()),
                p.spec.transport,
                p.spec
                    .external_auth_config_ref
                    .as_ref()
                    .map(|r| r.name.clone()),
            );
        }
    }
    for name in &members.entries {
        let Some(e) = world.entries.get(name) else {
            continue;
        };
        if !world.entry_valid(e) {
            let detail = if world.entry_awaiting_validation(e) {
                "its current spec is not validated yet".to_string()
            } else {
                e.status
                    .as_ref()
                    .and_then(|s| {
                        s.conditions
                            .iter()
                            .find(|c| c.type_ == "Valid" && c.status == "False")
                    })
                    .map(|c| c.message.clone())
                    .unwrap_or_else(|| "not validated yet".into())
            };
            skipped.push(Skipped {
                name: name.clone(),
                kind: BackendKind::Entry,
                reason: format!("phase is not Valid ({detail})"),
            });
            continue;
        }
        if url::Url::parse(&e.spec.remote_url).is_err() {
            skipped.push(Skipped {
                name: name.clone(),
                kind: BackendKind::Entry,
                reason: format!("remoteUrl {:?} is not a valid URL", e.spec.remote_url),
            });
            continue;
        }
        found.push(Backend {
            name: name.clone(),
            kind: BackendKind::Entry,
            url: e.spec.remote_url.clone(),
            transport: e.spec.transport,
            auth_config_ref: e
                .spec
                .external_auth_config_ref
                .as_ref()
                .map(|r| r.name.clone()),
            entry: Some(e.clone()),
        });
    }
    // Stable sort by name keeps kind order among equal names.
    found.sort_by(|a, b| a.name.cmp(&b.name));
    let mut backends: Vec<Backend> = Vec::with_capacity(found.len());
    for b in found {
        if let Some(prev) = backends.last().filter(|p| p.name == b.name) {
            skipped.push(Skipped {
                name: b.name.clone(),
                kind: b.kind,
                reason: format!("name already used by {} {}", prev.kind.kind(), prev.name),
            });
        } else {
            backends.push(b);
        }
    }
    skipped.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
    Discovery { backends, skipped }
}
