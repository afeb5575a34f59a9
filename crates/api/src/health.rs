//! The one rule that turns backend health into a VirtualMCPServer's phase, `backendCount` and
//! `Degraded` condition. Both field managers call it: the gateway to decide what it reports,
//! the operator to decide `phase` from the infrastructure and the gateway's reported health.
//! `docs/STATUS.md` states the rule and who owns which status field.

use crate::conditions::{reasons as r, types as t};
use crate::virtual_server::{BackendHealth, DiscoveredBackend, VirtualMCPServerPhase};

/// Counts of backends by reported health. A backend with no reported health counts as unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthSummary {
    pub ready: usize,
    pub degraded: usize,
    pub unavailable: usize,
    pub unauthenticated: usize,
    pub unknown: usize,
}

impl HealthSummary {
    pub fn of(health: impl IntoIterator<Item = Option<BackendHealth>>) -> Self {
        let mut s = HealthSummary::default();
        for h in health {
            match h {
                Some(BackendHealth::Ready) => s.ready += 1,
                Some(BackendHealth::Degraded) => s.degraded += 1,
                Some(BackendHealth::Unavailable) => s.unavailable += 1,
                Some(BackendHealth::Unauthenticated) => s.unauthenticated += 1,
                Some(BackendHealth::Unknown) | None => s.unknown += 1,
            }
        }
        s
    }

    /// From a status's `discoveredBackends`.
    pub fn of_backends(backends: &[DiscoveredBackend]) -> Self {
        Self::of(backends.iter().map(|b| b.status))
    }

    pub fn total(&self) -> usize {
        self.ready + self.degraded + self.unavailable + self.unauthenticated + self.unknown
    }

    /// `backendCount`: backends a client can use now (ready, or reachable but refusing us).
    pub fn backend_count(&self) -> usize {
        self.ready + self.unauthenticated
    }

    /// Backends that answer at all (a degraded backend still serves calls).
    pub fn routable(&self) -> usize {
        self.ready + self.unauthenticated + self.degraded
    }

    fn unhealthy(&self) -> usize {
        self.degraded + self.unavailable
    }
}

/// The health verdict: `Degraded` condition status, its reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `true` when the `Degraded` condition is `True`.
    pub degraded: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Verdict {
    pub const CONDITION_TYPE: &'static str = t::DEGRADED;
}

/// Decides the `Degraded` condition from the health of the backends.
///
/// - no backends, or every backend ready/unauthenticated → `False`, `AllBackendsRoutable`;
/// - some backend not yet checked and none failing → `False`, `BackendsPending`;
/// - no backend routable, at least one failing → `True`, `NoRoutableBackends`;
/// - otherwise (some failing) → `True`, `SomeBackendsUnhealthy`.
pub fn verdict(s: &HealthSummary) -> Verdict {
    let total = s.total();
    if s.unhealthy() == 0 && s.unknown == 0 {
        return Verdict {
            degraded: false,
            reason: r::ALL_BACKENDS_ROUTABLE,
            message: format!("all {total} backend(s) routable"),
        };
    }
    if s.unhealthy() == 0 {
        return Verdict {
            degraded: false,
            reason: r::BACKENDS_PENDING,
            message: format!("{} of {total} backend(s) not checked yet", s.unknown),
        };
    }
    if s.routable() == 0 {
        return Verdict {
            degraded: true,
            reason: r::NO_ROUTABLE_BACKENDS,
            message: format!("none of {total} backend(s) routable"),
        };
    }
    Verdict {
        degraded: true,
        reason: r::SOME_BACKENDS_UNHEALTHY,
        message: format!(
            "{} of {total} backend(s) unhealthy ({} degraded, {} unavailable)",
            s.unhealthy(),
            s.degraded,
            s.unavailable
        ),
    }
}

/// The phase of a VirtualMCPServer. `infra` is what the operator decided from the spec and the
/// Deployment (Pending, Ready or Failed); health only refines a `Ready` infrastructure:
///
/// - infra not `Ready` → infra;
/// - any backend unhealthy (degraded or unavailable) → `Degraded`;
/// - otherwise → `Ready` (unknown backends are pending checks, not a fault).
pub fn phase(infra: VirtualMCPServerPhase, s: &HealthSummary) -> VirtualMCPServerPhase {
    if infra != VirtualMCPServerPhase::Ready {
        return infra;
    }
    if verdict(s).degraded {
        VirtualMCPServerPhase::Degraded
    } else {
        VirtualMCPServerPhase::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BackendHealth as H;
    use VirtualMCPServerPhase as P;

    fn s(h: &[Option<H>]) -> HealthSummary {
        HealthSummary::of(h.iter().copied())
    }

    #[test]
    fn counts_and_backend_count() {
        let x = s(&[
            Some(H::Ready),
            Some(H::Unauthenticated),
            Some(H::Degraded),
            None,
        ]);
        assert_eq!(x.total(), 4);
        assert_eq!(x.backend_count(), 2);
        assert_eq!(x.routable(), 3);
    }

    #[test]
    fn verdict_reasons() {
        assert_eq!(verdict(&s(&[])).reason, r::ALL_BACKENDS_ROUTABLE);
        assert_eq!(
            verdict(&s(&[Some(H::Ready)])).reason,
            r::ALL_BACKENDS_ROUTABLE
        );
        let v = verdict(&s(&[Some(H::Ready), None]));
        assert_eq!((v.degraded, v.reason), (false, r::BACKENDS_PENDING));
        let v = verdict(&s(&[Some(H::Ready), Some(H::Unavailable)]));
        assert_eq!((v.degraded, v.reason), (true, r::SOME_BACKENDS_UNHEALTHY));
        let v = verdict(&s(&[Some(H::Unavailable), None]));
        assert_eq!((v.degraded, v.reason), (true, r::NO_ROUTABLE_BACKENDS));
        let v = verdict(&s(&[Some(H::Degraded)]));
        assert_eq!((v.degraded, v.reason), (true, r::SOME_BACKENDS_UNHEALTHY));
    }

    #[test]
    fn phase_rule() {
        let healthy = s(&[Some(H::Ready), Some(H::Ready)]);
        let sick = s(&[Some(H::Ready), Some(H::Unavailable)]);
        let pending = s(&[None, None]);
        for infra in [P::Pending, P::Failed] {
            assert_eq!(
                phase(infra, &sick),
                infra,
                "health never hides an infra fault"
            );
        }
        assert_eq!(phase(P::Ready, &healthy), P::Ready);
        assert_eq!(phase(P::Ready, &pending), P::Ready);
        assert_eq!(phase(P::Ready, &sick), P::Degraded);
        assert_eq!(phase(P::Ready, &s(&[Some(H::Unavailable)])), P::Degraded);
        assert_eq!(phase(P::Ready, &s(&[])), P::Ready);
    }
}
