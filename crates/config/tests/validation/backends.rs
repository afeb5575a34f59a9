use super::*;

#[test]
fn backend_rules() {
    let ps = problems(
        r#"
name: gw
groupRef: team
incomingAuth: {type: anonymous}
backends:
  - {name: "", url: "http://a", transport: sse}
  - {name: "Bad Name", url: "http://a", transport: sse}
  - {name: dup, url: "ftp://a", transport: sse}
  - {name: dup, url: "http://a"}
  - {name: nourl, transport: sse}
  - {name: ca, url: "http://a", transport: sse, caBundlePath: /etc/ca.pem}
  - {name: rel, url: "http://a", transport: sse, type: entry, caBundlePath: ca.pem}
  - {name: dots, url: "http://a", transport: sse, type: entry, caBundlePath: /etc/../ca.pem}
  - {name: nohost, url: "http://", transport: sse}
  - {name: junk, url: "not a url", transport: sse}
  - {name: meta, url: "http://a", transport: sse, metadata: {group: other}}
  - {name: metaok, url: "http://a", transport: sse, metadata: {group: team}}
"#,
    );
    assert_only(
        &ps,
        &[
            (Severity::Error, "backends[0].name: required"),
            (
                Severity::Error,
                "backends[1].name: \"Bad Name\" is not a valid backend name: use 1-253 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            ),
            (
                Severity::Error,
                "backends[2].url: must be an http or https URL, not ftp",
            ),
            (
                Severity::Error,
                "backends[3].transport: required (sse or streamable-http)",
            ),
            (
                Severity::Error,
                "backends[3].name: duplicate backend name \"dup\" (also backends[2])",
            ),
            (Severity::Error, "backends[4].url: required"),
            (
                Severity::Error,
                "backends[5].caBundlePath: only allowed when type is entry",
            ),
            (
                Severity::Error,
                "backends[6].caBundlePath: must be an absolute path, got \"ca.pem\"",
            ),
            (
                Severity::Error,
                "backends[7].caBundlePath: must not contain '..' components",
            ),
            (
                Severity::Error,
                "backends[8].url: \"http://\" is not a valid URL: empty host",
            ),
            (
                Severity::Error,
                "backends[9].url: \"not a url\" is not a valid URL: relative URL without a base",
            ),
            (
                Severity::Warning,
                "backends[10].metadata.group: reserved key: replaced by groupRef \"team\"",
            ),
        ],
    );
}

#[test]
fn passthrough_header_rules() {
    let ps = with(
        "passthroughHeaders: [X-Request-Id, Authorization, cookie, X-Forwarded-For, Proxy-Foo, 'Bad Header', x-request-id, Mcp-Session-Id, MCP-Protocol-Version, Content-Type]\n",
    );
    assert_only(
        &ps,
        &[
            (
                Severity::Error,
                "passthroughHeaders[1]: Authorization cannot be forwarded: it carries the client's credentials for the gateway",
            ),
            (
                Severity::Error,
                "passthroughHeaders[2]: cookie cannot be forwarded: it carries the client's credentials for the gateway",
            ),
            (
                Severity::Error,
                "passthroughHeaders[3]: X-Forwarded-For cannot be forwarded: it is set by proxies",
            ),
            (
                Severity::Error,
                "passthroughHeaders[4]: Proxy-Foo cannot be forwarded: it is a proxy header",
            ),
            (
                Severity::Error,
                "passthroughHeaders[5]: \"Bad Header\" is not a valid HTTP header name",
            ),
            (
                Severity::Warning,
                "passthroughHeaders[6]: x-request-id is listed more than once",
            ),
            (
                Severity::Error,
                "passthroughHeaders[7]: Mcp-Session-Id cannot be forwarded: it is managed by the gateway for each backend session",
            ),
            (
                Severity::Error,
                "passthroughHeaders[8]: MCP-Protocol-Version cannot be forwarded: it is managed by the gateway for each backend session",
            ),
            (
                Severity::Error,
                "passthroughHeaders[9]: Content-Type cannot be forwarded: it is set by the gateway for each request",
            ),
        ],
    );
}

/// BASE with one more backend (a YAML flow mapping) at `backends[3]`.
fn backend(flow: &str) -> Vec<Problem> {
    let base = BASE.replace("incomingAuth:", &format!("  - {flow}\nincomingAuth:"));
    problems(&base)
}

#[test]
fn a_nul_byte_in_a_path_is_refused() {
    let ps = backend(
        r#"{name: nul, url: "https://n", transport: sse, type: entry, caBundlePath: "/etc/ca\0.pem"}"#,
    );
    assert_single(
        &ps,
        Severity::Error,
        "backends[3].caBundlePath",
        "must not contain a NUL byte",
    );
}

#[test]
fn urls_without_a_host_fail_to_parse() {
    // The url crate refuses an empty host for http(s) itself, so there is no separate rule.
    for url in [
        "http://",
        "http://:80",
        "https://@/",
        "https:///",
        "https://?q",
    ] {
        let ps = backend(&format!("{{name: nohost, url: {url:?}, transport: sse}}"));
        assert_single(&ps, Severity::Error, "backends[3].url", "empty host");
    }
}
