//! The `audit` section (ToolHive's audit config): which MCP operations are written as audit
//! events, with how much of their data, and where.
//!
//! ToolHive's own struct spells its keys in snake_case (`event_types`, `max_data_size`) and its
//! documents in camelCase (`eventTypes`, `maxDataSize`); both are read, and a key given both
//! ways with different values is a problem naming it. The section stays a free map in the
//! config model so a config round-trips byte for byte; [`AuditSettings::read`] is the one
//! reader.

use serde_json::Value;

use crate::model::Unsupported;

/// Event types ToolHive defines for MCP traffic, as written in `eventTypes`.
pub const EVENT_TYPES: [&str; 14] = [
    "mcp_initialize",
    "mcp_tool_call",
    "mcp_tools_list",
    "mcp_resource_read",
    "mcp_resources_list",
    "mcp_prompt_get",
    "mcp_prompts_list",
    "mcp_notification",
    "mcp_ping",
    "mcp_logging",
    "mcp_completion",
    "mcp_roots_list_changed",
    "mcp_request",
    "http_request",
];

/// Default `maxDataSize`, as ToolHive's (bytes).
pub const DEFAULT_MAX_DATA_SIZE: usize = 1024;

/// Default `component` of vMCP's events.
pub const DEFAULT_COMPONENT: &str = "vmcp-server";

/// The audit section, read.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    pub enabled: bool,
    pub component: String,
    /// Only these types are written; empty: all.
    pub event_types: Vec<String>,
    /// Never these (wins over `event_types`).
    pub exclude_event_types: Vec<String>,
    pub include_request_data: bool,
    pub include_response_data: bool,
    pub max_data_size: usize,
    /// Events go to this file (appended), else to standard output.
    pub log_file: Option<String>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: false,
            component: DEFAULT_COMPONENT.to_owned(),
            event_types: Vec::new(),
            exclude_event_types: Vec::new(),
            include_request_data: false,
            include_response_data: false,
            max_data_size: DEFAULT_MAX_DATA_SIZE,
            log_file: None,
        }
    }
}

/// Keys read, each with its snake_case spelling.
const KEYS: [(&str, &str); 8] = [
    ("enabled", "enabled"),
    ("component", "component"),
    ("eventTypes", "event_types"),
    ("excludeEventTypes", "exclude_event_types"),
    ("includeRequestData", "include_request_data"),
    ("includeResponseData", "include_response_data"),
    ("maxDataSize", "max_data_size"),
    ("logFile", "log_file"),
];

/// Keys of ToolHive's that change nothing here (said as warnings).
const IGNORED: [(&str, &str); 2] = [
    ("detectApplicationErrors", "detect_application_errors"),
    ("maxDelegationDepth", "max_delegation_depth"),
];

impl AuditSettings {
    /// Reads the section: the settings, and each problem as (key, message, is_error); a key
    /// of a list entry is `key\0index`.
    pub fn read(section: &Unsupported) -> (AuditSettings, Vec<(String, String, bool)>) {
        // A section is there to audit: ToolHive's own sample gives no `enabled`, so only
        // `enabled: false` turns it off.
        let mut s = AuditSettings {
            enabled: true,
            ..AuditSettings::default()
        };
        let mut problems = Vec::new();
        for (key, _) in section {
            let known = KEYS
                .iter()
                .chain(IGNORED.iter())
                .any(|(c, k)| c == key || k == key);
            if !known {
                problems.push((key.clone(), "unknown key".to_owned(), true));
            }
        }
        for (camel, snake) in IGNORED {
            if let Some(k) = [camel, snake]
                .into_iter()
                .find(|k| section.contains_key(*k))
            {
                problems.push((k.to_owned(), "not used by vmcp; ignored".to_owned(), false));
            }
        }
        let get =
            |problems: &mut Vec<(String, String, bool)>, camel: &str| -> Option<(String, Value)> {
                let snake = KEYS.iter().find(|(c, _)| *c == camel).map(|(_, s)| *s)?;
                match (section.get(camel), section.get(snake)) {
                    (Some(a), Some(b)) if a != b && camel != snake => {
                        problems.push((
                            camel.to_owned(),
                            format!("given as both {camel} and {snake} with different values"),
                            true,
                        ));
                        None
                    }
                    (Some(v), _) => Some((camel.to_owned(), v.clone())),
                    (None, Some(v)) => Some((snake.to_owned(), v.clone())),
                    (None, None) => None,
                }
            };
        let bad = |problems: &mut Vec<(String, String, bool)>, key: &str, want: &str| {
            problems.push((key.to_owned(), format!("must be {want}"), true));
        };
        if let Some((k, v)) = get(&mut problems, "enabled") {
            match v.as_bool() {
                Some(b) => s.enabled = b,
                None => bad(&mut problems, &k, "true or false"),
            }
        }
        if let Some((k, v)) = get(&mut problems, "component") {
            match v.as_str() {
                Some(c) if !c.is_empty() => s.component = c.to_owned(),
                _ => bad(&mut problems, &k, "a non-empty string"),
            }
        }
        for (field, target) in [
            ("eventTypes", &mut s.event_types),
            ("excludeEventTypes", &mut s.exclude_event_types),
        ] {
            let Some((k, v)) = get(&mut problems, field) else {
                continue;
            };
            let Some(list) = v.as_array() else {
                bad(&mut problems, &k, "a list of event types");
                continue;
            };
            for (i, t) in list.iter().enumerate() {
                match t.as_str() {
                    Some(t) if EVENT_TYPES.contains(&t) => target.push(t.to_owned()),
                    _ => problems.push((
                        format!("{k}\u{0}{i}"),
                        format!("unknown event type {t}; known: {}", EVENT_TYPES.join(", ")),
                        true,
                    )),
                }
            }
        }
        for (field, target) in [
            ("includeRequestData", &mut s.include_request_data),
            ("includeResponseData", &mut s.include_response_data),
        ] {
            if let Some((k, v)) = get(&mut problems, field) {
                match v.as_bool() {
                    Some(b) => *target = b,
                    None => bad(&mut problems, &k, "true or false"),
                }
            }
        }
        if let Some((k, v)) = get(&mut problems, "maxDataSize") {
            match v.as_u64() {
                Some(n) if n <= 16 * 1024 * 1024 => s.max_data_size = n as usize,
                _ => bad(&mut problems, &k, "a number of bytes from 0 to 16777216"),
            }
        }
        if let Some((k, v)) = get(&mut problems, "logFile") {
            match v.as_str() {
                Some(p) if p.starts_with('/') => s.log_file = Some(p.to_owned()),
                Some("") => {}
                _ => bad(&mut problems, &k, "an absolute file path"),
            }
        }
        (s, problems)
    }

    /// Whether events of `event_type` are written.
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled
            && !self.exclude_event_types.iter().any(|t| t == event_type)
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> (AuditSettings, Vec<(String, String, bool)>) {
        AuditSettings::read(v.as_object().unwrap())
    }

    #[test]
    fn both_spellings_are_read_and_conflicts_named() {
        let (s, p) = read(json!({"enabled": true, "eventTypes": ["mcp_tool_call"],
            "exclude_event_types": ["mcp_ping"], "maxDataSize": 10, "logFile": "/var/log/a.log"}));
        assert!(p.is_empty(), "{p:?}");
        assert!(s.enabled && s.wants("mcp_tool_call") && !s.wants("mcp_tools_list"));
        assert!(!s.wants("mcp_ping"));
        assert_eq!(s.max_data_size, 10);
        assert_eq!(s.log_file.as_deref(), Some("/var/log/a.log"));
        let (_, p) = read(json!({"maxDataSize": 1, "max_data_size": 2}));
        assert!(
            p.iter()
                .any(|(k, m, e)| k == "maxDataSize" && m.contains("both") && *e)
        );
    }

    #[test]
    fn bad_values_and_unknown_keys_are_named() {
        let (_, p) = read(
            json!({"enabled": "yes", "eventTypes": ["mcp_tool_call", "nope"],
            "logFile": "relative.log", "colour": 1, "detectApplicationErrors": true}),
        );
        let keys: Vec<&str> = p.iter().map(|(k, _, _)| k.as_str()).collect();
        assert!(keys.contains(&"enabled"), "{p:?}");
        assert!(keys.contains(&"eventTypes\u{0}1"), "{p:?}");
        assert!(keys.contains(&"logFile"), "{p:?}");
        assert!(keys.contains(&"colour"), "{p:?}");
        assert!(
            p.iter()
                .any(|(k, _, e)| k == "detectApplicationErrors" && !e)
        );
        let (s, _) = read(json!({}));
        assert!(
            s.enabled && s.wants("mcp_tool_call"),
            "a section audits unless disabled"
        );
        let (s, _) = read(json!({"enabled": false}));
        assert!(!s.wants("mcp_tool_call"));
    }
}
