//! A config with 10,000 backends parses and validates correctly (timing is measured by
//! `examples/parse_10k.rs`, not asserted here).

use vmcp_config::{Severity, Transport};

/// `n` backends in static mode, each with an auth entry, a tools entry and a timeout.
fn many_backends(n: usize) -> String {
    let mut s = String::with_capacity(n * 300);
    s.push_str("name: big\ngroupRef: big\nincomingAuth: {type: anonymous}\nbackends:\n");
    for i in 0..n {
        let (transport, path) = if i % 3 == 0 {
            ("sse", "sse")
        } else {
            ("streamable-http", "mcp")
        };
        s.push_str(&format!(
            "  - name: backend-{i}\n    url: http://backend-{i}.tools.svc.cluster.local:8080/{path}\n    transport: {transport}\n"
        ));
        if i % 10 == 0 {
            s.push_str(&format!(
                "    type: entry\n    caBundlePath: /etc/toolhive/ca-bundles/backend-{i}/ca.crt\n"
            ));
        }
    }
    s.push_str(
        "outgoingAuth:\n  source: inline\n  default: {type: unauthenticated}\n  backends:\n",
    );
    for i in (0..n).step_by(2) {
        s.push_str(&format!(
            "    backend-{i}: {{type: header_injection, headerInjection: {{headerName: X-Api-Key, headerValueEnv: KEY_{i}}}}}\n"
        ));
    }
    s.push_str("aggregation:\n  conflictResolution: prefix\n  tools:\n");
    for i in (0..n).step_by(5) {
        s.push_str(&format!(
            "    - workload: backend-{i}\n      filter: [search, fetch]\n"
        ));
    }
    s.push_str("operational:\n  timeouts:\n    default: 30s\n    perWorkload:\n");
    for i in (0..n).step_by(7) {
        s.push_str(&format!("      backend-{i}: 45s\n"));
    }
    s
}

#[test]
fn ten_thousand_backends_parse_and_validate() {
    let text = many_backends(10_000);
    let (cfg, report) = vmcp_config::parse_and_validate(&text).unwrap();
    assert_eq!(cfg.backends.len(), 10_000);
    assert_eq!(cfg.backends[9_999].name, "backend-9999");
    assert_eq!(
        cfg.backends
            .iter()
            .filter(|b| b.transport == Some(Transport::Sse))
            .count(),
        3_334
    );
    assert_eq!(cfg.outgoing_auth.as_ref().unwrap().backends.len(), 5_000);
    assert_eq!(cfg.aggregation.as_ref().unwrap().tools.len(), 2_000);
    assert!(report.problems.is_empty(), "{report}");
    let summary = cfg.summary();
    assert_eq!(
        (
            summary.backends,
            summary.sse,
            summary.streamable_http,
            summary.entries
        ),
        (10_000, 3_334, 6_666, 1_000)
    );
}

#[test]
fn problems_among_ten_thousand_backends_are_all_found() {
    let mut text = many_backends(10_000);
    // A duplicate of the first backend at the very end, and a reference to a missing one.
    text = text.replace(
        "outgoingAuth:\n",
        "  - name: backend-0\n    url: http://dup/mcp\n    transport: sse\noutgoingAuth:\n",
    );
    text.push_str("      backend-10000: 5s\n");
    let (_, report) = vmcp_config::parse_and_validate(&text).unwrap();
    let found: Vec<String> = report
        .problems
        .iter()
        .map(|p| format!("{}: {p}", p.severity))
        .collect();
    assert_eq!(
        found,
        [
            "error: backends[10000].name: duplicate backend name \"backend-0\" (also backends[0])",
            "warning: operational.timeouts.perWorkload.backend-10000: no backend named \"backend-10000\" is listed in backends",
        ]
    );
    assert_eq!(report.problems[0].severity, Severity::Error);
}
