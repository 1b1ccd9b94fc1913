//! Fail fast while Cattle is down (docs/serving.md, "When Cattle fails"). After
//! [`THRESHOLD`] calls in a row that found Cattle unavailable — no answer in time, no
//! connection, or a 502/503/504 — calls fail at once for a period instead of piling onto a
//! dead Cattle: one second at first, doubling with every failed probe up to thirty. When a
//! period ends, one call goes through as a probe (half-open); its success closes the breaker,
//! its failure opens it again for twice as long. Callers answer 503 with `Retry-After`, which
//! senders retry. Any answer from Cattle, a refusal included, counts as Cattle being up.
//!
//! Pure: time is passed in. Hand-written rather than a crate: the states fit in one enum, the
//! policy is the one above, and its tests pin every transition.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Unavailable answers in a row that open the breaker.
pub const THRESHOLD: u32 = 5;
/// The first open period, and the longest.
pub const FIRST_PERIOD: Duration = Duration::from_secs(1);
pub const LONGEST_PERIOD: Duration = Duration::from_secs(30);
/// A probe that has not reported within this long (its caller went away) is replaced.
const PROBE_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        period: Duration,
    },
    HalfOpen {
        probe_since: Instant,
        period: Duration,
    },
}

/// What the breaker says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Go,
    /// The call is the probe of a half-open breaker.
    Probe,
    /// Refused: Cattle is taken to be down for about this much longer.
    Refuse(Duration),
}

/// A state change worth telling the operator about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Opened(Duration),
    Closed,
}

pub struct Breaker {
    phase: Mutex<Phase>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            phase: Mutex::new(Phase::Closed { failures: 0 }),
        }
    }
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may go to Cattle now.
    pub fn admit(&self, now: Instant) -> Admit {
        let mut p = self.lock();
        match *p {
            Phase::Closed { .. } => Admit::Go,
            Phase::Open { until, period } if now >= until => {
                *p = Phase::HalfOpen {
                    probe_since: now,
                    period,
                };
                Admit::Probe
            }
            Phase::Open { until, .. } => Admit::Refuse(until - now),
            Phase::HalfOpen {
                probe_since,
                period,
            } if now.saturating_duration_since(probe_since) >= PROBE_DEADLINE => {
                *p = Phase::HalfOpen {
                    probe_since: now,
                    period,
                };
                Admit::Probe
            }
            Phase::HalfOpen { .. } => Admit::Refuse(FIRST_PERIOD),
        }
    }

    /// Records how a call that went through ended: `up` if Cattle answered at all.
    pub fn record(&self, up: bool, now: Instant) -> Option<Change> {
        let mut p = self.lock();
        match (*p, up) {
            (Phase::Closed { .. }, true) => {
                *p = Phase::Closed { failures: 0 };
                None
            }
            (Phase::Closed { failures }, false) if failures + 1 >= THRESHOLD => {
                *p = Phase::Open {
                    until: now + FIRST_PERIOD,
                    period: FIRST_PERIOD,
                };
                Some(Change::Opened(FIRST_PERIOD))
            }
            (Phase::Closed { failures }, false) => {
                *p = Phase::Closed {
                    failures: failures + 1,
                };
                None
            }
            // Cattle answered: whatever was in flight, it is up.
            (Phase::Open { .. } | Phase::HalfOpen { .. }, true) => {
                *p = Phase::Closed { failures: 0 };
                Some(Change::Closed)
            }
            (Phase::HalfOpen { period, .. }, false) => {
                let period = (period * 2).min(LONGEST_PERIOD);
                *p = Phase::Open {
                    until: now + period,
                    period,
                };
                Some(Change::Opened(period))
            }
            // A call admitted before the breaker opened failed too: nothing new.
            (Phase::Open { .. }, false) => None,
        }
    }

    /// Whether Cattle is taken to be down right now, without taking a probe's place — for
    /// calls whose failure would not tell Cattle's fault from that of what is behind it
    /// (forwardPost, through Cattle's service proxy: a slow service looks like a slow
    /// Cattle). They fail fast while the breaker is open, and neither probe nor count.
    pub fn refusing(&self, now: Instant) -> Option<Duration> {
        match *self.lock() {
            Phase::Open { until, .. } if now < until => Some(until - now),
            // The period is over and no probe has gone yet: do not wait for one.
            Phase::Closed { .. } | Phase::Open { .. } => None,
            Phase::HalfOpen { .. } => Some(FIRST_PERIOD),
        }
    }

    /// Whether calls are being refused (open, or half-open with its probe out).
    pub fn is_open(&self) -> bool {
        !matches!(*self.lock(), Phase::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_a_run_of_failures_and_probes_when_the_period_ends() {
        let b = Breaker::default();
        let t0 = Instant::now();
        for _ in 0..THRESHOLD - 1 {
            assert_eq!(b.admit(t0), Admit::Go);
            assert_eq!(b.record(false, t0), None);
        }
        // An answer in between resets the count.
        assert_eq!(b.record(true, t0), None);
        for _ in 0..THRESHOLD - 1 {
            assert_eq!(b.record(false, t0), None);
        }
        assert_eq!(b.record(false, t0), Some(Change::Opened(FIRST_PERIOD)));
        assert!(b.is_open());
        let half = t0 + FIRST_PERIOD / 2;
        assert_eq!(b.admit(half), Admit::Refuse(FIRST_PERIOD / 2));
        // The period ends: one probe, and only one.
        let t1 = t0 + FIRST_PERIOD;
        assert_eq!(b.admit(t1), Admit::Probe);
        assert!(matches!(b.admit(t1), Admit::Refuse(_)));
        // The probe fails: open for twice as long.
        assert_eq!(b.record(false, t1), Some(Change::Opened(FIRST_PERIOD * 2)));
        assert!(matches!(b.admit(t1 + FIRST_PERIOD), Admit::Refuse(_)));
        let t2 = t1 + FIRST_PERIOD * 2;
        assert_eq!(b.admit(t2), Admit::Probe);
        assert_eq!(b.record(true, t2), Some(Change::Closed));
        assert!(!b.is_open());
        assert_eq!(b.admit(t2), Admit::Go);
    }

    #[test]
    fn calls_that_do_not_count_are_refused_while_open_and_take_no_probe() {
        let b = Breaker::default();
        let t0 = Instant::now();
        assert_eq!(b.refusing(t0), None);
        for _ in 0..THRESHOLD {
            b.record(false, t0);
        }
        assert_eq!(b.refusing(t0), Some(FIRST_PERIOD));
        // The period is over: such a call may go, and the probe is still there to take.
        let t1 = t0 + FIRST_PERIOD;
        assert_eq!(b.refusing(t1), None);
        assert_eq!(b.admit(t1), Admit::Probe);
        // While the probe is out, they wait for its word.
        assert_eq!(b.refusing(t1), Some(FIRST_PERIOD));
        b.record(true, t1);
        assert_eq!(b.refusing(t1), None);
    }

    #[test]
    fn periods_stop_growing_and_a_lost_probe_is_replaced() {
        let b = Breaker::default();
        let mut t = Instant::now();
        for _ in 0..THRESHOLD {
            b.record(false, t);
        }
        let mut last = FIRST_PERIOD;
        for _ in 0..10 {
            t += LONGEST_PERIOD;
            assert_eq!(b.admit(t), Admit::Probe);
            match b.record(false, t) {
                Some(Change::Opened(p)) => last = p,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(last, LONGEST_PERIOD);
        t += LONGEST_PERIOD;
        assert_eq!(b.admit(t), Admit::Probe);
        // Its caller went away without reporting: another probe after the deadline.
        assert!(matches!(b.admit(t + PROBE_DEADLINE / 2), Admit::Refuse(_)));
        assert_eq!(b.admit(t + PROBE_DEADLINE), Admit::Probe);
    }
}
