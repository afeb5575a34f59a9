//! Client sessions (`Mcp-Session-Id`): what the gateway remembers about each connected client.
//!
//! A session is small (ids, one optional stream sender, in-flight cancel handles, resource
//! subscriptions): backend sessions are shared per identity, not per client session, which is
//! what lets one replica hold very many clients.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

pub struct ClientSession {
    pub id: String,
    pub protocol_version: String,
    last_seen: Mutex<Instant>,
    /// The server-to-client SSE stream opened by GET, if any.
    stream: Mutex<Option<mpsc::Sender<String>>>,
    /// Raw JSON-RPC id → cancel signal of in-flight requests.
    inflight: Mutex<HashMap<String, Arc<Notify>>>,
    pub subscriptions: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientSession {
    pub fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    /// Replaces the GET stream (a reconnecting client gets the new one).
    pub fn open_stream(&self, capacity: usize) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(capacity);
        *lock(&self.stream) = Some(tx);
        rx
    }

    /// Sends a message on the GET stream; dropped when there is none or it is full (a slow
    /// client must not hold the gateway's memory hostage).
    pub fn push(&self, msg: String) -> bool {
        let mut s = lock(&self.stream);
        match s.as_ref().map(|tx| tx.try_send(msg)) {
            Some(Ok(())) => true,
            Some(Err(mpsc::error::TrySendError::Closed(_))) => {
                *s = None;
                false
            }
            _ => false,
        }
    }

    pub fn register(&self, id: &str) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        lock(&self.inflight).insert(id.to_owned(), n.clone());
        n
    }

    pub fn finish(&self, id: &str) {
        lock(&self.inflight).remove(id);
    }

    /// Cancels an in-flight request by its raw id; unknown ids are ignored, as MCP asks.
    pub fn cancel(&self, id: &str) {
        if let Some(n) = lock(&self.inflight).get(id) {
            n.notify_one();
        }
    }

    fn close(&self) {
        *lock(&self.stream) = None;
        for n in lock(&self.inflight).values() {
            n.notify_one();
        }
    }
}

#[derive(Default)]
pub struct Sessions {
    map: RwLock<HashMap<String, Arc<ClientSession>>>,
}

impl Sessions {
    pub fn create(&self, protocol_version: &str) -> Arc<ClientSession> {
        let s = Arc::new(ClientSession {
            id: uuid::Uuid::new_v4().to_string(),
            protocol_version: protocol_version.to_owned(),
            last_seen: Mutex::new(Instant::now()),
            stream: Mutex::new(None),
            inflight: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashSet::new()),
        });
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(s.id.clone(), s.clone());
        s
    }

    pub fn get(&self, id: &str) -> Option<Arc<ClientSession>> {
        let s = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        if let Some(s) = &s {
            s.touch();
        }
        s
    }

    pub fn remove(&self, id: &str) -> bool {
        let s = self
            .map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(s) = &s {
            s.close();
        }
        s.is_some()
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn all(&self) -> Vec<Arc<ClientSession>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Sends a notification to every session with an open stream.
    pub fn broadcast(&self, msg: &str) {
        for s in self.all() {
            s.push(msg.to_owned());
        }
    }

    /// Sends to the sessions subscribed to `uri`.
    pub fn to_subscribers(&self, uri: &str, msg: &str) {
        for s in self.all() {
            if lock(&s.subscriptions).contains(uri) {
                s.push(msg.to_owned());
            }
        }
    }

    /// Ends sessions idle for longer than `ttl`.
    pub fn expire(&self, ttl: Duration) {
        let stale: Vec<String> = self
            .all()
            .into_iter()
            .filter(|s| lock(&s.last_seen).elapsed() > ttl)
            .map(|s| s.id.clone())
            .collect();
        for id in stale {
            self.remove(&id);
        }
    }

    /// Ends every session (shutdown): their streams close so connections drain.
    pub fn clear(&self) {
        for s in self.all() {
            self.remove(&s.id);
        }
    }
}
