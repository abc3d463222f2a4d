//! Quota counters and daily usage of one API key in one usage plan. Each counter is one
//! `AtomicU64` packing a period tag with a count, so rolling over into a new period and
//! counting are one compare-and-swap: no lock on the request path.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// The stored count is `used + BIAS`, so an operator can grant more than the limit for the
/// current period (AWS UpdateUsage), which makes `used` negative.
const BIAS: i64 = 1 << 38;
/// Quota limits above this (5.5 · 10^11 requests per period) count as this.
pub const MAX_LIMIT: u64 = 1 << 39;
/// Daily usage kept for reports, in days.
pub const HISTORY_DAYS: i64 = 90;

fn pack(tag: u32, used: i64) -> u64 {
    (u64::from(tag) << COUNT_BITS) | ((used + BIAS) as u64 & COUNT_MASK)
}

fn unpack(word: u64) -> (u32, i64) {
    (
        (word >> COUNT_BITS) as u32,
        (word & COUNT_MASK) as i64 - BIAS,
    )
}

/// Requests used in the current quota period.
#[derive(Debug)]
pub struct QuotaCounter(AtomicU64);

impl Default for QuotaCounter {
    fn default() -> Self {
        QuotaCounter(AtomicU64::new(pack(0, 0)))
    }
}

impl QuotaCounter {
    /// Takes one request of the period `tag` if any is left; returns what remains after it.
    pub fn take(&self, tag: u32, limit: u64) -> Result<u64, ()> {
        let limit = limit.min(MAX_LIMIT) as i64;
        let mut word = self.0.load(Ordering::Acquire);
        loop {
            let (old_tag, used) = unpack(word);
            let used = if old_tag == tag { used } else { 0 };
            if used >= limit {
                return Err(());
            }
            match self.0.compare_exchange_weak(
                word,
                pack(tag, used + 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok((limit - used - 1) as u64),
                Err(current) => word = current,
            }
        }
    }

    /// What is left of period `tag`.
    pub fn remaining(&self, tag: u32, limit: u64) -> u64 {
        let (old_tag, used) = unpack(self.0.load(Ordering::Acquire));
        let used = if old_tag == tag { used } else { 0 };
        (limit.min(MAX_LIMIT) as i64 - used).max(0) as u64
    }

    /// Sets what is left of period `tag`; more than the limit is allowed (up to 2.7 · 10^11
    /// over it).
    pub fn set_remaining(&self, tag: u32, limit: u64, remaining: u64) {
        let limit = limit.min(MAX_LIMIT) as i64;
        let remaining = remaining.min((limit + BIAS) as u64) as i64;
        self.0
            .store(pack(tag, limit - remaining), Ordering::Release);
    }

    /// The raw (tag, used) pair, for saving.
    pub fn state(&self) -> (u32, i64) {
        unpack(self.0.load(Ordering::Acquire))
    }

    pub fn restore(&self, tag: u32, used: i64) {
        let used = used.clamp(-BIAS, MAX_LIMIT as i64);
        self.0.store(pack(tag, used), Ordering::Release);
    }
}

/// One day's use of a key in a plan, as AWS GetUsage reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    pub used: u64,
    /// Quota left at the end of the day (at the last request seen that day); none without quota.
    pub remaining: Option<u64>,
}

/// A key's use of one plan: its quota and its requests per UTC day.
#[derive(Debug)]
pub struct KeyUsage {
    pub plan_id: Box<str>,
    pub key_id: Box<str>,
    pub quota: QuotaCounter,
    /// Today's day number and request count, packed like the quota counter.
    today: AtomicU64,
    /// Quota left after the latest request; `u64::MAX` = no quota.
    last_remaining: AtomicU64,
    /// Earlier days, touched once a day per key (when the day turns).
    history: Mutex<BTreeMap<i64, DayUsage>>,
    /// The last day an operator changed the quota (`i64::MIN`: never).
    touched: AtomicI64,
}

impl KeyUsage {
    pub fn new(plan_id: &str, key_id: &str) -> KeyUsage {
        KeyUsage {
            plan_id: plan_id.into(),
            key_id: key_id.into(),
            quota: QuotaCounter::default(),
            today: AtomicU64::new(pack(0, 0)),
            last_remaining: AtomicU64::new(u64::MAX),
            history: Mutex::default(),
            touched: AtomicI64::new(i64::MIN),
        }
    }

    /// Counts one admitted request on `day`, leaving `remaining` of the quota (if any).
    pub fn record(&self, day: i64, remaining: Option<u64>) {
        let tag = day as u32;
        let mut word = self.today.load(Ordering::Acquire);
        loop {
            let (old_day, count) = unpack(word);
            let next = if old_day == tag { count + 1 } else { 1 };
            match self.today.compare_exchange_weak(
                word,
                pack(tag, next),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if old_day != tag && count > 0 {
                        // This request turned the day: file yesterday's count.
                        let left = self.last_remaining.load(Ordering::Acquire);
                        self.file(old_day as i64, count as u64, left, day);
                    }
                    break;
                }
                Err(current) => word = current,
            }
        }
        self.last_remaining
            .store(remaining.unwrap_or(u64::MAX), Ordering::Release);
    }

    fn file(&self, day: i64, used: u64, left: u64, today: i64) {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let remaining = (left != u64::MAX).then_some(left);
        history.insert(day, DayUsage { used, remaining });
        history.retain(|d, _| *d > today - HISTORY_DAYS);
    }

    /// Every day with requests, today's included.
    pub fn days(&self) -> BTreeMap<i64, DayUsage> {
        let mut days = self
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (day, count) = unpack(self.today.load(Ordering::Acquire));
        if count > 0 {
            let left = self.last_remaining.load(Ordering::Acquire);
            days.insert(
                i64::from(day),
                DayUsage {
                    used: count as u64,
                    remaining: (left != u64::MAX).then_some(left),
                },
            );
        }
        days
    }

    /// Puts saved days back (at start, before any request).
    pub fn restore_days(&self, days: BTreeMap<i64, DayUsage>) {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        for (day, usage) in days {
            history.insert(day, usage);
        }
        // The latest saved day becomes "today" again, so requests later that day add to it.
        if let Some((&day, usage)) = history.iter().next_back() {
            self.today
                .store(pack(day as u32, usage.used as i64), Ordering::Release);
            self.last_remaining
                .store(usage.remaining.unwrap_or(u64::MAX), Ordering::Release);
            history.remove(&day);
        }
    }

    /// Notes that an operator changed the quota on `day`.
    pub fn touch(&self, day: i64) {
        self.touched.fetch_max(day, Ordering::AcqRel);
    }

    /// The latest day with requests or an operator's change, if any (for dropping entries
    /// nobody uses).
    pub fn last_day(&self) -> Option<i64> {
        let (day, count) = unpack(self.today.load(Ordering::Acquire));
        let used = (count > 0).then_some(i64::from(day));
        used.max(self.touched_day())
    }

    pub fn touched_day(&self) -> Option<i64> {
        let touched = self.touched.load(Ordering::Acquire);
        (touched != i64::MIN).then_some(touched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_counts_down_and_starts_again_in_a_new_period() {
        let q = QuotaCounter::default();
        assert_eq!(q.take(7, 3), Ok(2));
        assert_eq!(q.take(7, 3), Ok(1));
        assert_eq!(q.take(7, 3), Ok(0));
        assert_eq!(q.take(7, 3), Err(()));
        assert_eq!(q.remaining(7, 3), 0);
        assert_eq!(q.remaining(8, 3), 3);
        assert_eq!(q.take(8, 3), Ok(2));
        assert_eq!(q.remaining(8, 3), 2);
    }

    #[test]
    fn remaining_can_be_set_above_or_below_the_limit() {
        let q = QuotaCounter::default();
        q.set_remaining(1, 10, 25);
        assert_eq!(q.remaining(1, 10), 25);
        assert_eq!(q.take(1, 10), Ok(24));
        q.set_remaining(1, 10, 0);
        assert_eq!(q.take(1, 10), Err(()));
        q.set_remaining(1, 10, u64::MAX);
        assert_eq!(q.remaining(1, 10), 10 + (1 << 38));
        let (tag, used) = q.state();
        let copy = QuotaCounter::default();
        copy.restore(tag, used);
        assert_eq!(copy.remaining(1, 10), q.remaining(1, 10));
    }

    #[test]
    fn huge_limits_are_capped_not_wrapped() {
        let q = QuotaCounter::default();
        assert_eq!(q.take(1, u64::MAX), Ok(MAX_LIMIT - 1));
    }

    #[test]
    fn days_are_filed_when_the_day_turns() {
        let u = KeyUsage::new("p", "k");
        u.record(100, Some(9));
        u.record(100, Some(8));
        u.record(101, Some(7));
        let days = u.days();
        assert_eq!(
            days[&100],
            DayUsage {
                used: 2,
                remaining: Some(8)
            }
        );
        assert_eq!(
            days[&101],
            DayUsage {
                used: 1,
                remaining: Some(7)
            }
        );
        u.record(101 + HISTORY_DAYS, None);
        let days = u.days();
        assert!(!days.contains_key(&100), "older than the history");
        assert_eq!(days[&(101 + HISTORY_DAYS)].remaining, None);

        let copy = KeyUsage::new("p", "k");
        copy.restore_days(u.days());
        assert_eq!(copy.days(), u.days());
        copy.record(101 + HISTORY_DAYS, None);
        assert_eq!(copy.days()[&(101 + HISTORY_DAYS)].used, 2);
    }
}
