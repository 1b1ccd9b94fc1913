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

/// Per service, the steps waiting. A service is present while a batch of it is being
/// written (its writer removes it when nothing is left); so the map holds only services
/// with work in flight.
pub struct Queues<K, W> {
    waiting: HashMap<K, VecDeque<W>>,
}

impl<K, W> Default for Queues<K, W> {
    fn default() -> Self {
        Self {
            waiting: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, W> Queues<K, W> {
    /// Services with work in flight.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// Queues `w` for `key`. `true`: no batch of that service was in flight, and the caller
/// must now write batches (`next`) until none is left.
pub fn join<K: Hash + Eq + Clone, W>(g: &impl Guard<Queues<K, W>>, key: &K, w: W) -> bool {
    g.with(|q| match q.waiting.get_mut(key) {
        Some(waiting) => {
            waiting.push_back(w);
            false
        }
        None => {
            q.waiting.insert(key.clone(), VecDeque::from([w]));
            true
        }
    })
}

/// Whether a batch of `key` is in flight (`key` may be a borrowed form of `K`).
pub fn busy<K, Q, W>(g: &impl Guard<Queues<K, W>>, key: &Q) -> bool
where
    K: Hash + Eq + std::borrow::Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    g.with(|q| q.waiting.contains_key(key))
}

/// Steps of `key` waiting for its next batch.
pub fn waiting<K: Hash + Eq + Clone, W>(g: &impl Guard<Queues<K, W>>, key: &K) -> usize {
    g.with(|q| q.waiting.get(key).map_or(0, VecDeque::len))
}

/// For the writer of `key`: the next batch, at most `max` steps in arrival order, or `None`
/// when nothing waits — and then the writer's work for `key` is over.
pub fn next<K: Hash + Eq + Clone, W>(
    g: &impl Guard<Queues<K, W>>,
    key: &K,
    max: usize,
) -> Option<Vec<W>> {
    g.with(|q| {
        let waiting = q.waiting.get_mut(key)?;
        if waiting.is_empty() {
            q.waiting.remove(key);
            return None;
        }
        let n = waiting.len().min(max.max(1));
        Some(waiting.drain(..n).collect())
    })
}

#[cfg(test)]
mod tests;
