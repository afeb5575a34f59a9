//! The MCP test client: JSON-RPC over streamable HTTP, as an MCP client speaks it to the
//! gateway or to a backend. One type for the gateway's tests, the end-to-end tests, the
//! benches and the demo, so what "initialize, keep the session, call" means is written once.
//!
//! Two ways to handle failure on the same calls: the plain methods panic with the reply in
//! the message (tests), the `try_` methods return an error (the demo, the benches, and tests
//! that poll a gateway that may not be ready yet).

use std::net::SocketAddr;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The protocol version [`Client::connect`] asks for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// What a streamable-HTTP MCP client sends as `Accept`: JSON or an event stream.
pub const ACCEPT_JSON_OR_SSE: &str = "application/json, text/event-stream";

/// The params of an `initialize` request for `protocol_version` with `capabilities`.
pub fn initialize_params(protocol_version: &str, capabilities: Value) -> Value {
    json!({"protocolVersion": protocol_version, "capabilities": capabilities,
           "clientInfo": {"name": "vmcp-test", "version": "0"}})
}

/// A client of one MCP endpoint (`{base}/mcp`). It keeps the `Mcp-Session-Id` the server
/// gave on any reply to [`Client::rpc`] (or [`Client::initialize`]) and sends it on every
/// later request.
#[derive(Clone)]
pub struct Client {
    /// `http://host:port`; requests go to `{base}/mcp`, [`Client::get`] to `{base}{path}`.
    pub base: String,
    pub http: reqwest::Client,
    pub session: Option<String>,
    /// The `Accept` header of every POST; [`ACCEPT_JSON_OR_SSE`] unless set.
    pub accept: String,
    /// Sent as `MCP-Protocol-Version` on every POST when set.
    pub protocol_header: Option<String>,
    /// Sent as `Authorization: Bearer <token>` on every request to `/mcp` when set.
    pub bearer: Option<String>,
    next: u64,
}

/// One HTTP reply, unparsed.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Mcp-Session-Id` it carries.
    pub fn session(&self) -> Option<&str> {
        self.headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
    }

    /// Whether it is an event stream (`text/event-stream`).
    pub fn is_sse(&self) -> bool {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    }

    /// The JSON-RPC message it answers with: the body itself, or the last `data:` payload of
    /// an event stream.
    pub fn message(&self) -> anyhow::Result<Value> {
        let text = self.text();
        if self.is_sse() {
            let last = sse_data(&text)
                .into_iter()
                .next_back()
                .ok_or_else(|| anyhow!("no SSE data line in the reply: {text}"))?;
            serde_json::from_str(&last).with_context(|| format!("SSE data {last}"))
        } else {
            serde_json::from_str(&text).with_context(|| format!("reply {text}"))
        }
    }
}

/// The `data:` payloads of an event stream's text, in order (one per line; trimmed).
pub fn sse_data(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim().to_owned())
        .collect()
}

/// The text of the first content item of a `tools/call` reply; panics naming the reply.
pub fn text_of(r: &Value) -> String {
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {r}"))
        .to_owned()
}

/// The tool names of a `tools/list` reply, or the JSON-RPC error's message.
pub fn tool_names_of(r: &Value) -> anyhow::Result<Vec<String>> {
    let Some(tools) = r["result"]["tools"].as_array() else {
        bail!("{}", r["error"]["message"].as_str().unwrap_or("no result"));
    };
    Ok(tools
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect())
}

impl Client {
    /// A client of `http://{addr}` without a session yet.
    pub fn new(addr: SocketAddr) -> Client {
        // The test client uses plain HTTP, but reqwest wants a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::with_http(reqwest::Client::new(), addr)
    }

    /// A client of `http://127.0.0.1:{port}`.
    pub fn local(port: u16) -> Client {
        Client::new(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// A client on an existing `reqwest::Client` (its pool and timeouts).
    pub fn with_http(http: reqwest::Client, addr: SocketAddr) -> Client {
        Client {
            base: format!("http://{addr}"),
            http,
            session: None,
            accept: ACCEPT_JSON_OR_SSE.to_owned(),
            protocol_header: None,
            bearer: None,
            next: 1,
        }
    }

    /// Sets the `Accept` header of the POSTs (`application/json` for a client that takes no
    /// event streams).
    pub fn accept(mut self, accept: &str) -> Client {
        self.accept = accept.to_owned();
        self
    }

    /// Sends `MCP-Protocol-Version: {version}` on every POST.
    pub fn protocol_header(mut self, version: &str) -> Client {
        self.protocol_header = Some(version.to_owned());
        self
    }

    /// Sends `Authorization: Bearer {token}` on every request to `/mcp`.
    pub fn bearer(mut self, token: &str) -> Client {
        self.bearer = Some(token.to_owned());
        self
    }

    /// [`Client::new`] and a successful [`Client::initialize`] at [`PROTOCOL_VERSION`]
    /// (asserted), followed by `notifications/initialized`.
    pub async fn connect(addr: SocketAddr) -> Client {
        Client::connect_as(addr, None).await
    }

    /// [`Client::connect`] with a Bearer token on every request.
    pub async fn connect_as(addr: SocketAddr, bearer: Option<&str>) -> Client {
        let mut c = Client::new(addr);
        c.bearer = bearer.map(str::to_owned);
        let r = c.initialize(json!({})).await;
        assert_eq!(r["result"]["protocolVersion"], PROTOCOL_VERSION, "{r}");
        c
    }

    /// Sends `initialize` declaring `capabilities` and then `notifications/initialized`;
    /// returns the reply to `initialize`. Panics on a transport error.
    pub async fn initialize(&mut self, capabilities: Value) -> Value {
        self.try_initialize(capabilities)
            .await
            .unwrap_or_else(|e| panic!("initialize: {e:#}"))
    }

    /// [`Client::initialize`], failing on a transport error, a non-2xx status or a JSON-RPC
    /// error instead of panicking.
    pub async fn try_initialize(&mut self, capabilities: Value) -> anyhow::Result<Value> {
        let params = initialize_params(PROTOCOL_VERSION, capabilities);
        let r = self.try_rpc("initialize", params).await?;
        if let Some(e) = r.get("error") {
            bail!("initialize: {e}");
        }
        self.try_notify("notifications/initialized").await?;
        Ok(r)
    }

    /// A POST to `/mcp` with the content type, `Accept`, protocol and session headers set.
    pub fn post(&self) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .post(format!("{}/mcp", self.base))
            .header("content-type", "application/json")
            .header("accept", &self.accept);
        if let Some(v) = &self.protocol_header {
            b = b.header("mcp-protocol-version", v);
        }
        if let Some(s) = &self.session {
            b = b.header("mcp-session-id", s);
        }
        if let Some(t) = &self.bearer {
            b = b.bearer_auth(t);
        }
        b
    }

    /// POSTs `body` as it is and reads the whole reply; the session is not updated.
    pub async fn send(&self, body: impl Into<String>) -> anyhow::Result<Reply> {
        let r = self
            .post()
            .body(body.into())
            .send()
            .await
            .with_context(|| format!("POST {}/mcp", self.base))?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.context("reading the reply")?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Posts a request whose params are JSON text (a duplicated key cannot be built as a
    /// `Value`); returns the HTTP status and the JSON reply.
    pub async fn raw_call(&self, id: u64, method: &str, params: &str) -> (u16, Value) {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#);
        let r = self.send(body).await.unwrap();
        let text = r.text();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (r.status, v)
    }

    /// Sends a notification (no params); asserts the server accepted it (202).
    pub async fn notify(&self, method: &str) {
        let r = self
            .send(json!({"jsonrpc": "2.0", "method": method}).to_string())
            .await
            .unwrap();
        assert_eq!(r.status, 202, "{method}: {}", r.text());
    }

    /// [`Client::notify`], failing on a transport error or a non-2xx status.
    pub async fn try_notify(&self, method: &str) -> anyhow::Result<()> {
        let r = self
            .send(json!({"jsonrpc": "2.0", "method": method}).to_string())
            .await?;
        if !(200..300).contains(&r.status) {
            bail!("{method}: HTTP {}: {}", r.status, r.text());
        }
        Ok(())
    }

    /// Sends a request (the next id); reads a JSON or SSE reply and returns the final
    /// response message. Keeps a session id the reply carries. Panics on a transport error
    /// or a reply that is not JSON-RPC.
    pub async fn rpc(&mut self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e:#}"))
    }

    /// [`Client::rpc`], failing on a transport error or a reply that is no JSON-RPC message;
    /// a JSON-RPC error is a reply like any other.
    pub async fn try_rpc(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next;
        self.next += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let r = self.send(body.to_string()).await?;
        if let Some(s) = r.session() {
            self.session = Some(s.to_owned());
        }
        // Error statuses carry JSON-RPC errors too (an unknown session, a refused request);
        // they are replies like any other. Only a body that is no message fails.
        r.message()
            .with_context(|| format!("{method}: HTTP {}", r.status))
    }

    /// Sends a request with the given id; returns the HTTP status and the response message.
    pub async fn rpc_status(&self, id: u64, method: &str, params: Value) -> (u16, Value) {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let r = self.send(body.to_string()).await.unwrap();
        (r.status, r.message().unwrap_or_else(|e| panic!("{e:#}")))
    }

    /// The names of the tools the server lists; panics if it lists none (an error reply).
    pub async fn tool_names(&mut self) -> Vec<String> {
        let r = self.rpc("tools/list", json!({})).await;
        tool_names_of(&r).unwrap_or_else(|_| panic!("{r}"))
    }

    /// [`Client::tool_names`], failing instead of panicking (the error says why: transport,
    /// status or the JSON-RPC error's message).
    pub async fn try_tool_names(&mut self) -> anyhow::Result<Vec<String>> {
        let r = self.try_rpc("tools/list", json!({})).await?;
        tool_names_of(&r)
    }

    /// Calls tool `name` with `arguments`; the text of its first content item, or, when it
    /// has none (an error, a transport failure), what came back instead, for the assertion
    /// message.
    pub async fn call_text(&mut self, name: &str, arguments: Value) -> String {
        match self
            .try_rpc("tools/call", json!({"name": name, "arguments": arguments}))
            .await
        {
            Ok(r) => r["result"]["content"][0]["text"]
                .as_str()
                .map_or_else(|| r.to_string(), str::to_owned),
            Err(e) => format!("{e:#}"),
        }
    }

    /// Opens the session's GET stream; every SSE `data:` payload arrives on the receiver.
    pub async fn stream(&self) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let mut request = self
            .http
            .get(format!("{}/mcp", self.base))
            .header("accept", "text/event-stream")
            .header(
                "mcp-session-id",
                self.session.as_deref().expect("a session"),
            );
        if let Some(t) = &self.bearer {
            request = request.bearer_auth(t);
        }
        let mut resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET stream");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(i) = buf.find('\n') {
                    let line: String = buf.drain(..=i).collect();
                    if let Some(data) = line.trim_end().strip_prefix("data:")
                        && tx.send(data.trim().to_owned()).is_err()
                    {
                        return;
                    }
                }
            }
        });
        rx
    }

    /// GETs `path` of the server; its status and body (status 0 and the error as the body
    /// when nothing answered).
    pub async fn get(&self, path: &str) -> (u16, String) {
        match self.http.get(format!("{}{path}", self.base)).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }

    /// The body of `GET {path}`; panics if nothing answers.
    pub async fn get_text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The JSON body of `GET {path}`.
    pub async fn get_json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_text(path).await).unwrap()
    }

    /// The session id; panics when the server gave none.
    pub fn session_id(&self) -> &str {
        self.session
            .as_deref()
            .expect("the server gave an Mcp-Session-Id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(content_type: &str, body: &str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", content_type.parse().unwrap());
        Reply {
            status: 200,
            headers,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn an_event_stream_reply_is_its_last_data_payload() {
        let r = reply(
            "text/event-stream",
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
             event: message\ndata:{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n",
        );
        assert!(r.is_sse());
        assert_eq!(r.message().unwrap()["id"], 3);
        assert!(
            reply("text/event-stream", ": keep-alive\n\n")
                .message()
                .is_err()
        );
    }

    #[test]
    fn a_json_reply_is_its_body_and_anything_else_an_error() {
        let r = reply(
            "application/json",
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        );
        assert!(!r.is_sse());
        assert_eq!(r.message().unwrap()["id"], 1);
        let e = reply("application/json", "<<not json>>")
            .message()
            .unwrap_err();
        assert!(format!("{e:#}").contains("<<not json>>"), "{e:#}");
    }

    #[test]
    fn tool_names_or_the_error_message() {
        let list = json!({"result": {"tools": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(tool_names_of(&list).unwrap(), ["a", "b"]);
        let err = json!({"error": {"code": -32603, "message": "backend down"}});
        assert_eq!(tool_names_of(&err).unwrap_err().to_string(), "backend down");
    }
}
