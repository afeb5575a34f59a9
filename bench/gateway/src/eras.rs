//! What a call costs in each MCP era: one release gateway, one backend, and clients of both
//! eras calling the same tool in interleaved rounds — 2025 clients on a session (the
//! `Mcp-Session-Id` path), and 2026-07-28 clients sending stateless requests (the `_meta`
//! envelope checked, `Mcp-Method`/`Mcp-Name` matched against the body, a session made and
//! dropped per request, `resultType` added to the result). Calls per gateway CPU-second
//! side by side, as a ratio.

use std::time::{Duration, Instant};

use crate::compare::median;
use crate::{CallRun, Gateway, Opts, backend, calls, cpu_seconds, pool};

fn stateless_body(tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"hello"}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}},"io.modelcontextprotocol/clientInfo":{{"name":"bench","version":"1"}}}}}}}}"#
    )
}

/// `o.concurrency` stateless clients calling `tool` for `o.seconds`.
async fn stateless_calls(
    o: &Opts,
    addr: std::net::SocketAddr,
    tool: &str,
    gpid: &str,
) -> anyhow::Result<CallRun> {
    let http = pool(o.concurrency);
    let (g0, b0) = (cpu_seconds(gpid), cpu_seconds("self"));
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(o.seconds);
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (http, body, tool) = (http.clone(), stateless_body(tool), tool.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline && n < 1_000_000 {
                let r = http
                    .post(format!("http://{addr}/mcp"))
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", &tool)
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == 200, "HTTP {}", r.status());
                let text = r.text().await?;
                anyhow::ensure!(text.contains(r#""resultType":"complete""#), "{text}");
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(CallRun {
        total,
        wall: t0.elapsed().as_secs_f64(),
        gateway_cpu: cpu_seconds(gpid) - g0,
        bench_cpu: cpu_seconds("self") - b0,
    })
}

pub async fn run(o: &Opts) -> anyhow::Result<()> {
    let be = backend::start("b0_".into(), 2).await?;
    let gw = Gateway::start(o, &[("b0".into(), be)]).await?;
    let tool = gw.wait_tools(2).await?;
    let gpid = gw.pid().to_string();
    let (mut legacy, mut modern) = (Vec::new(), Vec::new());
    let (mut legacy_s, mut modern_s) = (Vec::new(), Vec::new());
    for _ in 0..o.rounds {
        let r = calls(o, gw.addr, &tool, &gpid).await?;
        legacy.push(r.per_gateway_cpu_second());
        legacy_s.push(r.per_second());
        let r = stateless_calls(o, gw.addr, &tool, &gpid).await?;
        modern.push(r.per_gateway_cpu_second());
        modern_s.push(r.per_second());
    }
    println!(
        "\n### MCP eras: tools/call throughput, {} concurrent clients, {} interleaved rounds of {} s, one gateway\n",
        o.concurrency, o.rounds, o.seconds
    );
    println!(
        "| client | req/s (median) | calls per gateway CPU-second (median) | ratio to 2025 session (CPU) | gateway CPU µs per call |"
    );
    println!("|---|---|---|---|---|");
    let base = median(legacy.clone());
    for (name, cpu, sec) in [
        ("2025-11-25, session", legacy, legacy_s),
        ("2026-07-28, stateless", modern, modern_s),
    ] {
        let c = median(cpu);
        println!(
            "| {name} | {:.0} | {c:.0} | {:.3} | {:.1} |",
            median(sec),
            c / base,
            1e6 / c
        );
    }
    Ok(())
}
