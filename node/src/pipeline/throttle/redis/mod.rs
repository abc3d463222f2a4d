//! The cluster-wide limiter: every throttle and quota held in Redis, served from leases.
//!
//! Each node leases tokens from a bucket's Redis state (one atomic Lua script, Redis server
//! time) and admits requests from its lease in-process; a background leaser asks for the next
//! lease before this one runs out, so a request does not wait for Redis while its node holds
//! tokens. Only a request that finds no tokens and no answer saying the bucket is empty waits,
//! at most `lease_wait_ms`. With Redis unreachable, each node decides with its share of every
//! limit (see [`fallback`]). The node-wide limit and daily usage stay in the embedded limiter.

mod admit;
mod bucket;
mod client;
mod fallback;
mod lease;
mod leaser;
mod metrics;
mod quota;
mod script;
mod settings;
mod store;

pub use client::CallError;
pub use settings::RedisSettings;
pub use store::{BucketGrant, QuotaGrant, Store};

use super::calendar::{Period, period_at};
use super::limiter::{Admission, Admit, BoxFuture, Limiter, QuotaStanding, Scope};
use super::local::LocalLimiter;
use super::quota::DayUsage;
use super::shards::{Fingerprinter, ShardedMap};
use bucket::LeasedBucket;
use edgeway_shared::{QuotaSettings, ThrottleSettings};
use fallback::Health;
use quota::LeasedQuota;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, watch};

pub struct RedisLimiter {
    shared: Arc<Shared>,
    leaser: tokio::task::JoinHandle<()>,
}

/// What the request path and the leaser share.
struct Shared {
    settings: RedisSettings,
    store: Store,
    /// The node-wide limit, daily usage, and the fallback buckets.
    local: Arc<LocalLimiter>,
    epoch: tokio::time::Instant,
    buckets: ShardedMap<Arc<LeasedBucket>>,
    quotas: ShardedMap<Arc<LeasedQuota>>,
    fingerprints: Fingerprinter,
    /// Wakes the leaser before its next tick.
    wake: Notify,
    health: Health,
    /// Live nodes of the cluster, this one included.
    live_nodes: watch::Receiver<usize>,
    per_plan: metrics::PerPlan,
    /// Round trip to Redis, nanoseconds, smoothed.
    rtt: AtomicU64,
}

impl RedisLimiter {
    /// Starts the limiter and its leaser on the current runtime, after one try to reach Redis
    /// (bounded by the call deadline). Redis need not be up: until it answers, the node
    /// decides with its share of each limit.
    pub async fn start(
        settings: RedisSettings,
        local: Arc<LocalLimiter>,
        live_nodes: watch::Receiver<usize>,
    ) -> Result<RedisLimiter, CallError> {
        let store = Store::new(&settings)?;
        let health = Health::starting(local.now_ms());
        let shared = Arc::new(Shared {
            settings,
            store,
            local,
            epoch: tokio::time::Instant::now(),
            buckets: ShardedMap::default(),
            quotas: ShardedMap::default(),
            fingerprints: Fingerprinter::default(),
            wake: Notify::new(),
            health,
            live_nodes,
            per_plan: metrics::PerPlan::default(),
            rtt: AtomicU64::new(0),
        });
        if !leaser::probe(&shared).await {
            tracing::warn!(
                "redis unavailable at start: limits fall back to this node's share until it answers"
            );
        }
        let leaser = tokio::spawn(leaser::run(shared.clone()));
        Ok(RedisLimiter { shared, leaser })
    }

    /// Whether requests are decided without Redis now.
    pub fn in_fallback(&self) -> bool {
        self.shared.health.in_fallback()
    }
}

impl Drop for RedisLimiter {
    fn drop(&mut self) {
        self.leaser.abort();
    }
}

impl Shared {
    /// Nanoseconds since the limiter started, on tokio's clock (never 0).
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }

    fn nodes(&self) -> usize {
        (*self.live_nodes.borrow()).max(1)
    }

    fn ms(value: u64) -> u64 {
        value * 1_000_000
    }

    /// How long a lease should last: the refill interval, or four round trips to a far Redis.
    fn span(&self) -> u64 {
        let rtt = self.rtt.load(Ordering::Relaxed);
        Shared::ms(self.settings.refill_interval_ms).max(4 * rtt)
    }

    fn bucket(&self, scope: &Scope<'_>, settings: &ThrottleSettings) -> Arc<LeasedBucket> {
        let id = self.fingerprints.of(scope);
        let make = || {
            let key = self.store.bucket_key(scope).unwrap_or_default();
            Arc::new(LeasedBucket::new(key, scope.kind(), settings))
        };
        let bucket = self.buckets.with(id, make, Arc::clone);
        bucket.update(settings);
        bucket
    }

    fn quota(
        &self,
        plan: &str,
        key: &str,
        settings: &QuotaSettings,
        period: &Period,
    ) -> Arc<LeasedQuota> {
        let id = self.fingerprints.of(&(plan, key));
        let make = || Arc::new(LeasedQuota::new(plan, key, period, settings.limit));
        let quota = self.quotas.with(id, make, Arc::clone);
        quota.enter(period, settings.limit);
        quota
    }

    fn quota_key(&self, q: &LeasedQuota, tag: u32) -> String {
        self.store.quota_key(&q.plan, &q.key, tag)
    }
}

impl Shared {
    /// The key's quota standing as Redis holds it; what Redis said last when it cannot answer.
    async fn standing(&self, plan: &str, key: &str, quota: &QuotaSettings) -> QuotaStanding {
        let period = period_at(quota, self.local.now_ms());
        let q = self.quota(plan, key, quota, &period);
        let redis_key = self.quota_key(&q, period.tag);
        let remaining = match self.store.quota_used(&redis_key).await {
            Ok(used) => (quota.limit as i64 - used).max(0) as u64,
            Err(_) => q.lease.remote_left() + q.lease.local_left(),
        };
        QuotaStanding {
            remaining,
            period_start_ms: period.start_ms,
            period_end_ms: period.end_ms,
        }
    }

    /// AWS UpdateUsage: sets what is left of the current period in Redis, for every node.
    async fn set_remaining(
        &self,
        plan: &str,
        key: &str,
        quota: &QuotaSettings,
        remaining: Option<u64>,
    ) -> Result<QuotaStanding, CallError> {
        let period = period_at(quota, self.local.now_ms());
        let q = self.quota(plan, key, quota, &period);
        let redis_key = self.quota_key(&q, period.tag);
        let remaining = remaining.unwrap_or(quota.limit).min(1 << 50) as i64;
        let used = quota.limit.min(1 << 50) as i64 - remaining;
        self.store
            .set_quota_used(&redis_key, used, period.end_ms)
            .await?;
        // This node's unused lease was counted before the change; the change wins.
        q.lease.take_all();
        Ok(self.standing(plan, key, quota).await)
    }
}

impl Limiter for RedisLimiter {
    fn admit(&self, admission: &Admission<'_>) -> Admit {
        admit::admit(&self.shared, admission)
    }

    /// Requests this node served per day (quotas are cluster-wide; daily use is per node).
    fn usage(&self, plan: &str, key: &str, first: i64, last: i64) -> BTreeMap<i64, DayUsage> {
        self.shared.local.usage(plan, key, first, last)
    }

    fn quota(&self, plan: &str, key: &str, quota: &QuotaSettings) -> BoxFuture<QuotaStanding> {
        let shared = self.shared.clone();
        let (plan, key, quota) = (plan.to_string(), key.to_string(), *quota);
        Box::pin(async move { shared.standing(&plan, &key, &quota).await })
    }

    fn set_quota_remaining(
        &self,
        plan: &str,
        key: &str,
        quota: &QuotaSettings,
        remaining: Option<u64>,
    ) -> BoxFuture<Result<QuotaStanding, String>> {
        let shared = self.shared.clone();
        let (plan, key, quota) = (plan.to_string(), key.to_string(), *quota);
        Box::pin(async move {
            shared
                .set_remaining(&plan, &key, &quota, remaining)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
