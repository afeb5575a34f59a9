//! The budget of backend reply bytes held in memory at once, across every call.
//!
//! A JSON reply is read whole before it is forwarded (the gateway must see its id), so thirty
//! parallel 20 MB results would otherwise be 600 MB of buffers. Each reply reserves the bytes
//! its buffer will occupy before it grows (the `Content-Length` at once when the backend sends
//! one), and gives them back when the buffer is dropped. When the budget cannot cover a reply,
//! that call fails at once with an error naming the flag: waiting would only stack more
//! buffers behind the ones in flight, and a refusal is something a client can retry.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Smallest step a buffer grows by, so small replies cost one reservation.
const MIN_STEP: usize = 64 * 1024;

/// The shared budget and the per-reply cap.
pub struct ReplyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
    max_reply: usize,
}

impl Default for ReplyBudget {
    fn default() -> Self {
        ReplyBudget::new(
            crate::limits::DEFAULT_REPLY_BUDGET_BYTES,
            crate::limits::DEFAULT_MAX_REPLY_BYTES,
        )
    }
}

/// Why a reply was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefused {
    /// The backend's fault: its reply is larger than any the gateway accepts.
    #[error("reply larger than {0} bytes (--max-reply-bytes)")]
    TooLarge(usize),
    /// Nobody's fault: other replies in flight hold the budget.
    #[error(
        "the gateway's budget of {0} bytes for backend replies in flight (--reply-budget-bytes) is spent by other calls; retry later"
    )]
    Spent(usize),
}

impl ReplyRefused {
    /// The bound that refused, for `vmcp_limit_refusals_total`.
    pub fn bound(&self) -> crate::limits::Refusal {
        match self {
            ReplyRefused::TooLarge(_) => crate::limits::Refusal::MaxReplyBytes,
            ReplyRefused::Spent(_) => crate::limits::Refusal::ReplyBudget,
        }
    }
}

impl ReplyBudget {
    /// `max_reply` is clamped to `total` (a larger reply could never be read).
    pub fn new(total: usize, max_reply: usize) -> Self {
        let total = total.clamp(1, u32::MAX as usize);
        ReplyBudget {
            bytes: Arc::new(Semaphore::new(total)),
            total,
            max_reply: max_reply.clamp(1, total),
        }
    }

    /// Bytes not reserved by any reply now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// A buffer for one reply; `expected` is the `Content-Length`, if the backend sent one.
    pub fn buffer(&self, expected: Option<u64>) -> Result<Buffer<'_>, ReplyRefused> {
        let mut b = Buffer {
            held: self.reservation(),
            data: Vec::new(),
        };
        if let Some(len) = expected {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            b.held.reserve_to(len)?;
            b.data.reserve_exact(len);
        }
        Ok(b)
    }

    /// A reservation without a buffer of its own, for a reply that another reader holds (the
    /// event decoder of an SSE reply): `cover` follows what that reader has buffered.
    pub fn reservation(&self) -> Reservation<'_> {
        Reservation {
            budget: self,
            held: None,
        }
    }
}

/// Budget held for the bytes of one reply; given back on drop. The one place bytes are taken
/// from the budget, for a [`Buffer`] and for a decoder's buffer alike.
pub struct Reservation<'b> {
    budget: &'b ReplyBudget,
    held: Option<OwnedSemaphorePermit>,
}

impl Reservation<'_> {
    fn reserved(&self) -> usize {
        self.held.as_ref().map_or(0, |p| p.num_permits())
    }

    /// Reserves exactly up to `capacity` bytes in all (a declared `Content-Length`).
    fn reserve_to(&mut self, capacity: usize) -> Result<(), ReplyRefused> {
        if capacity > self.budget.max_reply {
            return Err(ReplyRefused::TooLarge(self.budget.max_reply));
        }
        let more = capacity.saturating_sub(self.reserved());
        if more == 0 {
            return Ok(());
        }
        let n = u32::try_from(more).map_err(|_| ReplyRefused::Spent(self.budget.total))?;
        let permit = self
            .budget
            .bytes
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| ReplyRefused::Spent(self.budget.total))?;
        match &mut self.held {
            Some(p) => p.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
    }

    /// Makes sure `bytes` are covered, growing by doubling (at least [`MIN_STEP`]) up to the
    /// per-reply cap, so a reply read in many chunks costs few reservations.
    pub fn cover(&mut self, bytes: usize) -> Result<(), ReplyRefused> {
        if bytes > self.budget.max_reply {
            return Err(ReplyRefused::TooLarge(self.budget.max_reply));
        }
        let reserved = self.reserved();
        if bytes <= reserved {
            return Ok(());
        }
        self.reserve_to(
            bytes
                .max(reserved * 2)
                .max(MIN_STEP)
                .min(self.budget.max_reply),
        )
    }

    /// Gives back what is no longer buffered, for a reader that outlives one reply (a
    /// long-lived event stream): keeps `bytes` (at least one step while anything is buffered)
    /// and returns the rest once it is more than twice that, so the high-water mark of one
    /// large event is not held for the life of the stream.
    pub fn shrink_to(&mut self, bytes: usize) {
        let keep = if bytes == 0 { 0 } else { bytes.max(MIN_STEP) };
        let reserved = self.reserved();
        if reserved == 0 || (bytes != 0 && reserved <= keep * 2) {
            return;
        }
        if keep == 0 {
            self.held = None;
        } else if let Some(p) = &mut self.held {
            drop(p.split(reserved - keep));
        }
    }
}

/// A reply being read, and the budget it holds; the bytes are given back on drop.
pub struct Buffer<'b> {
    held: Reservation<'b>,
    data: Vec<u8>,
}

impl Buffer<'_> {
    /// Appends a chunk, growing the buffer (and its reservation) by doubling up to the cap.
    pub fn extend(&mut self, chunk: &[u8]) -> Result<(), ReplyRefused> {
        self.held.cover(self.data.len() + chunk.len())?;
        self.data
            .reserve_exact(self.held.reserved().saturating_sub(self.data.len()));
        self.data.extend_from_slice(chunk);
        Ok(())
    }
}

impl std::ops::Deref for Buffer<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_covers_what_is_buffered_and_gives_it_back() {
        let b = ReplyBudget::new(1024 * 1024, 768 * 1024);
        {
            let mut r = b.reservation();
            r.cover(10).unwrap();
            assert_eq!(b.available(), 1024 * 1024 - MIN_STEP);
            r.cover(300 * 1024).unwrap();
            assert!(b.available() <= 1024 * 1024 - 300 * 1024);
            assert_eq!(
                r.cover(800 * 1024).unwrap_err(),
                ReplyRefused::TooLarge(768 * 1024)
            );
            let mut other = b.reservation();
            assert_eq!(
                other.cover(768 * 1024).unwrap_err(),
                ReplyRefused::Spent(1024 * 1024)
            );
        }
        assert_eq!(b.available(), 1024 * 1024);
    }

    #[test]
    fn a_long_lived_reader_gives_back_what_it_no_longer_buffers() {
        let b = ReplyBudget::new(1024 * 1024, 1024 * 1024);
        let mut r = b.reservation();
        r.cover(600 * 1024).unwrap();
        assert!(b.available() <= 424 * 1024);
        r.shrink_to(400 * 1024);
        assert!(b.available() <= 424 * 1024, "not more than twice: kept");
        r.shrink_to(100);
        assert_eq!(b.available(), 1024 * 1024 - MIN_STEP, "one step kept");
        r.shrink_to(0);
        assert_eq!(b.available(), 1024 * 1024, "nothing buffered, nothing held");
        r.cover(10).unwrap();
        assert_eq!(b.available(), 1024 * 1024 - MIN_STEP, "usable again");
    }

    #[test]
    fn replies_reserve_their_buffer_and_give_it_back() {
        let budget = ReplyBudget::new(1024 * 1024, 512 * 1024);
        let mut a = budget.buffer(Some(500 * 1024)).unwrap();
        assert_eq!(budget.available(), 524 * 1024);
        a.extend(&[1; 500 * 1024]).unwrap();
        assert_eq!(
            budget.available(),
            524 * 1024,
            "the Content-Length was enough"
        );
        let mut b = budget.buffer(None).unwrap();
        b.extend(&[2; 10]).unwrap();
        assert_eq!(budget.available(), (524 - 64) * 1024, "one small step");
        assert_eq!(
            budget.buffer(Some(700 * 1024)).err(),
            Some(ReplyRefused::TooLarge(512 * 1024))
        );
        assert!(matches!(
            budget.buffer(Some(500 * 1024)),
            Err(ReplyRefused::Spent(_))
        ));
        assert_eq!(
            b.extend(&[0; 512 * 1024]).err(),
            Some(ReplyRefused::TooLarge(512 * 1024))
        );
        drop(a);
        drop(b);
        assert_eq!(budget.available(), 1024 * 1024);
        let msg = ReplyRefused::Spent(1024).to_string();
        assert!(msg.contains("--reply-budget-bytes"), "{msg}");
    }

    #[test]
    fn a_reply_without_length_fails_once_the_budget_cannot_grow() {
        let budget = ReplyBudget::new(256 * 1024, 256 * 1024);
        let _other = budget.buffer(Some(128 * 1024)).unwrap();
        let mut b = budget.buffer(None).unwrap();
        for _ in 0..64 {
            b.extend(&[0; 1024]).unwrap();
        }
        assert_eq!(&b[..3], &[0, 0, 0]);
        let r = (0..128).try_for_each(|_| b.extend(&[0; 1024]));
        assert!(matches!(r, Err(ReplyRefused::Spent(_))), "{r:?}");
    }
}
