//! The embedded limiter: every bucket and quota counter in this process. Buckets are GCRA
//! atomics found in a sharded map (the node-wide bucket is a field of its own); quota counters
//! are packed atomics. Time for buckets comes from tokio's clock (so tests can pause it), the
//! calendar for quotas from a [`WallClock`].

use super::bucket::{Bucket, Gcra, Take};
use super::calendar::{DAY_MS, SystemClock, WallClock, period_at};
use super::limiter::{
    Admission, Admit, LimitKind, Limiter, QuotaStanding, Scope, Standing, Verdict,
};
use super::quota::{DayUsage, HISTORY_DAYS, KeyUsage};
use super::shards::{Fingerprinter, ShardedMap};
use edgeway_shared::QuotaSettings;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct LocalLimiter {
    epoch: tokio::time::Instant,
    pub(super) clock: Arc<dyn WallClock>,
    node: Bucket,
    buckets: ShardedMap<Bucket>,
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
            node: Bucket::default(),
            buckets: ShardedMap::default(),
            usage: ShardedMap::default(),
            fingerprints: Fingerprinter::default(),
            saving: std::sync::Mutex::default(),
        }
    }

    /// Nanoseconds since the limiter was made, on tokio's clock.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn bucket<R>(&self, scope: &Scope<'_>, f: impl FnOnce(&Bucket) -> R) -> R {
        match scope {
            Scope::Node => f(&self.node),
            other => self
                .buckets
                .with(self.fingerprints.of(other), Bucket::default, f),
        }
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
            match self.bucket(&limit.scope, |b| b.take(&gcra, now)) {
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

    /// Gives back the tokens the first `taken` limits handed out.
    fn give_back(&self, admission: &Admission<'_>, taken: usize) {
        for limit in &admission.limits[..taken] {
            let gcra = Gcra::new(&limit.settings);
            self.bucket(&limit.scope, |b| b.give_back(&gcra));
        }
    }

    /// Drops buckets that are full (they hold no state) and usage nobody has touched for the
    /// whole history window (its quota period is over). Memory stays bounded by what is in use.
    pub fn sweep(&self) {
        let now = self.now();
        self.buckets.retain(|b| !b.is_full(now));
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
fn tighten(tightest: &mut Option<Standing>, candidate: Standing) {
    if tightest.is_none_or(|t| candidate.remaining < t.remaining) {
        *tightest = Some(candidate);
    }
}

impl Limiter for LocalLimiter {
    fn admit(&self, admission: &Admission<'_>) -> Admit {
        Admit::Now(self.admit_at(admission, self.now()))
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

    fn quota(&self, plan: &str, key: &str, quota: &QuotaSettings) -> QuotaStanding {
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

    fn set_quota_remaining(
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
        self.quota(plan, key, quota)
    }
}
