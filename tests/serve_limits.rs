//! The real `vmcp serve` binary under pressure: a low file-descriptor limit with hundreds of
//! idle client connections, and thirty concurrent 20 MB tool results. Each measures what an
//! operator would: `/health` answering, and the gateway process's peak RSS from /proc.
//!
//! The bounds are set through their `VMCP_*` variables, as a Deployment would set them.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Process, Scratch, connect, free_port, scratch, wait_listening};

fn write_config(dir: &Scratch, backend_port: u16) -> std::path::PathBuf {
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "name: limits\ngroupRef: g\nincomingAuth: {{type: anonymous}}\n\
             outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n\
             backends:\n- {{name: b, url: \"http://127.0.0.1:{backend_port}/mcp\", transport: streamable-http}}\n"
        ),
    )
    .unwrap();
    cfg
}

/// `vmcp serve` on `port` with `env`, and at most `nofile` descriptors if given.
async fn start_gateway(
    cfg: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
    nofile: Option<u64>,
    log: &std::path::Path,
) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    cmd.args(["serve", "--config"])
        .arg(cfg)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    if let Some(n) = nofile {
        vmcp_test_support::limit_open_files(&mut cmd, n);
    }
    let child = Process::spawn("vmcp serve", cmd).unwrap();
    wait_listening(port).await;
    child
}

/// `GET /health` on a fresh connection, bounded by `limit`; the status code.
fn health(port: u16, limit: Duration) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), limit)?;
    s.set_read_timeout(Some(limit))?;
    s.write_all(
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {out:?}")))
}

#[tokio::test]
async fn health_answers_under_a_low_fd_limit_while_hundreds_of_idle_connections_are_open() {
    let dir = scratch("serve-limits-fds");
    // Nothing listens there: the backend is down, which the gateway survives.
    let cfg = write_config(&dir, free_port());
    let port = free_port();
    let log = dir.join("gateway.log");
    let mut gw = start_gateway(&cfg, port, &[], Some(128), &log).await;
    wait_health(port);

    // 400 connections that never send a byte: three times the descriptors the gateway has.
    // (A connection the kernel cannot queue times out here; the gateway keeps the backlog
    // moving by closing idle ones.)
    let idle: Vec<TcpStream> = (0..400)
        .filter_map(|_| {
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300))
                .ok()
        })
        .collect();
    assert!(idle.len() > 128, "only {} connected", idle.len());

    for round in 0..5 {
        let started = Instant::now();
        let status = health(port, Duration::from_secs(5));
        assert!(
            matches!(status, Ok(200)),
            "round {round}: /health gave {status:?} after {:?} with {} idle connections open; log:\n{}",
            started.elapsed(),
            idle.len(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "round {round}: /health took {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Still a working MCP endpoint, and still running.
    let c = connect(port).await;
    assert!(!c.session_id().is_empty());
    assert!(
        gw.try_wait().unwrap().is_none(),
        "the gateway is still running"
    );
    drop(idle);
}

/// A tiny streamable-HTTP MCP backend whose one tool, `big`, returns `text` as its result;
/// one thread per connection, `Connection: close` on every reply.
fn big_result_backend(text: Arc<Vec<u8>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let text = text.clone();
            std::thread::spawn(move || {
                let _ = answer(s, &text);
            });
        }
    });
    port
}

fn answer(s: TcpStream, text: &[u8]) -> std::io::Result<()> {
    let mut r = BufReader::new(s.try_clone()?);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    let msg: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut w = s;
    let Some(id) = msg.get("id") else {
        return w
            .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let (prefix, middle, suffix): (String, &[u8], String) = match msg["method"].as_str() {
        Some("initialize") => (
            serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "big", "version": "0"}}}).to_string(),
            b"",
            String::new(),
        ),
        Some("tools/list") => (
            serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [{"name": "big", "inputSchema": {"type": "object"}}]}}).to_string(),
            b"",
            String::new(),
        ),
        Some("tools/call") => (
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#),
            text,
            r#""}]}}"#.to_owned(),
        ),
        _ => (
            serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string(),
            b"",
            String::new(),
        ),
    };
    let n = prefix.len() + middle.len() + suffix.len();
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n{prefix}"
    )?;
    w.write_all(middle)?;
    w.write_all(suffix.as_bytes())
}

/// A `/proc/<pid>/status` field in kB.
fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_concurrent_20_mb_results_stay_within_the_reply_budget() {
    const RESULT: usize = 20 * 1024 * 1024;
    const BUDGET: usize = 64 * 1024 * 1024;
    let dir = scratch("serve-limits-rss");
    let be_port = big_result_backend(Arc::new(vec![b'x'; RESULT]));
    let cfg = write_config(&dir, be_port);
    let port = free_port();
    let log = dir.join("gateway.log");
    let budget = BUDGET.to_string();
    let max_reply = (32 * 1024 * 1024).to_string();
    let gw = start_gateway(
        &cfg,
        port,
        &[
            ("VMCP_REPLY_BUDGET_BYTES", &budget),
            ("VMCP_MAX_REPLY_BYTES", &max_reply),
        ],
        None,
        &log,
    )
    .await;
    let pid = gw.id();
    let c = connect(port).await;
    let tools = c
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .await
        .unwrap()
        .text();
    // The tool is listed as `b_big` (the default prefix conflict resolution).
    assert!(tools.contains("\"b_big\""), "{tools}");
    let before = proc_kb(pid, "VmRSS:");

    let calls: Vec<_> = (0..30)
        .map(|i| {
            // Each call on a connection of its own, as before with raw sockets.
            let mut c = c.clone();
            c.http = reqwest::Client::new();
            tokio::spawn(async move {
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"b_big","arguments":{{}}}}}}"#,
                    100 + i
                );
                let r = c.send(body).await.unwrap();
                let (status, reply) = (r.status, r.text());
                // Only what the test needs: whether the whole result arrived, or why not.
                let full = reply.len() > RESULT && reply.contains(r#""result""#);
                let why = (!full).then(|| reply.chars().take(400).collect::<String>());
                (status, full, why)
            })
        })
        .collect();
    let mut ok = 0;
    for c in calls {
        let (status, full, why) = c.await.unwrap();
        assert_eq!(status, 200, "{why:?}");
        if full {
            ok += 1;
        } else {
            let why = why.unwrap();
            assert!(
                why.contains("--reply-budget-bytes") && why.contains("-32005"),
                "a call either gets its whole result or the budget's error: {why}"
            );
        }
    }
    let peak_mb = proc_kb(pid, "VmHWM:") / 1024;
    assert!(ok >= 1, "some calls get their results");
    // Without a budget thirty buffered 20 MB replies alone are 600 MB. With 64 MB of budget a
    // few replies are read at once; each is also copied once while parsed and once more as
    // the client's reply, so the peak stays within a few budgets of the baseline.
    let bound_mb = before / 1024 + 4 * (BUDGET as u64 / (1024 * 1024));
    assert!(
        peak_mb < bound_mb,
        "peak RSS {peak_mb} MB (started at {} MB, {ok} calls answered in full), bound {bound_mb} MB",
        before / 1024
    );
    eprintln!(
        "peak RSS {peak_mb} MB from {} MB; {ok} of 30 calls answered in full",
        before / 1024
    );
}

/// Waits (blocking: the test's thread does nothing else meanwhile) until `/health` answers.
fn wait_health(port: u16) {
    for _ in 0..100 {
        if matches!(health(port, Duration::from_secs(2)), Ok(200)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("/health never answered");
}
