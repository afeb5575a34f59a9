//! Who may address the gateway: the `Host` and `Origin` rules that defend against DNS
//! rebinding, whatever address the gateway is bound to.
//!
//! A rebinding page reaches the gateway under a DNS name the attacker controls, so its
//! requests carry that name in `Host` and its own origin in `Origin`. Hence the rules:
//!
//! - `Host` must be `localhost`, an IP address, or a name in the allow-list. An IP address or
//!   `localhost` cannot be a rebinding name (the attacker controls neither), and kubelet probes
//!   and Prometheus scrapes address a pod by its IP, so they work without configuration.
//! - `Origin`, when present, must be a loopback origin (a page on the user's own machine, such
//!   as a local MCP inspector) or one in the origin allow-list. Browsers send `Origin` on every
//!   cross-origin request and on every POST, so a hostile page is refused even where its
//!   `Host` would pass; CLI and SDK clients send none and are not affected.
//!
//! The rules do not depend on the bind address: a gateway bound to `0.0.0.0` is as reachable
//! from a browser as one on loopback, through a port-forward or a node's network.

use std::net::{IpAddr, Ipv6Addr};

/// An allow-list entry that cannot be matched as written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("--allowed-hosts: {0:?} is not a host name or host:port")]
    Host(String),
    #[error("--allowed-origins: {0:?} is not an origin (scheme://host[:port], http or https)")]
    Origin(String),
}

/// The allow-lists, normalised once so that a check is a few comparisons.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Lowercased; an entry without a port matches that name on any port.
    hosts: Vec<String>,
    /// ASCII serialisations (`https://app.example`, default port dropped).
    origins: Vec<String>,
}

impl HostPolicy {
    /// Builds the policy from the flags' entries; blank entries (a trailing comma) are
    /// skipped, anything else that is not a host or an origin is an error naming it.
    pub fn new(hosts: &[String], origins: &[String]) -> Result<HostPolicy, PolicyError> {
        let mut policy = HostPolicy::default();
        for raw in hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
            if split_host(raw).is_none()
                || !raw
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
            {
                return Err(PolicyError::Host(raw.to_owned()));
            }
            policy.hosts.push(raw.to_ascii_lowercase());
        }
        for raw in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            let origin = url::Url::parse(raw)
                .ok()
                .filter(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host().is_some()
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.path() == "/"
                        && u.query().is_none()
                        && u.fragment().is_none()
                })
                .map(|u| u.origin().ascii_serialization())
                .ok_or_else(|| PolicyError::Origin(raw.to_owned()))?;
            policy.origins.push(origin);
        }
        Ok(policy)
    }

    /// Whether a request with this `Host` header may be served.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim();
        let Some((name, port)) = split_host(host) else {
            return false;
        };
        if name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok() {
            return true;
        }
        self.hosts.iter().any(|entry| match split_host(entry) {
            Some((n, None)) => n.eq_ignore_ascii_case(name),
            Some((n, Some(p))) => n.eq_ignore_ascii_case(name) && port == Some(p),
            None => false,
        })
    }

    /// Whether a request with this `Origin` header may be served.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        // `null` (sandboxed frames, file: pages) and anything unparsable name no one we trust.
        let Some(url) = url::Url::parse(origin.trim()).ok() else {
            return false;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        loopback || {
            let seen = url.origin().ascii_serialization();
            self.origins.contains(&seen)
        }
    }
}

/// Splits `name`, `name:port`, `[v6]`, `[v6]:port` (and a bare IPv6 address) into the name
/// and the port; `None` for anything else, an empty name or a port that is not a number.
fn split_host(host: &str) -> Option<(&str, Option<&str>)> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<Ipv6Addr>().ok()?;
        match after {
            "" => (v6, None),
            _ => (v6, Some(after.strip_prefix(':')?)),
        }
    } else if host.parse::<Ipv6Addr>().is_ok() {
        (host, None)
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok =
        !name.is_empty() && (!name.contains(['[', ']', ':']) || name.parse::<Ipv6Addr>().is_ok());
    (name_ok && port_ok).then_some((name, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], origins: &[&str]) -> HostPolicy {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        HostPolicy::new(&s(hosts), &s(origins)).unwrap()
    }

    #[test]
    fn hosts_pass_as_localhost_ip_literals_or_listed_names() {
        let p = policy(&["vmcp-a.ns.svc", "Mcp.Example:8443"], &[]);
        for ok in [
            "localhost",
            "LocalHost:4483",
            "127.0.0.1:1",
            "[::1]:80",
            "::1",
            "10.1.2.3:4483",
            "[fd00::5]:4483",
            "vmcp-a.ns.svc",
            "VMCP-A.ns.svc:4483",
            "mcp.example:8443",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4483",
            "mcp.example",
            "mcp.example:443",
            "vmcp-a.ns.svc.evil.example",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "",
            "vmcp-a.ns.svc:",
            "vmcp-a.ns.svc:http",
            "[::1",
            "[evil]:80",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        // Without a list, every name but localhost is refused.
        assert!(!HostPolicy::default().host_allowed("vmcp-a.ns.svc"));
    }

    #[test]
    fn origins_pass_when_loopback_or_listed() {
        let p = policy(&[], &["https://app.example", "http://tool.example:8080/"]);
        for ok in [
            "http://localhost:6274",
            "https://127.0.0.1",
            "http://[::1]:3000",
            "https://app.example",
            "https://app.example:443",
            "http://tool.example:8080",
        ] {
            assert!(p.origin_allowed(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://app.example",
            "https://app.example:8443",
            "http://tool.example",
            "null",
            "file://",
            "chrome-extension://abc",
            "https://localhost.evil.example",
            "http://10.0.0.1",
            "",
        ] {
            assert!(!p.origin_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn bad_entries_are_named() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for bad in ["evil example", "a/b", "user@host", "host:port", "[nope]"] {
            assert_eq!(
                HostPolicy::new(&s(&[bad]), &[]).unwrap_err(),
                PolicyError::Host(bad.into()),
            );
        }
        for bad in [
            "app.example",
            "https://app.example/path",
            "ftp://x",
            "https://u@x",
            "null",
        ] {
            assert_eq!(
                HostPolicy::new(&[], &s(&[bad])).unwrap_err(),
                PolicyError::Origin(bad.into()),
            );
        }
        // Blank entries from a trailing comma are skipped.
        assert!(HostPolicy::new(&s(&["", " "]), &s(&[""])).is_ok());
    }
}
