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

/// The outcome of one routed request.
type Outcome = Result<crate::route::Reply, crate::route::Refused>;

/// The answer to one routed request, in either era: `json(reply)` when the reply comes before
/// any message related to it; otherwise an SSE stream of the related messages (progress,
/// logs, relayed requests) that `wanted` lets through, then the reply as `text` writes it.
/// A reply that is ready with related messages already queued (a backend that sent its
/// progress and its answer in one burst) still goes out on a stream, messages first.
pub async fn reply_or_stream<F>(
    fut: F,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Box<serde_json::value::RawValue>>,
    json: impl FnOnce(Outcome) -> Response,
    wanted: impl Fn(&serde_json::value::RawValue) -> bool + Send + 'static,
    text: impl FnOnce(Outcome) -> String + Send + 'static,
) -> Response
where
    F: std::future::Future<Output = Outcome> + Send + 'static,
{
    let mut fut = Box::pin(fut);
    let (first, ready) = tokio::select! {
        biased;
        reply = &mut fut => match rx.try_recv() {
            Ok(m) => (m, Some(reply)),
            Err(_) => return json(reply),
        },
        m = rx.recv() => match m {
            Some(m) => (m, None),
            None => return json(fut.await),
        },
    };
    let stream = async_stream::stream! {
        if wanted(&first) {
            yield event(first.get());
        }
        let reply = match ready {
            Some(reply) => reply,
            None => loop {
                tokio::select! {
                    biased;
                    Some(m) = rx.recv() => if wanted(&m) { yield event(m.get()) },
                    reply = &mut fut => break reply,
                }
            },
        };
        while let Ok(m) = rx.try_recv() {
            if wanted(&m) {
                yield event(m.get());
            }
        }
        yield event(&text(reply));
    };
    response(stream, None)
}
