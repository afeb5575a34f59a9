//! Runs the real `vmcp serve` binary against a real server-everything backend on loopback,
//! and checks that an invalid config is refused with every problem and its path.
//! The MCP client and the peers come from vmcp-test-support (through tests/common).

mod common;

use std::process::{Command, Stdio};

use common::{Client, Process, free_port, run, scratch, server_everything, wait_listening};

#[tokio::test]
async fn serve_binary_aggregates_a_real_backend() {
    let dir = scratch("serve-binary");
    let (_backend, be_port) = server_everything().await;
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "name: bin\ngroupRef: g\nincomingAuth: {{type: anonymous}}\n\
             outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}\n\
             aggregation: {{conflictResolution: prefix, conflictResolutionConfig: {{prefixFormat: \"{{workload}}_\"}}}}\n\
             backends:\n- {{name: everything, url: \"http://127.0.0.1:{be_port}/mcp\", transport: streamable-http}}\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    command
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--max-body-bytes", "4096"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _gw = Process::spawn("vmcp serve", command).unwrap();
    wait_listening(port).await;

    // Raw bodies on a JSON-only client: the ids and sizes are the test's own.
    let mut c = Client::local(port).accept("application/json");
    let r = c
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    c.session = Some(r.session().expect("a session id").trim().to_owned());
    let v = r.message().unwrap();
    assert_eq!(v["result"]["protocolVersion"], "2025-03-26");

    let v = c
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .await
        .unwrap()
        .message()
        .unwrap();
    let tools: Vec<&str> = v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"everything_echo"), "{tools:?}");

    let v = c
        .send(r#"{"jsonrpc":"2.0","id":"call-3","method":"tools/call","params":{"name":"everything_echo","arguments":{"message":"from the binary"}}}"#)
        .await
        .unwrap()
        .message()
        .unwrap();
    assert_eq!(v["id"], "call-3");
    assert_eq!(v["result"]["content"][0]["text"], "Echo: from the binary");

    // --max-body-bytes: a body over the limit is refused with 413, one under it is served.
    let call = |text: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"everything_echo","arguments":{{"message":"{text}"}}}}}}"#
        )
    };
    let r = c.send(call(&"x".repeat(5000))).await.unwrap();
    assert_eq!(r.status, 413);
    let r = c.send(call(&"y".repeat(3000))).await.unwrap();
    let body = r.text();
    assert_eq!(r.status, 200, "{body}");
    assert!(body.contains(&"y".repeat(3000)), "{body}");
}

#[test]
fn serve_binary_refuses_an_invalid_config_listing_every_problem() {
    let dir = scratch("serve-invalid");
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        "name: bad\ngroupRef: g\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\n\
         backends:\n- {name: a, url: \"ftp://x\", transport: sse}\n- {name: b, url: \"http://127.0.0.1:1/mcp\"}\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    command.args(["serve", "--port", "0", "--config"]).arg(&cfg);
    let out = run(command);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backends[0].url"), "{err}");
    assert!(err.contains("backends[1].transport"), "{err}");
}

/// `vmcp validate` parses Cedar policies like `vmcp serve` does: a bad one is named by its
/// index, and a gateway config in the shape of ToolHive's sample (OIDC plus Cedar policies) —
/// ours always, ToolHive's own when it is beside the checkout — is valid.
#[test]
fn validate_names_bad_policies_and_accepts_the_toolhive_shape() {
    let dir = scratch("validate-authz");
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        "name: gw\ngroupRef: g\nincomingAuth:\n  type: anonymous\n  authz:\n    type: cedar\n    policies:\n      - 'permit(principal, action, resource);'\n      - 'permit(principal, action == Action::call_tool, resource);'\n",
    )
    .unwrap();
    let (ok, err) = validate_config(&cfg);
    assert!(!ok);
    assert!(
        err.contains("error: incomingAuth.authz.policies[1]: expected an entity uid")
            && err.contains("invalid (1 error)"),
        "{err}"
    );
    accepted(&vmcp_testenv::toolhive_shapes().join("gateway-config/vmcp-config.yaml"));
}

#[test]
fn validate_accepts_the_toolhive_sample() {
    let Some(samples) = vmcp_testenv::toolhive_samples() else {
        return;
    };
    accepted(&samples.join("gateway-config/vmcp-config.yaml"));
}

/// `vmcp validate --config path`: success, and stderr.
fn validate_config(path: &std::path::Path) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    command.args(["validate", "--config"]).arg(path);
    let out = run(command);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Valid: no error, warnings allowed (telemetry is not exported).
fn accepted(config: &std::path::Path) {
    let (ok, err) = validate_config(config);
    assert!(ok, "{err}");
    assert!(!err.contains(": error: "), "{err}");
}
