//! Group commit of scale changes (docs/triggers.md, "Group commit"): while one batch of a
//! service is being written to Cattle, the steps that arrive for the same service wait; the
//! next batch takes them all (up to a bound), applies each in arrival order with its own
//! clamp — so the outcome equals one-after-another application — and writes once.
//!
//! This is the protocol's core, free of I/O and of any particular lock so that a model
//! checker can run it (`tests.rs`, with loom): who writes, and which steps a batch takes.
//! Whoever joins a service with no batch in flight becomes its writer and keeps taking
//! batches until none waits; the decision "nothing waits, stop writing" is made under the
//! same lock as every join, so no step is ever left behind.
//!
//! A step that would leave the scale where it is need not join at all (`unopposed`): while
//! no step of the other direction is in the batch being written or waiting for the next,
//! the steps in flight can only carry the scale further past that step's bound (an `up`
//! never lowers it), so answering the step first changes neither the final scale nor any
//! other answer. (The batches written before are in the trusted scale already: the writer
//! updates it before it takes the next batch.)

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use crate::drivers::scale::target;

/// One trigger's step: which way, how far, and its receiver's own bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub up: bool,
    pub amount: u32,
    pub min: u32,
    pub max: u32,
}

impl Step {
    /// The scale after this step from `scale`, with its own clamp.
    pub fn after(&self, scale: i64) -> i64 {
        target(scale, self.up, self.amount, self.min, self.max)
    }
}

/// Applies `steps` in order from `current`, each with its own clamp: the (from, to) of each
/// step, and the scale after the last.
pub fn apply<'a>(current: i64, steps: impl IntoIterator<Item = &'a Step>) -> (Vec<(i64, i64)>, i64) {
    let mut scale = current;
    let moves = steps
        .into_iter()
        .map(|s| {
            let from = scale;
            scale = s.after(scale);
            (from, scale)
        })
        .collect();
    (moves, scale)
}

/// What may guard the queues: a mutex of the standard library, or of a model checker.
pub trait Guard<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

impl<T> Guard<T> for std::sync::Mutex<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // The queues are only touched by the short, non-panicking code below.
        f(&mut self.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Per service, its work in flight. A service is present while a batch of it is being
/// written (its writer removes it when nothing is left); so the map holds only services
/// with work in flight.
pub struct Queues<K, W> {
    /// Keys come from sealed tokens, never from a stranger: a fast hash (as the caches').
    services: HashMap<K, Pending<W>, foldhash::fast::RandomState>,
}

/// One service's work in flight: the steps waiting for its next batch (each with its
/// direction, `true` for up), and which ways the steps of the batch being written and the
/// waiting ones go.
struct Pending<W> {
    waiting: VecDeque<(bool, W)>,
    ups: bool,
    downs: bool,
}

impl<W> Pending<W> {
    fn add(&mut self, up: bool, w: W) {
        self.waiting.push_back((up, w));
        if up {
            self.ups = true;
        } else {
            self.downs = true;
        }
    }
}

impl<K, W> Default for Queues<K, W> {
    fn default() -> Self {
        Self {
            services: HashMap::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, W> Queues<K, W> {
    /// Services with work in flight.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Queues `w`, a step going `up` (or down), for `key`. `true`: no batch of that service
    /// was in flight, and the caller must now write batches (`next`) until none is left.
    pub fn join(&mut self, key: &K, up: bool, w: W) -> bool {
        if let Some(p) = self.services.get_mut(key) {
            p.add(up, w);
            return false;
        }
        let mut p = Pending {
            waiting: VecDeque::new(),
            ups: false,
            downs: false,
        };
        p.add(up, w);
        self.services.insert(key.clone(), p);
        true
    }

    /// Whether a step going `up` (or down) that leaves the scale where it is may be answered
    /// at once instead of joining: no step of the other direction is being written or
    /// waiting, or none is writing (`key` may be a borrowed form of `K`).
    pub fn unopposed<Q>(&self, key: &Q, up: bool) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.services
            .get(key)
            .is_none_or(|p| if up { !p.downs } else { !p.ups })
    }
}

/// Queues `w` for `key` ([`Queues::join`]).
pub fn join<K: Hash + Eq + Clone, W>(
    g: &impl Guard<Queues<K, W>>,
    key: &K,
    up: bool,
    w: W,
) -> bool {
    g.with(|q| q.join(key, up, w))
}

/// The scale to answer `step` with at once, without joining a batch: when no step of the
/// other direction is in flight ([`Queues::unopposed`]) and `trusted()`, the scale trusted
/// now (`None`: none is), is one that `step` leaves where it is.
pub fn at_once<K, Q, W>(
    g: &impl Guard<Queues<K, W>>,
    key: &Q,
    step: &Step,
    trusted: impl FnOnce() -> Option<i64>,
) -> Option<i64>
where
    K: Hash + Eq + Clone + std::borrow::Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    if !g.with(|q| q.unopposed(key, step.up)) {
        return None;
    }
    let current = trusted()?;
    (step.after(current) == current).then_some(current)
}

/// Steps of `key` waiting for its next batch.
pub fn waiting<K: Hash + Eq + Clone, W>(g: &impl Guard<Queues<K, W>>, key: &K) -> usize {
    g.with(|q| q.services.get(key).map_or(0, |p| p.waiting.len()))
}

/// For the writer of `key`, once the batch before (if any) is answered and its scale
/// trusted: the next batch, at most `max` steps in arrival order, or `None` when nothing
/// waits — and then the writer's work for `key` is over.
pub fn next<K: Hash + Eq + Clone, W>(
    g: &impl Guard<Queues<K, W>>,
    key: &K,
    max: usize,
) -> Option<Vec<W>> {
    g.with(|q| {
        let p = q.services.get_mut(key)?;
        if p.waiting.is_empty() {
            q.services.remove(key);
            return None;
        }
        // From now on, only this batch and the steps still waiting can move the scale.
        p.ups = p.waiting.iter().any(|&(up, _)| up);
        p.downs = p.waiting.iter().any(|&(up, _)| !up);
        let n = p.waiting.len().min(max.max(1));
        Some(p.waiting.drain(..n).map(|(_, w)| w).collect())
    })
}

/// For a writer of `key` that ends before [`next`] said nothing is left (it panicked, or
/// its task was cancelled): the service's steps still waiting are dropped — each of their
/// triggers learns that its batch ended without an answer — and the service's next step
/// starts a new writer instead of joining a queue that no one serves.
pub fn abandon<K: Hash + Eq + Clone, W>(g: &impl Guard<Queues<K, W>>, key: &K) -> usize {
    g.with(|q| q.services.remove(key).map_or(0, |p| p.waiting.len()))
}

#[cfg(test)]
mod tests;
