//! Dynamic mode (`outgoingAuth.source: discovered`): the gateway finds its backends itself.
//!
//! It watches the group's possible members (MCPServers, MCPRemoteProxies, MCPServerEntries),
//! the MCPExternalAuthConfigs, ConfigMaps and Secrets they may reference, in its own
//! namespace, and after every change applies the whole discovered set to the running
//! gateway ([`Members::apply`]), which only rebuilds what changed. No restart: a new member's
//! tools appear, a removed member's disappear, a changed URL or CA reconnects, and connected
//! clients get list_changed.
//!
//! What is a backend, with which URL, transport, headers and auth, is decided by the same
//! pure functions the operator renders static mode with (`vmcp_core`: discovery, backend,
//! ca_bundles, headers, auth), so the two modes cannot disagree. The difference is where values come from:
//! CA bundles are read from the ConfigMap through the API (not a mounted file), and secret
//! values from the Secret through the API (not env vars), which is why the dynamic-mode Role
//! may read them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, EnvVar, Secret};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use vmcp_api::{MCPExternalAuthConfig, MCPRemoteProxy, MCPServer, MCPServerEntry};
use vmcp_config::{BackendType, Config};
use vmcp_core::discovery::{self, Backend, BackendKind};
use vmcp_core::world::World;
use vmcp_core::{auth, backend, ca_bundles, headers};
use vmcp_gateway::backend::build::{BackendSpec, CaSource};
use vmcp_gateway::members::Members;

/// Changes arriving within this window are applied together.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// Secret values by Secret name, then key. Kept apart from [`World`], which by design only
/// ever holds key names.
pub type SecretValues = BTreeMap<String, BTreeMap<String, String>>;

/// The discovered backend set, and the members left out with why.
#[derive(Debug, Default)]
pub struct Discovered {
    pub specs: Vec<BackendSpec>,
    pub left_out: Vec<String>,
    /// Entries whose changed spec awaits validation, served with their previous spec.
    pub kept: Vec<String>,
}

/// Pure: the backends of `cfg.groupRef` in `world`, described for the gateway.
///
/// `serving` is what the gateway serves now, by name. An entry whose spec was changed and
/// not validated yet keeps the backend it had until the operator has validated the new
/// spec (docs/DYNAMIC.md, "Only validated specs are routed to"): the new URL is not routed
/// to before its checks passed, and the entry does not drop out meanwhile. Dropping it would
/// make every edit of an entry a removal and a re-adding: its tools gone for clients until
/// the operator catches up (for good while the operator is down), and the edit's
/// list_changed spent on a removal the client never asked for.
pub fn discovered(
    world: &World,
    secrets: &SecretValues,
    cfg: &Config,
    serving: &BTreeMap<String, BackendSpec>,
) -> Discovered {
    let group = cfg.group_ref.as_str();
    let disc = discovery::discover(world, group);
    let mut out = Discovered::default();
    let mut used_env = BTreeSet::new();
    for b in &disc.backends {
        match spec_for(b, group, world, secrets, cfg, &mut used_env) {
            Ok(spec) => out.specs.push(spec),
            Err(why) => out
                .left_out
                .push(format!("{} {}: {why}", b.kind.kind(), b.name)),
        }
    }
    for skipped in &disc.skipped {
        let awaiting = skipped.kind == BackendKind::Entry
            && world
                .entries
                .get(&skipped.name)
                .is_some_and(|e| world.entry_awaiting_validation(e));
        // Only an entry's own previous backend, and never a second backend of that name.
        let previous = serving.get(&skipped.name).filter(|spec| {
            awaiting
                && spec.backend_type == Some(BackendType::Entry)
                && !out.specs.iter().any(|s| s.name == skipped.name)
        });
        match previous {
            Some(spec) => {
                out.specs.push(spec.clone());
                out.kept.push(skipped.name.clone());
            }
            None => out.left_out.push(skipped.to_string()),
        }
    }
    out.specs.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn spec_for(
    b: &Backend,
    group: &str,
    world: &World,
    secrets: &SecretValues,
    cfg: &Config,
    used_env: &mut BTreeSet<String>,
) -> Result<BackendSpec, String> {
    let mut env = BTreeMap::new();
    let header_plan = b
        .entry
        .as_ref()
        .map(|e| headers::plan_for_entry(e, used_env));
    if let Some(h) = &header_plan {
        resolve_env(&h.env, secrets, &mut env)?;
    }
    let backend = backend::static_backend(b, group, None, header_plan.as_ref());

    let ca = match b
        .entry
        .as_ref()
        .and_then(|e| ca_bundles::plan_for_entry(e, world))
    {
        None => CaSource::None,
        Some(mount) => {
            let pem = world
                .config_maps
                .get(&mount.config_map)
                .and_then(|d| d.get(&mount.key))
                .filter(|pem| !pem.trim().is_empty())
                .ok_or_else(|| {
                    format!(
                        "CA bundle ConfigMap {} has no key {}",
                        mount.config_map, mount.key
                    )
                })?;
            CaSource::Pem {
                source: format!(
                    "ConfigMap {}/{} key {}",
                    world.namespace, mount.config_map, mount.key
                ),
                pem: pem.clone(),
            }
        }
    };

    // Precedence as in the operator: the VirtualMCPServer's per-backend override (already
    // in the config, with its secrets mounted as env), then the backend's own
    // externalAuthConfigRef (resolved here), then the config's default.
    let outgoing = cfg.outgoing_auth.as_ref();
    let auth = match (
        outgoing.and_then(|o| o.backends.get(&b.name)),
        &b.auth_config_ref,
    ) {
        (Some(over), _) => Some(over.clone()),
        (None, Some(name)) => {
            let converted = auth::convert(name, world)?;
            resolve_env(&converted.env, secrets, &mut env)?;
            Some(converted.strategy)
        }
        (None, None) => outgoing.and_then(|o| o.default.clone()),
    };
    Ok(BackendSpec::new(&backend, ca, auth, env))
}

/// Fills `out` with the values the kubelet would put into these env vars.
fn resolve_env(
    vars: &[EnvVar],
    secrets: &SecretValues,
    out: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    for var in vars {
        if let Some(value) = &var.value {
            out.insert(var.name.clone(), value.clone());
            continue;
        }
        let Some(sel) = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        else {
            continue;
        };
        let value = secrets
            .get(&sel.name)
            .ok_or_else(|| format!("Secret {} not found", sel.name))?
            .get(&sel.key)
            .ok_or_else(|| format!("Secret {} has no key {}", sel.name, sel.key))?;
        out.insert(var.name.clone(), value.clone());
    }
    Ok(())
}

/// The watched objects of one namespace.
struct Stores {
    namespace: String,
    servers: Store<MCPServer>,
    proxies: Store<MCPRemoteProxy>,
    entries: Store<MCPServerEntry>,
    auth_configs: Store<MCPExternalAuthConfig>,
    config_maps: Store<ConfigMap>,
    secrets: Store<Secret>,
}

impl Stores {
    async fn wait_until_ready(&self) {
        let _ = tokio::join!(
            self.servers.wait_until_ready(),
            self.proxies.wait_until_ready(),
            self.entries.wait_until_ready(),
            self.auth_configs.wait_until_ready(),
            self.config_maps.wait_until_ready(),
            self.secrets.wait_until_ready(),
        );
    }

    /// A snapshot in the operator's shape, plus the secret values.
    fn snapshot(&self) -> (World, SecretValues) {
        fn by_name<K>(store: &Store<K>) -> BTreeMap<String, K>
        where
            K: Resource + Clone + 'static,
            K::DynamicType: Eq + Hash + Clone,
        {
            store
                .state()
                .into_iter()
                .filter_map(|o| Some((o.meta().name.clone()?, (*o).clone())))
                .collect()
        }
        let mut world = World::new(&self.namespace);
        world.servers = by_name(&self.servers);
        world.proxies = by_name(&self.proxies);
        world.entries = by_name(&self.entries);
        world.auth_configs = by_name(&self.auth_configs);
        for cm in self.config_maps.state() {
            let Some(name) = cm.metadata.name.clone() else {
                continue;
            };
            let mut data = cm.data.clone().unwrap_or_default();
            for k in cm.binary_data.iter().flat_map(|b| b.keys()) {
                data.entry(k.clone()).or_default();
            }
            world.config_maps.insert(name, data);
        }
        let mut values = SecretValues::new();
        for s in self.secrets.state() {
            let Some(name) = s.metadata.name.clone() else {
                continue;
            };
            let mut kv: BTreeMap<String, String> = s
                .data
                .iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?)))
                .collect();
            for (k, v) in s.string_data.iter().flatten() {
                kv.insert(k.clone(), v.clone());
            }
            world
                .secrets
                .insert(name.clone(), kv.keys().cloned().collect());
            values.insert(name, kv);
        }
        (world, values)
    }
}

/// Starts a reflector for `K` in `namespace`; every event (and every watch error, after
/// which the watcher backs off and re-lists) pokes `changed`.
fn watch<K>(client: &Client, namespace: &str, changed: &Arc<Notify>) -> Store<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let (reader, writer) = reflector::store();
    let changed = changed.clone();
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).backoff(watcher::ExponentialBackoff::from(
            vmcp_core::watch::backoff(),
        )),
    );
    // A watch that keeps failing the same way (403 from a Role without this kind) retries
    // every second; say so once, and again only when the error changes or it recovers.
    let mut last_error: Option<String> = None;
    tokio::spawn(stream.for_each(move |event| {
        match &event {
            Err(e) => {
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(kind = %kind, error = %text, "watch failed; retrying every second or sooner");
                    last_error = Some(text);
                }
            }
            // `Init` comes before every (re)list attempt; only data means the watch works.
            Ok(watcher::Event::Init) => {}
            Ok(_) => {
                if last_error.take().is_some() {
                    tracing::info!(kind = %kind, "watch recovered");
                }
            }
        }
        changed.notify_one();
        futures::future::ready(())
    }));
    reader
}

/// Watches `namespace` and keeps `members` equal to the discovered backend set. Runs until
/// the process ends. Readiness: the gateway stays not ready until the first set is applied.
pub async fn run(client: Client, namespace: String, cfg: Config, members: Arc<Members>) {
    let changed = Arc::new(Notify::new());
    let stores = Stores {
        servers: watch(&client, &namespace, &changed),
        proxies: watch(&client, &namespace, &changed),
        entries: watch(&client, &namespace, &changed),
        auth_configs: watch(&client, &namespace, &changed),
        config_maps: watch(&client, &namespace, &changed),
        secrets: watch(&client, &namespace, &changed),
        namespace,
    };
    stores.wait_until_ready().await;
    tracing::info!(namespace = %stores.namespace, group = %cfg.group_ref,
        "dynamic discovery synced");
    let mut last_left_out: BTreeSet<String> = BTreeSet::new();
    // What the gateway serves, by name: the previous backend of an entry awaiting validation.
    let mut serving: BTreeMap<String, BackendSpec> = BTreeMap::new();
    loop {
        let (world, secrets) = stores.snapshot();
        let found = discovered(&world, &secrets, &cfg, &serving);
        let names: Vec<&str> = found.specs.iter().map(|s| s.name.as_str()).collect();
        tracing::debug!(backends = ?names, "applying discovered backends");
        for entry in &found.kept {
            tracing::debug!(%entry, "changed entry not validated yet; serving its previous spec");
        }
        let applied = found.specs.clone();
        let failed = members.apply(found.specs);
        serving = applied
            .into_iter()
            .filter(|s| !failed.contains_key(&s.name))
            .map(|s| (s.name.clone(), s))
            .collect();
        members.report_not_served(found.left_out.clone());
        let mut left_out = found.left_out;
        left_out.extend(failed.into_iter().map(|(b, why)| format!("{b}: {why}")));
        // Each reason once, when it first appears; an entry the operator has not validated
        // yet is the normal first moment of a new member, not worth a warning.
        for why in left_out.iter().filter(|w| !last_left_out.contains(*w)) {
            if why.contains("not validated yet") {
                tracing::debug!(member = %why, "group member not served yet");
            } else {
                tracing::warn!(member = %why, "group member not served");
            }
        }
        last_left_out = left_out.into_iter().collect();
        changed.notified().await;
        tokio::time::sleep(DEBOUNCE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmcp_api::manifest::parse_manifests;
    use vmcp_core::world::ManifestWorlds;

    const GROUP: &str = r#"
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPGroup
metadata: {name: team, namespace: ns}
spec: {}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: corp-ca, namespace: ns}
data: {ca.crt: "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPExternalAuthConfig
metadata: {name: inject, namespace: ns}
spec:
  type: headerInjection
  headerInjection: {headerName: Authorization, valueSecretRef: {name: creds, key: token}}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServerEntry
metadata: {name: partner, namespace: ns, generation: 2}
spec:
  remoteUrl: https://partner.example.com/mcp
  transport: streamable-http
  groupRef: {name: team}
  externalAuthConfigRef: {name: inject}
  caBundleRef: {configMapRef: {name: corp-ca}}
  headerForward:
    addPlaintextHeaders: {X-Tenant: t1}
    addHeadersFromSecret:
      - {headerName: X-API-Key, valueSecretRef: {name: creds, key: api-key}}
status: {phase: Valid, observedGeneration: 2}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServerEntry
metadata: {name: plain, namespace: ns}
spec: {remoteUrl: "https://plain.example.com/mcp", transport: sse, groupRef: {name: team}}
status: {phase: Valid}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServerEntry
metadata: {name: stale, namespace: ns, generation: 3}
spec: {remoteUrl: "https://changed.example.com/mcp", transport: sse, groupRef: {name: team}}
status: {phase: Valid, observedGeneration: 2}
"#;

    fn world(extra: &str) -> World {
        let text = format!("{GROUP}{extra}");
        let manifests = parse_manifests(&text, "test").unwrap();
        let mut worlds = ManifestWorlds::from_manifests(manifests);
        let mut w = worlds.worlds.remove("ns").unwrap();
        w.secrets.insert(
            "creds".into(),
            ["token", "api-key"].into_iter().map(String::from).collect(),
        );
        w
    }

    fn secrets() -> SecretValues {
        BTreeMap::from([(
            "creds".to_owned(),
            BTreeMap::from([
                ("token".to_owned(), "Bearer s3cret".to_owned()),
                ("api-key".to_owned(), "k-123".to_owned()),
            ]),
        )])
    }

    fn config() -> Config {
        Config::from_yaml_str("name: gw\ngroupRef: team\n").unwrap()
    }

    #[test]
    fn entries_become_specs_with_ca_headers_and_auth_from_the_api() {
        let found = discovered(&world(""), &secrets(), &config(), &BTreeMap::new());
        let names: Vec<&str> = found.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["partner", "plain"]);
        let partner = &found.specs[0];
        assert_eq!(
            partner.ca,
            CaSource::Pem {
                source: "ConfigMap ns/corp-ca key ca.crt".into(),
                pem: "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n".into(),
            }
        );
        assert_eq!(partner.metadata["vmcp.headers.plaintext.X-Tenant"], "t1");
        // Secret-backed header and auth: the env names of static mode, filled from the Secret.
        let header_env = &partner.metadata["vmcp.headers.env.X-API-Key"];
        assert_eq!(partner.env[header_env], "k-123");
        let auth = partner.auth.as_ref().unwrap();
        let inj = auth.header_injection.as_ref().unwrap();
        assert_eq!(partner.env[&inj.header_value_env], "Bearer s3cret");
        assert_eq!(found.specs[1].ca, CaSource::None);
        assert_eq!(found.specs[1].auth, None);
        // An entry whose current spec the operator has not validated is not served.
        assert!(
            found
                .left_out
                .iter()
                .any(|w| w.contains("stale") && w.contains("not validated")),
            "{:?}",
            found.left_out
        );
    }

    /// What the gateway serves, by name, after applying `world` (as `run` keeps it).
    fn serving(world: &World) -> BTreeMap<String, BackendSpec> {
        discovered(world, &secrets(), &config(), &BTreeMap::new())
            .specs
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect()
    }

    fn url_of<'a>(found: &'a Discovered, name: &str) -> Option<&'a str> {
        found
            .specs
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.url.as_str())
    }

    /// An edit of a served entry must not take it away: until the operator has validated
    /// the new generation, the previous backend (old URL) stays; once validated, the new one
    /// is served; a rejected one is dropped. (Dropping it at once made e2e_dynamic flaky:
    /// the edit's removal used up the list_changed, and deleting the entry right after
    /// changed nothing a client could be told about.)
    #[test]
    fn a_changed_entry_keeps_its_previous_backend_until_validated() {
        // Generation 2 of `stale`, validated and served, pointed elsewhere.
        let mut before = world("");
        let e = before.entries.get_mut("stale").unwrap();
        e.spec.remote_url = "https://before.example.com/mcp".into();
        e.metadata.generation = Some(2);
        let served = serving(&before);
        assert_eq!(served["stale"].url, "https://before.example.com/mcp");

        // Generation 3 (the new URL) is not validated yet: the previous backend stays.
        let edited = world("");
        let found = discovered(&edited, &secrets(), &config(), &served);
        assert_eq!(
            url_of(&found, "stale"),
            Some("https://before.example.com/mcp")
        );
        assert_eq!(found.kept, ["stale"]);
        assert!(
            !found.left_out.iter().any(|w| w.contains("stale")),
            "{:?}",
            found.left_out
        );
        let names: Vec<&str> = found.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["partner", "plain", "stale"], "sorted, one per name");

        // Without a previous backend there is nothing to keep.
        let found = discovered(&edited, &secrets(), &config(), &BTreeMap::new());
        assert_eq!(url_of(&found, "stale"), None);

        // Validated: the new URL.
        let mut validated = world("");
        let st = validated.entries.get_mut("stale").unwrap();
        st.status.as_mut().unwrap().observed_generation = Some(3);
        let found = discovered(&validated, &secrets(), &config(), &served);
        assert_eq!(
            url_of(&found, "stale"),
            Some("https://changed.example.com/mcp")
        );
        assert!(found.kept.is_empty());

        // Rejected: gone, and the reason is reported.
        let mut rejected = world("");
        let st = rejected.entries.get_mut("stale").unwrap();
        let status = st.status.as_mut().unwrap();
        status.observed_generation = Some(3);
        status.phase = vmcp_api::entry::MCPServerEntryPhase::Failed;
        let found = discovered(&rejected, &secrets(), &config(), &served);
        assert_eq!(url_of(&found, "stale"), None);
        assert!(
            found.left_out.iter().any(|w| w.contains("stale")),
            "{:?}",
            found.left_out
        );

        // A previous backend of that name that was not this entry is not revived for it.
        let mut other = served.clone();
        other.get_mut("stale").unwrap().backend_type = None;
        let found = discovered(&edited, &secrets(), &config(), &other);
        assert_eq!(url_of(&found, "stale"), None);
    }

    #[test]
    fn missing_secret_or_ca_key_leaves_only_that_entry_out() {
        let mut no_secret = secrets();
        no_secret.clear();
        let found = discovered(&world(""), &no_secret, &config(), &BTreeMap::new());
        let names: Vec<&str> = found.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["plain"]);
        assert!(
            found
                .left_out
                .iter()
                .any(|w| w.contains("partner") && w.contains("Secret creds")),
            "{:?}",
            found.left_out
        );

        let mut w = world("");
        w.config_maps.get_mut("corp-ca").unwrap().clear();
        let found = discovered(&w, &secrets(), &config(), &BTreeMap::new());
        assert!(
            found
                .left_out
                .iter()
                .any(|w| w.contains("partner") && w.contains("has no key ca.crt")),
            "{:?}",
            found.left_out
        );
    }

    #[test]
    fn the_configs_override_wins_over_the_entrys_own_auth() {
        let cfg = Config::from_yaml_str(
            "name: gw\ngroupRef: team\noutgoingAuth:\n  source: discovered\n  backends:\n    partner: {type: unauthenticated}\n  default: {type: unauthenticated}\n",
        )
        .unwrap();
        let found = discovered(&world(""), &secrets(), &cfg, &BTreeMap::new());
        let partner = found.specs.iter().find(|s| s.name == "partner").unwrap();
        assert_eq!(
            partner.auth.as_ref().unwrap().strategy_type,
            Some(vmcp_config::StrategyType::Unauthenticated)
        );
        let plain = found.specs.iter().find(|s| s.name == "plain").unwrap();
        assert!(
            plain.auth.is_some(),
            "the default applies to backends without their own"
        );
    }
}
