//! Operator scale benchmark on the real test kube-apiserver (crates/testenv).
//!
//! A group with N MCPServerEntries (default 1,000; `BENCH_ENTRIES`) and a static-mode
//! VirtualMCPServer: the first reconcile and a no-op re-reconcile are timed, every HTTP request
//! the operator's client sends is counted (a tower layer on the kube client), the rendered
//! ConfigMap is checked to hold exactly N backends, and the process's RSS is read from
//! /proc/self/status. A second group whose config would exceed the 1 MiB ConfigMap limit must
//! end in a `ConfigTooLarge` condition with no ConfigMap written.
//!
//! Every entry is reconciled first (the VirtualMCPServer only takes Valid entries); each entry
//! reconcile reads the namespace's world, so that pass is O(N) reads of O(N) objects.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::client::ClientBuilder;
use vmcp_api::{MCPGroup, MCPServerEntry, VirtualMCPServer};
use vmcp_operator::controllers::{Context, Metrics, entry, group, virtual_server};
use vmcp_operator::render::Settings;
use vmcp_testenv::TestEnv;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proc_status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}

struct Counter(Arc<AtomicU64>);

impl Counter {
    fn take(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }
}

async fn create_objects(
    client: &kube::Client,
    ns: &str,
    n: usize,
    group_name: &str,
    header_bytes: usize,
) -> Result<()> {
    let groups: Api<MCPGroup> = Api::namespaced(client.clone(), ns);
    groups
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPGroup",
                "metadata": {"name": group_name}, "spec": {}
            }))?,
        )
        .await?;
    let entries: Api<MCPServerEntry> = Api::namespaced(client.clone(), ns);
    let pad = "x".repeat(header_bytes);
    futures::stream::iter(0..n)
        .map(|i| {
            let entries = entries.clone();
            let mut spec = serde_json::json!({
                "remoteUrl": format!("https://backend-{i:05}.mcp.example.com/mcp"),
                "transport": "streamable-http",
                "groupRef": {"name": group_name},
            });
            if header_bytes > 0 {
                spec["headerForward"] = serde_json::json!({"addPlaintextHeaders": {"X-Pad": pad}});
            }
            async move {
                let e: MCPServerEntry = serde_json::from_value(serde_json::json!({
                    "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "MCPServerEntry",
                    "metadata": {"name": format!("{group_name}-{i:05}")}, "spec": spec,
                }))?;
                entries.create(&PostParams::default(), &e).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(client.clone(), ns);
    vmcps
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": "VirtualMCPServer",
                "metadata": {"name": group_name},
                "spec": {"groupRef": {"name": group_name}, "incomingAuth": {"type": "anonymous"},
                         "outgoingAuth": {"source": "inline"}}
            }))?,
        )
        .await?;
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let n = env_usize("BENCH_ENTRIES", 1000);
    let env = TestEnv::shared().await.context("test apiserver")?;
    env.install_crds().await.context("CRDs")?;
    let admin = env.client()?;
    let ns = env.namespace("bench-op").await?;

    let t = Instant::now();
    create_objects(&admin, &ns, n, "team", 0).await?;
    let setup = t.elapsed();

    let count = Arc::new(AtomicU64::new(0));
    let c2 = count.clone();
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        c2.fetch_add(1, Ordering::Relaxed);
        req
    });
    let client = ClientBuilder::try_from(env.config())?
        .with_layer(&layer)
        .build();
    let calls = Counter(count);
    let ctx = Context::new(client, Settings::default(), Arc::new(Metrics::default()));
    let rss_before = proc_status("VmRSS:");

    // Group: lists members, writes status.
    let groups: Api<MCPGroup> = Api::namespaced(admin.clone(), &ns);
    let g = Arc::new(groups.get("team").await?);
    let t = Instant::now();
    group::reconcile_inner(g, ctx.clone()).await?;
    let group_time = t.elapsed();
    let group_calls = calls.take();

    // Entries: every entry validated (the VirtualMCPServer only takes Valid entries), 8 at a
    // time as the controller's queue would run them.
    let entries: Api<MCPServerEntry> = Api::namespaced(admin.clone(), &ns);
    let list = entries.list(&Default::default()).await?;
    let t = Instant::now();
    futures::stream::iter(list.items)
        .map(|e| entry::reconcile_inner(Arc::new(e), ctx.clone()))
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    let entry_time = t.elapsed();
    let entry_calls = calls.take();

    // VirtualMCPServer: first reconcile, then a no-op one.
    let vmcps: Api<VirtualMCPServer> = Api::namespaced(admin.clone(), &ns);
    let v = Arc::new(vmcps.get("team").await?);
    let t = Instant::now();
    virtual_server::reconcile_inner(v, ctx.clone()).await?;
    let first = t.elapsed();
    let first_calls = calls.take();
    let first_changes = ctx.applier.stats.changes.swap(0, Ordering::Relaxed);

    let cm: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    let yaml = cm
        .get("team-vmcp-config")
        .await?
        .data
        .and_then(|d| d.get("config.yaml").cloned())
        .context("config.yaml")?;
    let cfg = vmcp_config::Config::from_yaml_str(&yaml).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ensure!(
        cfg.backends.len() == n,
        "ConfigMap holds {} backends, expected {n}",
        cfg.backends.len()
    );
    let v = Arc::new(vmcps.get("team").await?);
    let t = Instant::now();
    virtual_server::reconcile_inner(v, ctx.clone()).await?;
    let noop = t.elapsed();
    let noop_calls = calls.take();
    let noop_changes = ctx.applier.stats.changes.swap(0, Ordering::Relaxed);
    ensure!(
        noop_changes == 0,
        "no-op reconcile changed {noop_changes} objects"
    );

    let hwm = proc_status("VmHWM:");
    let rss = proc_status("VmRSS:");

    // Too large: entries with a 2 KiB plaintext header each, so the config passes 1 MiB.
    let big_ns = env.namespace("bench-big").await?;
    let big_n = env_usize("BENCH_BIG_ENTRIES", 600);
    create_objects(&admin, &big_ns, big_n, "big", 2048).await?;
    let bgroups: Api<MCPGroup> = Api::namespaced(admin.clone(), &big_ns);
    group::reconcile_inner(Arc::new(bgroups.get("big").await?), ctx.clone()).await?;
    let bentries: Api<MCPServerEntry> = Api::namespaced(admin.clone(), &big_ns);
    futures::stream::iter(bentries.list(&Default::default()).await?.items)
        .map(|e| entry::reconcile_inner(Arc::new(e), ctx.clone()))
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    let bvmcps: Api<VirtualMCPServer> = Api::namespaced(admin.clone(), &big_ns);
    virtual_server::reconcile_inner(Arc::new(bvmcps.get("big").await?), ctx.clone()).await?;
    let st = bvmcps.get("big").await?.status.context("big status")?;
    let too_large = st
        .conditions
        .iter()
        .find(|c| c.reason == "ConfigTooLarge")
        .context("no ConfigTooLarge condition")?;
    let bcm: Api<ConfigMap> = Api::namespaced(admin.clone(), &big_ns);
    if bcm.get_opt("big-vmcp-config").await?.is_some() {
        bail!("a ConfigMap was written for the oversized config");
    }

    println!("| measure | value |\n|---|---|");
    println!("| entries in the group | {n} |");
    println!(
        "| creating them (16 concurrent POSTs, not the operator) | {} |",
        ms(setup)
    );
    println!(
        "| MCPGroup reconcile | {} , {group_calls} API calls |",
        ms(group_time)
    );
    println!(
        "| VirtualMCPServer first reconcile (ConfigMap with {n} backends verified) | {} , {first_calls} API calls, {first_changes} objects changed |",
        ms(first)
    );
    println!(
        "| VirtualMCPServer no-op re-reconcile | {} , {noop_calls} API calls, {noop_changes} objects changed |",
        ms(noop)
    );
    println!(
        "| all {n} MCPServerEntry reconciles (8 concurrent) | {} , {entry_calls} API calls ({:.1} per entry) |",
        ms(entry_time),
        entry_calls as f64 / n.max(1) as f64
    );
    println!(
        "| operator process RSS before / after / peak (VmHWM) | {rss_before} / {rss} / {hwm} |"
    );
    println!(
        "| {big_n} entries with a 2 KiB header each | `{}` condition `{}`, no ConfigMap written: {} |",
        too_large.type_, too_large.reason, too_large.message
    );
    Ok(())
}
