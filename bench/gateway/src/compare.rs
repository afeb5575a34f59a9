//! Gateways side by side: the same calls against each, in interleaved rounds so that the
//! machine's noise (a shared 2-core VM) hits all of them alike, reported as ratios to the
//! first. Used by the scenarios that differ only in a gateway's config (`oidc`,
//! `credentials`, `telemetry`); `eras` and `authz` take [`median`] from here.

use std::time::{Duration, Instant};

use crate::{CallRun, Gateway, Opts, call, call_body, calls, cpu_seconds, mcp, pct};

/// Sequential calls per block of the latency measure (blocks alternate between gateways).
const BLOCK: usize = 250;

/// How long a gateway's CPU is still counted after the last reply of a run: work a call
/// leaves queued (spans to export, audit events to write) is part of its cost. Longer than
/// the trace exporter's batch delay (0.5 s); an idle gateway spends next to nothing in it,
/// so gateways without such work are not affected.
const SETTLE: Duration = Duration::from_secs(1);

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Measures `gws` side by side — concurrent `tools/call` throughput in `o.rounds`
/// interleaved rounds (every other one backwards), then sequential `tools/call` latency in
/// interleaved blocks — and prints both tables under `title`, each gateway against the first.
pub(crate) async fn compare(o: &Opts, title: &str, gws: &[(&str, Gateway)]) -> anyhow::Result<()> {
    let mut tools = Vec::new();
    for (_, gw) in gws {
        tools.push(gw.wait_tools(2).await?);
    }
    throughput(o, title, gws, &tools).await?;
    latency(o, title, gws, &tools).await
}

/// One throughput run against `gw`, its gateway CPU counted until [`SETTLE`] after the run.
async fn settled_calls(o: &Opts, gw: &Gateway, tool: &str) -> anyhow::Result<CallRun> {
    let pid = gw.pid().to_string();
    let mut r = calls(o, gw.addr, tool, &pid).await?;
    let before = cpu_seconds(&pid);
    tokio::time::sleep(SETTLE).await;
    r.gateway_cpu += cpu_seconds(&pid) - before;
    Ok(r)
}

async fn throughput(
    o: &Opts,
    title: &str,
    gws: &[(&str, Gateway)],
    tools: &[String],
) -> anyhow::Result<()> {
    let mut per_cpu = vec![Vec::new(); gws.len()];
    let mut per_sec = vec![Vec::new(); gws.len()];
    for round in 0..o.rounds {
        // Every other round runs backwards, so that no gateway always runs right after the
        // same other one (whose leftovers, such as a collector still digesting its spans, it
        // would pay for).
        for k in 0..gws.len() {
            let i = if round % 2 == 0 { k } else { gws.len() - 1 - k };
            let gw = &gws[i].1;
            let r = settled_calls(o, gw, &tools[i]).await?;
            per_cpu[i].push(r.per_gateway_cpu_second());
            per_sec[i].push(r.per_second());
        }
    }
    println!(
        "\n### {title}: tools/call throughput, {} concurrent clients, {} interleaved rounds of {} s\n",
        o.concurrency, o.rounds, o.seconds
    );
    println!(
        "| gateway | req/s (median) | calls per gateway CPU-second (median) | ratio to {} (CPU) | gateway CPU µs per call | ratio in each round, lowest–highest |",
        gws[0].0
    );
    println!("|---|---|---|---|---|---|");
    let base = median(per_cpu[0].clone());
    for (i, (name, _)) in gws.iter().enumerate() {
        let (c, s) = (median(per_cpu[i].clone()), median(per_sec[i].clone()));
        let (low, high) = spread(&per_cpu[i], &per_cpu[0]);
        println!(
            "| {name} | {s:.0} | {c:.0} | {:.3} | {:.1} | {low:.2}–{high:.2} |",
            c / base,
            1e6 / c
        );
    }
    Ok(())
}

/// The lowest and highest ratio of each of `runs` to the `base` run of the same round: how
/// far the machine's noise moves the ratio the table gives as one number.
fn spread(runs: &[f64], base: &[f64]) -> (f64, f64) {
    let ratios = runs.iter().zip(base).map(|(r, b)| r / b);
    ratios.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    })
}

async fn latency(
    o: &Opts,
    title: &str,
    gws: &[(&str, Gateway)],
    tools: &[String],
) -> anyhow::Result<()> {
    let mut clients = Vec::new();
    for (i, (_, gw)) in gws.iter().enumerate() {
        let mut c = mcp(gw.addr, 1);
        c.try_initialize(serde_json::json!({})).await?;
        let body = call_body(7, &tools[i]);
        for _ in 0..500 {
            call(&c, &body).await?;
        }
        clients.push((c, body));
    }
    let mut times = vec![Vec::with_capacity(o.n); gws.len()];
    let deadline = Instant::now() + Duration::from_secs(120);
    while times[0].len() < o.n && Instant::now() < deadline {
        for (i, (c, body)) in clients.iter().enumerate() {
            for _ in 0..BLOCK {
                let t = Instant::now();
                call(c, body).await?;
                times[i].push(t.elapsed());
            }
        }
    }
    for t in &mut times {
        t.sort();
    }
    println!(
        "\n### {title}: sequential tools/call on one connection, {} calls each, interleaved in blocks of {BLOCK}\n",
        times[0].len()
    );
    println!("| gateway | p50 ms | p99 ms | added p50 µs | added p99 µs |");
    println!("|---|---|---|---|---|");
    let (b50, b99) = (pct(&times[0], 50.0), pct(&times[0], 99.0));
    for (i, (name, _)) in gws.iter().enumerate() {
        let (p50, p99) = (pct(&times[i], 50.0), pct(&times[i], 99.0));
        println!(
            "| {name} | {p50:.3} | {p99:.3} | {:.1} | {:.1} |",
            (p50 - b50) * 1e3,
            (p99 - b99) * 1e3
        );
    }
    Ok(())
}
