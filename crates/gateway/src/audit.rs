//! Audit events (the config's `audit` section, ToolHive's event format): one JSON line per
//! MCP operation the router answers, saying who (subject and issuer of the caller's token),
//! what (event type, method, tool/prompt/resource, backend), and how it went (`success`,
//! `denied`, `error`, `failure`, duration), with the request's params and the reply only when
//! the config asks, cut at `maxDataSize`.
//!
//! Events are written by a task of their own through a bounded queue: a slow disk or a full
//! pipe never holds a call. When the queue is full the event is dropped and counted
//! (`vmcp_audit_events_dropped_total`). What an event can carry is what the router sees: the
//! client's `Authorization`, injected backend credentials and exchanged tokens never pass
//! through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use vmcp_config::AuditSettings;

use crate::front::session::Owner;

/// Events waiting to be written at most; beyond, new ones are dropped (and counted).
pub const QUEUE: usize = 8192;

/// Bytes of events waiting to be written at most (request and response data can be large):
/// beyond, new events are dropped (and counted), so a stalled disk costs bounded memory.
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// Longest tool/prompt name or resource URI written (bytes); longer ones are cut.
pub const MAX_NAME: usize = 512;

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub struct Auditor {
    settings: AuditSettings,
    tx: mpsc::Sender<String>,
    dropped: AtomicU64,
    written: Arc<AtomicU64>,
    /// Bytes queued and not written yet.
    queued: Arc<AtomicUsize>,
}

/// One operation, as the router saw it.
pub struct Record<'a> {
    pub method: &'a str,
    pub params: Option<&'a RawValue>,
    /// The tool for `tools/call` (the client's name for it; empty when the call was refused
    /// before routing).
    pub tool: &'a str,
    pub backend: Option<&'a str>,
    pub outcome: &'static str,
    pub duration: Duration,
    pub owner: Option<&'a Owner>,
    /// The JSON-RPC response sent.
    pub reply: &'a str,
}

/// ToolHive's event type of an MCP method.
pub fn event_type(method: &str) -> &'static str {
    match method {
        "initialize" => "mcp_initialize",
        "tools/call" => "mcp_tool_call",
        "tools/list" => "mcp_tools_list",
        "resources/read" => "mcp_resource_read",
        "resources/list" | "resources/templates/list" => "mcp_resources_list",
        "prompts/get" => "mcp_prompt_get",
        "prompts/list" => "mcp_prompts_list",
        "ping" => "mcp_ping",
        "logging/setLevel" => "mcp_logging",
        "completion/complete" => "mcp_completion",
        "notifications/roots/list_changed" => "mcp_roots_list_changed",
        m if m.starts_with("notifications/") => "mcp_notification",
        _ => "mcp_request",
    }
}

impl Auditor {
    /// Starts the writer for `settings` (the file is opened, for appending, now: a path that
    /// cannot be written is a start-up error naming it). `None` when auditing is off.
    pub async fn start(settings: AuditSettings) -> Result<Option<Arc<Auditor>>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        let mut out: Box<dyn tokio::io::AsyncWrite + Send + Unpin> = match &settings.log_file {
            Some(path) => Box::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|e| format!("audit.logFile {path}: {e}"))?,
            ),
            None => Box::new(tokio::io::stdout()),
        };
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        let queued = Arc::new(AtomicUsize::new(0));
        let (count, held) = (written.clone(), queued.clone());
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                let mut batch = line;
                batch.push('\n');
                let mut n = 1;
                while let Ok(more) = rx.try_recv() {
                    batch.push_str(&more);
                    batch.push('\n');
                    n += 1;
                }
                let r = out.write_all(batch.as_bytes()).await;
                held.fetch_sub(batch.len() - n as usize, Ordering::Relaxed);
                if let Err(e) = r {
                    tracing::warn!(error = %e, "audit events not written");
                    continue;
                }
                let _ = out.flush().await;
                count.fetch_add(n, Ordering::Relaxed);
            }
        });
        Ok(Some(Arc::new(Auditor {
            settings,
            tx,
            dropped: AtomicU64::new(0),
            written,
            queued,
        })))
    }

    /// Events dropped because the queue was full, and events written.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.dropped.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed),
        )
    }

    /// Queues the event of one operation, if its type is audited.
    pub fn record(&self, r: Record<'_>) {
        let kind = event_type(r.method);
        if !self.settings.wants(kind) {
            return;
        }
        self.queue(self.event(kind, &r).to_string());
    }

    /// A request refused before it was read as MCP: client authentication said no (`status`
    /// 401, 403 or 503). ToolHive's `http_request` event, outcome `denied`, the caller
    /// anonymous (no token was accepted), no data (nothing was read).
    pub fn refused(&self, status: u16, duration: Duration) {
        let kind = "http_request";
        if !self.settings.wants(kind) {
            return;
        }
        let mut e = self.event(
            kind,
            &Record {
                method: "",
                params: None,
                tool: "",
                backend: None,
                outcome: "denied",
                duration,
                owner: None,
                reply: "",
            },
        );
        e["target"] = json!({"type": "server", "endpoint": "/mcp"});
        e["metadata"]["extra"]["status"] = json!(status);
        if let Some(data) = e.as_object_mut() {
            data.remove("data");
        }
        self.queue(e.to_string());
    }

    /// Queues one event line, or counts it dropped (queue full, or over its byte bound).
    fn queue(&self, line: String) {
        let len = line.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.tx.try_send(line).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn event(&self, kind: &str, r: &Record<'_>) -> Value {
        let mut target = serde_json::Map::new();
        target.insert("method".into(), json!(r.method));
        let members = r
            .params
            .and_then(|p| crate::jsonrpc::object_members(p).ok())
            .unwrap_or_default();
        let (ty, name) = match r.method {
            // The router's label; a refused call has none, its params name the tool.
            "tools/call" if !r.tool.is_empty() => ("tool", Some(r.tool.to_owned())),
            "tools/call" => ("tool", crate::jsonrpc::string_member(&members, "name")),
            "prompts/get" => ("prompt", crate::jsonrpc::string_member(&members, "name")),
            "resources/read" => ("resource", crate::jsonrpc::string_member(&members, "uri")),
            _ => ("server", None),
        };
        target.insert("type".into(), json!(ty));
        if let Some(n) = name {
            let key = if ty == "resource" { "uri" } else { "name" };
            // Bounded: a client's made-up name must not make the queue's events huge.
            target.insert(key.into(), json!(cut(&n, MAX_NAME)));
        }
        if let Some(b) = r.backend.filter(|b| !b.is_empty()) {
            target.insert("backend".into(), json!(b));
        }
        let mut subjects = serde_json::Map::new();
        match r.owner {
            Some(o) => {
                subjects.insert("user".into(), json!(o.subject));
                subjects.insert("issuer".into(), json!(o.issuer));
            }
            None => {
                subjects.insert("user".into(), json!("anonymous"));
            }
        }
        let mut e = json!({
            "metadata": {
                "auditId": uuid::Uuid::new_v4().to_string(),
                "extra": {"duration_ms": r.duration.as_secs_f64() * 1000.0},
            },
            "type": kind,
            "loggedAt": humantime_utc(),
            "source": {"type": "network"},
            "outcome": r.outcome,
            "subjects": subjects,
            "component": self.settings.component,
            "target": target,
        });
        let mut data = serde_json::Map::new();
        if self.settings.include_request_data
            && let Some(p) = r.params
        {
            self.put(&mut data, "request", p.get());
        }
        if self.settings.include_response_data {
            self.put(&mut data, "response", r.reply);
        }
        if !data.is_empty() {
            e["data"] = Value::Object(data);
        }
        e
    }

    /// Puts `text` (JSON) under `key`: as JSON when it fits `maxDataSize`, else its first
    /// `maxDataSize` bytes as a string, marked truncated.
    fn put(&self, data: &mut serde_json::Map<String, Value>, key: &str, text: &str) {
        let max = self.settings.max_data_size;
        if text.len() <= max
            && let Ok(v) = serde_json::from_str::<Value>(text)
        {
            data.insert(key.into(), v);
            return;
        }
        data.insert(key.into(), json!(cut(text, max)));
        data.insert(format!("{key}_truncated"), json!(true));
    }
}

/// Now, as RFC 3339 in UTC.
fn humantime_utc() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_characters_whole() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }

    #[test]
    fn times_are_utc() {
        assert!(humantime_utc().ends_with('Z'));
    }

    #[test]
    fn methods_map_to_toolhives_event_types() {
        assert_eq!(event_type("tools/call"), "mcp_tool_call");
        assert_eq!(event_type("resources/templates/list"), "mcp_resources_list");
        assert_eq!(event_type("server/discover"), "mcp_request");
    }
}
