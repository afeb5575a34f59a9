//! Runs the real `vmcp serve` binary against a real server-everything backend on loopback,
//! and checks that an invalid config is refused with every problem and its path.
//! Standard library only: a raw HTTP/1.1 client over TcpStream.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let [port] = vmcp_testenv::free_ports().unwrap();
    port
}

fn wait_listening(port: u16) {
    for _ in 0..300 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listening on {port}");
}

fn peer(key: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-peers.sh");
    let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(PathBuf::from).unwrap()
}

/// POSTs JSON to /mcp; returns (status, headers, body).
fn post(port: u16, session: Option<&str>, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let sid = session.map(|s| format!("Mcp-Session-Id: {s}\r\n")).unwrap_or_default();
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nAccept: application/json\r\n{sid}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn serve_binary_aggregates_a_real_backend() {
    let se = peer("SERVER_EVERYTHING");
    let node = peer("NODE");
    let dir = std::env::temp_dir().join(format!("vmcp-serve-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let preload = dir.join("bind.cjs");
    std::fs::write(
        &preload,
        "const net=require('net');const o=net.Server.prototype.listen;\
         net.Server.prototype.listen=function(...a){if(typeof a[0]==='number'||typeof a[0]==='string'){\
         const cb=a.find(x=>typeof x==='function');return o.call(this,{port:Number(a[0]),host:'127.0.0.1'},cb);}\
         return o.apply(this,a);};",
    )
    .unwrap();
    let be_port = free_port();
    let _backend = Kill(
        Command::new(node)
            .arg("--require")
            .arg(&preload)
            .arg(se)
            .arg("streamableHttp")
            .env("PORT", be_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(be_port);
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
    let _gw = Kill(
        Command::new(env!("CARGO_BIN_EXE_vmcp"))
            .args(["serve", "--config"])
            .arg(&cfg)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port);

    let (status, head, body) = post(
        port,
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let sid = head.lines().find_map(|l| l.strip_prefix("mcp-session-id: ")).unwrap().trim().to_owned();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"]["protocolVersion"], "2025-03-26");

    let (_, _, body) = post(port, Some(&sid), r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tools: Vec<&str> = v["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(tools.contains(&"everything_echo"), "{tools:?}");

    let (_, _, body) = post(
        port,
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":"call-3","method":"tools/call","params":{"name":"everything_echo","arguments":{"message":"from the binary"}}}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"], "call-3");
    assert_eq!(v["result"]["content"][0]["text"], "Echo: from the binary");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_binary_refuses_an_invalid_config_listing_every_problem() {
    let dir = std::env::temp_dir().join(format!("vmcp-serve-invalid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        "name: bad\ngroupRef: g\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\n\
         backends:\n- {name: a, url: \"ftp://x\", transport: sse}\n- {name: b, url: \"http://127.0.0.1:1/mcp\"}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vmcp"))
        .args(["serve", "--port", "0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backends[0].url"), "{err}");
    assert!(err.contains("backends[1].transport"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
