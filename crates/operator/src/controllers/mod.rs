//! The controllers (MCPGroup, MCPServerEntry, VirtualMCPServer, and one for the shared
//! MCPOIDCConfig, MCPAuthzConfig and MCPExternalAuthConfig kinds) and what they share: the context (client, applier,
//! dependency indexes, metrics) and the error policy.
//!
//! Each reconcile is read → validate/render (pure) → apply → status. Validation outcomes are
//! conditions and end the reconcile successfully, so they never hot-loop; only failures to
//! talk to the API server are errors, retried with per-object exponential backoff.

pub mod entry;
pub mod group;
pub mod shared_config;
pub mod validation_hold;
pub mod virtual_server;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Api, Client, Resource};
use vmcp_api::{MCPGroup, MCPServerEntry, VirtualMCPServer};

use crate::apply::Applier;
use crate::deps::DependencyIndex;
use crate::error::Error;
use crate::render::Settings;

/// How long a successful reconcile waits before a safety re-check (drift, missed events).
pub const RESYNC: Duration = Duration::from_secs(600);
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Where the controllers look: one namespace, or the whole cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespace(String),
}

impl Scope {
    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        match self {
            Scope::All => Api::all(client.clone()),
            Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        }
    }
}

/// Counters exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub reconciles: [AtomicU64; Which::ALL.len()],
    pub failures: [AtomicU64; Which::ALL.len()],
    pub leader: AtomicU64,
}

/// Controller identity, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Group = 0,
    Entry = 1,
    VirtualServer = 2,
    OidcConfig = 3,
    AuthzConfig = 4,
    ExternalAuthConfig = 5,
    TelemetryConfig = 6,
}

impl Which {
    pub const ALL: [Which; 7] = [
        Which::Group,
        Which::Entry,
        Which::VirtualServer,
        Which::OidcConfig,
        Which::AuthzConfig,
        Which::ExternalAuthConfig,
        Which::TelemetryConfig,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Which::Group => "mcpgroup",
            Which::Entry => "mcpserverentry",
            Which::VirtualServer => "virtualmcpserver",
            Which::OidcConfig => "mcpoidcconfig",
            Which::AuthzConfig => "mcpauthzconfig",
            Which::ExternalAuthConfig => "mcpexternalauthconfig",
            Which::TelemetryConfig => "mcptelemetryconfig",
        }
    }
}

/// Shared state of the controllers.
pub struct Context {
    pub client: Client,
    pub applier: Applier,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub group_deps: DependencyIndex<MCPGroup>,
    pub entry_deps: DependencyIndex<MCPServerEntry>,
    pub vmcp_deps: DependencyIndex<VirtualMCPServer>,
    /// Renders waiting for an edited entry's validation (`validation_hold`).
    pub validation_hold: validation_hold::ValidationHold,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, settings: Settings, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Context {
            applier: Applier::new(client.clone()),
            client,
            settings,
            metrics,
            group_deps: DependencyIndex::default(),
            entry_deps: DependencyIndex::default(),
            vmcp_deps: DependencyIndex::default(),
            validation_hold: Default::default(),
            failures: Mutex::new(HashMap::new()),
        })
    }

    fn succeeded(&self, which: Which, key: &str) {
        self.metrics.reconciles[which as usize].fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }

    /// Exponential backoff per object: 1s, 2s, 4s, ... up to 5 minutes.
    fn failed(&self, which: Which, key: &str, err: &Error) -> Action {
        self.metrics.reconciles[which as usize].fetch_add(1, Ordering::Relaxed);
        self.metrics.failures[which as usize].fetch_add(1, Ordering::Relaxed);
        let n = self
            .failures
            .lock()
            .map(|mut f| {
                let n = f.entry(key.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            })
            .unwrap_or(1);
        let delay = BACKOFF_BASE
            .saturating_mul(1u32 << n.min(9).saturating_sub(1))
            .min(BACKOFF_MAX);
        tracing::warn!(controller = which.label(), object = key, error = %err, retry_in = ?delay, "reconcile failed");
        Action::requeue(delay)
    }
}

/// Key of an object for backoff bookkeeping.
pub(crate) fn object_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

/// Runs `work` and turns its outcome into an [`Action`], with backoff on errors.
pub(crate) async fn track<K, F>(
    ctx: &Context,
    which: Which,
    obj: &K,
    work: F,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()>,
    F: Future<Output = Result<Action, Error>>,
{
    let key = object_key(obj);
    match work.await {
        Ok(a) => {
            ctx.succeeded(which, &key);
            Ok(a)
        }
        Err(e) => Ok(ctx.failed(which, &key, &e)),
    }
}

/// The object a reconcile was triggered for, when it decoded into its typed struct.
///
/// Every watch of our own CRDs goes through [`kube::core::DeserializeGuard`]: a watcher whose
/// list or watch event fails to decode a single object errors as a whole and, retrying,
/// never delivers the rest of that kind — one bad object would stall a controller for its
/// whole scope. The API server can hold objects the typed structs reject even though they
/// passed the CRD schema: for instance an integer field declared `format: int32` (such as
/// `MCPGroup.status.entryCount`) is not range-checked by the API server, so 2^40 is stored
/// and fails to decode into `i32`. Such an object is logged and skipped (it is retried when
/// it changes); every other object keeps reconciling.
pub(crate) fn decoded<K>(obj: &DeserializeGuard<K>, which: Which) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone,
{
    match &obj.0 {
        Ok(k) => Some(Arc::new(k.clone())),
        Err(invalid) => {
            tracing::warn!(
                controller = which.label(),
                namespace = invalid.metadata.namespace.as_deref().unwrap_or_default(),
                name = invalid.metadata.name.as_deref().unwrap_or_default(),
                error = %invalid.error,
                "skipping an object that cannot be decoded; it is retried when it changes"
            );
            None
        }
    }
}

/// The error policy: `track` already handled errors, so this only covers the impossible.
pub(crate) fn error_policy<K>(_obj: Arc<K>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "reconcile error");
    Action::requeue(BACKOFF_MAX)
}

/// A shutdown signal that many tasks can wait on.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// A signal and its trigger.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Shutdown) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Shutdown(rx))
    }

    /// Resolves once shutdown is requested (or the trigger is dropped).
    pub fn wait(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.0.clone();
        async move {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Reads the controller owner of a child object, when it is a VirtualMCPServer.
pub(crate) fn owner_vmcp(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<kube::runtime::reflector::ObjectRef<VirtualMCPServer>> {
    let ns = meta.namespace.as_deref()?;
    meta.owner_references.iter().flatten().find_map(|o| {
        (o.controller == Some(true)
            && o.kind == "VirtualMCPServer"
            && o.api_version.starts_with("toolhive.stacklok.dev/"))
        .then(|| kube::runtime::reflector::ObjectRef::new(&o.name).within(ns))
    })
}

/// The back-off of a controller's watches after an error: the policy in
/// [`vmcp_core::watch`] (why it is not kube-runtime's default is said there), as the
/// back-off type kube-runtime takes; the watcher resets it on the first event that arrives.
pub fn watch_backoff() -> kube::runtime::watcher::ExponentialBackoff {
    vmcp_core::watch::backoff().into()
}

#[cfg(test)]
mod backoff_tests {
    use kube::runtime::utils::Backoff;
    use std::time::Duration;

    #[test]
    fn watch_backoff_doubles_to_its_cap_and_resets() {
        let mut b = super::watch_backoff();
        let first: Vec<u128> = b.by_ref().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(first, [100, 200, 400, 800, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(100)));
    }
}
