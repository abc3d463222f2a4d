//! Each thread's handles on the buckets it used last, so a request finds its bucket without
//! touching any shared lock: with the map alone, every request of a busy stage took the read
//! lock of one shard, and two threads on one stage bucket admitted half as much as one
//! (`node/examples/limiter_bench.rs`). A handle is used in place, never cloned (cloning an
//! `Arc` writes its shared count). Evicted buckets are marked, so a stale handle is noticed at
//! its next use and looked up again.

use super::bucket::Bucket;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Per thread; direct-mapped by the key's low bits (the map's shards use the high bits).
const SLOTS: usize = 256;

struct Handle {
    owner: u64,
    key: u128,
    bucket: Arc<Bucket>,
}

thread_local! {
    static HANDLES: RefCell<Vec<Option<Handle>>> = const { RefCell::new(Vec::new()) };
}

/// A number for each limiter, so handles of one (tests make many) are never taken for
/// another's.
pub fn new_owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn slot(key: u128) -> usize {
    key as usize % SLOTS
}

/// Runs `f` on this thread's handle for `key`, if it has one.
pub fn with<R>(owner: u64, key: u128, f: impl FnOnce(&Bucket) -> R) -> Option<R> {
    HANDLES.with_borrow(|handles| {
        let handle = handles.get(slot(key))?.as_ref()?;
        (handle.owner == owner && handle.key == key).then(|| f(&handle.bucket))
    })
}

/// Keeps a handle for `key` (replacing whatever shared its slot).
pub fn keep(owner: u64, key: u128, bucket: Arc<Bucket>) {
    HANDLES.with_borrow_mut(|handles| {
        if handles.is_empty() {
            handles.resize_with(SLOTS, || None);
        }
        handles[slot(key)] = Some(Handle { owner, key, bucket });
    });
}

/// Drops this thread's handle for `key` (its bucket was evicted).
pub fn forget(owner: u64, key: u128) {
    HANDLES.with_borrow_mut(|handles| {
        if let Some(h) = handles.get_mut(slot(key))
            && h.as_ref().is_some_and(|h| h.owner == owner && h.key == key)
        {
            *h = None;
        }
    });
}
