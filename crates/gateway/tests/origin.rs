//! DNS-rebinding defence end to end: a foreign `Host` or `Origin` is refused on `/mcp`,
//! `/status` and `/metrics` whatever the bind address and allow-lists, listed names and
//! origins pass, the probes answer whatever the Host, and no answer carries CORS headers.
//! Foreign names only ever appear in headers: every connection goes to a loopback address.

mod common;

use std::net::SocketAddr;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vmcp_gateway::serve::FrontOptions;

const FOREIGN_HOSTS: [&str; 3] = [
    "evil.example",
    "evil.example:4483",
    "127.0.0.1.evil.example",
];
const FOREIGN_ORIGINS: [&str; 4] = [
    "https://evil.example",
    "http://evil.example:4483",
    "null",
    "http://127.0.0.1.evil.example",
];

async fn gateway_on(ip: &str, opts: FrontOptions) -> vmcp_gateway::Gateway {
    let b = rust_backend(Behaviour::Normal).await;
    let yaml = config(&format!(
        "backends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n"
    ));
    let cfg = vmcp_config::Config::from_yaml_str(&yaml)
        .unwrap()
        .with_defaults();
    let l = TcpListener::bind((ip, 0)).await.unwrap();
    vmcp_gateway::start(cfg, l, opts).await.unwrap()
}

/// One request to `path` on `addr` with the given `Host` and `Origin` (each replaced or
/// added only when given); returns the status after checking it carries no CORS grant.
async fn status_of_request(
    http: &reqwest::Client,
    addr: SocketAddr,
    method: reqwest::Method,
    path: &str,
    host: Option<&str>,
    origin: Option<&str>,
) -> u16 {
    let mut req = http.request(method.clone(), format!("http://{addr}{path}"));
    if let Some(h) = host {
        req = req.header("host", h);
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    if path == "/mcp" && method == reqwest::Method::POST {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}});
        req = req
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string());
    }
    let r = req.send().await.unwrap();
    let cors: Vec<_> = r
        .headers()
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(
        cors.is_empty(),
        "{method} {path} host={host:?} origin={origin:?}: CORS headers {cors:?}"
    );
    r.status().as_u16()
}

/// Every route that says something about the gateway, and the status it answers when allowed.
fn guarded() -> [(reqwest::Method, &'static str, u16); 3] {
    [
        (reqwest::Method::POST, "/mcp", 200),
        (reqwest::Method::GET, "/status", 200),
        (reqwest::Method::GET, "/metrics", 200),
    ]
}

/// Checks what every gateway must refuse, however it is configured.
async fn refuses_foreign(http: &reqwest::Client, addr: SocketAddr, allowed_host: &str) {
    for (method, path, _) in guarded() {
        for host in FOREIGN_HOSTS {
            let s = status_of_request(http, addr, method.clone(), path, Some(host), None).await;
            assert_eq!(s, 403, "{method} {path} Host: {host}");
        }
        for origin in FOREIGN_ORIGINS {
            for host in [None, Some(allowed_host)] {
                let s =
                    status_of_request(http, addr, method.clone(), path, host, Some(origin)).await;
                assert_eq!(s, 403, "{method} {path} Host: {host:?} Origin: {origin}");
            }
        }
        // A foreign Host is not excused by a trusted Origin.
        let s = status_of_request(
            http,
            addr,
            method.clone(),
            path,
            Some("evil.example"),
            Some("http://localhost:6274"),
        )
        .await;
        assert_eq!(s, 403, "{method} {path} foreign Host, loopback Origin");
    }
    // GET and DELETE /mcp are refused before the session is looked up.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let s = status_of_request(
            http,
            addr,
            method.clone(),
            "/mcp",
            None,
            Some("https://evil.example"),
        )
        .await;
        assert_eq!(s, 403, "{method} /mcp foreign Origin");
    }
    // A CORS preflight gets no grant (checked inside) and no success.
    let s = status_of_request(
        http,
        addr,
        reqwest::Method::OPTIONS,
        "/mcp",
        None,
        Some("https://evil.example"),
    )
    .await;
    assert!(s >= 400, "preflight answered {s}");
    // A second Host header cannot smuggle a foreign name past an allowed first one.
    for path in ["/status", "/metrics"] {
        let s = raw_status(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(s == 400 || s == 403, "{path} with two Host headers: {s}");
        let s = raw_status(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://localhost\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(s, 403, "{path} with two Origin headers");
    }
    // The probes answer kubelet whatever Host it sends, but no foreign page.
    for path in ["/health", "/readyz"] {
        let s = status_of_request(
            http,
            addr,
            reqwest::Method::GET,
            path,
            Some("evil.example"),
            None,
        )
        .await;
        assert_ne!(s, 403, "{path} with a foreign Host");
        let s = status_of_request(
            http,
            addr,
            reqwest::Method::GET,
            path,
            None,
            Some("https://evil.example"),
        )
        .await;
        assert_eq!(s, 403, "{path} with a foreign Origin");
    }
}

async fn raw_status(addr: SocketAddr, request: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

/// Loopback names, IP addresses and loopback origins pass with no configuration at all.
async fn passes_local(http: &reqwest::Client, addr: SocketAddr) {
    let port = addr.port();
    for (method, path, want) in guarded() {
        for host in [
            None,
            Some(format!("localhost:{port}")),
            Some("localhost".to_owned()),
            Some(format!("10.1.2.3:{port}")),
            Some(format!("[fd00::1]:{port}")),
        ] {
            for origin in [
                None,
                Some("http://localhost:6274"),
                Some("http://127.0.0.1:3000"),
            ] {
                let s =
                    status_of_request(http, addr, method.clone(), path, host.as_deref(), origin)
                        .await;
                assert_eq!(s, want, "{method} {path} Host: {host:?} Origin: {origin:?}");
            }
        }
    }
}

/// Without lists, on 127.0.0.1: `/status` and `/metrics` are guarded like `/mcp`, and a
/// name the gateway was not told about is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_lists_foreign_hosts_and_origins_are_refused_everywhere() {
    let gw = gateway_on("127.0.0.1", FrontOptions::default()).await;
    let http = Client::new(gw.addr).http; // the harness installs reqwest's crypto provider
    refuses_foreign(&http, gw.addr, "localhost").await;
    passes_local(&http, gw.addr).await;
    for (method, path, _) in guarded() {
        for host in ["vmcp-eng.team.svc", "vmcp-eng.team.svc:4483"] {
            let s = status_of_request(&http, gw.addr, method.clone(), path, Some(host), None).await;
            assert_eq!(s, 403, "{method} {path} unlisted Host: {host}");
        }
        let s = status_of_request(
            &http,
            gw.addr,
            method.clone(),
            path,
            None,
            Some("https://app.example"),
        )
        .await;
        assert_eq!(s, 403, "{method} {path} unlisted Origin");
    }
    gw.stop().await;
}

/// With lists, on another loopback address: listed names (on any port, or on the one listed)
/// and listed origins pass; everything foreign is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_hosts_and_origins_pass_and_nothing_else() {
    let opts = FrontOptions {
        allowed_hosts: vec![
            "vmcp-eng.team.svc".into(),
            "MCP.example:8443".into(),
            String::new(),
        ],
        allowed_origins: vec!["https://app.example".into()],
        ..FrontOptions::default()
    };
    let gw = gateway_on("127.0.0.2", opts).await;
    let http = Client::new(gw.addr).http;
    refuses_foreign(&http, gw.addr, "vmcp-eng.team.svc").await;
    passes_local(&http, gw.addr).await;
    for (method, path, want) in guarded() {
        for host in [
            "vmcp-eng.team.svc",
            "vmcp-eng.team.svc:4483",
            "VMCP-ENG.team.svc:80",
            "mcp.example:8443",
        ] {
            for origin in [
                None,
                Some("https://app.example"),
                Some("https://app.example:443"),
            ] {
                let s = status_of_request(&http, gw.addr, method.clone(), path, Some(host), origin)
                    .await;
                assert_eq!(s, want, "{method} {path} Host: {host} Origin: {origin:?}");
            }
        }
        for (host, origin) in [
            ("mcp.example", None),
            ("mcp.example:443", None),
            ("vmcp-eng.team.svc.evil.example", None),
            ("vmcp-eng.team.svc", Some("http://app.example")),
            ("vmcp-eng.team.svc", Some("https://app.example:8443")),
        ] {
            let s =
                status_of_request(&http, gw.addr, method.clone(), path, Some(host), origin).await;
            assert_eq!(s, 403, "{method} {path} Host: {host} Origin: {origin:?}");
        }
    }
    gw.stop().await;
}

/// A list entry that cannot be matched stops the start, naming the flag and the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatchable_entries_stop_the_start() {
    let b = rust_backend(Behaviour::Normal).await;
    let yaml = config(&format!(
        "backends:\n- {{name: b, url: \"http://{b}/mcp\", transport: streamable-http}}\n"
    ));
    for (opts, want) in [
        (
            FrontOptions {
                allowed_hosts: vec!["vmcp eng".into()],
                ..FrontOptions::default()
            },
            r#"--allowed-hosts: "vmcp eng""#,
        ),
        (
            FrontOptions {
                allowed_origins: vec!["app.example".into()],
                ..FrontOptions::default()
            },
            r#"--allowed-origins: "app.example""#,
        ),
    ] {
        let err = match try_gateway(&yaml, opts).await {
            Ok(_) => panic!("started with {want}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "{err}");
    }
}
