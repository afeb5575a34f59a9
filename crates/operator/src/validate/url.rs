//! Remote URL checks for MCPServerEntry, including an SSRF block-list.
//!
//! The gateway will call whatever URL an entry names, from inside the cluster, with its own
//! network position and possibly with credentials. So a namespace user must not be able to
//! point it at the node's loopback, the cloud metadata service or the API server. Checks are
//! made on the literal URL only: no DNS lookup (the operator never touches the remote), so a
//! public name that resolves to a private address is not caught here; NetworkPolicy on the
//! gateway is the control for that. Hosts are parsed the WHATWG way (`url` crate), so
//! `http://2130706433/` and `http://0x7f.1/` are seen as 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Hostnames that are never allowed, with their subdomains. `kubernetes` alone is the API
/// server's Service for a gateway in namespace `default` (the search path completes it).
const ALWAYS_BLOCKED_HOSTS: &[&str] = &[
    "localhost",
    "kubernetes",
    "kubernetes.default.svc.cluster.local",
    "kubernetes.default.svc",
    "kubernetes.default",
    "metadata.google.internal",
    "metadata.azure.internal",
    "instance-data.ec2.internal",
];

/// Host suffixes that are private names, allowed only with `allowPrivateEndpoint`: the
/// cluster domain, a Service's `<name>.<ns>.svc` short form, and the reserved or customary
/// private suffixes (`.internal` is where cloud providers put private DNS, `.local` is mDNS,
/// `.home.arpa` RFC 8375, `.lan` and `.localdomain` common on private networks).
const PRIVATE_HOST_SUFFIXES: &[(&str, &str)] = &[
    ("cluster.local", "an in-cluster service name"),
    ("svc", "an in-cluster service name"),
    ("internal", "a private DNS name"),
    ("local", "a private (mDNS) name"),
    ("home.arpa", "a private DNS name"),
    ("lan", "a private DNS name"),
    ("localdomain", "a private DNS name"),
];

/// Cloud metadata addresses outside the link-local range (Alibaba, AWS IPv6).
const METADATA_V4: &[Ipv4Addr] = &[Ipv4Addr::new(100, 100, 100, 200)];
const METADATA_V6: &[Ipv6Addr] = &[Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// Environment variable with which a cluster admin lets entries reach loopback addresses
/// (still only with `allowPrivateEndpoint: true`). Meant for local development, the demo and
/// tests, where every MCP server listens on 127.0.0.1; never set it in a shared cluster.
pub const ALLOW_LOOPBACK_ENV: &str = "VMCP_ALLOW_LOOPBACK_ENDPOINTS";

/// Reads [`ALLOW_LOOPBACK_ENV`] (`true` or `1`), at the operator's edge.
pub fn loopback_allowed_from_env() -> bool {
    matches!(
        std::env::var(ALLOW_LOOPBACK_ENV).as_deref().map(str::trim),
        Ok("true") | Ok("1")
    )
}

/// Checks `raw`; the error is a sentence for a condition message. `allow_loopback` is the
/// operator-wide opt-in of [`ALLOW_LOOPBACK_ENV`]: it makes loopback hosts private instead of
/// blocked.
pub fn check_remote_url(
    raw: &str,
    allow_private: bool,
    allow_loopback: bool,
) -> Result<(), String> {
    let url =
        url::Url::parse(raw).map_err(|e| format!("remoteUrl {raw:?} is not a valid URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "remoteUrl must use http or https, not {:?}",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("remoteUrl must not embed credentials; use externalAuthConfigRef".into());
    }
    let host = match url.host() {
        Some(h) => h,
        None => return Err(format!("remoteUrl {raw:?} has no host")),
    };
    let verdict = match host {
        url::Host::Ipv4(ip) => classify_ip(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => classify_ip(IpAddr::V6(ip)),
        url::Host::Domain(d) => classify_host(d),
    };
    let verdict = match verdict {
        Class::Loopback(what) if allow_loopback => Class::Private(what),
        other => other,
    };
    match verdict {
        Class::Public => Ok(()),
        Class::Private(what) if allow_private => {
            let _ = what;
            Ok(())
        }
        Class::Private(what) => Err(format!(
            "remoteUrl host {} is {what}; set allowPrivateEndpoint: true to allow it",
            host_display(&url)
        )),
        Class::Loopback(what) => Err(format!(
            "remoteUrl host {} is {what}, which is blocked unless the operator runs with \
             {ALLOW_LOOPBACK_ENV}=true (local development only)",
            host_display(&url)
        )),
        Class::Blocked(what) => Err(format!(
            "remoteUrl host {} is {what}, which is never allowed",
            host_display(&url)
        )),
    }
}

fn host_display(url: &url::Url) -> String {
    url.host_str().unwrap_or_default().to_string()
}

enum Class {
    Public,
    Private(&'static str),
    Blocked(&'static str),
    /// Blocked unless the operator allows loopback endpoints.
    Loopback(&'static str),
}

fn classify_host(domain: &str) -> Class {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let matches = |base: &str| d == base || d.ends_with(&format!(".{base}"));
    if ALWAYS_BLOCKED_HOSTS.iter().any(|b| matches(b)) {
        if matches("localhost") {
            return Class::Loopback("a loopback name");
        }
        if d.starts_with("kubernetes.") {
            return Class::Blocked("the Kubernetes API server");
        }
        return Class::Blocked("a cloud metadata service");
    }
    if let Some((_, what)) = PRIVATE_HOST_SUFFIXES.iter().find(|(s, _)| matches(s)) {
        return Class::Private(what);
    }
    // No dot: resolved through the pod's search path, i.e. a Service of the gateway's own
    // namespace (or of a search domain), never a public name.
    if !d.contains('.') {
        return Class::Private("a single-label name, which resolves to an in-cluster service");
    }
    Class::Public
}

fn classify_ip(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let o = ip.octets();
    if o[0] == 0 {
        Class::Blocked("an unspecified address (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Class::Loopback("a loopback address")
    } else if ip.is_link_local() || METADATA_V4.contains(&ip) {
        Class::Blocked("a link-local or cloud metadata address")
    } else if ip.is_private() {
        Class::Private("a private address")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        // 100.64.0.0/10, shared address space: pod and service ranges on some clouds.
        Class::Private("a shared (carrier-grade NAT) address")
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let seg0 = ip.segments()[0];
    if ip.is_unspecified() {
        Class::Blocked("an unspecified address")
    } else if ip.is_loopback() {
        Class::Loopback("a loopback address")
    } else if (seg0 & 0xffc0) == 0xfe80 || METADATA_V6.contains(&ip) {
        Class::Blocked("a link-local or cloud metadata address")
    } else if (seg0 & 0xfe00) == 0xfc00 {
        Class::Private("a private (unique local) address")
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::check_remote_url;

    fn check(url: &str, allow_private: bool) -> Result<(), String> {
        check_remote_url(url, allow_private, false)
    }

    #[test]
    fn public_urls_pass() {
        assert!(check("https://mcp.context7.com/mcp", false).is_ok());
        // Names that merely contain a private-looking word are public.
        assert!(check("https://kubernetes.io/mcp", false).is_ok());
        assert!(check("https://internal.example.com/mcp", false).is_ok());
        assert!(check("https://svc.example.com/mcp", false).is_ok());
        assert!(check("http://100.128.0.1/mcp", false).is_ok());
        assert!(check("http://8.8.8.8/sse", false).is_ok());
        assert!(check("https://[2001:db8::1]/mcp", false).is_ok());
    }

    #[test]
    fn always_blocked_even_when_private_allowed() {
        for url in [
            "http://0.0.0.0/mcp",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/mcp",
            "http://metadata.google.internal/computeMetadata",
            "https://kubernetes.default.svc/api",
            "https://kubernetes/api",
            "https://kubernetes:443/api",
            "http://100.100.100.200/",
        ] {
            let err = check(url, true).expect_err(url);
            assert!(err.contains("never allowed"), "{url}: {err}");
        }
    }

    const LOOPBACK: [&str; 8] = [
        "http://localhost:8080/mcp",
        "http://LOCALHOST./mcp",
        "http://api.localhost/mcp",
        "http://127.0.0.1/mcp",
        "http://2130706433/mcp",
        "http://0x7f.1/mcp",
        "http://[::1]/mcp",
        "http://[::ffff:127.0.0.1]/mcp",
    ];

    #[test]
    fn loopback_is_blocked_unless_the_operator_allows_it() {
        for url in LOOPBACK {
            let err = check(url, true).expect_err(url);
            assert!(
                err.contains("VMCP_ALLOW_LOOPBACK_ENDPOINTS"),
                "{url}: {err}"
            );
            // The operator-wide opt-in makes loopback private: the entry must still opt in.
            let err = check_remote_url(url, false, true).expect_err(url);
            assert!(err.contains("allowPrivateEndpoint"), "{url}: {err}");
            assert!(check_remote_url(url, true, true).is_ok(), "{url}");
        }
        // The opt-in covers loopback only.
        assert!(check_remote_url("http://169.254.169.254/", true, true).is_err());
        assert!(check_remote_url("https://kubernetes.default.svc/api", true, true).is_err());
    }

    #[test]
    fn private_needs_opt_in() {
        for url in [
            "http://10.0.0.1/mcp",
            "http://172.16.5.4/mcp",
            "http://192.168.1.1/mcp",
            "http://[fd12::1]/mcp",
            "http://100.64.3.4/mcp",
            "http://mcp.tools.svc.cluster.local:8080/mcp",
            "http://mcp.tools.svc:8080/mcp",
            "http://mcp-server:8080/mcp",
            "http://MCP-SERVER./mcp",
            "http://db.corp.internal/mcp",
            "http://printer.local/mcp",
            "http://nas.home.arpa/mcp",
        ] {
            let err = check(url, false).expect_err(url);
            assert!(err.contains("allowPrivateEndpoint"), "{url}: {err}");
            assert!(check(url, true).is_ok(), "{url}");
        }
    }

    #[test]
    fn malformed_urls_are_named() {
        assert!(
            check("ftp://x.example/", false)
                .unwrap_err()
                .contains("http or https")
        );
        assert!(
            check("not a url", false)
                .unwrap_err()
                .contains("not a valid URL")
        );
        assert!(
            check("https://user:pw@x.example/", false)
                .unwrap_err()
                .contains("credentials")
        );
    }
}
