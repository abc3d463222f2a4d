//! When Redis cannot be asked: the health state that says so, and deciding a request with this
//! node's share of every limit (`limit / live nodes`) in the embedded limiter, so the cluster
//! as a whole still admits about the limit. Leasing resumes by itself when Redis answers.

use super::super::limiter::{Admission, Limit, Scope, Standing, Verdict};
use super::super::local::{LocalLimiter, tighten};
use super::metrics;
use edgeway_shared::ThrottleSettings;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Consecutive failed calls that put the node in fallback.
const FAILURES_TO_FALL_BACK: u32 = 2;

#[derive(Debug, Default)]
pub struct Health {
    fallback: AtomicBool,
    /// Counts fallback episodes: quota allowances are set once per episode.
    epoch: AtomicU64,
    failures: AtomicU32,
    /// When the current episode began, Unix ms.
    since_ms: AtomicI64,
}

impl Health {
    /// Starts in fallback until the first call succeeds: a node never waits for Redis to start.
    pub fn starting(now_ms: i64) -> Health {
        let health = Health::default();
        health.fallback.store(true, Ordering::Release);
        health.since_ms.store(now_ms, Ordering::Release);
        health.epoch.store(1, Ordering::Release);
        metrics::fallback(true);
        health
    }

    pub fn in_fallback(&self) -> bool {
        self.fallback.load(Ordering::Acquire)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn since_ms(&self) -> i64 {
        self.since_ms.load(Ordering::Acquire)
    }

    /// A recent call failed: requests that cannot get a lease should not be refused for it.
    pub fn shaky(&self) -> bool {
        self.failures.load(Ordering::Acquire) > 0 || self.in_fallback()
    }

    pub fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Release);
        }
    }

    /// A call failed; returns true when this failure started fallback.
    pub fn failed(&self, now_ms: i64, why: &str) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        failures >= FAILURES_TO_FALL_BACK && self.enter(now_ms, why)
    }

    /// Falls back now (a request found no lease and a call failed lately).
    pub fn fall_back(&self, now_ms: i64, why: &str) {
        self.enter(now_ms, why);
    }

    fn enter(&self, now_ms: i64, why: &str) -> bool {
        if self.fallback.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.since_ms.store(now_ms, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        metrics::fallback(true);
        tracing::warn!(
            reason = why,
            "redis unavailable: limits fall back to this node's share"
        );
        true
    }

    /// Redis answered again.
    pub fn recovered(&self) {
        self.failures.store(0, Ordering::Release);
        if self.fallback.swap(false, Ordering::AcqRel) {
            metrics::fallback(false);
            tracing::info!("redis reachable: limits are leased from it");
        }
    }
}

/// A throttle's share on one of `nodes` live nodes: rate and burst divided, burst at least 1.
pub fn share(settings: &ThrottleSettings, nodes: usize) -> ThrottleSettings {
    let n = nodes.max(1) as f64;
    ThrottleSettings {
        rate_limit: settings.rate_limit / n,
        burst_limit: ((f64::from(settings.burst_limit) / n).ceil() as u32).max(1),
    }
}

/// Decides `admission` in the embedded limiter with this node's share of each throttle (the
/// node-wide limit is this node's own and stays whole), then the quota through `quota`; a
/// refusing quota gets the throttles' tokens back.
pub fn admit(
    local: &LocalLimiter,
    admission: &Admission<'_>,
    nodes: usize,
    quota: impl FnOnce() -> Result<Option<Standing>, Verdict>,
) -> Verdict {
    let mut limits = [Limit {
        scope: Scope::Node,
        settings: ThrottleSettings {
            rate_limit: 1.0,
            burst_limit: 1,
        },
    }; 5];
    let count = admission.limits.len().min(limits.len());
    for (slot, limit) in limits.iter_mut().zip(admission.limits) {
        *slot = match limit.scope {
            Scope::Node => *limit,
            scope => Limit {
                scope,
                settings: share(&limit.settings, nodes),
            },
        };
    }
    let throttles = Admission {
        limits: &limits[..count],
        usage: None,
    };
    let verdict = local.admit_now(&throttles);
    let Verdict::Admitted(mut tightest) = verdict else {
        return verdict;
    };
    match quota() {
        Ok(standing) => {
            if let Some(s) = standing {
                tighten(&mut tightest, s);
            }
            Verdict::Admitted(tightest)
        }
        Err(refused) => {
            local.give_back(&throttles, count);
            refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_divide_rate_and_burst() {
        let s = ThrottleSettings {
            rate_limit: 100.0,
            burst_limit: 10,
        };
        assert_eq!(share(&s, 1), s);
        let third = share(&s, 3);
        assert!((third.rate_limit - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(third.burst_limit, 4);
        assert_eq!(share(&s, 50).burst_limit, 1);
        assert_eq!(share(&s, 0), s, "no membership yet counts as alone");
    }

    #[test]
    fn two_failures_start_one_episode_and_success_ends_it() {
        let h = Health::default();
        assert!(!h.failed(1, "x"));
        assert!(h.shaky() && !h.in_fallback());
        assert!(h.failed(2, "x"));
        assert!(!h.failed(3, "x"), "already in fallback");
        assert_eq!((h.epoch(), h.since_ms()), (1, 2));
        h.recovered();
        assert!(!h.in_fallback() && !h.shaky());
        h.failed(4, "x");
        h.failed(5, "x");
        assert_eq!(h.epoch(), 2);
    }
}
