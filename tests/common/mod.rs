//! Helpers of the end-to-end tests: child processes, loopback ports, the MCP peers, a raw
//! HTTP MCP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port, chosen so that it does not race with outgoing
/// connections (see `vmcp_testenv::free_ports`).
pub fn free_port() -> u16 {
    let [port] = vmcp_testenv::free_ports().unwrap();
    port
}

pub fn wait_listening(port: u16) {
    for _ in 0..600 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listening on {port}");
}

pub fn peer(key: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-peers.sh");
    let out = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(PathBuf::from)
        .unwrap()
}

pub fn server_everything(dir: &Path) -> (Kill, u16) {
    let preload = dir.join("bind.cjs");
    std::fs::write(
        &preload,
        "const net=require('net');const o=net.Server.prototype.listen;\
         net.Server.prototype.listen=function(...a){if(typeof a[0]==='number'||typeof a[0]==='string'){\
         const cb=a.find(x=>typeof x==='function');return o.call(this,{port:Number(a[0]),host:'127.0.0.1'},cb);}\
         return o.apply(this,a);};",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(peer("NODE"))
        .arg("--require")
        .arg(&preload)
        .arg(peer("SERVER_EVERYTHING"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    (Kill(child), port)
}

/// POSTs JSON to /mcp; returns (status, lower-cased headers, body).
pub fn post(port: u16, session: Option<&str>, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let sid = session
        .map(|s| format!("Mcp-Session-Id: {s}\r\n"))
        .unwrap_or_default();
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

/// Opens an MCP session; returns its id.
pub fn initialize(port: u16) -> String {
    let (status, head, body) = post(
        port,
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    head.lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: "))
        .unwrap()
        .trim()
        .to_owned()
}

/// The names of the tools the gateway lists.
pub fn tool_names(port: u16, sid: &str) -> Vec<String> {
    let (_, _, body) = post(
        port,
        Some(sid),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["result"]["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
