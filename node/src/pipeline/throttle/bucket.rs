//! One token bucket as GCRA (generic cell rate algorithm): the whole state is the theoretical
//! arrival time (TAT) of the next request, one `AtomicU64`, updated by compare-and-swap. No
//! lock, even when every request of the node takes from the same bucket.
//!
//! Equivalence with a token bucket of rate `r` and capacity `b`: with `T = 1/r`, a request at
//! `now` is admitted when `max(TAT, now) + T - now <= b·T`, i.e. when at least one of the `b`
//! tokens is left; `TAT <= now` means the bucket is full. A full bucket carries no state, so
//! dropping it (eviction) loses nothing.

use edgeway_shared::ThrottleSettings;
use std::sync::atomic::{AtomicU64, Ordering};

const NANOS_PER_SECOND: f64 = 1e9;
/// The TAT of a bucket dropped from its map: threads that still hold it must look it up again.
const EVICTED: u64 = u64::MAX;

/// A bucket's rate and capacity in nanoseconds of the limiter's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Time one token takes to come back (`1/rate`), at least 1 ns.
    pub interval: u64,
    /// The burst as time: `burst · interval`.
    pub tolerance: u64,
    pub burst: u64,
}

impl Gcra {
    pub fn new(settings: &ThrottleSettings) -> Gcra {
        // Rounding the interval down admits at most 1 ns early, and keeps "exactly `rate` per
        // second" exact for rates that divide a second unevenly (3/s: 3 × 333,333,333 ns ≤ 1 s).
        let interval = (NANOS_PER_SECOND / settings.rate_limit).clamp(1.0, 1e18) as u64;
        let burst = u64::from(settings.burst_limit.max(1));
        Gcra {
            interval,
            tolerance: interval.saturating_mul(burst),
            burst,
        }
    }
}

/// Where a bucket stands after a take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Admitted; `remaining` whole tokens are left and the bucket is full again after `full_in`.
    Admitted { remaining: u64, full_in: u64 },
    /// Refused; the next token comes back after `retry_in` nanoseconds.
    Refused { retry_in: u64, full_in: u64 },
}

/// One cache line per bucket: buckets of different keys in one map shard are written by
/// different threads.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Bucket {
    /// Theoretical arrival time, nanoseconds on the limiter's clock; 0 (or any past time) = full.
    tat: AtomicU64,
}

impl Bucket {
    /// Takes one token at `now`, or says when one will be there; `None` if the bucket was
    /// evicted (it was full; its key's current bucket is in the map).
    pub fn take(&self, gcra: &Gcra, now: u64) -> Option<Take> {
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            if tat == EVICTED {
                return None;
            }
            // Never up to the eviction mark, whatever the settings.
            let next = tat.max(now).saturating_add(gcra.interval).min(EVICTED - 1);
            let used = next - now;
            if used > gcra.tolerance {
                return Some(Take::Refused {
                    retry_in: used - gcra.tolerance,
                    full_in: tat.saturating_sub(now),
                });
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Some(Take::Admitted {
                        remaining: (gcra.tolerance - used) / gcra.interval,
                        full_in: used,
                    });
                }
                Err(current) => tat = current,
            }
        }
    }

    /// Returns the token a take admitted, when a later limit refused the request: a refused
    /// request uses nothing. False if the bucket was evicted (and so was full anyway).
    pub fn give_back(&self, gcra: &Gcra) -> bool {
        self.tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                (tat != EVICTED).then(|| tat.saturating_sub(gcra.interval))
            })
            .is_ok()
    }

    /// Marks the bucket evicted if it is full at `now` (dropping it then changes nothing); a
    /// take racing with this either comes first (and the bucket stays) or sees the mark.
    pub fn evict(&self, now: u64) -> bool {
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            if tat == EVICTED {
                return true;
            }
            if tat > now {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const S: u64 = 1_000_000_000;

    fn gcra(rate: f64, burst: u32) -> Gcra {
        Gcra::new(&ThrottleSettings {
            rate_limit: rate,
            burst_limit: burst,
        })
    }

    /// How many takes at `now` are admitted before the first refusal.
    fn drain(bucket: &Bucket, g: &Gcra, now: u64) -> u64 {
        let mut n = 0;
        while let Some(Take::Admitted { .. }) = bucket.take(g, now) {
            n += 1;
        }
        n
    }

    #[test]
    fn a_burst_is_admitted_at_once_then_exactly_rate_per_second() {
        let (b, g) = (Bucket::default(), gcra(10.0, 5));
        let start = 100 * S;
        assert_eq!(drain(&b, &g, start), 5);
        assert_eq!(
            drain(&b, &g, start + S / 10 - 1),
            0,
            "no token before 1/rate"
        );
        // Then one token every 1/rate: 10 in the next second.
        let later: u64 = (1..=10).map(|i| drain(&b, &g, start + i * S / 10)).sum();
        assert_eq!(later, 10);
        // Idle long enough: the burst again, never more.
        assert_eq!(drain(&b, &g, start + 60 * S), 5);
    }

    /// Takes at `from + step·i` for i in 1..=n; how many were admitted.
    fn paced(b: &Bucket, g: &Gcra, from: u64, step: u64, n: u64) -> u64 {
        (1..=n).map(|i| drain(b, g, from + step * i)).sum()
    }

    #[test]
    fn fractional_rates() {
        let (b, g) = (Bucket::default(), gcra(0.5, 1));
        assert_eq!(drain(&b, &g, 0), 1);
        assert_eq!(drain(&b, &g, 2 * S - 1), 0);
        assert_eq!(drain(&b, &g, 2 * S), 1);
        // 2.5/s: 5 tokens in 2 s, however finely they are asked for.
        let (b, g) = (Bucket::default(), gcra(2.5, 2));
        assert_eq!(drain(&b, &g, 0), 2);
        assert_eq!(paced(&b, &g, 0, S / 100, 200), 5);
        // 3/s, though 1/3 s is no whole number of nanoseconds: 3 per second, for 10 s.
        let (b, g) = (Bucket::default(), gcra(3.0, 1));
        assert_eq!(drain(&b, &g, 0), 1);
        assert_eq!(paced(&b, &g, 0, S / 3, 30), 30);
        // Asked for every millisecond: a burst of 2 absorbs the lateness, so still 30.
        let (b, g) = (Bucket::default(), gcra(3.0, 2));
        assert_eq!(drain(&b, &g, 0), 2);
        assert_eq!(paced(&b, &g, 0, S / 1000, 10_000), 30);
    }

    #[test]
    fn takes_report_remaining_tokens_and_when_to_retry() {
        let (b, g) = (Bucket::default(), gcra(2.0, 3));
        let remaining: Vec<u64> = (0..3)
            .map(|_| match b.take(&g, 0) {
                Some(Take::Admitted { remaining, .. }) => remaining,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        assert_eq!(
            b.take(&g, S / 4),
            Some(Take::Refused {
                retry_in: S / 4,
                full_in: 3 * S / 2 - S / 4
            })
        );
    }

    #[test]
    fn a_token_given_back_can_be_taken_again() {
        let (b, g) = (Bucket::default(), gcra(1.0, 2));
        assert_eq!(drain(&b, &g, 0), 2);
        assert!(b.give_back(&g));
        assert_eq!(drain(&b, &g, 0), 1);
        assert!(!b.evict(0), "not full: it keeps its state");
        assert!(b.evict(2 * S));
        assert_eq!(b.take(&g, 2 * S), None);
        assert!(!b.give_back(&g), "an evicted bucket stays evicted");
        assert_eq!(b.take(&g, 3 * S), None);
    }

    #[test]
    fn extreme_settings_neither_overflow_nor_divide_by_zero() {
        let (b, g) = (Bucket::default(), gcra(1e15, u32::MAX));
        assert_eq!(g.interval, 1);
        assert!(matches!(
            b.take(&g, u64::MAX - 2),
            Some(Take::Admitted { .. })
        ));
        let (b, g) = (Bucket::default(), gcra(1e-12, u32::MAX));
        for _ in 0..100 {
            assert!(matches!(b.take(&g, 0), Some(Take::Admitted { .. })));
        }
        assert!(
            !b.evict(u64::MAX - 2),
            "a saturated bucket is not taken for evicted"
        );
    }

    /// Threads race on one bucket while the clock steps forward; after every step they take
    /// until refused. Admissions must be exactly burst + rate × elapsed: no token is lost or
    /// handed out twice under contention.
    #[test]
    fn racing_threads_admit_exactly_burst_plus_rate_times_elapsed() {
        const THREADS: usize = 4;
        const STEPS: u64 = 200;
        let bucket = Arc::new(Bucket::default());
        let g = gcra(1000.0, 50);
        let now = Arc::new(AtomicU64::new(0));
        let admitted = Arc::new(AtomicU64::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|i| {
                let (bucket, now, admitted, barrier) = (
                    bucket.clone(),
                    now.clone(),
                    admitted.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    for step in 0..STEPS {
                        if i == 0 {
                            // Steps of 7.3 ms: not a whole number of tokens per step.
                            now.store(step * 7_300_000, Ordering::SeqCst);
                        }
                        barrier.wait();
                        let t = now.load(Ordering::SeqCst);
                        admitted.fetch_add(drain(&bucket, &g, t), Ordering::Relaxed);
                        barrier.wait();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let elapsed = (STEPS - 1) * 7_300_000;
        let expected = 50 + elapsed / g.interval;
        assert_eq!(admitted.load(Ordering::Relaxed), expected);
    }
}
