//! A map split into shards, each behind its own `RwLock`, keyed by a 128-bit fingerprint of the
//! limit's identity. A hit takes one shard's read lock (never a node-wide lock) and works on the
//! value in place; only the first request of a new bucket takes a write lock.

use foldhash::quality::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

const SHARDS: usize = 64;

/// A key's 128-bit fingerprint: two differently seeded foldhashes of its parts (with SipHash,
/// hashing took half the time of a stage-bucket admit: `node/examples/limiter_bench.rs`). Keys
/// are made from configured ids, never from raw client input, so nobody can aim for a
/// collision; by chance one is a 2^-64 event.
#[derive(Clone, Default)]
pub struct Fingerprinter(RandomState, RandomState);

impl Fingerprinter {
    pub fn of(&self, key: &impl Hash) -> u128 {
        let (mut a, mut b) = (self.0.build_hasher(), self.1.build_hasher());
        key.hash(&mut a);
        key.hash(&mut b);
        (u128::from(a.finish()) << 64) | u128::from(b.finish())
    }
}

/// Fingerprints are already uniform: hash them by taking their low bits.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

type Shard<V> = HashMap<u128, V, BuildHasherDefault<PassThrough>>;

/// Keeps what it holds on cache lines of its own (two, for the adjacent-line prefetcher), so
/// threads writing different shards' locks, or different buckets, do not slow each other.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

pub struct ShardedMap<V> {
    shards: Box<[Padded<RwLock<Shard<V>>>]>,
}

impl<V> Default for ShardedMap<V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
        }
    }
}

impl<V> ShardedMap<V> {
    fn shard(&self, key: u128) -> &RwLock<Shard<V>> {
        // The high bits pick the shard; the low bits pick the slot inside it.
        &self.shards[(key >> 64) as usize % SHARDS]
    }

    fn read(&self, key: u128) -> RwLockReadGuard<'_, Shard<V>> {
        // A panic while a lock was held cannot leave a bucket half-updated (its state is one
        // atomic), so a poisoned lock is still safe to use.
        self.shard(key).read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, key: u128) -> RwLockWriteGuard<'_, Shard<V>> {
        self.shard(key).write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the value of `key`, creating it with `make` first if it is missing.
    pub fn with<R>(&self, key: u128, make: impl FnOnce() -> V, f: impl FnOnce(&V) -> R) -> R {
        if let Some(value) = self.read(key).get(&key) {
            return f(value);
        }
        let mut shard = self.write(key);
        f(shard.entry(key).or_insert_with(make))
    }

    /// Runs `f` on the value of `key` if there is one.
    pub fn get<R>(&self, key: u128, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.read(key).get(&key).map(f)
    }

    /// Removes the value of `key` if `pred` holds for it.
    pub fn remove_if(&self, key: u128, pred: impl FnOnce(&V) -> bool) {
        let mut shard = self.write(key);
        if shard.get(&key).is_some_and(pred) {
            shard.remove(&key);
        }
    }

    /// Keeps the values `keep` says to keep; one shard locked at a time.
    pub fn retain(&self, mut keep: impl FnMut(&V) -> bool) {
        for shard in self.shards.iter() {
            shard
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, v| keep(v));
        }
    }

    /// Visits every value; one shard read-locked at a time.
    pub fn for_each(&self, mut f: impl FnMut(&V)) {
        for shard in self.shards.iter() {
            shard
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .for_each(&mut f);
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_created_once_and_found_again() {
        let map: ShardedMap<std::sync::atomic::AtomicU32> = ShardedMap::default();
        let fp = Fingerprinter::default();
        let (a, b) = (fp.of(&("plan", "key")), fp.of(&("plan", "key2")));
        assert_ne!(a, b);
        assert_eq!(a, fp.of(&("plan", "key")));
        for _ in 0..3 {
            map.with(a, Default::default, |v| {
                v.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            });
        }
        map.with(b, Default::default, |_| ());
        assert_eq!(map.len(), 2);
        assert_eq!(
            map.get(a, |v| v.load(std::sync::atomic::Ordering::Relaxed)),
            Some(3)
        );
        map.retain(|v| v.load(std::sync::atomic::Ordering::Relaxed) > 0);
        assert_eq!(map.len(), 1);
    }
}
