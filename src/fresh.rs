//! The trigger path's two caches — whether a receiver still exists, a service's scale — as a
//! map whose entries are trusted until a time set when they were written.
//!
//! Every trigger reads them, so a read is kept to what it needs: one hash, one shard's read
//! lock, one comparison with a `now` the caller passes. A general cache (moka) also records
//! every read for its eviction policy and runs its housekeeping inline: 6.9 % of an at-bound
//! trigger's CPU time (docs/serving.md, "What a trigger costs"). These entries are small and short-lived, their keys come from
//! verified tokens only, and nothing here needs more than "drop what is stale, and something
//! arbitrary when full of fresh entries": an evicted entry costs one Cattle read.
//!
//! [`FreshMap::get_with`] loads a missing entry once for all who ask at the same time (a
//! flood of triggers for one receiver costs one Cattle look-up per interval): the first
//! caller loads, the others wait for its answer; if it gives up (its sender hung up), one of
//! them takes over.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;
use tokio::sync::OnceCell;

/// `now + ttl`, or a time as good as never for a `ttl` too long to add.
pub fn until(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// Shards, each with its own lock, so that readers on many cores do not share one lock word.
const SHARDS: usize = 16;

type Shard<K, V> = RwLock<HashMap<K, Entry<V>, RandomState>>;

/// A bounded map of entries trusted until a time of their own.
pub struct FreshMap<K, V> {
    shards: Box<[Shard<K, V>]>,
    /// Picks the shard (seeded apart from the shards' own hashers).
    pick: RandomState,
    per_shard: usize,
    /// Loads in flight ([`FreshMap::get_with`]), one per key.
    loading: Mutex<HashMap<K, Arc<OnceCell<V>>, RandomState>>,
}

struct Entry<V> {
    value: V,
    until: Instant,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // Only short, non-panicking code holds these locks; a poisoned one holds valid data.
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<K: Hash + Eq, V: Clone> FreshMap<K, V> {
    /// A map of at most about `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            pick: RandomState::default(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            loading: Mutex::default(),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &Shard<K, V> {
        &self.shards[self.pick.hash_one(key) as usize % SHARDS]
    }

    /// The value of `key` if it is still trusted at `now`.
    pub fn get<Q>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = read(self.shard(key));
        let e = shard.get(key)?;
        (now < e.until).then(|| e.value.clone())
    }

    /// Writes `key`, trusted until `until`. A shard that is full first drops its stale
    /// entries, then, if still full, an arbitrary one.
    pub fn insert(&self, key: K, value: V, until: Instant) {
        let mut shard = write(self.shard(&key));
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            let now = Instant::now();
            shard.retain(|_, e| now < e.until);
            if shard.len() >= self.per_shard {
                // Still full of fresh entries: an eighth of them go, so that the scan is paid
                // once per so many inserts. Arbitrary ones: the first visited, the hasher
                // being seeded at random.
                let mut evict = self.per_shard.div_ceil(8);
                shard.retain(|_, _| {
                    let keep = evict == 0;
                    evict = evict.saturating_sub(1);
                    keep
                });
            }
        }
        shard.insert(key, Entry { value, until });
    }

    /// Writes `key` as [`FreshMap::insert`] does, and keeps a load in flight for it from
    /// filing its answer over this one (that answer may predate what the caller knows).
    /// Its callers still get the load's answer.
    pub fn overrule(&self, key: K, value: V, until: Instant) {
        let mut loading = lock(&self.loading);
        loading.remove(&key);
        self.insert(key, value, until);
    }

    /// Forgets `key`.
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        write(self.shard(key)).remove(key);
    }

    /// Entries held, stale ones included (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| read(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// For a caller whose [`FreshMap::get`] missed: the value of `key` if it is trusted now
    /// (a load may have filed it since), else `load`'s, trusted for `ttl` of it from when it
    /// came. Callers asking for the same key meanwhile wait for that one load (`owned` makes
    /// the key to file it under, only when a load starts).
    pub async fn get_with<Q>(
        &self,
        key: &Q,
        owned: impl FnOnce() -> K,
        load: impl Future<Output = V>,
        ttl: impl FnOnce(&V) -> Duration,
    ) -> V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let cell = {
            let mut loading = lock(&self.loading);
            match loading.get(key) {
                Some(cell) => cell.clone(),
                None => {
                    // A load may have finished since the caller's look-up.
                    if let Some(v) = self.get(key, Instant::now()) {
                        return v;
                    }
                    let cell = Arc::new(OnceCell::new());
                    loading.insert(owned(), cell.clone());
                    cell
                }
            }
        };
        let waiting = Waiting {
            map: self,
            key,
            cell: Some(cell),
        };
        let Some(cell) = &waiting.cell else {
            unreachable!("set above")
        };
        // If the caller loading gives up (its future dropped), a waiting one loads instead.
        let v = cell.get_or_init(|| load).await.clone();
        // The first one back files the answer, before the load stops being shared, so that
        // no caller can miss both.
        let mut loading = lock(&self.loading);
        if loading.get(key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            if let Some((k, _)) = loading.remove_entry(key) {
                self.insert(k, v.clone(), until(Instant::now(), ttl(&v)));
            }
        }
        drop(loading);
        v
    }
}

/// A caller's share of a load in flight. Every copy of the load's `Arc` is made and dropped
/// under the `loading` lock, so its count says exactly who still waits: the last one to
/// leave a load nobody finished (all gave up, or it panicked) removes it.
struct Waiting<'a, K: Borrow<Q> + Hash + Eq, V, Q: Hash + Eq + ?Sized> {
    map: &'a FreshMap<K, V>,
    key: &'a Q,
    cell: Option<Arc<OnceCell<V>>>,
}

impl<K: Borrow<Q> + Hash + Eq, V, Q: Hash + Eq + ?Sized> Drop for Waiting<'_, K, V, Q> {
    fn drop(&mut self) {
        let mut loading = lock(&self.map.loading);
        let Some(mine) = self.cell.take() else {
            return;
        };
        let filed = loading.get(self.key);
        let last = filed.is_some_and(|c| Arc::ptr_eq(c, &mine));
        drop(mine);
        // Nobody else waits for it, and it is not filed (it was given up on, or its answer
        // could not be filed): it goes.
        if last && filed.is_some_and(|c| Arc::strong_count(c) == 1) {
            loading.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn an_entry_is_trusted_until_its_time() {
        let m: FreshMap<String, i64> = FreshMap::new(100);
        let t0 = Instant::now();
        m.insert("a".into(), 3, t0 + SEC);
        assert_eq!(m.get("a", t0), Some(3));
        assert_eq!(m.get("a", t0 + SEC / 2), Some(3));
        assert_eq!(m.get("a", t0 + SEC), None, "stale at its time");
        assert_eq!(m.get("b", t0), None);
        m.insert("a".into(), 4, t0 + 2 * SEC);
        assert_eq!(
            m.get("a", t0 + SEC),
            Some(4),
            "a write replaces value and time"
        );
        m.invalidate("a");
        assert_eq!(m.get("a", t0), None);
        assert!(m.is_empty());
    }

    #[test]
    fn a_time_too_far_to_add_is_as_good_as_never() {
        let now = Instant::now();
        assert_eq!(until(now, SEC), now + SEC);
        let never = until(now, Duration::from_secs(u64::MAX));
        assert!(never > now + Duration::from_secs(50 * 365 * 86_400));
    }

    #[test]
    fn a_full_map_drops_stale_entries_first_and_stays_bounded() {
        let capacity = 8 * SHARDS;
        let m: FreshMap<u32, u32> = FreshMap::new(capacity);
        let past = Instant::now() - SEC;
        let later = Instant::now() + 60 * SEC;
        for k in 0..1_000 {
            m.insert(k, k, past);
        }
        assert!(m.len() <= capacity + SHARDS, "{} entries", m.len());
        // Fresh entries push the stale ones out, not each other: as many as fit one shard
        // (wherever they land) are all kept.
        let fit = (capacity / SHARDS) as u32;
        for k in 1_000..1_000 + fit {
            m.insert(k, k, later);
        }
        for k in 1_000..1_000 + fit {
            assert_eq!(m.get(&k, Instant::now()), Some(k));
        }
        for k in 0..10_000 {
            m.insert(k, k, later);
        }
        assert!(m.len() <= capacity + SHARDS, "{} entries", m.len());
        assert_eq!(
            m.get(&9_999, Instant::now()),
            Some(9_999),
            "the last write is kept"
        );
    }

    /// A load that counts its calls and answers after `wait`.
    async fn counted(calls: &AtomicUsize, wait: Duration, v: i64) -> i64 {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(wait).await;
        v
    }

    #[tokio::test]
    async fn callers_asking_at_once_share_one_load() {
        let m: FreshMap<String, i64> = FreshMap::new(100);
        let calls = AtomicUsize::new(0);
        let ask = || {
            m.get_with(
                "k",
                || "k".to_owned(),
                counted(&calls, Duration::from_millis(50), 7),
                |_| SEC,
            )
        };
        let answers = futures_util::future::join_all((0..50).map(|_| ask())).await;
        assert!(answers.iter().all(|&v| v == 7), "{answers:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(m.get("k", Instant::now()), Some(7), "filed after the load");
        assert_eq!(ask().await, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "served from the map");
        assert!(lock(&m.loading).is_empty());
    }

    #[tokio::test]
    async fn a_load_in_flight_does_not_file_over_an_overruling_write() {
        let m: FreshMap<String, i64> = FreshMap::new(100);
        let calls = AtomicUsize::new(0);
        let mut load = Box::pin(m.get_with(
            "k",
            || "k".to_owned(),
            counted(&calls, Duration::from_millis(50), 1),
            |_| 60 * SEC,
        ));
        assert!(tokio::time::timeout(Duration::from_millis(10), &mut load)
            .await
            .is_err());
        m.overrule("k".into(), 2, Instant::now() + 60 * SEC);
        assert_eq!(load.await, 1, "the caller still gets its load's answer");
        assert_eq!(
            m.get("k", Instant::now()),
            Some(2),
            "the overruling write stays"
        );
        assert!(lock(&m.loading).is_empty());
    }

    #[tokio::test]
    async fn an_answer_is_trusted_for_its_own_time() {
        let m: FreshMap<String, Result<i64, String>> = FreshMap::new(100);
        let calls = AtomicUsize::new(0);
        let ttl = |v: &Result<i64, String>| if v.is_ok() { 60 * SEC } else { Duration::ZERO };
        let ask = |v: Result<i64, String>| {
            let calls = &calls;
            m.get_with(
                "k",
                || "k".to_owned(),
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    v
                },
                ttl,
            )
        };
        assert_eq!(ask(Err("down".into())).await, Err("down".into()));
        assert_eq!(
            ask(Ok(1)).await,
            Ok(1),
            "an error trusted for no time is loaded again"
        );
        assert_eq!(ask(Ok(2)).await, Ok(1), "an answer is kept for its time");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn when_the_loading_caller_gives_up_a_waiting_one_loads() {
        let m: FreshMap<String, i64> = FreshMap::new(100);
        let calls = AtomicUsize::new(0);
        let ask = |v| {
            m.get_with(
                "k",
                || "k".to_owned(),
                counted(&calls, Duration::from_millis(100), v),
                |_| SEC,
            )
        };
        let mut first = Box::pin(ask(1));
        let mut second = std::pin::pin!(ask(2));
        // The first starts the load, the second waits for it; then the first is dropped
        // half-way (its sender hung up).
        let both = futures_util::future::join(&mut first, &mut second);
        assert!(tokio::time::timeout(Duration::from_millis(20), both)
            .await
            .is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one load for both");
        drop(first);
        assert_eq!(
            lock(&m.loading).len(),
            1,
            "the load stays shared while one waits"
        );
        assert_eq!(second.await, 2, "the waiting caller loaded instead");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(lock(&m.loading).is_empty());
    }

    #[tokio::test]
    async fn a_load_everyone_gave_up_on_leaves_nothing_behind() {
        let m: FreshMap<String, i64> = FreshMap::new(100);
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let gave_up = tokio::time::timeout(
                Duration::from_millis(10),
                m.get_with(
                    "k",
                    || "k".to_owned(),
                    counted(&calls, 10 * SEC, 1),
                    |_| SEC,
                ),
            )
            .await;
            assert!(gave_up.is_err());
            assert!(lock(&m.loading).is_empty(), "an abandoned load is removed");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(m.is_empty());
    }

    #[tokio::test]
    async fn a_load_that_panics_is_loaded_again_by_the_next_caller() {
        let m: FreshMap<String, i64> = FreshMap::new(100);
        let ask = |fail: bool| {
            m.get_with(
                "k",
                || "k".to_owned(),
                async move {
                    assert!(!fail, "the load failed");
                    5
                },
                |_| SEC,
            )
        };
        let panicked =
            futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(ask(true)));
        assert!(panicked.await.is_err());
        assert!(lock(&m.loading).is_empty());
        assert_eq!(ask(false).await, 5);
    }
}
