//! Cache metrics per API and stage, registered once per stage cache so the request path only
//! bumps atomics.

use metrics::{Counter, Gauge, counter, gauge};

pub const HITS: &str = "edgeway_cache_hits_total";
pub const MISSES: &str = "edgeway_cache_misses_total";
pub const COALESCED: &str = "edgeway_cache_coalesced_total";
pub const EVICTIONS: &str = "edgeway_cache_evictions_total";
pub const BYTES: &str = "edgeway_cache_bytes";

pub struct CacheStats {
    /// Answered from the cache.
    pub hits: Counter,
    /// Went to the integration (an invalidation counts as a miss).
    pub misses: Counter,
    /// Waited for another request of the same key and got its answer.
    pub coalesced: Counter,
    /// Entries pushed out to make room (expiry is not eviction).
    pub evictions: Counter,
    /// What the stage's entries weigh.
    pub bytes: Gauge,
}

impl CacheStats {
    pub fn new(api: &str, stage: &str) -> CacheStats {
        let labels = [("api", api.to_string()), ("stage", stage.to_string())];
        CacheStats {
            hits: counter!(HITS, &labels),
            misses: counter!(MISSES, &labels),
            coalesced: counter!(COALESCED, &labels),
            evictions: counter!(EVICTIONS, &labels),
            bytes: gauge!(BYTES, &labels),
        }
    }
}
