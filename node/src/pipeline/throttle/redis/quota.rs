//! A key's quota as this node sees it: the current period, the lease of requests Redis
//! granted for it, and what was admitted while Redis could not be asked (counted in Redis
//! once it answers again).

use super::super::calendar::Period;
use super::super::limiter::{LimitKind, Standing};
use super::lease::Lease;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct LeasedQuota {
    pub lease: Lease,
    pub plan: Box<str>,
    pub key: Box<str>,
    /// The period the lease belongs to.
    tag: AtomicU32,
    end_ms: AtomicI64,
    pub limit: AtomicU64,
    fallback: Mutex<Fallback>,
}

/// Counting without Redis: an allowance for this node, and what it admitted beyond what
/// Redis had granted (to be added to the Redis counter later; negative: granted but unused).
#[derive(Debug, Default)]
struct Fallback {
    epoch: u64,
    left: i64,
    uncounted: i64,
    tag: u32,
}

/// What counting without Redis decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    Admitted {
        left: u64,
    },
    Exhausted,
    /// This node never learned the key's standing in this period: the plan's fail mode
    /// decides.
    Unknown,
}

impl LeasedQuota {
    pub fn new(plan: &str, key: &str, period: &Period, limit: u64) -> LeasedQuota {
        LeasedQuota {
            lease: Lease::default(),
            plan: plan.into(),
            key: key.into(),
            tag: AtomicU32::new(period.tag),
            end_ms: AtomicI64::new(period.end_ms),
            limit: AtomicU64::new(limit),
            fallback: Mutex::default(),
        }
    }

    /// Moves the lease to `period` if it belongs to an earlier one: its tokens counted for
    /// that period and are dropped.
    pub fn enter(&self, period: &Period, limit: u64) {
        if self.limit.load(Ordering::Relaxed) != limit {
            self.limit.store(limit, Ordering::Relaxed);
        }
        let tag = self.tag.load(Ordering::Acquire);
        if tag != period.tag
            && self
                .tag
                .compare_exchange(tag, period.tag, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.end_ms.store(period.end_ms, Ordering::Release);
            self.lease.clear();
        }
    }

    pub fn tag(&self) -> u32 {
        self.tag.load(Ordering::Acquire)
    }

    pub fn end_ms(&self) -> i64 {
        self.end_ms.load(Ordering::Acquire)
    }

    pub fn standing(&self, left: u64, now_ms: i64) -> Standing {
        Standing {
            kind: LimitKind::Quota,
            limit: self.limit.load(Ordering::Relaxed),
            remaining: left + self.lease.remote_left(),
            reset: Duration::from_millis((self.end_ms() - now_ms).max(0) as u64),
        }
    }

    /// Admits one request without Redis, in fallback `epoch` with `nodes` live nodes. The
    /// first request of an epoch sets the allowance: the unused lease plus this node's share
    /// of what Redis had left (or of the whole limit in a period nobody could use yet).
    pub fn admit_offline(&self, epoch: u64, nodes: u64, period_started_offline: bool) -> Offline {
        let mut f = self.fallback.lock().unwrap_or_else(|e| e.into_inner());
        if f.epoch != epoch {
            let tag = self.tag();
            let leased = self.lease.take_all() as i64;
            let share = if period_started_offline {
                self.limit.load(Ordering::Relaxed) / nodes
            } else if self.lease.is_warm() {
                self.lease.remote_left() / nodes
            } else {
                // Nothing known: give the unused lease back if there is one, then fail mode.
                if f.tag == tag {
                    f.uncounted -= leased;
                } else {
                    *f = Fallback {
                        tag,
                        uncounted: -leased,
                        ..Fallback::default()
                    };
                }
                f.epoch = epoch;
                f.left = -1;
                return Offline::Unknown;
            };
            if f.tag != tag {
                f.uncounted = 0;
                f.tag = tag;
            }
            f.epoch = epoch;
            f.left = leased + share as i64;
            f.uncounted -= leased;
        }
        if f.left < 0 {
            return Offline::Unknown;
        }
        if f.left == 0 {
            return Offline::Exhausted;
        }
        f.left -= 1;
        f.uncounted += 1;
        Offline::Admitted {
            left: f.left as u64,
        }
    }

    /// Counts an admission made under fail-open, with nothing known, in the current period.
    /// (It must be counted against the period it was admitted in: counted under another, it
    /// never reduced what Redis hands out, and a far Redis overshot quotas by every request
    /// admitted before a node's first lease came back.)
    pub fn count_unknown(&self) {
        let mut f = self.fallback.lock().unwrap_or_else(|e| e.into_inner());
        let tag = self.tag();
        if f.tag != tag {
            // Whatever an earlier period left uncounted no longer limits anything.
            f.tag = tag;
            f.uncounted = 0;
        }
        f.uncounted += 1;
    }

    /// What Redis has not counted yet, and for which period; zeroed (the caller reports it).
    pub fn take_uncounted(&self) -> Option<(u32, i64)> {
        let mut f = self.fallback.lock().unwrap_or_else(|e| e.into_inner());
        let n = std::mem::take(&mut f.uncounted);
        (n != 0).then_some((f.tag, n))
    }

    /// Puts back what a report that failed did not get counted.
    pub fn restore_uncounted(&self, tag: u32, n: i64) {
        let mut f = self.fallback.lock().unwrap_or_else(|e| e.into_inner());
        if f.tag == tag {
            f.uncounted += n;
        }
    }
}
