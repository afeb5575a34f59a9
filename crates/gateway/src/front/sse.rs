//! Server-sent events toward clients.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::Stream;
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};

/// One JSON-RPC message as an SSE `message` event.
pub fn event(msg: &str) -> Bytes {
    let mut s = String::with_capacity(msg.len() + 24);
    s.push_str("event: message\n");
    // JSON text never contains raw newlines outside strings, but be safe for any input.
    for line in msg.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    Bytes::from(s)
}

/// A keep-alive comment line.
pub fn keepalive() -> Bytes {
    Bytes::from_static(b": keepalive\n\n")
}

/// A streaming `text/event-stream` response.
pub fn response(
    stream: impl Stream<Item = Bytes> + Send + 'static,
    session: Option<&str>,
) -> Response {
    let body = Body::from_stream(stream.map(Ok::<_, Infallible>));
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(s) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert("mcp-session-id", s);
    }
    r
}
