//! The embedded limiter shared by threads, as the public workers share it: exact counts under
//! contention, through the per-thread bucket handles and the map, and across evictions.

use super::*;
use std::sync::Barrier;

const SECOND: u64 = 1_000_000_000;

fn stage(name: &str, rate: f64, burst: u32) -> [Limit<'_>; 1] {
    [Limit {
        scope: Scope::Stage {
            api: "a",
            stage: name,
        },
        settings: ThrottleSettings {
            rate_limit: rate,
            burst_limit: burst,
        },
    }]
}

/// Admits at `now` until refused; how many passed.
fn drain(limiter: &LocalLimiter, limits: &[Limit<'_>], now: u64) -> u64 {
    let admission = Admission {
        limits,
        usage: None,
    };
    let mut n = 0;
    while let Verdict::Admitted(_) = limiter.admit_at(&admission, now) {
        n += 1;
    }
    n
}

/// Threads race on one stage bucket while the clock steps; after each step each takes until
/// refused. Exactly burst + rate × elapsed get through.
#[test]
fn threads_on_one_stage_admit_exactly_burst_plus_rate_times_elapsed() {
    const THREADS: usize = 4;
    const STEPS: u64 = 100;
    const STEP: u64 = 13 * SECOND / 1000;
    let limiter = Arc::new(LocalLimiter::default());
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (limiter, barrier) = (limiter.clone(), barrier.clone());
            std::thread::spawn(move || {
                let limits = stage("busy", 500.0, 20);
                let mut admitted = 0;
                for step in 0..STEPS {
                    barrier.wait();
                    admitted += drain(&limiter, &limits, step * STEP);
                    barrier.wait();
                }
                admitted
            })
        })
        .collect();
    let admitted: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let interval = SECOND / 500;
    assert_eq!(admitted, 20 + (STEPS - 1) * STEP / interval);
}

/// A thread keeps a handle on a bucket that the sweep then evicts: its next request must use
/// the key's new bucket, the one other threads use, not the dead one.
#[test]
fn a_handle_on_an_evicted_bucket_is_not_used_again() {
    let limiter = Arc::new(LocalLimiter::default());
    let limits = stage("s", 1.0, 3);
    assert_eq!(
        drain(&limiter, &limits, 0),
        3,
        "this thread now holds a handle"
    );
    limiter.sweep();
    assert_eq!(limiter.bucket_count(), 1, "not full yet");
    // Full again at 3 s; a sweep then drops it. (The sweep reads the limiter's own clock, so
    // mark it evicted the way the sweep does.)
    let now = 10 * SECOND;
    let other = {
        let limiter = limiter.clone();
        std::thread::spawn(move || {
            let limits = stage("s", 1.0, 3);
            // Through the map: the bucket the first thread also holds.
            drain(&limiter, &limits, now - 7 * SECOND)
        })
    };
    assert_eq!(
        other.join().unwrap(),
        3,
        "the same bucket, full again at 3 s"
    );
    limiter.buckets.retain(|b| !b.evict(now));
    assert_eq!(limiter.bucket_count(), 0);
    let mine = drain(&limiter, &limits, now);
    let theirs = {
        let limiter = limiter.clone();
        std::thread::spawn(move || drain(&limiter, &stage("s", 1.0, 3), now))
            .join()
            .unwrap()
    };
    assert_eq!((mine, theirs), (3, 0), "one new bucket, shared");
    assert_eq!(limiter.bucket_count(), 1);
}
