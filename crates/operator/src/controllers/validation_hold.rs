//! Holding a VirtualMCPServer's render while an edited entry of its group awaits validation.
//!
//! An edit to an MCPServerEntry triggers the entry controller and the VirtualMCPServer
//! controller at once. Rendering before the entry controller has validated the new spec
//! would drop the entry (an unvalidated URL must never be routed to), roll the gateway's pods,
//! and roll them again a moment later when the entry turns Valid: two rollouts and a window
//! without the backend for one edit. So the render waits, keeping the previous (validated)
//! configuration live. The entry's status write ends the wait through the entry watch.
//!
//! The wait is bounded: an entry whose validation never lands (its status write keeps
//! failing, say) must not freeze every other change to the gateway, so after [`MAX_HOLD`]
//! the render goes ahead and the entry is skipped with "its current spec is not validated yet".

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vmcp_core::world::ObjKey;

/// Longest a render waits for one entry generation to be validated. Validation reads a few
/// objects and writes one status, so in a healthy cluster it takes milliseconds.
pub const MAX_HOLD: Duration = Duration::from_secs(20);

/// When each pending `(entry, generation)` was first seen, shared by all VirtualMCPServers.
#[derive(Debug, Default)]
pub struct ValidationHold {
    first_seen: Mutex<HashMap<(ObjKey, i64), Instant>>,
}

impl ValidationHold {
    /// How long a render should still wait for `pending` (entry, generation) pairs, or `None`
    /// to render now: nothing is pending, or every pending edit has waited [`MAX_HOLD`].
    pub fn wait_for(&self, pending: &[(ObjKey, i64)], now: Instant) -> Option<Duration> {
        let mut seen = self.first_seen.lock().unwrap_or_else(|p| p.into_inner());
        // Forget edits long past their hold (validated or given up on) so the map stays small.
        seen.retain(|_, t| now.saturating_duration_since(*t) < MAX_HOLD * 4);
        pending
            .iter()
            .map(|k| {
                let first = *seen.entry(k.clone()).or_insert(now);
                MAX_HOLD.saturating_sub(now.saturating_duration_since(first))
            })
            .filter(|left| !left.is_zero())
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, generation: i64) -> (ObjKey, i64) {
        (ObjKey::new("MCPServerEntry", "ns", name), generation)
    }

    #[test]
    fn nothing_pending_renders_now() {
        assert_eq!(
            ValidationHold::default().wait_for(&[], Instant::now()),
            None
        );
    }

    #[test]
    fn a_new_edit_waits_at_most_max_hold_then_renders() {
        let hold = ValidationHold::default();
        let t0 = Instant::now();
        assert_eq!(hold.wait_for(&[key("a", 2)], t0), Some(MAX_HOLD));
        let later = t0 + Duration::from_secs(5);
        assert_eq!(
            hold.wait_for(&[key("a", 2)], later),
            Some(MAX_HOLD - Duration::from_secs(5))
        );
        assert_eq!(hold.wait_for(&[key("a", 2)], t0 + MAX_HOLD), None);
    }

    #[test]
    fn a_further_edit_of_the_same_entry_waits_afresh() {
        let hold = ValidationHold::default();
        let t0 = Instant::now();
        hold.wait_for(&[key("a", 2)], t0);
        let t1 = t0 + MAX_HOLD;
        assert_eq!(hold.wait_for(&[key("a", 2)], t1), None);
        assert_eq!(hold.wait_for(&[key("a", 3)], t1), Some(MAX_HOLD));
    }

    #[test]
    fn the_longest_remaining_wait_wins() {
        let hold = ValidationHold::default();
        let t0 = Instant::now();
        hold.wait_for(&[key("a", 2)], t0);
        let t1 = t0 + Duration::from_secs(15);
        assert_eq!(
            hold.wait_for(&[key("a", 2), key("b", 7)], t1),
            Some(MAX_HOLD)
        );
    }

    #[test]
    fn old_records_are_forgotten() {
        let hold = ValidationHold::default();
        let t0 = Instant::now();
        hold.wait_for(&[key("a", 2)], t0);
        hold.wait_for(&[], t0 + MAX_HOLD * 5);
        assert!(hold.first_seen.lock().unwrap().is_empty());
    }
}
