//! Rules for the top-level identity (`name`, `groupRef`), the static `backends` list and
//! `passthroughHeaders`.

use std::collections::{HashMap, HashSet};

use super::{Ctx, check_absolute_path, check_http_url, is_header_name};
use crate::model::{Backend, BackendType, Config};
use crate::path::FieldPath;

/// A backend name: 1-253 characters of letters, digits, `-`, `_` and `.`, starting and ending
/// with a letter or digit. Covers Kubernetes object names and keeps `{workload}_tool` a valid
/// MCP tool name.
pub(crate) fn is_backend_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=253).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

pub(super) fn check_top(ctx: &mut Ctx<'_>, root: &FieldPath<'_>, cfg: &Config) {
    if cfg.name.trim().is_empty() {
        ctx.error(&root.key("name"), "required");
    }
    if cfg.group_ref.trim().is_empty() {
        ctx.error(&root.key("groupRef"), "required");
    }
    let list = root.key("backends");
    // First index of each name, to point duplicates at the original.
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(cfg.backends.len());
    for (i, backend) in cfg.backends.iter().enumerate() {
        let at = list.index(i);
        check_backend(ctx, &at, backend, &cfg.group_ref);
        if !backend.name.is_empty()
            && let Some(first) = seen.insert(&backend.name, i)
        {
            ctx.error(
                &at.key("name"),
                format!(
                    "duplicate backend name {:?} (also backends[{first}])",
                    backend.name
                ),
            );
            // Keep pointing at the first occurrence.
            seen.insert(&backend.name, first);
        }
    }
}

fn check_backend(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, b: &Backend, group: &str) {
    if b.name.is_empty() {
        ctx.error(&at.key("name"), "required");
    } else if !is_backend_name(&b.name) {
        ctx.error(
            &at.key("name"),
            format!(
                "{:?} is not a valid backend name: use 1-253 letters, digits, '-', '_' or '.', \
                 starting and ending with a letter or digit",
                b.name
            ),
        );
    }
    check_http_url(ctx, &at.key("url"), &b.url, true);
    if b.transport.is_none() {
        ctx.error(&at.key("transport"), "required (sse or streamable-http)");
    }
    if !b.ca_bundle_path.is_empty() {
        let path = at.key("caBundlePath");
        if b.backend_type != Some(BackendType::Entry) {
            ctx.error(&path, "only allowed when type is entry");
        } else {
            check_absolute_path(ctx, &path, &b.ca_bundle_path);
        }
    }
    if let Some(g) = b.metadata.get("group")
        && g != group
    {
        ctx.warn(
            &at.key("metadata").key("group"),
            format!("reserved key: replaced by groupRef {group:?}"),
        );
    }
}

/// Request headers a client must not be able to forward to backends.
fn restricted_header(lower: &str) -> Option<&'static str> {
    const EXACT: &[(&str, &str)] = &[
        (
            "authorization",
            "carries the client's credentials for the gateway",
        ),
        ("cookie", "carries the client's credentials for the gateway"),
        ("host", "is set per backend"),
        ("content-length", "is set per request"),
        ("transfer-encoding", "is a hop-by-hop header"),
        ("connection", "is a hop-by-hop header"),
        ("keep-alive", "is a hop-by-hop header"),
        ("te", "is a hop-by-hop header"),
        ("trailer", "is a hop-by-hop header"),
        ("upgrade", "is a hop-by-hop header"),
        ("forwarded", "is set by proxies"),
        ("x-real-ip", "is set by proxies"),
        (
            "mcp-session-id",
            "is managed by the gateway for each backend session",
        ),
        (
            "mcp-protocol-version",
            "is managed by the gateway for each backend session",
        ),
        ("mcp-method", "is set by the gateway for each request"),
        ("mcp-name", "is set by the gateway for each request"),
        ("last-event-id", "is managed by the gateway for each stream"),
        ("content-type", "is set by the gateway for each request"),
        ("accept", "is set by the gateway for each request"),
    ];
    if let Some((_, why)) = EXACT.iter().find(|(name, _)| *name == lower) {
        return Some(why);
    }
    if lower.starts_with("proxy-") {
        return Some("is a proxy header");
    }
    if lower.starts_with("x-forwarded-") {
        return Some("is set by proxies");
    }
    None
}

pub(super) fn check_passthrough_headers(ctx: &mut Ctx<'_>, list: &FieldPath<'_>, cfg: &Config) {
    let mut seen = HashSet::with_capacity(cfg.passthrough_headers.len());
    for (i, name) in cfg.passthrough_headers.iter().enumerate() {
        let at = list.index(i);
        if !is_header_name(name) {
            ctx.error(&at, format!("{name:?} is not a valid HTTP header name"));
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if let Some(why) = restricted_header(&lower) {
            ctx.error(&at, format!("{name} cannot be forwarded: it {why}"));
        } else if !seen.insert(lower) {
            ctx.warn(&at, format!("{name} is listed more than once"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names() {
        assert!(is_backend_name("github"));
        assert!(is_backend_name("my_server.v2"));
        assert!(is_backend_name("A1"));
        assert!(!is_backend_name(""));
        assert!(!is_backend_name("-x"));
        assert!(!is_backend_name("x-"));
        assert!(!is_backend_name("has space"));
        assert!(!is_backend_name(&"a".repeat(254)));
    }
}
