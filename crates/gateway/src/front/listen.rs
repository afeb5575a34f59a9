//! The accept loop: a cap on connections served at once, deadlines for request heads and
//! kept-alive idleness, and no spinning or dying when the process runs out of descriptors.
//!
//! HTTP/1 is hyper's; what is ours is *when* a connection is worth keeping. hyper arms its
//! header-read timer exactly while it waits for a request head, on a fresh connection and
//! between requests, and drops it once the head is parsed. [`HeadTimer`] plugs into that
//! timer: a fresh connection gets `header_read_timeout`; a kept-alive one gets `idle_timeout`
//! until its next request starts, then `header_read_timeout` from that first byte. The same
//! hook makes a waiting connection evictable: when every slot is taken and another client
//! connects, the connection that has waited longest for a head is closed to make room, so a
//! crowd of idle sockets never starves `/health` or a real request.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use futures::task::AtomicWaker;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower_service::Service;

/// Deadlines and the cap the loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// What the loop knows about one connection, shared with its timer and I/O wrapper.
struct Conn {
    /// Request heads parsed so far; 0 means the connection is fresh.
    served: AtomicU64,
    /// Reads that returned bytes, so a kept-alive wait can tell when the next request began.
    reads: AtomicU64,
    /// Live head timers (hyper holds at most one; a reset briefly makes two).
    waiting: AtomicUsize,
    waiting_since: Mutex<Instant>,
    evict: AtomicBool,
    /// The connection task, woken to act on `evict`.
    waker: AtomicWaker,
}

impl Conn {
    fn new() -> Self {
        Conn {
            served: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            waiting_since: Mutex::new(Instant::now()),
            evict: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    fn since(&self) -> Instant {
        *self.waiting_since.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every open connection, for eviction.
#[derive(Default)]
struct Registry {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn add(&self) -> (u64, Arc<Conn>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let c = Arc::new(Conn::new());
        self.lock().insert(id, c.clone());
        (id, c)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the connection that has waited longest for a request head; false if every
    /// connection is busy with a request (those are never cut).
    fn evict_oldest_waiting(&self) -> bool {
        let oldest = self
            .lock()
            .values()
            .filter(|c| c.waiting.load(Ordering::Acquire) > 0 && !c.evict.load(Ordering::Acquire))
            .min_by_key(|c| c.since())
            .cloned();
        match oldest {
            Some(c) => {
                c.evict.store(true, Ordering::Release);
                c.waker.wake();
                crate::limits::refused(crate::limits::Refusal::MaxConnections);
                true
            }
            None => false,
        }
    }
}

/// hyper's header-read timer for one connection (see the module docs).
#[derive(Clone)]
struct HeadTimer {
    conn: Arc<Conn>,
    limits: ConnLimits,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(PlainSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = Instant::now();
        let fresh = self.conn.served.load(Ordering::Acquire) == 0;
        // hyper's deadline is now + header_read_timeout: right for a fresh connection. A
        // kept-alive one may idle for `idle_timeout` first.
        let until = if fresh {
            deadline
        } else {
            now + self.limits.idle_timeout
        };
        *self
            .conn
            .waiting_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = now;
        self.conn.waiting.fetch_add(1, Ordering::AcqRel);
        Box::pin(HeadWait {
            conn: self.conn.clone(),
            idle: !fresh,
            reads_at_start: self.conn.reads.load(Ordering::Acquire),
            header: self.limits.header_read_timeout,
            sleep: Box::pin(tokio::time::sleep_until(until.into())),
        })
    }
}

struct PlainSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for PlainSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for PlainSleep {}

/// The wait for one request head; resolving it makes hyper close the connection.
struct HeadWait {
    conn: Arc<Conn>,
    /// Still in the kept-alive idle phase (no byte of the next request yet).
    idle: bool,
    reads_at_start: u64,
    header: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadWait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.conn.waker.register(cx.waker());
        if self.conn.evict.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        // hyper polls this after every read that did not complete the head, so the switch
        // from idle to reading happens on the first byte.
        if self.idle && self.conn.reads.load(Ordering::Acquire) != self.reads_at_start {
            self.idle = false;
            let deadline = tokio::time::Instant::now() + self.header;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadWait {}

impl Drop for HeadWait {
    fn drop(&mut self) {
        self.conn.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, counting reads for [`HeadWait`].
struct Counted {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.reads.fetch_add(1, Ordering::AcqRel);
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Errors of `accept` that concern one connection only (it went away before we took it).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// their requests (bounded by the caller).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let registry = Arc::new(Registry::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                stream
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or memory: free what idles and retry
                // shortly, never in a tight loop, never by giving up.
                if backoff.is_zero() {
                    tracing::warn!(error = %e, "accepting a connection failed; backing off");
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_millis(500));
                registry.evict_oldest_waiting();
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => continue,
                }
            }
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let wait = async {
                    loop {
                        registry.evict_oldest_waiting();
                        let acquire = slots.clone().acquire_owned();
                        if let Ok(Ok(p)) =
                            tokio::time::timeout(Duration::from_millis(100), acquire).await
                        {
                            return p;
                        }
                    }
                };
                tokio::select! {
                    _ = &mut shutdown => break,
                    p = wait => p,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (id, conn) = registry.add();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(HeadTimer {
            conn: conn.clone(),
            limits,
        })
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
        let service = {
            let (router, conn) = (router.clone(), conn.clone());
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                conn.served.fetch_add(1, Ordering::AcqRel);
                let mut router = router.clone();
                router.call(req.map(axum::body::Body::new))
            })
        };
        let io = TokioIo::new(Counted {
            inner: stream,
            conn,
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        let registry = registry.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "client connection ended");
            }
            registry.remove(id);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
