//! What Cedar authorization costs: three gateways on the same backend, without `authz`, with
//! a permit-all policy and with twenty rules, measured side by side in interleaved rounds
//! (so machine noise hits all three alike) and reported as ratios to the one without.
//!
//! Two measures: concurrent `tools/call` (one decision per call: the throughput scenario)
//! and sequential `tools/list` over many backends (one decision per listed tool).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::compare::median;
use crate::{Gateway, Opts, backend, call, calls, list_body, many_backends, mcp, pct};

const PERMIT_ALL: &[&str] = &["permit(principal, action, resource);"];

/// Twenty rules of the kinds ToolHive users write: tools by name pattern, argument and
/// annotation guards, group rules, prompts and resources. Every listed and called tool
/// (`*_t0` ... `*_t9`) is permitted, so the lists are as long as without policies.
const TWENTY_RULES: &[&str] = &[
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t0" && context.claim_iss == "toolhive-local" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t1" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t2" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t3" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t4" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t5" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t6" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t7" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t8" };"#,
    r#"permit(principal, action == Action::"call_tool", resource) when { resource.name like "*_t9" };"#,
    r#"forbid(principal, action == Action::"call_tool", resource) when { context has arg_text && context.arg_text like "*DROP TABLE*" };"#,
    r#"forbid(principal, action == Action::"call_tool", resource) when { context has arg_path && context.arg_path like "/etc/*" };"#,
    r#"forbid(principal, action, resource) when { resource has destructiveHint && resource.destructiveHint };"#,
    r#"forbid(principal in THVGroup::"blocked", action, resource);"#,
    r#"forbid(principal, action, resource) when { principal has claim_suspended && principal.claim_suspended == true };"#,
    r#"forbid(principal, action == Action::"call_tool", resource == Tool::"shutdown");"#,
    r#"permit(principal in THVGroup::"admins", action, resource);"#,
    r#"permit(principal, action == Action::"get_prompt", resource);"#,
    r#"permit(principal, action == Action::"read_resource", resource) when { resource.uri like "docs://*" };"#,
    r#"forbid(principal, action == Action::"read_resource", resource) when { resource.uri like "*secret*" };"#,
];

/// The `incomingAuth` YAML of a configuration; `None` is no authorization.
fn incoming(policies: Option<&[&str]>) -> String {
    let Some(policies) = policies else {
        return "incomingAuth: {type: anonymous}\n".into();
    };
    let list: Vec<String> = policies
        .iter()
        .map(|p| format!("      - '{}'", p.replace('\'', "''")))
        .collect();
    format!(
        "incomingAuth:\n  type: anonymous\n  authz:\n    type: cedar\n    policies:\n{}\n",
        list.join("\n")
    )
}

const CONFIGS: [(&str, Option<&[&str]>); 3] = [
    ("no authz", None),
    ("permit-all (1 rule)", Some(PERMIT_ALL)),
    ("20 rules", Some(TWENTY_RULES)),
];

pub async fn run(o: &Opts) -> anyhow::Result<()> {
    throughput(o).await?;
    list(o).await
}

async fn start_all(o: &Opts, backends: &[(String, SocketAddr)]) -> anyhow::Result<Vec<Gateway>> {
    let mut gws = Vec::new();
    for (_, policies) in CONFIGS {
        gws.push(Gateway::start_with(o, backends, &incoming(policies)).await?);
    }
    Ok(gws)
}

async fn throughput(o: &Opts) -> anyhow::Result<()> {
    let be = backend::start("b0_".into(), 2).await?;
    let gws = start_all(o, &[("b0".into(), be)]).await?;
    let mut tools = Vec::new();
    for gw in &gws {
        tools.push(gw.wait_tools(2).await?);
    }
    let mut per_cpu = vec![Vec::new(); gws.len()];
    let mut per_sec = vec![Vec::new(); gws.len()];
    for _ in 0..o.rounds {
        for (i, gw) in gws.iter().enumerate() {
            let r = calls(o, gw.addr, &tools[i], &gw.pid().to_string()).await?;
            per_cpu[i].push(r.per_gateway_cpu_second());
            per_sec[i].push(r.per_second());
        }
    }
    println!(
        "\n### Cedar authorization: tools/call throughput, {} concurrent clients, {} interleaved rounds of {} s\n",
        o.concurrency, o.rounds, o.seconds
    );
    println!(
        "| gateway | req/s (median) | calls per gateway CPU-second (median) | ratio to no authz (CPU) | ratio to no authz (req/s) |"
    );
    println!("|---|---|---|---|---|");
    let (base_cpu, base_sec) = (median(per_cpu[0].clone()), median(per_sec[0].clone()));
    for (i, (name, _)) in CONFIGS.iter().enumerate() {
        let (c, s) = (median(per_cpu[i].clone()), median(per_sec[i].clone()));
        println!(
            "| {name} | {s:.0} | {c:.0} | {:.3} | {:.3} |",
            c / base_cpu,
            s / base_sec
        );
    }
    Ok(())
}

async fn list(o: &Opts) -> anyhow::Result<()> {
    let bes = many_backends(o).await?;
    let want = o.backends * o.tools;
    let gws = start_all(o, &bes).await?;
    let mut clients = Vec::new();
    for gw in &gws {
        gw.wait_tools(want).await?;
        let mut c = mcp(gw.addr, 1);
        c.try_initialize(serde_json::json!({})).await?;
        // Every configuration lists every tool: the comparison is of equal replies.
        let v: serde_json::Value = serde_json::from_slice(&call(&c, &list_body(3)).await?)?;
        let listed = v["result"]["tools"].as_array().map_or(0, Vec::len);
        if listed != want {
            bail!("a gateway listed {listed} tools, not {want}");
        }
        clients.push(c);
    }
    let n = (o.n / 10).max(100);
    let mut times = vec![Vec::new(); gws.len()];
    let deadline = Instant::now() + Duration::from_secs(120);
    while times[0].len() < n && Instant::now() < deadline {
        for (i, c) in clients.iter().enumerate() {
            for _ in 0..25 {
                let t = Instant::now();
                call(c, &list_body(3)).await?;
                times[i].push(t.elapsed());
            }
        }
    }
    println!(
        "\n### Cedar authorization: tools/list of {want} tools ({} backends × {}), {} sequential calls each, interleaved\n",
        o.backends,
        o.tools,
        times[0].len()
    );
    println!("| gateway | p50 ms | p99 ms | p50 ratio to no authz |");
    println!("|---|---|---|---|");
    for t in &mut times {
        t.sort();
    }
    let base = pct(&times[0], 50.0);
    for (i, (name, _)) in CONFIGS.iter().enumerate() {
        println!(
            "| {name} | {:.3} | {:.3} | {:.2} |",
            pct(&times[i], 50.0),
            pct(&times[i], 99.0),
            pct(&times[i], 50.0) / base
        );
    }
    Ok(())
}
