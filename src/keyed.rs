//! Per-key state shared by concurrent requests (a receiver's policy memory, a project's lock
//! for host scaling),
//! bounded in size and never evicted while in use.
//!
//! A cache alone cannot hold locks: when it evicts an entry that a request still holds, the
//! next request for that key creates a fresh one, and two requests run "exclusively" at once.
//! Here an entry lives in the `in_use` map while any [`Lease`] on it exists (at most one per
//! trigger in flight — counting those whose sender hung up, which run on to their end); when
//! the last lease ends it moves to a bounded, idle-expiring cache — or, for plain locks, is
//! dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Keyed, bounded, lease-protected state. Cheap to clone.
pub struct KeyedState<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for KeyedState<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K, V> {
    in_use: Mutex<HashMap<K, Slot<V>>>,
    /// Where state rests between requests; `None`: state is dropped with its last lease.
    idle: Option<moka::sync::Cache<K, Arc<tokio::sync::Mutex<V>>>>,
}

struct Slot<V> {
    state: Arc<tokio::sync::Mutex<V>>,
    leases: usize,
}

/// A request's hold on one key's state. Lock it to read or change the state; dropping the
/// lease lets the state rest (or go).
pub struct Lease<K: Hash + Eq + Clone + Send + Sync + 'static, V: Send + Sync + 'static> {
    inner: Arc<Inner<K, V>>,
    key: K,
    state: Arc<tokio::sync::Mutex<V>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map is only touched by short, non-panicking code; a poisoned lock holds valid data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<K, V> KeyedState<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Default + Send + Sync + 'static,
{
    /// Locks only: state exists while leased and is dropped after.
    pub fn locks() -> Self {
        Self::build(None)
    }

    /// State that outlives requests: up to `capacity` idle entries, each forgotten after
    /// `idle_for` without a lease.
    pub fn remembering(capacity: u64, idle_for: Duration) -> Self {
        Self::build(Some(
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(idle_for)
                .build(),
        ))
    }

    fn build(idle: Option<moka::sync::Cache<K, Arc<tokio::sync::Mutex<V>>>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                in_use: Mutex::new(HashMap::new()),
                idle,
            }),
        }
    }

    /// Leases the state of `key`, creating it if it is neither in use nor resting.
    pub fn lease(&self, key: &K) -> Lease<K, V> {
        let mut in_use = guard(&self.inner.in_use);
        let state = match in_use.get_mut(key) {
            Some(slot) => {
                slot.leases += 1;
                slot.state.clone()
            }
            None => {
                let state = self
                    .inner
                    .idle
                    .as_ref()
                    .and_then(|idle| idle.remove(key))
                    .unwrap_or_default();
                in_use.insert(
                    key.clone(),
                    Slot {
                        state: state.clone(),
                        leases: 1,
                    },
                );
                state
            }
        };
        Lease {
            inner: self.inner.clone(),
            key: key.clone(),
            state,
        }
    }

    /// Keys leased right now.
    pub fn in_use(&self) -> usize {
        guard(&self.inner.in_use).len()
    }

    /// Entries resting in the idle cache (approximate until its housekeeping runs).
    pub fn resting(&self) -> u64 {
        self.inner.idle.as_ref().map_or(0, |idle| {
            idle.run_pending_tasks();
            idle.entry_count()
        })
    }
}

impl<K, V> Lease<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, V> {
        self.state.lock().await
    }
}

impl<K, V> Drop for Lease<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn drop(&mut self) {
        let mut in_use = guard(&self.inner.in_use);
        let Some(slot) = in_use.get_mut(&self.key) else {
            return;
        };
        slot.leases -= 1;
        if slot.leases > 0 {
            return;
        }
        if let Some(slot) = in_use.remove(&self.key) {
            if let Some(idle) = &self.inner.idle {
                idle.insert(self.key.clone(), slot.state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_leased_entry_survives_any_amount_of_eviction_pressure() {
        let states: KeyedState<u32, u32> = KeyedState::remembering(4, Duration::from_secs(60));
        let held = states.lease(&0);
        *held.lock().await = 7;
        // Far more keys than the idle cache holds come and go.
        for k in 1..1000 {
            let l = states.lease(&k);
            *l.lock().await = k;
        }
        // A second request for key 0 shares the held state (and so its lock).
        let again = states.lease(&0);
        assert!(Arc::ptr_eq(&held.state, &again.state));
        let g = held.lock().await;
        assert!(again.state.try_lock().is_err(), "exclusion holds");
        assert_eq!(*g, 7);
        drop(g);
        assert_eq!(states.in_use(), 1);
        drop((held, again));
        assert_eq!(states.in_use(), 0);
        assert!(states.resting() <= 4, "the idle cache is bounded");
    }

    #[tokio::test]
    async fn state_rests_between_leases_and_locks_do_not() {
        let remembered: KeyedState<&str, u32> =
            KeyedState::remembering(100, Duration::from_secs(60));
        *remembered.lease(&"r").lock().await = 5;
        assert_eq!(*remembered.lease(&"r").lock().await, 5);

        let locks: KeyedState<&str, u32> = KeyedState::locks();
        *locks.lease(&"s").lock().await = 5;
        assert_eq!(locks.in_use(), 0);
        assert_eq!(*locks.lease(&"s").lock().await, 0, "a lock keeps nothing");
        assert_eq!(locks.resting(), 0);
    }
}
