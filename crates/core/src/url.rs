//! Remote URL checks for MCPServerEntry, including an SSRF block-list.
//!
//! The gateway will call whatever URL an entry names, from inside the cluster, with its own
//! network position and possibly with credentials. So a namespace user must not be able to
//! point it at the node's loopback, the cloud metadata service or the API server. Checks are
//! made on the literal URL only: no DNS lookup (the operator never touches the remote), so a
//! public name that resolves to a private address is not caught here; the gateway judges the
//! resolved addresses with the same classes (`vmcp_config::addr`) when it connects, and
//! NetworkPolicy on the gateway covers the rest. Hosts are parsed the WHATWG way (`url` crate), so
//! `http://2130706433/` and `http://0x7f.1/` are seen as 127.0.0.1.

use std::net::IpAddr;

use vmcp_config::addr::{Class, blocked, classify_ip, private};

/// Hostnames that are never allowed, with their subdomains. `kubernetes` alone is the API
/// server's Service for a gateway in namespace `default` (the search path completes it);
/// `kubernetes.default.svc.<cluster domain>` is matched for any cluster domain (see
/// [`classify_host`]).
const API_SERVER_HOSTS: &[&str] = &["kubernetes", "kubernetes.default", "kubernetes.default.svc"];

/// Cloud metadata services by name, with their subdomains. The first labels of
/// [`METADATA_LABELS`] are caught in every private form as well.
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.azure.internal",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
];

/// Names that reach a metadata service when completed by the node's search path (GCE's
/// `metadata`, EC2's `instance-data`), also under any `.internal` domain
/// (`instance-data.<region>.compute.internal`).
const METADATA_LABELS: &[&str] = &["metadata", "instance-data"];

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

/// Environment variable with which a cluster admin lets entries reach loopback addresses
/// (still only with `allowPrivateEndpoint: true`). Meant for local development, the demo and
/// tests, where every MCP server listens on 127.0.0.1; never set it in a shared cluster.
pub const ALLOW_LOOPBACK_ENV: &str = "VMCP_ALLOW_LOOPBACK_ENDPOINTS";

/// Where a pod learns the API server's ClusterIP (set by the kubelet in every pod).
pub const API_SERVER_HOST_ENV: &str = "KUBERNETES_SERVICE_HOST";

/// The operator-wide part of the URL rules: what the cluster admin opted into, and where the
/// API server is. Read once at the operator's edge ([`Policy::from_env`]) and carried in the
/// world, so the check itself stays pure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// [`ALLOW_LOOPBACK_ENV`]: loopback hosts are private instead of blocked.
    pub allow_loopback: bool,
    /// The API server's addresses (its ClusterIP), never allowed whatever range they are in:
    /// an entry naming the address instead of the `kubernetes` name is the same request.
    pub api_server: Vec<IpAddr>,
}

impl Policy {
    /// [`ALLOW_LOOPBACK_ENV`] (`true` or `1`) and [`API_SERVER_HOST_ENV`], from the
    /// operator's own environment.
    pub fn from_env() -> Policy {
        Policy {
            allow_loopback: loopback_allowed_from_env(),
            api_server: std::env::var(API_SERVER_HOST_ENV)
                .ok()
                .and_then(|h| parse_ip(&h))
                .into_iter()
                .collect(),
        }
    }
}

/// An IP literal as Kubernetes writes it in `KUBERNETES_SERVICE_HOST` (IPv6 without
/// brackets, but accept them).
fn parse_ip(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(t);
    t.parse().ok()
}

/// Reads [`ALLOW_LOOPBACK_ENV`] (`true` or `1`), at the operator's edge.
pub fn loopback_allowed_from_env() -> bool {
    matches!(
        std::env::var(ALLOW_LOOPBACK_ENV).as_deref().map(str::trim),
        Ok("true") | Ok("1")
    )
}

/// Checks `raw`; the error is a sentence for a condition message. `policy` is the
/// operator-wide part of the rules (loopback opt-in, the API server's address).
pub fn check_remote_url(raw: &str, allow_private: bool, policy: &Policy) -> Result<(), String> {
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
        url::Host::Ipv4(ip) => classify_ip(IpAddr::V4(ip), &policy.api_server),
        url::Host::Ipv6(ip) => classify_ip(IpAddr::V6(ip), &policy.api_server),
        url::Host::Domain(d) => classify_host(d),
    };
    let verdict = match verdict {
        Class::Loopback(what) if policy.allow_loopback => Class::Private(what),
        other => other,
    };
    match verdict {
        Class::Public => Ok(()),
        Class::Private(_) if allow_private => Ok(()),
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

fn classify_host(domain: &str) -> Class {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let matches = |base: &str| d == base || d.ends_with(&format!(".{base}"));
    if matches("localhost") {
        return Class::Loopback("a loopback name".into());
    }
    if API_SERVER_HOSTS.iter().any(|b| matches(b)) || d.starts_with("kubernetes.default.svc.") {
        return blocked("the Kubernetes API server");
    }
    let first = d.split('.').next().unwrap_or_default();
    if METADATA_HOSTS.iter().any(|b| matches(b))
        || (METADATA_LABELS.contains(&first) && (d == first || matches("internal")))
    {
        return blocked("a cloud metadata service");
    }
    if let Some((_, what)) = PRIVATE_HOST_SUFFIXES.iter().find(|(s, _)| matches(s)) {
        return private(what);
    }
    // No dot: resolved through the pod's search path, i.e. a Service of the gateway's own
    // namespace (or of a search domain), never a public name.
    if !d.contains('.') {
        return private("a single-label name, which resolves to an in-cluster service");
    }
    Class::Public
}

#[cfg(test)]
mod tests {
    use super::{Policy, check_remote_url, parse_ip};

    fn check(url: &str, allow_private: bool) -> Result<(), String> {
        check_remote_url(url, allow_private, &Policy::default())
    }

    fn loopback_ok() -> Policy {
        Policy {
            allow_loopback: true,
            ..Policy::default()
        }
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
            let err = check_remote_url(url, false, &loopback_ok()).expect_err(url);
            assert!(err.contains("allowPrivateEndpoint"), "{url}: {err}");
            assert!(check_remote_url(url, true, &loopback_ok()).is_ok(), "{url}");
        }
        // The opt-in covers loopback only.
        assert!(check_remote_url("http://169.254.169.254/", true, &loopback_ok()).is_err());
        assert!(
            check_remote_url("https://kubernetes.default.svc/api", true, &loopback_ok()).is_err()
        );
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

    fn assert_never_allowed(url: &str, policy: &Policy, what: &str) {
        let err = check_remote_url(url, true, policy).expect_err(url);
        assert!(err.contains("never allowed"), "{url}: {err}");
        assert!(err.contains(what), "{url} should be {what}: {err}");
    }

    fn assert_private(url: &str) {
        let err = check(url, false).expect_err(url);
        assert!(err.contains("allowPrivateEndpoint"), "{url}: {err}");
        assert!(check(url, true).is_ok(), "{url}");
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_as_the_ipv4_address() {
        // 169.254.169.254 (the metadata service) in every form that reaches it.
        for url in [
            "http://[64:ff9b::a9fe:a9fe]/",       // NAT64, well-known prefix
            "http://[64:ff9b::169.254.169.254]/", // the same, dotted
            "http://[64:ff9b:1::a9fe:a9fe]/",     // local-use NAT64 read as /96
            "http://[64:ff9b:1:a9fe:a9:fe00::]/", // local-use NAT64 read as /48
            "http://[::a9fe:a9fe]/",              // IPv4-compatible
            "http://[::ffff:0:a9fe:a9fe]/",       // IPv4-translated
            "http://[2002:a9fe:a9fe::1]/",        // 6to4
            "http://[2001:0:4136:e378:8000:63bf:5601:5601]/", // Teredo, client inverted
        ] {
            assert_never_allowed(url, &Policy::default(), "link-local");
        }
        for url in [
            "http://[64:ff9b::a00:1]/mcp",
            "http://[::10.0.0.1]/mcp",
            "http://[2002:c0a8:101::1]/mcp",
            "http://[64:ff9b::6440:1]/mcp",
            "http://[2002:ac10:1::]/mcp",
            // Local-use NAT64 is a private network's prefix whatever it embeds.
            "http://[64:ff9b:1::808:808]/mcp",
        ] {
            assert_private(url);
        }
        for url in [
            "http://[64:ff9b::7f00:1]/mcp",
            "http://[::127.0.0.1]/mcp",
            "http://[2002:7f00:1::1]/mcp",
        ] {
            let err = check(url, true).expect_err(url);
            assert!(
                err.contains("VMCP_ALLOW_LOOPBACK_ENDPOINTS"),
                "{url}: {err}"
            );
        }
        assert_never_allowed(
            "http://[64:ff9b::0.0.0.1]/",
            &Policy::default(),
            "unspecified",
        );
        // Public IPv4 addresses stay public in these forms.
        for url in [
            "http://[64:ff9b::808:808]/mcp",
            "http://[2002:808:808::1]/mcp",
            "http://[::ffff:8.8.8.8]/mcp",
        ] {
            assert!(check(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn special_purpose_ipv4_ranges_are_private() {
        for url in [
            "http://192.0.0.8/mcp",
            "http://192.0.0.170/mcp",
            "http://198.18.0.1/mcp",
            "http://198.19.255.254/mcp",
            "http://240.0.0.1/mcp",
            "http://254.255.255.254/mcp",
            "http://[fec0::1]/mcp",
        ] {
            assert_private(url);
        }
        for url in [
            "http://198.17.255.255/mcp",
            "http://198.20.0.0/mcp",
            "http://192.0.1.1/mcp",
        ] {
            assert!(check(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn multicast_and_broadcast_are_never_allowed() {
        for url in [
            "http://224.0.0.1/",
            "http://239.255.255.250/",
            "http://[ff02::1]/",
            "http://[ff05::1:3]/",
            "http://[::ffff:224.0.0.251]/",
        ] {
            assert_never_allowed(url, &Policy::default(), "multicast");
        }
        assert_never_allowed("http://255.255.255.255/", &Policy::default(), "broadcast");
    }

    #[test]
    fn the_api_server_is_never_allowed_by_name_or_address() {
        let policy = Policy {
            allow_loopback: true,
            api_server: vec![
                "10.96.0.1".parse().unwrap(),
                "fd00:10:96::1".parse().unwrap(),
            ],
        };
        for url in [
            "https://10.96.0.1/api",
            "https://10.96.0.1:443/api",
            "https://[::ffff:10.96.0.1]/api",
            "https://[64:ff9b::a60:1]/api",
            "https://[fd00:10:96::1]/api",
            "https://kubernetes/api",
            "https://kubernetes.default.svc.cluster.local/api",
            "https://kubernetes.default.svc.k8s.example.com/api",
            "https://KUBERNETES.default.svc.corp./api",
        ] {
            assert_never_allowed(url, &policy, "Kubernetes API server");
        }
        // Its neighbours are ordinary private addresses.
        assert!(check_remote_url("http://10.96.0.2/mcp", true, &policy).is_ok());
        assert!(check_remote_url("http://[fd00:10:96::2]/mcp", true, &policy).is_ok());
        // Without a known address, the ClusterIP is only a private address.
        assert!(check("https://10.96.0.1/api", true).is_ok());
    }

    #[test]
    fn metadata_names_are_never_allowed() {
        for url in [
            "http://metadata/computeMetadata/v1/",
            "http://METADATA./computeMetadata/v1/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://instance-data/latest/meta-data/",
            "http://instance-data.ec2.internal/latest/",
            "http://instance-data.us-west-2.compute.internal/latest/",
            "http://metadata.tencentyun.com/latest/meta-data/",
        ] {
            assert_never_allowed(url, &Policy::default(), "metadata");
        }
        // A public name that merely starts with the word is public.
        assert!(check("https://metadata.example.com/mcp", false).is_ok());
        assert!(check("https://instance-data.example.com/mcp", false).is_ok());
    }

    #[test]
    fn api_server_address_from_the_environment_form() {
        assert_eq!(parse_ip(" 10.96.0.1 "), Some("10.96.0.1".parse().unwrap()));
        assert_eq!(parse_ip("fd00::1"), Some("fd00::1".parse().unwrap()));
        assert_eq!(parse_ip("[fd00::1]"), Some("fd00::1".parse().unwrap()));
        assert_eq!(parse_ip("kubernetes.default.svc"), None);
        assert_eq!(parse_ip(""), None);
    }
}
