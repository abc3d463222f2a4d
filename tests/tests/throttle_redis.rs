//! The cluster-wide limiter against a real `redis-server` on a free port: the lease script's
//! grants, shrinking and give-backs; leases that expire back to Redis; several limiters (as
//! several nodes) sharing one bucket never admitting more than `burst + rate × elapsed`
//! (property test); quotas shared, rolled over and updated across limiters.

use edgeway::pipeline::throttle::calendar::{DAY_MS, WallClock};
use edgeway::pipeline::throttle::{
    Admission, Admit, KeyUse, Limit, Limiter, LocalLimiter, RedisLimiter, RedisSettings, Scope,
    Store, Verdict,
};
use edgeway_shared::{FailMode, QuotaPeriod, QuotaSettings, ThrottleSettings};
use edgeway_tests::RedisServer;
use proptest::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A calendar the test sets (the node side of quota periods).
struct Calendar(AtomicI64);

impl WallClock for Calendar {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Calendar {
    /// Today (UTC), 01:00: quota counters in Redis expire by real time, so the calendar must
    /// not be in the past.
    fn today() -> Arc<Calendar> {
        let today = edgeway_shared::version::wall_millis() as i64 / DAY_MS;
        Arc::new(Calendar(AtomicI64::new(today * DAY_MS + 3_600_000)))
    }
}

fn throttle(rate: f64, burst: u32) -> ThrottleSettings {
    ThrottleSettings {
        rate_limit: rate,
        burst_limit: burst,
    }
}

const STAGE: Scope<'static> = Scope::Stage {
    api: "shop",
    stage: "prod",
};

/// Settings for tests on a loaded machine: generous waits, so nothing falls back by accident.
fn settings(url: &str) -> RedisSettings {
    let mut s = RedisSettings::server(url);
    s.lease_wait_ms = 2_000;
    s.response_timeout_ms = 2_000;
    s.connect_timeout_ms = 2_000;
    s
}

async fn limiter(settings: &RedisSettings, clock: Arc<dyn WallClock>) -> RedisLimiter {
    let (_members, live) = watch::channel(1);
    let local = Arc::new(LocalLimiter::with_clock(clock));
    let limiter = RedisLimiter::start(settings.clone(), local, live)
        .await
        .expect("limiter starts");
    assert!(!limiter.in_fallback(), "redis answered at start");
    limiter
}

async fn admit(limiter: &RedisLimiter, admission: &Admission<'_>) -> Verdict {
    match limiter.admit(admission) {
        Admit::Now(v) => v,
        Admit::Later(f) => f.await,
    }
}

fn admitted(v: &Verdict) -> bool {
    matches!(v, Verdict::Admitted(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_script_grants_shrinks_near_empty_and_takes_tokens_back() {
    let redis = RedisServer::start();
    let store = Store::new(&settings(&redis.url())).unwrap();
    let key = store.bucket_key(&STAGE).unwrap();
    // One token per 1000 s: nothing refills while the test runs.
    let slow = throttle(0.001, 10);
    let (mut grants, mut told_to_wait) = (Vec::new(), Vec::new());
    for _ in 0..6 {
        let g = store.lease_bucket(&key, &slow, 3, 0).await.unwrap();
        grants.push((g.granted, g.left));
        told_to_wait.push(g.wait_us > 0);
    }
    // The full 3 while twice that is left, then half of what is left, one at a time, none.
    assert_eq!(grants, [(3, 7), (3, 4), (2, 2), (1, 1), (1, 0), (0, 0)]);
    // This bucket would take far longer than a lease lasts to refill, so its last tokens go
    // out on demand: a wait is imposed only once it is empty.
    assert_eq!(told_to_wait, [false, false, false, false, true, true]);
    // A bucket that refills within a lease's lifetime: a grant short of the want says when to
    // come back (the node does not ask again at once for half of what is left: under sustained
    // overload that cost a Redis call per halving).
    let busy = throttle(100.0, 10);
    let key_busy = store
        .bucket_key(&Scope::Stage {
            api: "shop",
            stage: "busy",
        })
        .unwrap();
    let short = store.lease_bucket(&key_busy, &busy, 8, 0).await.unwrap();
    assert_eq!((short.granted, short.left), (5, 5));
    assert!(
        (40_000..=50_000).contains(&short.wait_us),
        "5 more tokens at 100/s: {}",
        short.wait_us
    );
    let empty = store.lease_bucket(&key, &slow, 3, 0).await.unwrap();
    assert!(
        (5_900_000_000..=6_000_000_000).contains(&empty.wait_us),
        "6 tokens at 1 per 1000 s: {}",
        empty.wait_us
    );
    // Unused tokens come back (never above the burst).
    let back = store.lease_bucket(&key, &slow, 0, 4).await.unwrap();
    assert_eq!((back.granted, back.left), (0, 4));
    let back = store.lease_bucket(&key, &slow, 0, 100).await.unwrap();
    assert_eq!(back.left, 10);
    assert!(
        redis
            .cli(&["PTTL", &key])
            .is_some_and(|t| t.trim().parse::<i64>().unwrap() > 0),
        "bucket keys expire"
    );

    // A fast bucket refills in Redis time: empty now, tokens again within a second.
    let fast = throttle(50.0, 5);
    let key = store
        .bucket_key(&Scope::Stage {
            api: "shop",
            stage: "fast",
        })
        .unwrap();
    assert_eq!(
        store.lease_bucket(&key, &fast, 5, 0).await.unwrap().granted,
        3
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let g = store.lease_bucket(&key, &fast, 1, 0).await.unwrap();
        if g.granted == 1 && g.left >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the bucket never refilled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_leases_shrink_near_the_limit_and_count_what_was_admitted_offline() {
    let redis = RedisServer::start();
    let store = Store::new(&settings(&redis.url())).unwrap();
    let key = store.quota_key("gold", "alice", 7);
    let end = edgeway_shared::version::wall_millis() as i64 + DAY_MS;
    let mut grants = Vec::new();
    for _ in 0..4 {
        let g = store.lease_quota(&key, 5, end, 2, 0).await.unwrap();
        grants.push((g.granted, g.left));
    }
    assert_eq!(grants, [(2, 3), (2, 1), (1, 0), (0, 0)]);
    let back = store.lease_quota(&key, 5, end, 0, 1).await.unwrap();
    assert_eq!(back.left, 1, "an unused request given back");
    let counted = store.lease_quota(&key, 5, end, 0, -3).await.unwrap();
    assert_eq!(
        counted.left, -2,
        "requests admitted without Redis are counted"
    );
    assert_eq!(store.quota_used(&key).await.unwrap(), 7);
    let ttl: i64 = redis.cli(&["PTTL", &key]).unwrap().trim().parse().unwrap();
    assert!(ttl > DAY_MS, "kept a day past the period's end: {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_lease_expires_and_its_tokens_go_back_to_other_nodes() {
    let redis = RedisServer::start();
    let mut s = settings(&redis.url());
    s.lease_ttl_ms = 300;
    let clock = Calendar::today();
    let (a, b) = (limiter(&s, clock.clone()).await, limiter(&s, clock).await);
    let limits = [Limit {
        scope: STAGE,
        settings: throttle(0.001, 40),
    }];
    let stage = Admission {
        limits: &limits,
        usage: None,
    };
    // Node a takes some, and leases more than it uses while the demand lasts.
    let mut by_a = 0;
    for _ in 0..15 {
        by_a += u64::from(admitted(&admit(&a, &stage).await));
    }
    assert_eq!(by_a, 15);
    let key = Store::new(&s).unwrap().bucket_key(&STAGE).unwrap();
    let tokens = |redis: &RedisServer| -> f64 {
        redis
            .cli(&["HGET", &key, "tk"])
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // After the lease time, a's unused tokens are back in Redis: 40 - 15.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokens(&redis).floor() != 25.0 {
        assert!(
            Instant::now() < deadline,
            "tokens in redis: {}",
            tokens(&redis)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // So node b gets exactly the rest.
    let mut by_b = 0;
    for _ in 0..40 {
        by_b += u64::from(admitted(&admit(&b, &stage).await));
    }
    assert_eq!(by_b, 25);
}

/// Limiters sharing a bucket, each driven by `tasks` concurrent callers for `run`; how many
/// were admitted in all and how long it took, start to last answer.
async fn hammer(
    limiters: Vec<Arc<RedisLimiter>>,
    tasks: usize,
    limit: Limit<'static>,
    run: Duration,
) -> (u64, Duration) {
    let admitted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + run;
    let mut workers = Vec::new();
    for l in &limiters {
        for _ in 0..tasks {
            let (l, admitted) = (l.clone(), admitted.clone());
            workers.push(tokio::spawn(async move {
                let limits = [limit];
                let a = Admission {
                    limits: &limits,
                    usage: None,
                };
                while Instant::now() < until {
                    if let Verdict::Admitted(_) = admit(&l, &a).await {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
    }
    for w in workers {
        w.await.unwrap();
    }
    (admitted.load(Ordering::Relaxed), started.elapsed())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, failure_persistence: None, .. ProptestConfig::default() })]

    /// However many limiters share the bucket and whatever its settings, the cluster admits no
    /// more than `burst + rate × elapsed`, and (a liveness check) at least half of what the
    /// bucket allows.
    #[test]
    fn several_limiters_never_admit_more_than_burst_plus_rate_times_elapsed(
        rate in 20.0f64..400.0,
        burst in 1u32..60,
        nodes in 2usize..4,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let redis = RedisServer::start();
            let s = settings(&redis.url());
            let clock = Calendar::today();
            let mut limiters = Vec::new();
            for _ in 0..nodes {
                limiters.push(Arc::new(limiter(&s, clock.clone()).await));
            }
            let limit = Limit { scope: STAGE, settings: throttle(rate, burst) };
            let (admitted, elapsed) =
                hammer(limiters, 3, limit, Duration::from_millis(1_200)).await;
            let bound = f64::from(burst) + rate * elapsed.as_secs_f64();
            prop_assert!(
                admitted as f64 <= bound,
                "admitted {admitted} > {bound:.1} (rate {rate:.1}, burst {burst}, {nodes} nodes, {elapsed:?})"
            );
            prop_assert!(
                admitted as f64 >= 0.5 * bound,
                "admitted only {admitted} of {bound:.1}"
            );
            Ok(())
        })?;
    }
}

fn quota_use(quota: QuotaSettings) -> KeyUse<'static> {
    KeyUse {
        plan: "gold",
        key: "alice",
        quota: Some(quota),
        fail_mode: FailMode::Closed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_is_shared_rolls_over_with_the_period_and_can_be_updated() {
    let redis = RedisServer::start();
    let mut s = settings(&redis.url());
    // An exhausted quota is asked about again after this (an operator may raise it).
    s.lease_ttl_ms = 300;
    let clock = Calendar::today();
    let (a, b) = (
        limiter(&s, clock.clone()).await,
        limiter(&s, clock.clone()).await,
    );
    let quota = QuotaSettings {
        limit: 12,
        period: QuotaPeriod::Day,
        offset: 0,
    };
    let admission = Admission {
        limits: &[],
        usage: Some(quota_use(quota)),
    };
    // Both nodes draw on one quota: exactly 12 in all, however the requests are spread.
    let mut total = 0;
    for i in 0..40 {
        let node = if i % 3 == 0 { &a } else { &b };
        total += u64::from(admitted(&admit(node, &admission).await));
    }
    assert_eq!(total, 12);
    let refused = admit(&a, &admission).await;
    let Verdict::Refused { standing, .. } = refused else {
        panic!("over quota: {refused:?}");
    };
    assert_eq!((standing.limit, standing.remaining), (12, 0));
    assert_eq!(a.quota("gold", "alice", &quota).await.remaining, 0);

    // The next UTC day is a new period (the node's calendar decides which period it is).
    clock.0.fetch_add(DAY_MS, Ordering::SeqCst);
    let mut next_day = 0;
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        next_day += u64::from(admitted(&admit(node, &admission).await));
    }
    assert_eq!(next_day, 12);

    // UpdateUsage on one node applies to every node.
    let standing = a
        .set_quota_remaining("gold", "alice", &quota, Some(3))
        .await
        .expect("redis answers");
    assert_eq!(standing.remaining, 3);
    assert_eq!(b.quota("gold", "alice", &quota).await.remaining, 3);
    let (mut after, mut tries) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while after < 3 {
        assert!(
            Instant::now() < deadline,
            "only {after} of the 3 came through"
        );
        after += u64::from(admitted(&admit(&b, &admission).await));
        tries += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..5 {
        assert!(
            !admitted(&admit(&b, &admission).await),
            "3 and no more ({tries} tries)"
        );
    }
}
