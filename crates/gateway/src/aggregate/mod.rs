//! Aggregation of every backend's tools, resources, templates and prompts into one view.
//!
//! Each backend's capabilities are fetched on their own (concurrently, each bounded by that
//! backend's timeout) and kept per backend; the view is rebuilt from those parts whenever one
//! backend's part or availability changes, and swapped atomically. A change of what clients
//! see is announced on a broadcast channel as the MCP list_changed notification to send.
//!
//! The backend set itself can change while serving (dynamic mode): [`Aggregator::replace_backends`]
//! swaps it atomically, forgets what removed backends contributed and fetches new ones, so a
//! call in flight keeps the backend it started with and the next call sees the new set.

pub mod conflict;
pub mod filter;
pub mod view;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use vmcp_config::Aggregation;

use crate::backend::BackendError;
use crate::backend::pool::{Backend, Caller};
use crate::health::State;
use crate::jsonrpc;
use view::{Caps, Input, View};

/// What [`Aggregator::record_fetch`] did with the outcome of a fetch.
enum Recorded {
    /// The backend was removed or replaced while it was fetched: nothing was written.
    Discarded,
    /// The same capabilities as before, from a backend already tried: nothing to rebuild.
    Unchanged,
    /// New capabilities were stored (counts for the log line).
    Fetched {
        tools: usize,
        resources: usize,
        prompts: usize,
    },
    /// The fetch failed; the error was stored and the previous capabilities kept.
    Failed(String),
    /// The backend answers only callers ([`Backend::needs_user_token`]): no error is
    /// stored, and the next authenticated caller's list fetches its part.
    AwaitsUser,
}

/// Largest number of pages followed for one list.
const MAX_PAGES: usize = 100;

/// Capability fetches that land within this window share one rebuild of the view. A
/// rebuild costs time in proportion to every tool of every backend; rebuilding once per
/// fetch made bringing up 500 backends quadratic (the view was rebuilt 500 times).
const COALESCE: std::time::Duration = std::time::Duration::from_millis(20);

pub struct Aggregator {
    view: ArcSwap<View>,
    agg: Aggregation,
    backends: ArcSwap<BTreeMap<String, Arc<Backend>>>,
    /// False until the backend set is known: in dynamic mode, until the first discovery
    /// from the Kubernetes API has been applied. Readiness waits for it.
    synced: AtomicBool,
    parts: Mutex<BTreeMap<String, Option<Arc<Caps>>>>,
    tried: Mutex<HashSet<String>>,
    fetch_errors: Mutex<BTreeMap<String, String>>,
    /// Backends of the desired set that could not be built (bad CA, missing secret), with
    /// why; they are not in `backends` (see `members`).
    left_out: Mutex<BTreeMap<String, String>>,
    /// Group members dynamic discovery does not serve, each with why (`/status`).
    not_served: Mutex<Vec<String>>,
    /// Serialises rebuilds so an older snapshot can never be swapped in after a newer one.
    rebuilding: Mutex<()>,
    /// Bumped after every change of what the view is built from (parts, backend set,
    /// availability).
    changed: AtomicU64,
    /// The `changed` value the current view includes; waiters watch it.
    built: watch::Sender<u64>,
    /// Whether a coalesced rebuild is pending (one caller waits out `COALESCE`, then builds).
    coalescing: AtomicBool,
    ready: watch::Sender<bool>,
    changes: broadcast::Sender<&'static str>,
    /// Backends whose part must be fetched as a caller ([`Recorded::AwaitsUser`]), each with
    /// the instant before which it is not tried again (after a failed try).
    user_views: Mutex<BTreeMap<String, Option<Instant>>>,
    /// Whether `user_views` is non-empty: the one check every list call pays.
    wants_user_views: AtomicBool,
    /// One fetch of user views at a time: a burst of first callers costs one fetch.
    user_fetch: tokio::sync::Mutex<()>,
}

/// How long a user-view fetch that failed (the caller was refused too) is not retried.
const USER_VIEW_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

impl Aggregator {
    pub fn new(agg: Aggregation, backends: BTreeMap<String, Arc<Backend>>) -> Arc<Self> {
        Self::with_sync(agg, backends, true)
    }

    /// An aggregator whose backend set is not known yet (dynamic mode): not ready until the
    /// first [`Aggregator::replace_backends`].
    pub fn awaiting_discovery(agg: Aggregation) -> Arc<Self> {
        Self::with_sync(agg, BTreeMap::new(), false)
    }

    fn with_sync(
        agg: Aggregation,
        backends: BTreeMap<String, Arc<Backend>>,
        synced: bool,
    ) -> Arc<Self> {
        let (ready, _) = watch::channel(synced && backends.is_empty());
        let (changes, _) = broadcast::channel(64);
        let parts = backends.keys().map(|k| (k.clone(), None)).collect();
        let a = Arc::new(Aggregator {
            view: ArcSwap::from_pointee(View::default()),
            agg,
            backends: ArcSwap::from_pointee(backends),
            synced: AtomicBool::new(synced),
            parts: Mutex::new(parts),
            tried: Mutex::new(HashSet::new()),
            fetch_errors: Mutex::new(BTreeMap::new()),
            left_out: Mutex::new(BTreeMap::new()),
            not_served: Mutex::new(Vec::new()),
            rebuilding: Mutex::new(()),
            changed: AtomicU64::new(1),
            built: watch::channel(0).0,
            coalescing: AtomicBool::new(false),
            ready,
            changes,
            user_views: Mutex::new(BTreeMap::new()),
            wants_user_views: AtomicBool::new(false),
            user_fetch: tokio::sync::Mutex::new(()),
        });
        a.rebuild();
        a
    }

    /// The current view; never blocks.
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// The current backend set (a snapshot; it may be replaced while you hold it).
    pub fn backends(&self) -> Arc<BTreeMap<String, Arc<Backend>>> {
        self.backends.load_full()
    }

    pub fn backend(&self, name: &str) -> Option<Arc<Backend>> {
        self.backends.load().get(name).cloned()
    }

    /// Swaps in a new backend set. Backends missing from `next` stop contributing at once
    /// and their sessions are closed; backends that are new, or whose `Arc` differs from the
    /// current one (changed URL, CA, auth...), are fetched. A replaced backend keeps showing
    /// its previous capabilities until the new fetch lands (stale while revalidate), so a
    /// reconnect does not make its tools blink. Returns the names that were fetched.
    pub fn replace_backends(self: &Arc<Self>, next: BTreeMap<String, Arc<Backend>>) -> Vec<String> {
        let prev;
        let changed: Vec<String>;
        {
            // The swap and the forgetting happen under the parts lock, the lock under which a
            // fetch checks that its backend is still current before writing (see
            // `record_fetch`): a fetch of a removed or replaced backend either lands before
            // this and is forgotten here, or finds the new set and is discarded.
            let mut parts = self.lock_parts();
            let mut tried = self.tried.lock().unwrap_or_else(|p| p.into_inner());
            let mut errs = self.fetch_errors.lock().unwrap_or_else(|p| p.into_inner());
            prev = self.backends.swap(Arc::new(next.clone()));
            changed = next
                .iter()
                .filter(|(k, b)| prev.get(*k).is_none_or(|p| !Arc::ptr_eq(p, b)))
                .map(|(k, _)| k.clone())
                .collect();
            for name in prev.keys().filter(|k| !next.contains_key(*k)) {
                parts.remove(name);
                tried.remove(name);
                errs.remove(name);
            }
            for name in &changed {
                parts.entry(name.clone()).or_insert(None);
                tried.remove(name);
            }
        }
        for (name, old) in prev.iter() {
            if next.get(name).is_none_or(|b| !Arc::ptr_eq(old, b)) {
                old.close_all();
            }
        }
        self.synced.store(true, Ordering::SeqCst);
        self.mark_changed();
        self.rebuild();
        self.update_ready();
        for name in &changed {
            let me = self.clone();
            let name = name.clone();
            tokio::spawn(async move { me.refresh(&name).await });
        }
        changed
    }

    /// Ready: the backend set is known and every backend in it was tried once.
    fn update_ready(&self) {
        let synced = self.synced.load(Ordering::SeqCst);
        let backends = self.backends.load();
        let tried = self.tried.lock().unwrap_or_else(|p| p.into_inner());
        let ready = synced && backends.keys().all(|k| tried.contains(k));
        self.ready.send_if_modified(|r| {
            // Once ready, stay ready: a backend added later is not a reason to take the
            // whole gateway out of its Service (it shows up as soon as it is fetched).
            let now = *r || ready;
            std::mem::replace(r, now) != now
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<&'static str> {
        self.changes.subscribe()
    }

    /// True once the backend set is known (always in static mode; in dynamic mode after the
    /// first discovery was applied).
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// True once every backend was tried at least once.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until every backend was tried once (each try is bounded by its timeout).
    pub async fn wait_ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Whether a backend has capabilities from a successful fetch (possibly stale).
    pub fn has_part(&self, name: &str) -> bool {
        self.lock_parts().get(name).is_some_and(Option::is_some)
    }

    fn lock_parts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<Arc<Caps>>>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why the last capability fetch of a backend failed, if it did.
    pub fn fetch_error(&self, name: &str) -> Option<String> {
        self.fetch_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Records the backends that should be served but could not be built.
    pub fn set_left_out(&self, left_out: BTreeMap<String, String>) {
        *self.left_out.lock().unwrap_or_else(|p| p.into_inner()) = left_out;
    }

    /// Backends that should be served but could not be built, with why.
    pub fn left_out(&self) -> BTreeMap<String, String> {
        self.left_out
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records the group members that discovery found but does not serve (an entry not
    /// validated yet, a member without a URL, a CA bundle that is missing), each with why.
    pub fn set_not_served(&self, why: Vec<String>) {
        *self.not_served.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// See [`Aggregator::set_not_served`].
    pub fn not_served(&self) -> Vec<String> {
        self.not_served
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Fetches every backend concurrently.
    pub fn refresh_all(self: &Arc<Self>) {
        for name in self.backends.load().keys() {
            let me = self.clone();
            let name = name.clone();
            tokio::spawn(async move { me.refresh(&name).await });
        }
    }

    /// Re-fetches one backend's capabilities and rebuilds the view.
    pub async fn refresh(&self, name: &str) {
        let Some(b) = self.backend(name) else {
            return;
        };
        let r = fetch(&b, &Caller::gateway()).await;
        match self.record_fetch(name, &b, r) {
            Recorded::Discarded => {
                tracing::debug!(
                    backend = name,
                    "capability fetch discarded: the backend was removed or replaced meanwhile"
                );
                return;
            }
            // Background refreshes mostly find nothing new: no log line and no rebuild.
            Recorded::Unchanged => {
                tracing::debug!(backend = name, "capabilities unchanged");
                return;
            }
            Recorded::Fetched {
                tools,
                resources,
                prompts,
            } => tracing::info!(
                backend = name,
                tools,
                resources,
                prompts,
                "capabilities fetched"
            ),
            Recorded::Failed(error) => {
                tracing::warn!(backend = name, %error, "capability fetch failed")
            }
            Recorded::AwaitsUser => {
                tracing::debug!(
                    backend = name,
                    "capabilities wait for an authenticated caller's list"
                )
            }
        }
        // Rebuild first: readiness promises the view already holds this backend's part.
        let want = self.mark_changed();
        self.rebuild_coalesced(want).await;
        {
            // The set may have changed during the rebuild: a removed backend must not be
            // remembered, and a replacement counts as tried only after its own first fetch.
            let _parts = self.lock_parts();
            if self.is_current(name, &b) {
                self.tried
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_owned());
            }
        }
        self.update_ready();
    }

    /// Whether `b` is the backend currently called `name`.
    fn is_current(&self, name: &str, b: &Arc<Backend>) -> bool {
        self.backends
            .load()
            .get(name)
            .is_some_and(|cur| Arc::ptr_eq(cur, b))
    }

    /// Writes the outcome of a fetch of `b` (its part, its fetch error), unless `b` is no
    /// longer the backend called `name`: then nothing is written. The check and the writes
    /// happen under the parts lock, which `replace_backends` holds while it swaps the set
    /// and forgets removed backends, so a fetch that was in flight when its backend was
    /// removed can neither bring its tools back nor leave its error behind (an error that a
    /// backend added later under the same name would inherit, showing as failed instead of
    /// pending until its own first fetch).
    fn record_fetch(
        &self,
        name: &str,
        b: &Arc<Backend>,
        r: Result<Caps, BackendError>,
    ) -> Recorded {
        let mut parts = self.lock_parts();
        if !self.is_current(name, b) {
            return Recorded::Discarded;
        }
        let tried = self
            .tried
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name);
        let mut errs = self.fetch_errors.lock().unwrap_or_else(|p| p.into_inner());
        match r {
            Err(_) if b.needs_user_token() => {
                errs.remove(name);
                self.want_user_view(name);
                Recorded::AwaitsUser
            }
            Ok(c) => {
                errs.remove(name);
                b.served_the_gateway();
                self.user_views
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(name);
                // A replaced backend's first fetch always counts (readiness waits for it),
                // even when it finds what the previous one had.
                if tried && parts.get(name).and_then(|p| p.as_deref()) == Some(&c) {
                    return Recorded::Unchanged;
                }
                let fetched = Recorded::Fetched {
                    tools: c.tools.len(),
                    resources: c.resources.len(),
                    prompts: c.prompts.len(),
                };
                parts.insert(name.to_owned(), Some(Arc::new(c)));
                fetched
            }
            // Stale while revalidate: a failed re-fetch keeps what we had. Whether the
            // backend is listed is decided by its health (an open circuit leaves it out of
            // lists, but its names still route, so calls get "unavailable", see `view`).
            Err(e) => {
                let error = match e {
                    BackendError::Remote(e) => format!("backend error: {}", e.get()),
                    e => e.to_string(),
                };
                errs.insert(name.to_owned(), error.clone());
                Recorded::Failed(error)
            }
        }
    }

    fn want_user_view(&self, name: &str) {
        let mut u = self.user_views.lock().unwrap_or_else(|p| p.into_inner());
        u.insert(name.to_owned(), None);
        self.wants_user_views.store(true, Ordering::Release);
    }

    /// Fetches, as `caller`, the parts of backends that answer only callers and have none
    /// yet (or were told their lists changed). Costs one atomic load when there are none.
    /// What is fetched becomes everyone's listing (as a gateway-wide view always is; calls
    /// still carry each caller's own token), so backends whose lists differ by user should
    /// give the gateway client credentials instead.
    pub async fn fetch_user_views(&self, caller: &Caller) {
        if caller.subject.is_none() || !self.wants_user_views.load(Ordering::Acquire) {
            return;
        }
        let _one = self.user_fetch.lock().await;
        let now = Instant::now();
        let due: Vec<String> = self
            .user_views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, not_before)| not_before.is_none_or(|t| t <= now))
            .map(|(n, _)| n.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        let fetched = futures::future::join_all(due.iter().map(|name| async move {
            let b = self.backend(name)?;
            let r = fetch(&b, caller).await;
            Some((name, b, r))
        }))
        .await;
        let mut any = false;
        for (name, b, r) in fetched.into_iter().flatten() {
            let failed = match &r {
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            };
            let mut u = self.user_views.lock().unwrap_or_else(|p| p.into_inner());
            match failed {
                None => {
                    u.remove(name);
                    drop(u);
                    if let Ok(c) = r {
                        any |= self.store_user_view(name, &b, c);
                    }
                }
                Some(error) => {
                    u.insert(name.clone(), Some(now + USER_VIEW_RETRY));
                    tracing::debug!(backend = %name, %error, "capability fetch as a caller failed");
                }
            }
        }
        {
            let u = self.user_views.lock().unwrap_or_else(|p| p.into_inner());
            self.wants_user_views
                .store(!u.is_empty(), Ordering::Release);
        }
        if any {
            let want = self.mark_changed();
            self.rebuild_coalesced(want).await;
        }
    }

    /// Stores a part fetched as a caller, unless `b` was replaced or removed meanwhile
    /// (see [`Aggregator::record_fetch`]); whether it did.
    fn store_user_view(&self, name: &str, b: &Arc<Backend>, c: Caps) -> bool {
        let mut parts = self.lock_parts();
        if !self.is_current(name, b) {
            return false;
        }
        tracing::info!(
            backend = name,
            tools = c.tools.len(),
            resources = c.resources.len(),
            prompts = c.prompts.len(),
            "capabilities fetched as the first authenticated caller"
        );
        parts.insert(name.to_owned(), Some(Arc::new(c)));
        true
    }

    /// Called on a backend state transition.
    pub fn on_transition(&self, _name: &str, prev: State, now: State) {
        if prev == State::Open || now == State::Open {
            self.mark_changed();
            self.rebuild();
        }
    }

    /// Records that an input of the view changed; returns the number a view must include
    /// to reflect it. Call after the change itself.
    fn mark_changed(&self) -> u64 {
        self.changed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits until the view includes change `want`. The first caller of a burst waits
    /// `COALESCE` for the others and then rebuilds once for all of them.
    async fn rebuild_coalesced(&self, want: u64) {
        if !self.coalescing.swap(true, Ordering::SeqCst) {
            /// Rebuilds when dropped, so a cancelled leader still leaves a current view.
            struct Leader<'a>(&'a Aggregator);
            impl Drop for Leader<'_> {
                fn drop(&mut self) {
                    // Reset first: a change marked after this point finds no leader and
                    // leads the next round; one marked before is in this rebuild.
                    self.0.coalescing.store(false, Ordering::SeqCst);
                    self.0.rebuild();
                }
            }
            let leader = Leader(self);
            tokio::time::sleep(COALESCE).await;
            drop(leader);
        }
        let mut built = self.built.subscribe();
        let _ = built.wait_for(|b| *b >= want).await;
    }

    /// Rebuilds the view from the parts and announces what changed. A no-op when the view
    /// already includes every change marked so far (another caller rebuilt meanwhile).
    pub fn rebuild(&self) {
        if *self.built.borrow() >= self.changed.load(Ordering::SeqCst) {
            return;
        }
        let _one_at_a_time = self.rebuilding.lock().unwrap_or_else(|p| p.into_inner());
        let including = self.changed.load(Ordering::SeqCst);
        if *self.built.borrow() >= including {
            return;
        }
        let parts = self.lock_parts().clone();
        // Pending: neither fetched nor failed yet (a failed fetch is recorded before the
        // rebuild that follows it, so a failed first fetch counts as missing).
        let tried = self.tried.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let failed: HashSet<String> = self
            .fetch_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        let backends = self.backends.load();
        let inputs: Vec<Input<'_>> = parts
            .iter()
            .map(|(name, caps)| Input {
                name,
                caps: caps.as_deref(),
                available: backends
                    .get(name)
                    .is_none_or(|b| b.health.state() != State::Open),
                pending: !tried.contains(name) && !failed.contains(name),
            })
            .collect();
        let new = view::build(&inputs, &self.agg);
        for w in &new.warnings {
            tracing::debug!(warning = %w, "aggregation");
        }
        let old = self.view.swap(Arc::new(new));
        self.built.send_replace(including);
        let new = self.view.load();
        let mut changed = Vec::new();
        if old.tools_list.json.get() != new.tools_list.json.get() {
            changed.push("notifications/tools/list_changed");
        }
        if old.resources_list.json.get() != new.resources_list.json.get()
            || old.templates_list.json.get() != new.templates_list.json.get()
        {
            changed.push("notifications/resources/list_changed");
        }
        if old.prompts_list.json.get() != new.prompts_list.json.get() {
            changed.push("notifications/prompts/list_changed");
        }
        for c in changed {
            let _ = self.changes.send(c);
        }
    }
}

/// Lists everything a backend advertises to `id`, following cursors (under a span of its
/// own with tracing on: the list calls are its children).
pub async fn fetch(b: &Backend, id: &Caller) -> Result<Caps, BackendError> {
    // Under a kept request's span, or, the gateway's own, kept by the ratio like a request.
    if !(crate::telemetry::in_span() || crate::telemetry::on() && crate::telemetry::sampled(None)) {
        return fetch_lists(b, id).await;
    }
    let span = crate::telemetry::span::capabilities(&b.name);
    let r = tracing::Instrument::instrument(fetch_lists(b, id), span.clone()).await;
    if let Err(e) = &r {
        crate::telemetry::span::fail(&span, &e.class());
    }
    r
}

async fn fetch_lists(b: &Backend, id: &Caller) -> Result<Caps, BackendError> {
    let caps = b.capabilities(id).await?;
    let has = |k: &str| caps.get(k).is_some_and(|v| !v.is_null());
    let (tools, resources, templates, prompts) = tokio::try_join!(
        list_if(b, id, has("tools"), "tools/list", "tools", "name"),
        list_if(
            b,
            id,
            has("resources"),
            "resources/list",
            "resources",
            "uri"
        ),
        list_if(
            b,
            id,
            has("resources"),
            "resources/templates/list",
            "resourceTemplates",
            "uriTemplate"
        ),
        list_if(b, id, has("prompts"), "prompts/list", "prompts", "name"),
    )?;
    Ok(Caps {
        tools,
        resources,
        templates,
        prompts,
    })
}

async fn list_if(
    b: &Backend,
    id: &Caller,
    advertised: bool,
    method: &str,
    key: &str,
    required: &str,
) -> Result<Vec<filter::Object>, BackendError> {
    if !advertised {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor
            .as_ref()
            .map(|c| jsonrpc::raw(serde_json::json!({ "cursor": c }).to_string()));
        let r = match b.own_call(id, method, params.as_deref()).await {
            Ok(r) => r,
            // The backend does not implement this list after all.
            Err(BackendError::Remote(e)) if e.get().contains("-32601") => return Ok(out),
            Err(e) => return Err(e),
        };
        let mut page: serde_json::Map<String, Value> =
            serde_json::from_str(r.get()).map_err(|e| {
                BackendError::Protocol(b.name.to_string(), format!("{method} result: {e}"))
            })?;
        match page.remove(key) {
            Some(Value::Array(items)) => {
                for it in items {
                    match it {
                        Value::Object(o) if o.get(required).is_some_and(Value::is_string) => {
                            out.push(o)
                        }
                        _ => {
                            tracing::warn!(backend = %b.name, method, "skipping an item without {required}")
                        }
                    }
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => {
                return Err(BackendError::Protocol(
                    b.name.to_string(),
                    format!("{method}: {key} is not a list"),
                ));
            }
        }
        match page.remove("nextCursor") {
            Some(Value::String(c)) if !c.is_empty() => cursor = Some(c),
            _ => return Ok(out),
        }
    }
    // Never a silently truncated list: the backend's part fails (in /status and the log).
    Err(BackendError::Protocol(
        b.name.to_string(),
        format!(
            "{method}: more than {MAX_PAGES} pages ({} entries so far); the list is not served truncated",
            out.len()
        ),
    ))
}
