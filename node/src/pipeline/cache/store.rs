//! Where entries live: one moka cache per API stage on each node, weighed in bytes, each entry
//! expiring after its route's TTL; and the registry that keeps stage caches across snapshot
//! swaps and flushes them on request.

use super::entry::Entry;
use super::flights::Flights;
use super::stats::CacheStats;
use crate::snapshot::Snapshot;
use moka::notification::RemovalCause;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant as StdInstant};

/// One stage's cache on this node.
pub struct StageCache {
    /// foldhash, not SipHash: every lookup hashes its key, and keys are ours, not the client's
    /// alone (method, deployment and route come first).
    entries: moka::future::Cache<String, Arc<Entry>, foldhash::fast::RandomState>,
    pub flights: Arc<Flights>,
    pub stats: Arc<CacheStats>,
    capacity_bytes: u64,
    /// Bytes inserted since moka last applied its size bound (see [`StageCache::insert`]).
    unbounded_bytes: AtomicU64,
}

/// Expires each entry when its own TTL says (routes differ).
struct PerEntryTtl;

impl moka::Expiry<String, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &String,
        entry: &Arc<Entry>,
        _: StdInstant,
    ) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(entry.stored_at))
    }
}

impl StageCache {
    fn new(api: &str, stage: &str, capacity_bytes: u64) -> StageCache {
        let stats = Arc::new(CacheStats::new(api, stage));
        let on_evict = stats.clone();
        let entries = moka::future::Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|_key: &String, entry: &Arc<Entry>| entry.weight())
            .expire_after(PerEntryTtl)
            // Every removal passes here (replaced, expired, flushed, evicted): the byte gauge
            // goes up at insert and down here.
            .eviction_listener(move |_key, entry: Arc<Entry>, cause| {
                on_evict.bytes.decrement(f64::from(entry.weight()));
                if cause == RemovalCause::Size {
                    on_evict.evictions.increment(1);
                }
            })
            .build_with_hasher(foldhash::fast::RandomState::default());
        StageCache {
            entries,
            flights: Arc::new(Flights::default()),
            stats,
            capacity_bytes,
            unbounded_bytes: AtomicU64::new(0),
        }
    }

    /// A fresh entry of `key`. An entry past its TTL is removed here even if moka has not got
    /// round to it (moka keeps its own clock; this one is tokio's, so tests can move it).
    pub async fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let entry = self.entries.get(key).await?;
        if entry.is_fresh(tokio::time::Instant::now()) {
            return Some(entry);
        }
        self.entries.invalidate(key).await;
        None
    }

    pub async fn insert(&self, key: String, entry: Arc<Entry>) {
        let weight = u64::from(entry.weight());
        self.stats.bytes.increment(weight as f64);
        self.entries.insert(key, entry).await;
        // moka applies its size bound in batches of writes; with entries of up to 1 MiB a
        // batch could hold many times the capacity. Apply it once an eighth of the capacity
        // has come in since, so a stage never holds more than about 9/8 of its capacity.
        let since = self.unbounded_bytes.fetch_add(weight, Ordering::Relaxed) + weight;
        if since >= self.capacity_bytes / 8 {
            self.unbounded_bytes.store(0, Ordering::Relaxed);
            self.entries.run_pending_tasks().await;
        }
    }

    pub async fn remove(&self, key: &str) {
        self.entries.invalidate(key).await;
    }

    /// Empties the cache; entries being fetched right now may still land afterwards.
    pub async fn flush(&self) {
        self.entries.invalidate_all();
        self.entries.run_pending_tasks().await;
    }
}

/// The stage caches of this node, by API and stage. Caches outlive snapshots: a config change
/// keeps what is cached unless the stage's capacity changed or the stage is gone.
#[derive(Clone, Default)]
pub struct Caches {
    stages: Arc<RwLock<ByStage>>,
}

/// Stage caches by API id, then stage name: looked up on every cached request without
/// allocating; written only when a stage cache is made.
type ByStage = HashMap<String, HashMap<String, Arc<StageCache>>>;

impl Caches {
    /// The cache of a stage (made on first use), dropping caches of stages that no longer
    /// cache anything in `snapshot`.
    pub fn stage(
        &self,
        snapshot: &Snapshot,
        api: &str,
        stage: &str,
        capacity_bytes: u64,
    ) -> Arc<StageCache> {
        if let Some(cache) = self.find(api, stage)
            && cache.capacity_bytes == capacity_bytes
        {
            return cache;
        }
        let mut stages = self.stages.write().unwrap_or_else(|e| e.into_inner());
        for (api, caches) in stages.iter_mut() {
            let stages = snapshot.api(api).map(|entry| &entry.stages);
            caches.retain(|stage, _| {
                (stages.and_then(|s| s.get(stage))).is_some_and(|s| s.cache.is_some())
            });
        }
        stages.retain(|_, caches| !caches.is_empty());
        let cache = Arc::new(StageCache::new(api, stage, capacity_bytes));
        (stages.entry(api.to_string()).or_default()).insert(stage.to_string(), cache.clone());
        cache
    }

    fn find(&self, api: &str, stage: &str) -> Option<Arc<StageCache>> {
        let stages = self.stages.read().unwrap_or_else(|e| e.into_inner());
        stages.get(api)?.get(stage).cloned()
    }

    /// Empties this node's cache of one stage: the seam for cluster-wide flushes, which call it
    /// on every node. Returns whether the stage had a cache here.
    pub async fn flush_stage(&self, api: &str, stage: &str) -> bool {
        match self.find(api, stage) {
            Some(cache) => {
                cache.flush().await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::time::Instant;

    fn entry(body_bytes: usize, ttl: Duration) -> Arc<Entry> {
        let now = Instant::now();
        Arc::new(Entry {
            status: http::StatusCode::OK,
            headers: Default::default(),
            body: Bytes::from(vec![b'x'; body_bytes]),
            age_at_store: 0,
            stored_at: now,
            expires_at: now + ttl,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn entries_are_gone_once_their_ttl_has_passed() {
        let cache = StageCache::new("t", "ttl", 1 << 20);
        cache
            .insert("short".into(), entry(10, Duration::from_secs(5)))
            .await;
        cache
            .insert("long".into(), entry(10, Duration::from_secs(60)))
            .await;
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(cache.get("short").await.is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.get("short").await.is_none());
        assert!(cache.get("long").await.is_some());
    }

    #[tokio::test]
    async fn capacity_is_counted_in_bytes() {
        // Room for about three 10 KiB entries.
        let cache = StageCache::new("t", "size", 32 * 1024);
        for i in 0..20 {
            let key = format!("k{i}");
            cache
                .insert(key, entry(10 * 1024, Duration::from_secs(60)))
                .await;
        }
        cache.entries.run_pending_tasks().await;
        assert!(cache.entries.weighted_size() <= 32 * 1024);
        assert!((1..=3).contains(&cache.entries.entry_count()));
    }

    #[tokio::test]
    async fn inserts_never_hold_much_more_than_the_capacity_between_moka_batches() {
        const CAPACITY: u64 = 64 * 1024;
        let cache = StageCache::new("t", "bound", CAPACITY);
        for i in 0..64 {
            let key = format!("k{i}");
            cache
                .insert(key, entry(4 * 1024, Duration::from_secs(60)))
                .await;
            // What the map holds right now (weighted_size() only moves with moka's batches).
            let held: u64 = cache
                .entries
                .iter()
                .map(|(_, e)| u64::from(e.weight()))
                .sum();
            assert!(
                held <= CAPACITY + CAPACITY / 8 + 4 * 1024 + 1024,
                "{held} after {i}"
            );
        }
    }

    #[tokio::test]
    async fn the_registry_keeps_a_stage_cache_until_its_capacity_changes() {
        let caches = Caches::default();
        let snapshot = Snapshot::default();
        let first = caches.stage(&snapshot, "a", "s", 1 << 20);
        assert!(Arc::ptr_eq(
            &first,
            &caches.stage(&snapshot, "a", "s", 1 << 20)
        ));
        first
            .insert("k".into(), entry(1, Duration::from_secs(60)))
            .await;
        assert!(caches.flush_stage("a", "s").await);
        assert!(first.get("k").await.is_none());
        assert!(!caches.flush_stage("a", "other").await);
        let resized = caches.stage(&snapshot, "a", "s", 2 << 20);
        assert!(!Arc::ptr_eq(&first, &resized));
    }
}
