//! One state machine per backend, fed by real calls and by ping health checks alike, but only
//! with outcomes that say something about the backend: a client's call that times out or that
//! the backend refuses (4xx) is neither a success nor a failure (see
//! `backend::BackendError::verdict`), so no client can open the circuit for everyone.
//!
//! States: `connecting` (never answered yet), `healthy`, `degraded` (recent failures below the
//! threshold) and `open` (circuit open: requests fail fast until a trial is due). The circuit
//! opens after `circuitBreaker.failureThreshold` consecutive failures when the breaker is
//! enabled, otherwise after `unhealthyThreshold`; it stays open for `circuitBreaker.timeout`
//! (or one health-check interval), then lets one trial request through. Health checks always
//! probe, so an open backend recovers without client traffic.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Healthy,
    Degraded,
    Open,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Healthy => "healthy",
            State::Degraded => "degraded",
            State::Open => "open",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub unhealthy_threshold: u32,
    pub open_after: u32,
    pub open_for: Duration,
}

#[derive(Debug)]
struct Inner {
    state: State,
    failures: u32,
    last_error: Option<String>,
    last_check: Option<SystemTime>,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

/// What `admit` decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// The circuit is open and this request is its one trial.
    Trial,
    Rejected,
}

#[derive(Debug)]
pub struct Tracker {
    policy: Policy,
    inner: Mutex<Inner>,
}

/// A point-in-time view for `/status`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub state: &'static str,
    /// ToolHive's vocabulary: healthy, degraded, unhealthy, unknown.
    pub health: &'static str,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check_unix: Option<u64>,
}

impl Tracker {
    pub fn new(policy: Policy) -> Self {
        Tracker {
            policy,
            inner: Mutex::new(Inner {
                state: State::Connecting,
                failures: 0,
                last_error: None,
                last_check: None,
                opened_at: None,
                trial_in_flight: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> State {
        self.lock().state
    }

    /// Whether a request may go to the backend now.
    pub fn admit(&self) -> Admission {
        let mut i = self.lock();
        if i.state != State::Open {
            return Admission::Go;
        }
        let due = i
            .opened_at
            .is_none_or(|t| t.elapsed() >= self.policy.open_for);
        if due && !i.trial_in_flight {
            i.trial_in_flight = true;
            Admission::Trial
        } else {
            Admission::Rejected
        }
    }

    /// Records a success; returns the previous state when it changed.
    pub fn success(&self) -> Option<State> {
        let mut i = self.lock();
        i.failures = 0;
        i.last_error = None;
        i.last_check = Some(SystemTime::now());
        i.trial_in_flight = false;
        i.opened_at = None;
        let prev = i.state;
        i.state = State::Healthy;
        (prev != State::Healthy).then_some(prev)
    }

    /// Records a failure; returns the previous state when it changed.
    pub fn failure(&self, error: &str) -> Option<State> {
        let mut i = self.lock();
        i.failures = i.failures.saturating_add(1);
        i.last_error = Some(error.to_owned());
        i.last_check = Some(SystemTime::now());
        i.trial_in_flight = false;
        let prev = i.state;
        if i.failures >= self.policy.open_after.max(1) {
            // Re-arm the timer on every failure while open, so trials are spaced out.
            i.opened_at = Some(Instant::now());
            i.state = State::Open;
        } else if prev != State::Open {
            i.state = State::Degraded;
        }
        (prev != i.state).then_some(prev)
    }

    /// Releases a trial slot that ended without a verdict (e.g. a remote error).
    pub fn neutral(&self) {
        let mut i = self.lock();
        if i.trial_in_flight {
            i.trial_in_flight = false;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let i = self.lock();
        let health = match i.state {
            State::Connecting => "unknown",
            _ if i.failures >= self.policy.unhealthy_threshold.max(1) => "unhealthy",
            State::Open => "unhealthy",
            State::Healthy => "healthy",
            State::Degraded => "degraded",
        };
        Snapshot {
            state: i.state.as_str(),
            health,
            consecutive_failures: i.failures,
            last_error: i.last_error.clone(),
            last_check_unix: i
                .last_check
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(open_for: Duration) -> Tracker {
        Tracker::new(Policy {
            unhealthy_threshold: 2,
            open_after: 3,
            open_for,
        })
    }

    #[test]
    fn walks_connecting_healthy_degraded_open_and_back() {
        let t = tracker(Duration::from_secs(3600));
        assert_eq!(t.state(), State::Connecting);
        assert_eq!(t.snapshot().health, "unknown");
        assert_eq!(t.success(), Some(State::Connecting));
        assert_eq!(t.state(), State::Healthy);
        t.failure("boom");
        assert_eq!(t.state(), State::Degraded);
        assert_eq!(t.snapshot().health, "degraded");
        t.failure("boom");
        assert_eq!(t.snapshot().health, "unhealthy");
        assert_eq!(t.admit(), Admission::Go);
        assert_eq!(t.failure("boom"), Some(State::Degraded));
        assert_eq!(t.state(), State::Open);
        assert_eq!(t.admit(), Admission::Rejected);
        assert_eq!(t.success(), Some(State::Open));
        assert_eq!(t.admit(), Admission::Go);
    }

    #[test]
    fn open_circuit_lets_one_trial_through_when_due() {
        let t = tracker(Duration::ZERO);
        for _ in 0..3 {
            t.failure("x");
        }
        assert_eq!(t.admit(), Admission::Trial);
        assert_eq!(t.admit(), Admission::Rejected);
        t.failure("still down");
        assert_eq!(t.admit(), Admission::Trial);
        t.neutral();
        assert_eq!(t.admit(), Admission::Trial);
    }
}
