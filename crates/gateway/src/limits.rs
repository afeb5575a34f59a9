//! The gateway's resource bounds: connections, client sessions and reply bytes in flight.
//!
//! Every one of them exists because a client (or a backend) controls how much the gateway would
//! otherwise hold: idle sockets, sessions nobody uses, 20 MB results read in parallel. Each has
//! a flag of `vmcp serve` (see `docs/GATEWAY.md`) and a default that a single replica can carry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A bound that refused something, as `vmcp_limit_refusals_total{limit="<flag>"}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `initialize` beyond `--max-sessions`.
    MaxSessions,
    /// A session with backend sessions of its own beyond `--max-dedicated-sessions`.
    MaxDedicatedSessions,
    /// A backend reply the budget of bytes in flight could not cover.
    ReplyBudget,
    /// A backend reply larger than `--max-reply-bytes`.
    MaxReplyBytes,
    /// An idle connection closed to make room under `--max-connections`.
    MaxConnections,
    /// A request body not complete within `--body-read-timeout`.
    BodyReadTimeout,
}

impl Refusal {
    pub const ALL: [Refusal; 6] = [
        Refusal::MaxSessions,
        Refusal::MaxDedicatedSessions,
        Refusal::ReplyBudget,
        Refusal::MaxReplyBytes,
        Refusal::MaxConnections,
        Refusal::BodyReadTimeout,
    ];

    /// The label: the flag that sets the bound.
    pub fn flag(self) -> &'static str {
        match self {
            Refusal::MaxSessions => "max-sessions",
            Refusal::MaxDedicatedSessions => "max-dedicated-sessions",
            Refusal::ReplyBudget => "reply-budget-bytes",
            Refusal::MaxReplyBytes => "max-reply-bytes",
            Refusal::MaxConnections => "max-connections",
            Refusal::BodyReadTimeout => "body-read-timeout",
        }
    }
}

/// Refusals so far, per bound. Process-wide (one gateway per process in production; tests that
/// run several read differences), like the relay counters: the places that refuse are spread
/// over the accept loop, the sessions and the backend readers, none of which holds `Metrics`.
static REFUSALS: [AtomicU64; Refusal::ALL.len()] =
    [const { AtomicU64::new(0) }; Refusal::ALL.len()];

/// Counts one refusal by `bound`.
pub fn refused(bound: Refusal) {
    REFUSALS[bound as usize].fetch_add(1, Ordering::Relaxed);
}

/// (flag, count) of every bound, in [`Refusal::ALL`] order.
pub fn refusals() -> Vec<(&'static str, u64)> {
    Refusal::ALL
        .iter()
        .map(|r| (r.flag(), REFUSALS[*r as usize].load(Ordering::Relaxed)))
        .collect()
}

/// `vmcp serve` bounds; [`Limits::default`] is what the flags default to.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Client connections served at once; further ones wait in the listen backlog while an
    /// idle connection (one waiting for a request head) is closed to make room.
    pub max_connections: usize,
    /// How long a client has to send a complete request head, from the moment it connects or,
    /// on a kept-alive connection, from its first byte.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// How long a client has to send the whole request body once its head arrived.
    pub body_read_timeout: Duration,
    /// Client sessions held at once; `initialize` beyond it gets HTTP 503.
    pub max_sessions: usize,
    /// A session that never made a request after `initialize` ends after this long.
    pub unused_session_ttl: Duration,
    /// Client sessions with backend sessions of their own (sampling, elicitation, roots, a log
    /// level); each holds at most one backend session per backend.
    pub max_dedicated_sessions: usize,
    /// Backend reply bytes buffered at once, across all calls.
    pub reply_budget_bytes: usize,
    /// Largest single backend reply.
    pub max_reply_bytes: usize,
    /// Entries per page of a list the gateway answers (`nextCursor` beyond it).
    pub list_page_size: usize,
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;
pub const DEFAULT_UNUSED_SESSION_TTL: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_DEDICATED_SESSIONS: usize = 1_000;
pub const DEFAULT_REPLY_BUDGET_BYTES: usize = 256 * 1024 * 1024;
pub const DEFAULT_MAX_REPLY_BYTES: usize = crate::backend::MAX_BACKEND_MESSAGE;
pub const DEFAULT_LIST_PAGE_SIZE: usize = 1_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            unused_session_ttl: DEFAULT_UNUSED_SESSION_TTL,
            max_dedicated_sessions: DEFAULT_MAX_DEDICATED_SESSIONS,
            reply_budget_bytes: DEFAULT_REPLY_BUDGET_BYTES,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            list_page_size: DEFAULT_LIST_PAGE_SIZE,
        }
    }
}

/// A bound that cannot work as given, named by its flag.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitsError {
    #[error("--{0} must be greater than zero")]
    Zero(&'static str),
    #[error(
        "--max-reply-bytes ({reply}) must not exceed --reply-budget-bytes ({budget}): such a reply could never be read"
    )]
    ReplyOverBudget { reply: usize, budget: usize },
    #[error("--reply-budget-bytes ({0}) must be at most 4 GiB")]
    BudgetTooLarge(usize),
}

impl Limits {
    /// Checks that every bound can be met; the error names the flag.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let counts = [
            ("max-connections", self.max_connections),
            ("max-sessions", self.max_sessions),
            ("reply-budget-bytes", self.reply_budget_bytes),
            ("max-reply-bytes", self.max_reply_bytes),
            ("list-page-size", self.list_page_size),
        ];
        if let Some((flag, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Err(LimitsError::Zero(flag));
        }
        let times = [
            ("header-read-timeout", self.header_read_timeout),
            ("idle-timeout", self.idle_timeout),
            ("body-read-timeout", self.body_read_timeout),
            ("unused-session-ttl", self.unused_session_ttl),
        ];
        if let Some((flag, _)) = times.iter().find(|(_, v)| v.is_zero()) {
            return Err(LimitsError::Zero(flag));
        }
        // The budget is a semaphore of bytes acquired in one go per reply (u32 permits).
        if self.reply_budget_bytes > u32::MAX as usize {
            return Err(LimitsError::BudgetTooLarge(self.reply_budget_bytes));
        }
        if self.max_reply_bytes > self.reply_budget_bytes {
            return Err(LimitsError::ReplyOverBudget {
                reply: self.max_reply_bytes,
                budget: self.reply_budget_bytes,
            });
        }
        Ok(())
    }

    /// `max_connections`, lowered to what the process's file-descriptor limit leaves room for:
    /// accepting up to EMFILE would leave no descriptor for backends, and `/health` would stop
    /// answering. A quarter of the limit (at least 16) is kept for everything else.
    pub fn effective_max_connections(&self) -> usize {
        match fd_limit() {
            Some(n) => {
                let reserve = (n / 4).max(16);
                self.max_connections.min(n.saturating_sub(reserve).max(1))
            }
            None => self.max_connections,
        }
    }
}

/// The soft `RLIMIT_NOFILE` of this process, if it has one.
#[allow(unsafe_code)] // getrlimit: see SAFETY below
fn fd_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own and has no other effect.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
        if rc != 0 || r.rlim_cur == libc::RLIM_INFINITY {
            return None;
        }
        usize::try_from(r.rlim_cur).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_bounds_name_their_flag() {
        assert_eq!(Limits::default().validate(), Ok(()));
        let zero = Limits {
            max_sessions: 0,
            ..Limits::default()
        };
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "--max-sessions must be greater than zero"
        );
        let idle = Limits {
            idle_timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert_eq!(idle.validate(), Err(LimitsError::Zero("idle-timeout")));
        let over = Limits {
            max_reply_bytes: 2048,
            reply_budget_bytes: 1024,
            ..Limits::default()
        };
        assert!(
            over.validate()
                .unwrap_err()
                .to_string()
                .contains("--max-reply-bytes (2048) must not exceed --reply-budget-bytes (1024)")
        );
    }

    #[test]
    fn connections_leave_room_under_the_fd_limit() {
        let l = Limits {
            max_connections: usize::MAX,
            ..Limits::default()
        };
        let n = l.effective_max_connections();
        if let Some(fds) = fd_limit() {
            assert!(n < fds, "{n} connections under a limit of {fds}");
        }
        let small = Limits {
            max_connections: 3,
            ..Limits::default()
        };
        assert_eq!(small.effective_max_connections(), 3);
    }
}
