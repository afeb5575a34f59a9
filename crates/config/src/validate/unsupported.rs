//! The ToolHive sections vmcp keeps but does not act on yet, and how loudly each is reported.
//!
//! The rule: if ignoring a section would change what clients can call or weaken a security
//! control, it is an error, so the gateway never silently runs with less than the user asked
//! for; if ignoring it only loses observability or scale-out, it is a warning.
//!
//! | section            | reported when                         | severity |
//! |--------------------|---------------------------------------|----------|
//! | `compositeTools`   | non-empty                             | error    |
//! | `compositeToolRefs`| non-empty                             | error    |
//! | `optimizer`        | present (even `{}` enables it)        | error    |
//! | `codeMode`         | `enabled: true`                       | error    |
//! | `rateLimiting`     | present                               | error    |
//! | `sessionStorage`   | a provider other than `memory`        | warning  |
//!
//! `incomingAuth.type: local` is a not-supported error too (see the auth rules); `oidc` is
//! served (the gateway checks Bearer JWTs, docs/AUTH.md).
//!
//! Strategy features that need an embedded authorization server (`upstream_inject`,
//! `subjectProviderName`, `authz.primaryUpstreamProvider`), the enterprise-only `obo` strategy
//! and `aggregation.tools[].toolConfigRef` are reported as not-supported errors where they
//! occur (see the auth and aggregation rules).

use super::{Ctx, Severity};
use crate::model::{Config, Unsupported};
use crate::path::FieldPath;

fn flag(section: &Option<Unsupported>, key: &str) -> Option<bool> {
    section
        .as_ref()
        .and_then(|s| s.get(key))
        .and_then(serde_json::Value::as_bool)
}

pub(super) fn check(ctx: &mut Ctx<'_>, root: &FieldPath<'_>, cfg: &Config) {
    if !cfg.composite_tools.is_empty() {
        ctx.not_supported(
            Severity::Error,
            &root.key("compositeTools"),
            format!(
                "composite tools are not supported yet ({} defined)",
                cfg.composite_tools.len()
            ),
        );
    }
    if !cfg.composite_tool_refs.is_empty() {
        ctx.not_supported(
            Severity::Error,
            &root.key("compositeToolRefs"),
            format!(
                "composite tools are not supported yet ({} referenced)",
                cfg.composite_tool_refs.len()
            ),
        );
    }
    if cfg.optimizer.is_some() {
        ctx.not_supported(
            Severity::Error,
            &root.key("optimizer"),
            "the tool optimizer is not supported yet (remove the section)",
        );
    }
    if flag(&cfg.code_mode, "enabled") == Some(true) {
        ctx.not_supported(
            Severity::Error,
            &root.key("codeMode").key("enabled"),
            "code mode is not supported yet",
        );
    }
    if cfg.rate_limiting.is_some() {
        ctx.not_supported(
            Severity::Error,
            &root.key("rateLimiting"),
            "rate limiting is not supported yet; the limits would not be enforced",
        );
    }
    if let Some(audit) = &cfg.audit {
        report_section(ctx, &root.key("audit"), crate::AuditSettings::read(audit).1);
    }
    if let Some(telemetry) = &cfg.telemetry {
        report_section(
            ctx,
            &root.key("telemetry"),
            crate::TelemetrySettings::read(telemetry).1,
        );
    }
    if let Some(storage) = &cfg.session_storage {
        let provider = storage.get("provider").and_then(serde_json::Value::as_str);
        if !matches!(provider, None | Some("memory")) || (provider.is_none() && !storage.is_empty())
        {
            ctx.not_supported(
                Severity::Warning,
                &root.key("sessionStorage"),
                "shared session storage is not supported yet: sessions stay in this replica's \
                 memory (run one replica or use sticky sessions)",
            );
        }
    }
}

/// Reports the problems a section reader found; a key `key\0entry` names a list index (a
/// number) or a map entry (any other text).
fn report_section(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, problems: Vec<(String, String, bool)>) {
    for (key, msg, is_error) in problems {
        let (k, entry) = match key.split_once('\0') {
            Some((k, e)) => (k, Some(e)),
            None => (key.as_str(), None),
        };
        let field = at.key(k);
        let nested;
        let path = match entry {
            Some(e) => {
                nested = match e.parse::<usize>() {
                    Ok(i) => field.index(i),
                    Err(_) => field.key(e),
                };
                &nested
            }
            None => &field,
        };
        if is_error {
            ctx.error(path, msg);
        } else {
            ctx.warn(path, msg);
        }
    }
}
