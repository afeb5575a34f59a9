//! Rules for `aggregation`: the strategy's own settings, per-backend tool entries and the
//! names that renames produce.

use std::collections::{HashMap, HashSet};

use super::{Ctx, Severity, is_tool_name};
use crate::aggregation::{
    Aggregation, ConflictResolution, DEFAULT_PREFIX_FORMAT, ToolVisibility, WORKLOAD_PLACEHOLDER,
    WorkloadTools,
};
use crate::path::FieldPath;

pub(super) fn check(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, a: &Aggregation) {
    let crc_path = at.key("conflictResolutionConfig");
    let prefix_format = a
        .conflict_resolution_config
        .as_ref()
        .map(|c| c.prefix_format.as_str());
    let priority = a
        .conflict_resolution_config
        .as_ref()
        .map(|c| c.priority_order.as_slice())
        .unwrap_or_default();

    match a.conflict_resolution {
        ConflictResolution::Prefix => {
            if let Some(fmt) = prefix_format.filter(|f| !f.is_empty()) {
                check_prefix_format(ctx, &crc_path.key("prefixFormat"), fmt);
            }
        }
        ConflictResolution::Priority => {
            if priority.is_empty() {
                ctx.error(
                    &crc_path.key("priorityOrder"),
                    "required with at least one backend when conflictResolution is priority",
                );
            }
        }
        ConflictResolution::Manual => {
            if a.tools.is_empty() {
                ctx.error(
                    &at.key("tools"),
                    "required with at least one entry when conflictResolution is manual",
                );
            }
        }
    }
    // The CRD defaults prefixFormat (as ToolHive's does), so the API server writes the default
    // into every conflictResolutionConfig: only a format someone chose is worth a warning.
    if a.conflict_resolution != ConflictResolution::Prefix
        && prefix_format.is_some_and(|f| !f.is_empty() && f != DEFAULT_PREFIX_FORMAT)
    {
        ctx.warn(
            &crc_path.key("prefixFormat"),
            format!(
                "ignored because conflictResolution is {}",
                a.conflict_resolution.as_str()
            ),
        );
    }
    if a.conflict_resolution != ConflictResolution::Priority && !priority.is_empty() {
        ctx.warn(
            &crc_path.key("priorityOrder"),
            format!(
                "ignored because conflictResolution is {}",
                a.conflict_resolution.as_str()
            ),
        );
    }

    let order_path = crc_path.key("priorityOrder");
    let mut in_order = HashSet::with_capacity(priority.len());
    for (i, name) in priority.iter().enumerate() {
        let entry = order_path.index(i);
        if name.is_empty() {
            ctx.error(&entry, "backend name must not be empty");
        } else if !in_order.insert(name.as_str()) {
            ctx.error(&entry, format!("{name:?} is listed more than once"));
        } else {
            ctx.check_backend_ref(&entry, name);
        }
    }

    let tools_path = at.key("tools");
    let mut workloads: HashMap<&str, usize> = HashMap::with_capacity(a.tools.len());
    for (i, w) in a.tools.iter().enumerate() {
        let entry = tools_path.index(i);
        check_workload_tools(ctx, &entry, w);
        if !w.workload.is_empty() {
            if let Some(first) = workloads.get(w.workload.as_str()) {
                ctx.error(
                    &entry.key("workload"),
                    format!("{:?} already has an entry (tools[{first}])", w.workload),
                );
            } else {
                workloads.insert(&w.workload, i);
            }
        }
    }

    // With deny, a backend without a tools entry contributes nothing, so ranking it is a
    // mistake.
    if a.default_tool_visibility == Some(ToolVisibility::Deny)
        && a.conflict_resolution == ConflictResolution::Priority
    {
        for (i, name) in priority.iter().enumerate() {
            if !name.is_empty() && !workloads.contains_key(name.as_str()) {
                ctx.error(
                    &order_path.index(i),
                    format!(
                        "{name:?} has no tools entry, so defaultToolVisibility: deny hides all \
                         its tools"
                    ),
                );
            }
        }
    }
}

fn check_prefix_format(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, fmt: &str) {
    if !fmt.contains(WORKLOAD_PLACEHOLDER) {
        ctx.error(
            at,
            format!("must contain {WORKLOAD_PLACEHOLDER} (got {fmt:?})"),
        );
        return;
    }
    let rest = fmt.replace(WORKLOAD_PLACEHOLDER, "");
    if !rest.is_empty() && !is_tool_name(&rest) {
        ctx.error(
            at,
            format!(
                "{fmt:?} would make invalid tool names: outside {WORKLOAD_PLACEHOLDER} use only \
                 letters, digits, '_', '-' and '.'"
            ),
        );
    }
}

fn check_workload_tools(ctx: &mut Ctx<'_>, at: &FieldPath<'_>, w: &WorkloadTools) {
    if w.workload.is_empty() {
        ctx.error(&at.key("workload"), "required");
    } else {
        ctx.check_backend_ref(&at.key("workload"), &w.workload);
    }
    if let Some(r) = &w.tool_config_ref {
        let path = at.key("toolConfigRef");
        if r.name.is_empty() {
            ctx.error(&path.key("name"), "required");
        }
        ctx.not_supported(
            Severity::Error,
            &path,
            "is not supported yet: the gateway cannot read MCPToolConfig resources; give filter \
             and overrides inline",
        );
    }
    if w.exclude_all && (!w.filter.is_empty() || !w.overrides.is_empty()) {
        ctx.warn(
            &at.key("excludeAll"),
            "hides every tool, so filter and overrides have no effect",
        );
    }
    let filter_path = at.key("filter");
    for (i, name) in w.filter.iter().enumerate() {
        if name.is_empty() {
            ctx.error(&filter_path.index(i), "tool name must not be empty");
        }
    }
    let overrides_path = at.key("overrides");
    // New name -> original, to catch two tools renamed to one name.
    let mut new_names: HashMap<&str, &str> = HashMap::new();
    for (original, o) in &w.overrides {
        let entry = overrides_path.key(original);
        if original.is_empty() {
            ctx.error(&entry, "tool name must not be empty");
        }
        let no_annotations = o.annotations.as_ref().is_none_or(|a| a.is_empty());
        if o.name.is_empty() && o.description.is_empty() && no_annotations {
            ctx.error(
                &entry,
                "set at least one of name, description or annotations",
            );
        }
        if !o.name.is_empty() {
            if !is_tool_name(&o.name) {
                ctx.error(
                    &entry.key("name"),
                    format!(
                        "{:?} is not a valid MCP tool name: use 1-128 letters, digits, '_', '-' \
                         or '.'",
                        o.name
                    ),
                );
            } else if let Some(other) = new_names.insert(&o.name, original) {
                ctx.error(
                    &entry.key("name"),
                    format!("{other:?} is renamed to {:?} too", o.name),
                );
            }
        }
    }
}
