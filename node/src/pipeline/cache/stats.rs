//! Cache metrics per API and stage, registered once per stage cache so the request path only
//! bumps atomics. Hits, misses and coalesced waits are counted per route and protocol with
//! the route's series (`crate::metrics::RouteMetrics`).

use metrics::{Counter, Gauge, counter, gauge};

pub const EVICTIONS: &str = "edgeway_cache_evictions_total";
pub const BYTES: &str = "edgeway_cache_bytes";

pub struct CacheStats {
    /// Entries pushed out to make room (expiry is not eviction).
    pub evictions: Counter,
    /// What the stage's entries weigh.
    pub bytes: Gauge,
}

impl CacheStats {
    pub fn new(api: &str, stage: &str) -> CacheStats {
        let labels = [("api", api.to_string()), ("stage", stage.to_string())];
        CacheStats {
            evictions: counter!(EVICTIONS, &labels),
            bytes: gauge!(BYTES, &labels),
        }
    }
}
