//! The back-off of every Kubernetes watch vmcp runs, the operator's controllers and the
//! gateway's dynamic discovery alike, so that both recover from an API server outage the same
//! way.
//!
//! kube-runtime's `Controller` puts *one* back-off on the merged stream of all its watches (the
//! primary kind plus every `owns` and `watches`), and while it backs off none of them is read.
//! Its default grows to 30 s and only resets after two quiet minutes. After a kube-apiserver
//! restart each of the VirtualMCPServer controller's fifteen watches fails once or twice
//! (refused connection, then `410 Gone` when it resumes), one failure per wake-up, each
//! doubling the shared delay: the operator stayed blind for 80-100 s in the end-to-end fault
//! test (a new entry was validated ~4 s after the restart with this back-off, 24-30 s with a
//! 5 s cap). Here the delay starts at 100 ms, doubles, stops growing at 1 s (a watch that keeps
//! failing, e.g. on RBAC, costs one request a second), and the watcher resets it on the first
//! event that arrives.
//!
//! Only the policy lives here, as a `backon` builder (the crate kube-runtime builds its own
//! back-offs on); each process turns it into kube-runtime's `watcher::ExponentialBackoff` with
//! `.into()`, so this crate needs no kube-runtime.

use std::time::Duration;

/// The first retry after a watch error.
pub const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between retries.
pub const MAX_RETRY: Duration = Duration::from_secs(1);

/// The back-off policy: 100 ms, doubling, capped at 1 s, never giving up, no jitter.
pub fn backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(FIRST_RETRY)
        .with_max_delay(MAX_RETRY)
        .with_factor(2.0)
        .without_max_times()
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;

    #[test]
    fn delays_double_from_the_first_retry_to_the_cap_and_never_end() {
        // backon multiplies in f32: 200.000003 ms is 200 ms here.
        let ms: Vec<u128> = super::backoff()
            .build()
            .take(40)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(ms.len(), 40);
        assert_eq!(&ms[..5], &[100, 200, 400, 800, 1000], "{ms:?}");
        assert!(ms.iter().all(|d| *d <= 1000), "{ms:?}");
        assert_eq!(ms[39], 1000);
    }
}
