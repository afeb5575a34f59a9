//! OpenTelemetry traces end to end, with real components only: the `vmcp serve` binary
//! exporting by OTLP/HTTP to a real Jaeger (built from its Go module), the official Python SDK
//! 2.x as client (it puts its trace context into `_meta`) and as backend (it takes the
//! gateway's back out of `_meta`, and reports what it got), server-everything as a second
//! backend, and a plain HTTP client sending `traceparent` as a header. The traces are read
//! back through Jaeger's HTTP query API; the metrics pushed by OTLP through the Prometheus
//! exporter of Jaeger's collector, and compared with the gateway's own `/metrics`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Client, Process, free_port, scratch, server_everything, wait_listening};
use serde_json::{Value, json};
use vmcp_test_support::{Sdk2Server, modern_python_json};
use vmcp_testenv::jaeger::Jaeger;

/// The 2026-07-28 client, inside a span of the trace the test chose: the SDK's own client
/// span carries that context and the SDK injects it into every request's `_meta`.
const TRACED_CLIENT: &str = r#"
import anyio, json, sys
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from mcp import Client

async def main(url, trace_id, span_id):
    parent = NonRecordingSpan(SpanContext(int(trace_id, 16), int(span_id, 16),
                                          is_remote=False, trace_flags=TraceFlags(1)))
    with trace.use_span(parent):
        async with Client(url, mode="2026-07-28") as c:
            r = await c.call_tool("py_trace_context", {})
            try:
                bad = await c.call_tool("everything_get-sum", {"a": "not a number"})
                failed = bool(bad.is_error)
            except Exception:
                failed = True
    print(json.dumps({"seen": json.loads(r.content[0].text), "failed": failed}))

anyio.run(main, *sys.argv[1].split())
"#;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const HEADER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// `vmcp serve` on `cfg` on a free port, loopback collectors allowed; with `fast_push`,
/// metrics are pushed every half second instead of every 30 s.
async fn serve(cfg: &std::path::Path, fast_push: bool) -> (Process, u16) {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    command
        .args(["serve", "--config"])
        .arg(cfg)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--allow-loopback-endpoints"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if fast_push {
        command.env("OTEL_METRIC_EXPORT_INTERVAL", "500");
    }
    let gw = Process::spawn("vmcp serve", command).unwrap();
    wait_listening(port).await;
    (gw, port)
}

/// The trace `id` from Jaeger, once it holds at least `spans` spans (export is batched).
async fn trace(jaeger: &Jaeger, id: &str, spans: usize) -> Value {
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = http
            .get(format!("{}/api/traces/{id}", jaeger.query))
            .send()
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null);
        let n = v["data"][0]["spans"].as_array().map_or(0, Vec::len);
        if n >= spans {
            return v["data"][0].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trace {id} has {n} of {spans} spans after 30 s: {v}\njaeger log:\n{}",
            jaeger.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn tag<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| &t["value"])
}

fn parent(span: &Value) -> Option<&str> {
    span["references"]
        .as_array()?
        .iter()
        .find(|r| r["refType"] == "CHILD_OF")?["spanID"]
        .as_str()
}

fn span_named<'a>(trace: &'a Value, name: &str) -> &'a Value {
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {trace:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_one_trace_from_the_client_through_the_gateway_into_the_backend() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let jaeger = Jaeger::shared().await.expect("jaeger starts");
    let py = Sdk2Server::start(false).await;
    let (_everything, be_port) = server_everything().await;
    let dir = scratch("e2e-traces");
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "name: traced\ngroupRef: g\nincomingAuth: {{type: anonymous}}\n\
             outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n\
             aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n\
             backends:\n\
             - {{name: py, url: \"{}\", transport: streamable-http}}\n\
             - {{name: everything, url: \"http://127.0.0.1:{be_port}/mcp\", transport: streamable-http}}\n\
             telemetry:\n  endpoint: \"{}\"\n  insecure: true\n  tracingEnabled: true\n  samplingRate: \"1.0\"\n\
             \x20 serviceName: vmcp-e2e\n  allowPrivateEndpoint: true\n  customAttributes: {{deployment.environment: test}}\n",
            py.url(),
            jaeger.otlp_http
        ),
    )
    .unwrap();
    let (gw, port) = serve(&cfg, false).await;

    // The Python SDK's client: its trace context travels in `_meta`.
    let url = format!("http://127.0.0.1:{port}/mcp");
    let v = modern_python_json(
        TRACED_CLIENT,
        &format!("{url} {TRACE} {CLIENT_SPAN}"),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(v["failed"], true, "the bad call fails: {v}");

    let t = trace(&jaeger, TRACE, 4).await;
    let service = |span: &Value| {
        t["processes"][span["processID"].as_str().unwrap()]["serviceName"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let server = span_named(&t, "tools/call py_trace_context");
    assert_eq!(
        parent(server),
        Some(CLIENT_SPAN),
        "the gateway's span is the client's child: {server:#}"
    );
    assert_eq!(service(server), "vmcp-e2e");
    assert_eq!(tag(server, "span.kind"), Some(&json!("server")));
    assert_eq!(tag(server, "mcp.method.name"), Some(&json!("tools/call")));
    assert_eq!(
        tag(server, "gen_ai.tool.name"),
        Some(&json!("py_trace_context"))
    );
    assert_eq!(
        tag(server, "mcp.protocol.version"),
        Some(&json!("2026-07-28"))
    );
    assert_eq!(tag(server, "vmcp.backend"), Some(&json!("py")));
    assert!(tag(server, "error.type").is_none(), "{server:#}");
    let backend_call = span_named(&t, "tools/call py");
    assert_eq!(parent(backend_call), server["spanID"].as_str());
    assert_eq!(tag(backend_call, "span.kind"), Some(&json!("client")));
    assert_eq!(
        tag(backend_call, "target.workload_name"),
        Some(&json!("py"))
    );
    assert_eq!(
        tag(backend_call, "target.transport_type"),
        Some(&json!("streamable-http"))
    );
    // The backend got the gateway's client span as its parent, in the header and in `_meta`.
    let client_span = backend_call["spanID"].as_str().unwrap();
    assert_eq!(v["seen"]["meta_trace_id"], TRACE, "{v}");
    assert_eq!(v["seen"]["meta_span_id"], client_span, "{v}");
    assert_eq!(
        v["seen"]["header"],
        format!("00-{TRACE}-{client_span}-01"),
        "{v}"
    );
    // The failed call is in the same trace, with its error type on both spans.
    let failed = span_named(&t, "tools/call everything_get-sum");
    assert_eq!(parent(failed), Some(CLIENT_SPAN));
    let error = tag(failed, "error.type").unwrap_or_else(|| panic!("{failed:#}"));
    assert!(
        error == "-32602" || error == "tool_error",
        "error.type {error} on {failed:#}"
    );
    assert_eq!(tag(failed, "otel.status_code"), Some(&json!("ERROR")));

    // A 2025 client with the context as an HTTP header, on a session: the session id is in
    // the span only hashed.
    let mut c = Client::local(port).accept("application/json");
    let init = c.initialize(json!({})).await;
    let version = init["result"]["protocolVersion"].clone();
    let session = c.session.clone().unwrap();
    let tp = format!("00-{HEADER_TRACE}-b7ad6b7169203331-01");
    let r = c
        .post()
        .header("traceparent", &tp)
        .body(
            json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                   "params": {"name": "everything_echo", "arguments": {"message": "hi"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = trace(&jaeger, HEADER_TRACE, 2).await;
    let server = span_named(&t, "tools/call everything_echo");
    assert_eq!(parent(server), Some("b7ad6b7169203331"));
    let hashed = tag(server, "mcp.session.id").unwrap().as_str().unwrap();
    assert_eq!(hashed.len(), 32);
    assert!(!hashed.contains(&session) && !session.contains(hashed));
    assert_eq!(tag(server, "mcp.protocol.version"), Some(&version));
    assert_eq!(
        parent(span_named(&t, "tools/call everything")),
        server["spanID"].as_str()
    );

    // The pipeline's own counts: every span went out, none was dropped.
    let metrics = c.get_text("/metrics").await;
    assert!(
        metrics.contains("vmcp_trace_spans_total{result=\"dropped\"} 0"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("vmcp_trace_spans_total{result=\"exported\"} 0"),
        "{metrics}"
    );
    drop(gw);
}

/// The value of the first sample `name` whose labels include `labels` (a collector adds its
/// own, `job` and the like).
fn sample_with(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

async fn get_text(url: &str) -> String {
    let r = reqwest::Client::new().get(url).send().await.unwrap();
    String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pushed_by_otlp_agree_with_the_scrape() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let jaeger = Jaeger::shared().await.expect("jaeger starts");
    let (_everything, be_port) = server_everything().await;
    let dir = scratch("e2e-otlp-metrics");
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "name: metered\ngroupRef: g\nincomingAuth: {{type: anonymous}}\n\
             outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n\
             aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n\
             backends:\n\
             - {{name: everything, url: \"http://127.0.0.1:{be_port}/mcp\", transport: streamable-http}}\n\
             telemetry:\n  endpoint: \"{}\"\n  insecure: true\n  metricsEnabled: true\n\
             \x20 serviceName: vmcp-e2e-metrics\n  allowPrivateEndpoint: true\n",
            jaeger.otlp_http
        ),
    )
    .unwrap();
    let (gw, port) = serve(&cfg, true).await;
    let mut c = Client::local(port).accept("application/json");
    c.initialize(json!({})).await;
    const N: usize = 7;
    for i in 0..N {
        let text = c
            .call_text("everything_echo", json!({"message": format!("m{i}")}))
            .await;
        assert!(text.contains(&format!("m{i}")), "{text}");
    }
    let scraped = c.get_text("/metrics").await;
    let call = [
        ("method", "tools/call"),
        ("tool", "everything_echo"),
        ("backend", "everything"),
        ("outcome", "ok"),
    ];
    assert_eq!(
        sample_with(&scraped, "vmcp_requests_total", &call),
        Some(N as f64),
        "{scraped}"
    );
    let backend = [
        ("target_workload_name", "everything"),
        ("gen_ai_tool_name", "everything_echo"),
    ];
    let th = sample_with(&scraped, "toolhive_vmcp_backend_requests_total", &backend);
    assert_eq!(th, Some(N as f64), "{scraped}");
    // The collector gets the same counts (the push is periodic: wait for one after the calls).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pushed = get_text(&jaeger.metrics).await;
        let got = (
            sample_with(&pushed, "vmcp_requests_total", &call),
            sample_with(&pushed, "toolhive_vmcp_backend_requests_total", &backend),
            sample_with(&pushed, "vmcp_request_duration_seconds_count", &call[..3]),
        );
        if got == (Some(N as f64), th, Some(N as f64)) {
            assert!(pushed.contains("job=\"vmcp-e2e-metrics\""), "{pushed}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the collector has {got:?}, the gateway {N}:\n{pushed}\njaeger log:\n{}",
            jaeger.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(gw);
}

/// The same pipelines over OTLP/gRPC (`protocol: grpc`): the trace and the counts arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_and_metrics_go_over_grpc_too() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let jaeger = Jaeger::shared().await.expect("jaeger starts");
    let (_everything, be_port) = server_everything().await;
    let dir = scratch("e2e-otlp-grpc");
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "name: grpc\ngroupRef: g\nincomingAuth: {{type: anonymous}}\n\
             outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n\
             aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n\
             backends:\n\
             - {{name: everything, url: \"http://127.0.0.1:{be_port}/mcp\", transport: streamable-http}}\n\
             telemetry:\n  endpoint: \"{}\"\n  protocol: grpc\n  insecure: true\n  tracingEnabled: true\n  samplingRate: \"1\"\n\
             \x20 metricsEnabled: true\n  serviceName: vmcp-e2e-grpc\n  allowPrivateEndpoint: true\n",
            jaeger.otlp_grpc
        ),
    )
    .unwrap();
    let (gw, port) = serve(&cfg, true).await;
    let mut c = Client::local(port).accept("application/json");
    c.initialize(json!({})).await;
    const GRPC_TRACE: &str = "5c2f0d7e9a1b4c3d8e7f6a5b4c3d2e1f";
    let r = c
        .post()
        .header(
            "traceparent",
            format!("00-{GRPC_TRACE}-1111111111111111-01"),
        )
        .body(
            json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                   "params": {"name": "everything_echo", "arguments": {"message": "g"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = trace(&jaeger, GRPC_TRACE, 2).await;
    let server = span_named(&t, "tools/call everything_echo");
    assert_eq!(parent(server), Some("1111111111111111"));
    assert_eq!(
        parent(span_named(&t, "tools/call everything")),
        server["spanID"].as_str()
    );
    let call = [
        ("tool", "everything_echo"),
        ("outcome", "ok"),
        ("job", "vmcp-e2e-grpc"),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pushed = get_text(&jaeger.metrics).await;
        if sample_with(&pushed, "vmcp_requests_total", &call) == Some(1.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no count over gRPC:\n{pushed}\njaeger log:\n{}",
            jaeger.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(gw);
}
