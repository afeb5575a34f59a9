//! Times `vmcp_config::parse_and_validate` on a generated static config with 10,000 backends.
//!
//! Run with `cargo run --release -p vmcp-config --example parse_10k [backends] [rounds]`.

use std::time::{Duration, Instant};

fn config_with(n: usize) -> String {
    let mut s = String::with_capacity(n * 300);
    s.push_str("name: big\ngroupRef: big\nincomingAuth: {type: anonymous}\nbackends:\n");
    for i in 0..n {
        let (transport, path) = if i % 3 == 0 {
            ("sse", "sse")
        } else {
            ("streamable-http", "mcp")
        };
        s.push_str(&format!(
            "  - name: backend-{i}\n    url: http://backend-{i}.tools.svc.cluster.local:8080/{path}\n    transport: {transport}\n    metadata:\n      group: big\n      namespace: tools\n"
        ));
    }
    s.push_str("outgoingAuth:\n  source: inline\n  backends:\n");
    for i in (0..n).step_by(2) {
        s.push_str(&format!(
            "    backend-{i}:\n      type: header_injection\n      headerInjection:\n        headerName: X-Api-Key\n        headerValueEnv: KEY_{i}\n"
        ));
    }
    s
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let text = config_with(n);
    let mut parse_total = Duration::ZERO;
    let mut validate_total = Duration::ZERO;
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let t0 = Instant::now();
        let cfg = match vmcp_config::Config::from_yaml_str(&text) {
            Ok(cfg) => cfg,
            Err(e) => {
                eprintln!("parse failed: {e}");
                std::process::exit(1);
            }
        };
        let t1 = Instant::now();
        let report = cfg.validate();
        let t2 = Instant::now();
        assert!(report.is_ok(), "{report}");
        parse_total += t1 - t0;
        validate_total += t2 - t1;
        best = best.min(t2 - t0);
    }
    println!(
        "{n} backends, {} bytes, {rounds} rounds: parse {:?}/round, validate {:?}/round, best parse+validate {:?}",
        text.len(),
        parse_total / rounds,
        validate_total / rounds,
        best
    );
}
