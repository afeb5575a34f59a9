//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, server mode, active
//! suite) against our conformance backend, first directly, then through the gateway with that one
//! backend under a name-keeping conflict strategy (`priority`).
//!
//! Direct: every scenario must pass. Through the gateway: every scenario must pass except those in
//! `conformance/expected-failures.yml`, which the suite itself enforces both ways: a failure not
//! listed, or a listed scenario that passes, makes it exit non-zero.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use vmcp_test_support::{Process, output, run_script};

struct Suite {
    node: PathBuf,
    suite: PathBuf,
    /// The referee of the 2026-07-28 revision.
    suite_2026: PathBuf,
}

/// Installs (once, cached) and locates the suite via scripts/conformance-peers.sh.
fn suite() -> Suite {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/conformance-peers.sh");
    let text = run_script(&script).unwrap_or_else(|e| panic!("{e:#}"));
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{k} missing from conformance-peers.sh output"))
    };
    Suite {
        node: get("CONFORMANCE_NODE"),
        suite: get("CONFORMANCE"),
        suite_2026: get("CONFORMANCE_2026"),
    }
}

/// Our backend as a child process; killed on drop.
struct Backend {
    _process: Process,
    port: u16,
}

impl Backend {
    fn start() -> Backend {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vmcp-conformance-server"));
        command
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut process = Process::spawn("vmcp-conformance-server", command).expect("start it");
        let mut line = String::new();
        BufReader::new(process.child_mut().stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read LISTENING line");
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Backend {
            _process: process,
            port,
        }
    }
}

/// Runs the suite against `url`; returns (success, summary text).
fn run_suite(s: &Suite, url: &str, expected_failures: Option<&Path>) -> (bool, String) {
    run(
        &s.node,
        &s.suite,
        &["--suite", "active"],
        url,
        expected_failures,
    )
}

/// Runs `suite` in server mode with `select` (which scenarios) against `url`.
fn run(
    node: &Path,
    suite: &Path,
    select: &[&str],
    url: &str,
    expected_failures: Option<&Path>,
) -> (bool, String) {
    let results = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(node);
    cmd.arg(suite)
        .args(["server", "--url", url])
        .args(select)
        .arg("-o")
        .arg(results.path())
        .current_dir(results.path());
    if let Some(f) = expected_failures {
        cmd.arg("--expected-failures").arg(f);
    }
    let out = output(cmd, Duration::from_secs(1200)).expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = match stdout.find("=== SUMMARY ===") {
        Some(i) => stdout[i..].to_owned(),
        None => format!("{stdout}\n{stderr}"),
    };
    (out.status.success(), format!("{summary}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_directly_and_through_the_gateway() {
    let s = tokio::task::spawn_blocking(suite).await.expect("install");
    let backend = Backend::start();
    let backend_url = format!("http://127.0.0.1:{}/mcp", backend.port);

    // The suite's DNS-rebinding scenario requires a `localhost` URL.
    let direct = format!("http://localhost:{}/mcp", backend.port);
    let (ok, summary) = {
        let s = Suite {
            node: s.node.clone(),
            suite: s.suite.clone(),
            suite_2026: s.suite_2026.clone(),
        };
        tokio::task::spawn_blocking(move || run_suite(&s, &direct, None))
            .await
            .expect("suite")
    };
    println!("direct:\n{summary}");
    assert!(
        ok,
        "conformance suite failed against the backend directly:\n{summary}"
    );
    assert!(
        summary.contains("Total:") && summary.contains(" 0 failed\n"),
        "{summary}"
    );

    let yaml = format!(
        "name: conformance\ngroupRef: conformance\nincomingAuth: {{type: anonymous}}\n\
         outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n\
         backends:\n- {{name: conformance, url: \"{backend_url}\", transport: streamable-http}}\n\
         aggregation: {{conflictResolution: priority, conflictResolutionConfig: {{priorityOrder: [conformance]}}}}\n"
    );
    let cfg = vmcp_config::Config::from_yaml_str(&yaml)
        .expect("config parses")
        .with_defaults();
    let report = cfg.validate();
    assert!(!report.has_errors(), "config invalid:\n{report}");
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let gw = vmcp_gateway::start(cfg, l, vmcp_gateway::serve::FrontOptions::default())
        .await
        .expect("gateway starts");
    let baseline =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/expected-failures.yml");
    let via = format!("http://localhost:{}/mcp", gw.addr.port());
    let (node, suite_2026) = (s.node.clone(), s.suite_2026.clone());
    let via_2026 = via.clone();
    let (ok, summary) = tokio::task::spawn_blocking(move || run_suite(&s, &via, Some(&baseline)))
        .await
        .expect("suite");
    println!("through the gateway:\n{summary}");
    // The 2026-07-28 revision's requirements, through the gateway in front of the same 2025
    // backend: the stateless edge and the bridging are what is measured.
    let baseline_2026 = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../conformance/expected-failures-2026-07-28.yml");
    let (ok_2026, summary_2026) = tokio::task::spawn_blocking(move || {
        run(
            &node,
            &suite_2026,
            &["--requirements", "2026-07-28"],
            &via_2026,
            Some(&baseline_2026),
        )
    })
    .await
    .expect("suite");
    println!("2026-07-28 through the gateway:\n{summary_2026}");
    assert!(
        ok_2026,
        "2026-07-28 conformance through the gateway failed (see conformance/expected-failures-2026-07-28.yml):\n{summary_2026}"
    );
    gw.stop().await;
    drop(backend);
    assert!(
        ok,
        "conformance suite through the gateway: an unexpected failure, or a listed expected \
         failure now passes (then remove it from conformance/expected-failures.yml):\n{summary}"
    );
}
