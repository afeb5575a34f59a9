//! Audit events (`audit` section): N calls make N events with the caller and the outcome, a
//! call the policy denies is audited as denied, so is a request client authentication refuses, request data appears only when asked and cut
//! at `maxDataSize`, and no credential the gateway holds (an injected backend header) is in
//! the audit file.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const SECRET: &str = "vmcp-audit-secret-6f1e";

fn config(b: std::net::SocketAddr, log: &std::path::Path, extra: &str) -> String {
    format!(
        "name: test\ngroupRef: g\n\
         incomingAuth:\n  type: anonymous\n  authz:\n    type: cedar\n    policies:\n      - 'permit(principal, action == Action::\"call_tool\", resource == Tool::\"b_add\");'\n      - 'permit(principal, action == Action::\"list_tools\", resource);'\n\
         outgoingAuth:\n  source: inline\n  default: {{type: header_injection, headerInjection: {{headerName: X-Api-Key, headerValue: {SECRET}}}}}\n\
         backends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n\
         audit:\n  logFile: \"{}\"\n{extra}",
        log.display()
    )
}

/// The events in `log`, once `n` are there (the writer is asynchronous; bounded wait).
async fn events(log: &std::path::Path, n: usize) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..100 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        last = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if last.len() >= n {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_one_event_with_its_outcome_and_no_secret() {
    let b = rust_backend(Behaviour::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let gw = gateway(&config(
        b,
        &log,
        "  includeRequestData: true\n  maxDataSize: 60\n",
    ))
    .await;
    let mut c = Client::connect(gw.addr).await;
    assert!(c.tool_names().await.contains(&"b_add".to_owned()));
    for i in 0..5 {
        assert_eq!(
            c.call_text("b_add", json!({"a": i, "b": 1})).await,
            (i + 1).to_string()
        );
    }
    let denied = c
        .rpc(
            "tools/call",
            json!({"name": "b_sleep", "arguments": {"ms": 1}}),
        )
        .await;
    assert_eq!(denied["error"]["code"], 403, "{denied}");
    // A long argument: cut at maxDataSize.
    let long = "x".repeat(500);
    let _ = c
        .rpc(
            "tools/call",
            json!({"name": "b_add", "arguments": {"a": 1, "b": 2, "pad": long}}),
        )
        .await;

    // initialize, notifications/initialized, tools/list and seven calls.
    let all = events(&log, 10).await;
    let init: Vec<&Value> = all
        .iter()
        .filter(|e| e["type"] == "mcp_initialize")
        .collect();
    assert_eq!(init.len(), 1, "{all:#?}");
    assert_eq!(init[0]["outcome"], "success");
    assert_eq!(init[0]["target"]["method"], "initialize");
    // Its request data is there, cut at maxDataSize like every other.
    assert!(
        init[0]["data"]["request"]
            .as_str()
            .unwrap()
            .contains("protocolVersion")
    );
    assert_eq!(
        all.iter()
            .filter(|e| e["type"] == "mcp_notification")
            .count(),
        1,
        "notifications/initialized: {all:#?}"
    );
    let calls: Vec<&Value> = all
        .iter()
        .filter(|e| e["type"] == "mcp_tool_call")
        .collect();
    assert_eq!(calls.len(), 7, "{all:#?}");
    assert_eq!(
        all.iter().filter(|e| e["type"] == "mcp_tools_list").count(),
        1
    );
    for e in &calls[..5] {
        assert_eq!(e["outcome"], "success", "{e}");
        assert_eq!(e["target"]["name"], "b_add");
        assert_eq!(e["target"]["backend"], "b");
        assert_eq!(e["target"]["type"], "tool");
        assert_eq!(e["subjects"]["user"], "anonymous");
        assert_eq!(e["component"], "vmcp-server");
        assert!(e["metadata"]["auditId"].as_str().unwrap().len() >= 32);
        assert!(e["metadata"]["extra"]["duration_ms"].as_f64().unwrap() >= 0.0);
        assert_eq!(e["data"]["request"]["name"], "b_add", "{e}");
        assert!(
            e["data"].get("response").is_none(),
            "responses only when asked"
        );
    }
    assert_eq!(calls[5]["outcome"], "denied", "{}", calls[5]);
    assert_eq!(calls[5]["target"]["name"], "b_sleep");
    let cut = &calls[6]["data"];
    assert_eq!(cut["request_truncated"], true, "{cut}");
    assert_eq!(cut["request"].as_str().unwrap().len(), 60, "{cut}");

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(SECRET),
        "the injected credential is in the audit file"
    );
    // The count follows the write (bounded wait, no timing asserted).
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = c.get_text("/metrics").await;
        if metrics.contains("vmcp_audit_events_written_total 10") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains("vmcp_audit_events_written_total 10")
            && metrics.contains("vmcp_audit_events_dropped_total 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_types_select_what_is_written() {
    let b = rust_backend(Behaviour::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let gw = gateway(&config(
        b,
        &log,
        "  eventTypes: [mcp_tool_call, mcp_tools_list]\n  excludeEventTypes: [mcp_tools_list]\n  includeResponseData: true\n",
    ))
    .await;
    let mut c = Client::connect(gw.addr).await;
    let _ = c.tool_names().await;
    assert_eq!(c.call_text("b_add", json!({"a": 2, "b": 2})).await, "4");
    // The call's event, then a moment for any other (there must be none).
    events(&log, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = events(&log, 0).await;
    assert_eq!(all.len(), 1, "only the call: {all:#?}");
    assert_eq!(all[0]["type"], "mcp_tool_call");
    assert_eq!(
        all[0]["data"]["response"]["result"]["content"][0]["text"],
        "4"
    );
    assert!(all[0]["data"].get("request").is_none());
}

/// A request that client authentication refuses never reaches the router: it is audited as
/// ToolHive's `http_request`, denied, with the status; the token it carried is not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_by_client_authentication_is_audited_as_denied() {
    let b = rust_backend(Behaviour::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    // An issuer nobody answers for: no token can pass, every request is refused.
    let yaml = format!(
        "name: test\ngroupRef: g\nincomingAuth:\n  type: oidc\n  oidc:\n    issuer: https://127.0.0.1:9/realms/none\n    audience: vmcp\n    jwksUrl: https://127.0.0.1:9/realms/none/certs\n    jwksAllowPrivateIp: true\n\
         outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n\
         backends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n\
         audit:\n  logFile: \"{}\"\n",
        log.display()
    );
    let gw = gateway(&yaml).await;
    let c = Client::new(gw.addr).bearer("not-a-jwt-but-secret-bytes");
    let (status, _) = c.raw_call(1, "tools/list", "{}").await;
    assert!(status == 401 || status == 503, "{status}");
    let all = events(&log, 1).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let e = &all[0];
    assert_eq!(e["type"], "http_request", "{e}");
    assert_eq!(e["outcome"], "denied");
    assert_eq!(e["metadata"]["extra"]["status"], status);
    assert_eq!(e["subjects"]["user"], "anonymous");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("secret-bytes"), "{text}");
}
