//! `vmcp render`: the objects the operator would create for a set of manifests, with no
//! cluster. The manifests become in-memory worlds; group and entry statuses are computed by
//! the same pure functions the MCPGroup and MCPServerEntry controllers use; then every
//! VirtualMCPServer goes through the same render as a reconcile.

use std::path::{Path, PathBuf};

use vmcp_api::entry::MCPServerEntryStatus;
use vmcp_api::manifest::{Manifest, read_manifest_file};

use crate::controllers::group::desired_status;
use crate::error::{Error, Result};
use crate::render::{Rendered, Settings, render_virtual_server};
use crate::status::{now, to_k8s_conditions, virtual_server_status};
use crate::validate::entry::validate_entry;
use vmcp_core::discovery::group_members;
use vmcp_core::world::{ManifestWorlds, World, namespace_or_default};

/// Reads every manifest in `path`: one file, or every `*.yaml`/`*.yml`/`*.json` file of a
/// directory (not recursive), in name order.
pub fn read_manifests(path: &Path) -> Result<Vec<Manifest>> {
    fn io(p: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
        let path = p.display().to_string();
        move |source| Error::Io { path, source }
    }
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io(path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml" | "json")
                    )
            })
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    // Where each object was first defined: a second definition would silently replace it.
    let mut seen: std::collections::BTreeMap<(String, String, String), String> = Default::default();
    for f in files {
        let here = f.display().to_string();
        for m in read_manifest_file(&f)? {
            if let (kind, ns, Some(name)) = m.identity() {
                let ns = namespace_or_default(ns.as_deref());
                let key = (kind.clone(), ns.clone(), name.clone());
                if let Some(first) = seen.insert(key, here.clone()) {
                    return Err(Error::Duplicate {
                        object: format!("{kind} {ns}/{name}"),
                        first,
                        second: here,
                    });
                }
            }
            out.push(m);
        }
    }
    Ok(out)
}

/// Fills in the statuses the group and entry controllers would write.
pub fn settle(world: &mut World) {
    let t = now();
    let names: Vec<String> = world.groups.keys().cloned().collect();
    for g in names {
        let members = group_members(world, &g);
        if let Some(group) = world.groups.get(&g) {
            let status = desired_status(group, &members, &t);
            if let Some(group) = world.groups.get_mut(&g) {
                group.status = Some(status);
            }
        }
    }
    let names: Vec<String> = world.entries.keys().cloned().collect();
    for e in names {
        let Some(entry) = world.entries.get(&e) else {
            continue;
        };
        let verdict = validate_entry(entry, world);
        let conditions = to_k8s_conditions(&verdict.conditions, &[], entry.metadata.generation, &t);
        if let Some(entry) = world.entries.get_mut(&e) {
            entry.status = Some(MCPServerEntryStatus {
                observed_generation: entry.metadata.generation,
                phase: verdict.phase,
                conditions,
            });
        }
    }
}

/// One VirtualMCPServer's render.
pub struct Outcome {
    pub namespace: String,
    pub name: String,
    pub rendered: Rendered,
    /// The status document the operator would apply.
    pub status: serde_json::Value,
}

impl Outcome {
    /// Every document to print: the objects, then the VirtualMCPServer status.
    pub fn documents(&self) -> Vec<serde_json::Value> {
        let mut docs = self
            .rendered
            .objects
            .as_ref()
            .map(|o| o.to_values())
            .unwrap_or_default();
        docs.push(serde_json::json!({
            "apiVersion": "toolhive.stacklok.dev/v1beta1",
            "kind": "VirtualMCPServer",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "status": self.status,
        }));
        docs
    }
}

/// Renders every VirtualMCPServer of the manifests.
pub fn render_manifests(manifests: Vec<Manifest>, settings: &Settings) -> Vec<Outcome> {
    let mut worlds = ManifestWorlds::from_manifests(manifests);
    for w in worlds.worlds.values_mut() {
        w.url_policy = vmcp_core::url::Policy::from_env();
        settle(w);
    }
    let t = now();
    let mut out = Vec::new();
    for v in &worlds.virtual_servers {
        let ns = v.metadata.namespace.clone().unwrap_or_default();
        let name = v.metadata.name.clone().unwrap_or_default();
        let empty = World::new(&ns);
        let world = worlds.worlds.get(&ns).unwrap_or(&empty);
        let rendered = render_virtual_server(v, world, settings);
        let status = virtual_server_status(&rendered.status, v, &t);
        out.push(Outcome {
            namespace: ns,
            name,
            rendered,
            status,
        });
    }
    out
}

/// Multi-document YAML of `docs`.
pub fn to_yaml(docs: &[serde_json::Value]) -> String {
    let mut s = String::new();
    for d in docs {
        s.push_str("---\n");
        match serde_yaml::to_string(d) {
            Ok(y) => s.push_str(&y),
            Err(e) => s.push_str(&format!("# cannot serialise document: {e}\n")),
        }
    }
    s
}

/// `vmcp render -f PATH`: prints the documents on stdout and, on stderr, one line per
/// VirtualMCPServer that could not be rendered. Returns false when any could not.
pub fn print_render(path: &Path) -> Result<bool> {
    let outcomes = render_manifests(read_manifests(path)?, &Settings::from_env());
    let mut ok = true;
    let mut docs = Vec::new();
    for o in &outcomes {
        docs.extend(o.documents());
        if let Some(why) = o.rendered.blocked_reason() {
            ok = false;
            eprintln!(
                "VirtualMCPServer {}/{}: not rendered: {why}",
                o.namespace, o.name
            );
        }
    }
    if outcomes.is_empty() {
        eprintln!("{}: no VirtualMCPServer found", path.display());
    }
    print!("{}", to_yaml(&docs));
    Ok(ok)
}
