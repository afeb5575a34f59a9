//! What kind of address an IP is, for the SSRF rules: public, private (allowed where a backend
//! opts in), loopback (allowed only for local development) or never allowed (metadata
//! services, link-local, unspecified, multicast, broadcast). One classification for the
//! operator's check of an entry's URL (`vmcp_core::url`) and the gateway's check of the
//! addresses a backend's name resolves to when it connects.
//!
//! IPv6 forms that stand for an IPv4 address (mapped, translated, compatible, NAT64, 6to4,
//! Teredo) are judged by that address as well, the stricter reading winning.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Cloud metadata addresses outside the link-local range (Alibaba, AWS IPv6).
const METADATA_V4: &[Ipv4Addr] = &[Ipv4Addr::new(100, 100, 100, 200)];
const METADATA_V6: &[Ipv6Addr] = &[Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// A verdict with the sentence fragment saying what the host is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    Public,
    Private(String),
    /// Blocked unless the operator allows loopback endpoints.
    Loopback(String),
    Blocked(String),
}

impl Class {
    /// From the most permissive to the strictest: of two readings of one address, the
    /// stricter wins.
    fn rank(&self) -> u8 {
        match self {
            Class::Public => 0,
            Class::Private(_) => 1,
            Class::Loopback(_) => 2,
            Class::Blocked(_) => 3,
        }
    }

    /// `self`, or `other` when it is stricter.
    pub fn or_stricter(self, other: Class) -> Class {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

pub fn private(what: &str) -> Class {
    Class::Private(what.to_owned())
}

pub fn blocked(what: &str) -> Class {
    Class::Blocked(what.to_owned())
}

/// The class of `ip`; any of `api_server` (the Kubernetes API server's addresses) is never
/// allowed, whatever range it is in.
pub fn classify_ip(ip: IpAddr, api_server: &[IpAddr]) -> Class {
    let api_server_v4 = |v4: Ipv4Addr| {
        api_server.iter().any(|a| match a {
            IpAddr::V4(a) => *a == v4,
            IpAddr::V6(a) => a.to_ipv4_mapped() == Some(v4),
        })
    };
    match ip {
        IpAddr::V4(v4) if api_server_v4(v4) => blocked("the Kubernetes API server's address"),
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) if api_server.contains(&IpAddr::V6(v6)) => {
            blocked("the Kubernetes API server's address")
        }
        IpAddr::V6(v6) => {
            let embedded = embedded_v4(v6);
            let mut class = match embedded.first() {
                // The address is a way to reach an IPv4 address: judge that one.
                Some(_) => Class::Public,
                None => classify_v6(v6),
            };
            for (v4, form) in embedded {
                let c = if api_server_v4(v4) {
                    blocked("the Kubernetes API server's address")
                } else {
                    classify_v4(v4)
                };
                let c = match c {
                    Class::Public => Class::Public,
                    Class::Private(w) => Class::Private(format!("{w} in its {form} form")),
                    Class::Loopback(w) => Class::Loopback(format!("{w} in its {form} form")),
                    Class::Blocked(w) => Class::Blocked(format!("{w} in its {form} form")),
                };
                class = class.or_stricter(c);
            }
            if is_local_nat64(v6) {
                class = class.or_stricter(private("a local-use NAT64 address (64:ff9b:1::/48)"));
            }
            class
        }
    }
}

/// The IPv4 addresses an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-translated (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (the
/// well-known `64:ff9b::/96`, and the local-use `64:ff9b:1::/48` read both as /96 and as
/// /48, since the domain picks the length), 6to4 (`2002:AABB:CCDD::/48`) and Teredo (the
/// client's address, stored inverted). Each with the form's name for the message.
fn embedded_v4(ip: Ipv6Addr) -> Vec<(Ipv4Addr, &'static str)> {
    let s = ip.segments();
    let o = ip.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let mut out = Vec::new();
    if s[..5] == [0; 5] && s[5] == 0xffff {
        out.push((low, "IPv4-mapped"));
    } else if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        out.push((low, "IPv4-translated"));
    } else if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        out.push((low, "IPv4-compatible"));
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        out.push((low, "NAT64"));
    } else if is_local_nat64(ip) {
        // An all-zero field holds no address in that reading.
        let as_48 = Ipv4Addr::new(o[6], o[7], o[9], o[10]);
        out.extend(
            [(low, "NAT64"), (as_48, "NAT64")]
                .into_iter()
                .filter(|(v4, _)| !v4.is_unspecified()),
        );
    } else if s[0] == 0x2002 {
        out.push((Ipv4Addr::new(o[2], o[3], o[4], o[5]), "6to4"));
    } else if s[0] == 0x2001 && s[1] == 0 {
        out.push((Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]), "Teredo"));
    }
    out
}

fn is_local_nat64(ip: Ipv6Addr) -> bool {
    ip.segments()[..3] == [0x64, 0xff9b, 1]
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let o = ip.octets();
    if o[0] == 0 {
        blocked("an unspecified address (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Class::Loopback("a loopback address".into())
    } else if ip.is_link_local() || METADATA_V4.contains(&ip) {
        blocked("a link-local or cloud metadata address")
    } else if ip.is_broadcast() {
        blocked("the broadcast address")
    } else if ip.is_multicast() {
        blocked("a multicast address (224.0.0.0/4)")
    } else if ip.is_private() {
        private("a private address")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        // 100.64.0.0/10, shared address space: pod and service ranges on some clouds.
        private("a shared (carrier-grade NAT) address")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        // DS-Lite, NAT64 discovery and other protocol addresses of the local network.
        private("an IETF protocol address (192.0.0.0/24)")
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        private("a benchmarking network address (198.18.0.0/15)")
    } else if o[0] >= 240 {
        // Reserved, and used for pod and service ranges by some clusters.
        private("a reserved address (240.0.0.0/4)")
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let seg0 = ip.segments()[0];
    if ip.is_unspecified() {
        blocked("an unspecified address")
    } else if ip.is_loopback() {
        Class::Loopback("a loopback address".into())
    } else if (seg0 & 0xffc0) == 0xfe80 || METADATA_V6.contains(&ip) {
        blocked("a link-local or cloud metadata address")
    } else if ip.is_multicast() {
        blocked("a multicast address (ff00::/8)")
    } else if (seg0 & 0xfe00) == 0xfc00 {
        private("a private (unique local) address")
    } else if (seg0 & 0xffc0) == 0xfec0 {
        private("a site-local address (fec0::/10)")
    } else {
        Class::Public
    }
}
