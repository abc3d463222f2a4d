//! How fast the embedded limiter admits, and whether threads slow each other down: admits per
//! second on one thread and on two, on one bucket and on distinct buckets, next to a token
//! bucket behind one global mutex. No criterion: a fixed time per case, counted.
//!
//!     cargo run --release -p edgeway --example limiter_bench [-- SECONDS_PER_CASE [CASE_FILTER]]

use edgeway::pipeline::throttle::{
    Admission, Admit, KeyUse, Limit, Limiter, LocalLimiter, Scope, Verdict,
};
use edgeway_shared::{QuotaPeriod, QuotaSettings, ThrottleSettings};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// Never refuses in a benchmark's time: 10^12 per second, the largest burst.
const OPEN: ThrottleSettings = ThrottleSettings {
    rate_limit: 1e12,
    burst_limit: u32::MAX,
};

/// What one case does per request, on thread `t`.
#[derive(Clone, Copy)]
enum Case {
    /// The node-wide bucket only: one atomic.
    Node,
    /// A stage bucket: a sharded-map lookup, then one atomic. `distinct`: one stage per thread.
    Stage { distinct: bool },
    /// A keyed request's whole chain: plan route, plan, stage, node, then the quota.
    Chain { distinct: bool },
    /// Baseline: one token bucket behind one global mutex.
    Mutex,
}

const STAGES: [&str; 2] = ["s0", "s1"];
const KEYS: [&str; 2] = ["k0", "k1"];

fn admit(limiter: &LocalLimiter, case: Case, t: usize) -> bool {
    let quota = QuotaSettings {
        limit: u64::MAX,
        period: QuotaPeriod::Month,
        offset: 0,
    };
    let (stage, key) = match case {
        Case::Stage { distinct: true } | Case::Chain { distinct: true } => (STAGES[t], KEYS[t]),
        _ => (STAGES[0], KEYS[0]),
    };
    let limit = |scope| Limit {
        scope,
        settings: OPEN,
    };
    let chain = [
        limit(Scope::KeyRoute {
            plan: "p",
            key,
            api: "a",
            stage,
            route: "GET /x",
        }),
        limit(Scope::Key { plan: "p", key }),
        limit(Scope::Stage { api: "a", stage }),
        limit(Scope::Node),
    ];
    let admission = match case {
        Case::Node => Admission {
            limits: &chain[3..],
            usage: None,
        },
        Case::Stage { .. } => Admission {
            limits: &chain[2..3],
            usage: None,
        },
        _ => Admission {
            limits: &chain,
            usage: Some(KeyUse {
                plan: "p",
                key,
                quota: Some(quota),
                fail_mode: edgeway_shared::FailMode::Open,
            }),
        },
    };
    matches!(limiter.admit(&admission), Admit::Now(Verdict::Admitted(_)))
}

/// A plain token bucket behind a mutex: what "a global lock on the hot path" costs.
struct Locked(Mutex<(f64, Instant)>);

impl Locked {
    fn admit(&self) -> bool {
        let mut state = self.0.lock().unwrap();
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() * OPEN.rate_limit;
        state.0 = (state.0 + refill).min(f64::from(OPEN.burst_limit));
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`): on a shared
/// machine, admits per CPU-second show contention where wall-clock rates show the neighbours.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs `case` on `threads` threads for `time`: admits per wall second and per CPU second, and
/// how many of the threads ran at once on average (CPU time / wall time).
fn run(case: Case, threads: usize, time: Duration) -> (f64, f64, f64) {
    let limiter = Arc::new(LocalLimiter::default());
    let locked = Arc::new(Locked(Mutex::new((
        f64::from(OPEN.burst_limit),
        Instant::now(),
    ))));
    let stop = Arc::new(AtomicBool::new(false));
    let (total, cpu) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (limiter, locked, stop, total, cpu, start) = (
                limiter.clone(),
                locked.clone(),
                stop.clone(),
                total.clone(),
                cpu.clone(),
                start.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                let cpu_before = thread_cpu_ns();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let admitted = match case {
                            Case::Mutex => locked.admit(),
                            _ => admit(&limiter, case, t),
                        };
                        assert!(admitted, "an open limit refused");
                        n += 1;
                    }
                }
                cpu.fetch_add(thread_cpu_ns() - cpu_before, Ordering::Relaxed);
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    std::thread::sleep(time);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let admits = total.load(Ordering::Relaxed) as f64;
    let cpu_seconds = cpu.load(Ordering::Relaxed) as f64 / 1e9;
    let wall = began.elapsed().as_secs_f64();
    (admits / wall, admits / cpu_seconds, cpu_seconds / wall)
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let time = Duration::from_secs_f64(seconds);
    let only = std::env::args().nth(2).unwrap_or_default();
    let cases = [
        ("node-wide bucket (one atomic)", Case::Node, 1, "–"),
        ("node-wide bucket (one atomic)", Case::Node, 2, "one"),
        (
            "stage bucket (handle or sharded map, then one atomic)",
            Case::Stage { distinct: false },
            1,
            "–",
        ),
        (
            "stage bucket (handle or sharded map, then one atomic)",
            Case::Stage { distinct: false },
            2,
            "one",
        ),
        (
            "stage bucket (handle or sharded map, then one atomic)",
            Case::Stage { distinct: true },
            2,
            "distinct",
        ),
        (
            "keyed chain: plan route, plan, stage, node, quota",
            Case::Chain { distinct: false },
            1,
            "–",
        ),
        (
            "keyed chain: plan route, plan, stage, node, quota",
            Case::Chain { distinct: false },
            2,
            "one key",
        ),
        (
            "keyed chain: plan route, plan, stage, node, quota",
            Case::Chain { distinct: true },
            2,
            "two keys (node bucket shared)",
        ),
        (
            "baseline: token bucket behind one global `Mutex`",
            Case::Mutex,
            1,
            "–",
        ),
        (
            "baseline: token bucket behind one global `Mutex`",
            Case::Mutex,
            2,
            "one",
        ),
    ];
    println!("| case | threads | buckets | admits/s (wall) | per CPU-second | CPUs busy |");
    println!("|---|---:|---|---:|---:|---:|");
    for (name, case, threads, buckets) in cases {
        if !name.contains(&only) {
            continue;
        }
        let (wall, cpu, busy) = run(case, threads, time);
        println!(
            "| {name} | {threads} | {buckets} | {:.1} M | {:.1} M | {busy:.2} |",
            wall / 1e6,
            cpu / 1e6
        );
    }
}
