//! The embedded limiter: every bucket and quota counter in this process. Buckets are GCRA
//! atomics found through each thread's handles, else in a sharded map (the node-wide bucket is
//! a field of its own); quota counters are packed atomics. Time for buckets comes from tokio's clock (so tests can pause it), the
//! calendar for quotas from a [`WallClock`].

use super::bucket::{Bucket, Gcra, Take};
use super::calendar::{DAY_MS, SystemClock, WallClock, period_at};
use super::handles;
use super::limiter::{
    Admission, Admit, BoxFuture, LimitKind, Limiter, QuotaStanding, Scope, Standing, Verdict,
};
use super::quota::{DayUsage, HISTORY_DAYS, KeyUsage};
use super::shards::{Fingerprinter, Padded, ShardedMap};
use edgeway_shared::QuotaSettings;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct LocalLimiter {
    epoch: tokio::time::Instant,
    pub(super) clock: Arc<dyn WallClock>,
    /// Written by every request: alone on its cache lines, away from the fields they read.
    node: Padded<Bucket>,
    pub(super) buckets: ShardedMap<Arc<Bucket>>,
    /// This limiter's name in the threads' bucket handles.
    owner: u64,
    pub(super) usage: ShardedMap<KeyUsage>,
    fingerprints: Fingerprinter,
    /// One save at a time (the periodic one may still run when shutdown saves).
    pub(super) saving: std::sync::Mutex<()>,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        LocalLimiter::with_clock(Arc::new(SystemClock))
    }
}

impl LocalLimiter {
    pub fn with_clock(clock: Arc<dyn WallClock>) -> LocalLimiter {
        LocalLimiter {
            epoch: tokio::time::Instant::now(),
            clock,
            node: Padded::default(),
            buckets: ShardedMap::default(),
            owner: handles::new_owner(),
            usage: ShardedMap::default(),
            fingerprints: Fingerprinter::default(),
            saving: std::sync::Mutex::default(),
        }
    }

    /// Nanoseconds since the limiter was made, on tokio's clock.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Runs `act` on the bucket of `scope`: through this thread's handle when it has one, else
    /// found (or made) in the map and kept as a handle. `act` answers `None` when the bucket
    /// turns out evicted; then the key's current bucket is looked up.
    fn on_bucket<R>(&self, scope: &Scope<'_>, act: impl Fn(&Bucket) -> Option<R>) -> R {
        if let Scope::Node = scope
            && let Some(done) = act(&self.node)
        {
            return done;
        }
        let key = self.fingerprints.of(scope);
        match handles::with(self.owner, key, &act) {
            Some(Some(done)) => return done,
            Some(None) => handles::forget(self.owner, key),
            None => {}
        }
        loop {
            let bucket = self.buckets.with(key, Arc::default, Arc::clone);
            if let Some(done) = act(&bucket) {
                handles::keep(self.owner, key, bucket);
                return done;
            }
            // Evicted between the lookup and `act`: the sweep removes it; make sure, then retry.
            self.buckets.remove_if(key, |b| Arc::ptr_eq(b, &bucket));
        }
    }

    fn take(&self, scope: &Scope<'_>, gcra: &Gcra, now: u64) -> Take {
        self.on_bucket(scope, |b| b.take(gcra, now))
    }

    pub(super) fn usage_key(&self, plan: &str, key: &str) -> u128 {
        self.fingerprints.of(&(plan, key))
    }

    /// Decides at `now` (nanoseconds on the limiter's clock).
    pub fn admit_at(&self, admission: &Admission<'_>, now: u64) -> Verdict {
        let mut tightest: Option<Standing> = None;
        for (i, limit) in admission.limits.iter().enumerate() {
            let gcra = Gcra::new(&limit.settings);
            let kind = limit.scope.kind();
            match self.take(&limit.scope, &gcra, now) {
                Take::Admitted { remaining, full_in } => tighten(
                    &mut tightest,
                    Standing {
                        kind,
                        limit: gcra.burst,
                        remaining,
                        reset: Duration::from_nanos(full_in),
                    },
                ),
                Take::Refused { retry_in, full_in } => {
                    self.give_back(admission, i);
                    return Verdict::Refused {
                        standing: Standing {
                            kind,
                            limit: gcra.burst,
                            remaining: 0,
                            reset: Duration::from_nanos(full_in),
                        },
                        retry_after: Duration::from_nanos(retry_in),
                    };
                }
            }
        }
        let Some(usage) = admission.usage else {
            return Verdict::Admitted(tightest);
        };
        let now_ms = self.clock.now_ms();
        let key = self.usage_key(usage.plan, usage.key);
        let make = || KeyUsage::new(usage.plan, usage.key);
        let quota = self.usage.with(key, make, |entry| {
            let Some(quota) = usage.quota else {
                entry.record(now_ms.div_euclid(DAY_MS), None);
                return Ok(None);
            };
            let period = period_at(&quota, now_ms);
            let standing = |remaining| Standing {
                kind: LimitKind::Quota,
                limit: quota.limit,
                remaining,
                reset: Duration::from_millis((period.end_ms - now_ms).max(0) as u64),
            };
            match entry.quota.take(period.tag, quota.limit) {
                Ok(remaining) => {
                    entry.record(now_ms.div_euclid(DAY_MS), Some(remaining));
                    Ok(Some(standing(remaining)))
                }
                Err(()) => Err(standing(0)),
            }
        });
        match quota {
            Ok(standing) => {
                if let Some(s) = standing {
                    tighten(&mut tightest, s);
                }
                Verdict::Admitted(tightest)
            }
            Err(standing) => {
                self.give_back(admission, admission.limits.len());
                Verdict::Refused {
                    standing,
                    retry_after: standing.reset,
                }
            }
        }
    }

    /// Decides now (tokio's clock).
    pub fn admit_now(&self, admission: &Admission<'_>) -> Verdict {
        self.admit_at(admission, self.now())
    }

    /// Counts one admitted request of a key on today's usage, without a quota (the
    /// cluster-wide limiter keeps quotas in Redis and daily use here).
    pub fn record_use(&self, plan: &str, key: &str) {
        let day = self.clock.now_ms().div_euclid(DAY_MS);
        let make = || KeyUsage::new(plan, key);
        self.usage
            .with(self.usage_key(plan, key), make, |u| u.record(day, None));
    }

    /// The calendar this limiter counts quotas by.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Gives back the tokens the first `taken` limits handed out.
    pub(super) fn give_back(&self, admission: &Admission<'_>, taken: usize) {
        for limit in &admission.limits[..taken] {
            let gcra = Gcra::new(&limit.settings);
            self.on_bucket(&limit.scope, |b| b.give_back(&gcra).then_some(()));
        }
    }

    /// Drops buckets that are full (they hold no state) and usage nobody has touched for the
    /// whole history window (its quota period is over). Memory stays bounded by what is in use.
    pub fn sweep(&self) {
        let now = self.now();
        self.buckets.retain(|b| !b.evict(now));
        let today = self.clock.now_ms().div_euclid(DAY_MS);
        self.usage
            .retain(|u| u.last_day().is_some_and(|d| d > today - HISTORY_DAYS));
    }

    /// Buckets held now (the node-wide one not counted).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    pub fn usage_count(&self) -> usize {
        self.usage.len()
    }
}

/// Keeps the standing with the fewest requests left (the first of equals: the narrower limit).
pub(super) fn tighten(tightest: &mut Option<Standing>, candidate: Standing) {
    if tightest.is_none_or(|t| candidate.remaining < t.remaining) {
        *tightest = Some(candidate);
    }
}

impl Limiter for LocalLimiter {
    fn admit(&self, admission: &Admission<'_>) -> Admit {
        Admit::Now(self.admit_now(admission))
    }

    fn usage(&self, plan: &str, key: &str, first: i64, last: i64) -> BTreeMap<i64, DayUsage> {
        self.usage
            .get(self.usage_key(plan, key), |u| {
                u.days()
                    .into_iter()
                    .filter(|(d, _)| (first..=last).contains(d))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn quota(&self, plan: &str, key: &str, quota: &QuotaSettings) -> BoxFuture<QuotaStanding> {
        Box::pin(std::future::ready(self.quota_now(plan, key, quota)))
    }

    fn set_quota_remaining(
        &self,
        plan: &str,
        key: &str,
        quota: &QuotaSettings,
        remaining: Option<u64>,
    ) -> BoxFuture<Result<QuotaStanding, String>> {
        let standing = self.set_quota_remaining_now(plan, key, quota, remaining);
        Box::pin(std::future::ready(Ok(standing)))
    }
}

impl LocalLimiter {
    pub fn quota_now(&self, plan: &str, key: &str, quota: &QuotaSettings) -> QuotaStanding {
        let period = period_at(quota, self.clock.now_ms());
        let remaining = self
            .usage
            .get(self.usage_key(plan, key), |u| {
                u.quota.remaining(period.tag, quota.limit)
            })
            .unwrap_or(quota.limit);
        QuotaStanding {
            remaining,
            period_start_ms: period.start_ms,
            period_end_ms: period.end_ms,
        }
    }

    pub fn set_quota_remaining_now(
        &self,
        plan: &str,
        key: &str,
        quota: &QuotaSettings,
        remaining: Option<u64>,
    ) -> QuotaStanding {
        let now_ms = self.clock.now_ms();
        let period = period_at(quota, now_ms);
        let make = || KeyUsage::new(plan, key);
        self.usage.with(self.usage_key(plan, key), make, |u| {
            let remaining = remaining.unwrap_or(quota.limit);
            u.quota.set_remaining(period.tag, quota.limit, remaining);
            u.touch(now_ms.div_euclid(DAY_MS));
        });
        self.quota_now(plan, key, quota)
    }
}
