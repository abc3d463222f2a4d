//! The cluster-wide limiter on a real 3-master Redis Cluster: buckets and quotas land on every
//! master by their hash tags, and two limiters sharing them admit exactly what one would.

use edgeway::pipeline::throttle::calendar::WallClock;
use edgeway::pipeline::throttle::{
    Admission, Admit, KeyUse, Limit, Limiter, LocalLimiter, RedisLimiter, RedisSettings, Scope,
    Verdict,
};
use edgeway_shared::{FailMode, QuotaPeriod, QuotaSettings, ThrottleSettings};
use edgeway_tests::RedisCluster;
use std::sync::Arc;
use tokio::sync::watch;

struct Today;

impl WallClock for Today {
    fn now_ms(&self) -> i64 {
        edgeway_shared::version::wall_millis() as i64
    }
}

async fn limiter(s: &RedisSettings) -> RedisLimiter {
    let (_members, live) = watch::channel(2usize);
    let local = Arc::new(LocalLimiter::with_clock(Arc::new(Today)));
    let l = RedisLimiter::start(s.clone(), local, live)
        .await
        .expect("limiter starts");
    assert!(!l.in_fallback(), "the cluster answered at start");
    l
}

async fn admitted(l: &RedisLimiter, a: &Admission<'_>) -> bool {
    let v = match l.admit(a) {
        Admit::Now(v) => v,
        Admit::Later(f) => f.await,
    };
    matches!(v, Verdict::Admitted(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_spread_over_three_masters_and_are_shared_exactly() {
    let cluster = RedisCluster::start();
    let mut s = RedisSettings::cluster(cluster.urls());
    s.lease_wait_ms = 2_000;
    s.response_timeout_ms = 2_000;
    s.connect_timeout_ms = 2_000;
    let (a, b) = (limiter(&s).await, limiter(&s).await);
    let stages: Vec<String> = (0..24).map(|i| format!("stage-{i}")).collect();
    for stage in &stages {
        let limits = [Limit {
            scope: Scope::Stage { api: "shop", stage },
            settings: ThrottleSettings {
                rate_limit: 0.001,
                burst_limit: 5,
            },
        }];
        let admission = Admission {
            limits: &limits,
            usage: None,
        };
        let mut total = 0;
        for i in 0..16 {
            let node = if i % 2 == 0 { &a } else { &b };
            total += usize::from(admitted(node, &admission).await);
        }
        // Never more than the burst; one less when a lease answer came after its call had
        // timed out on a loaded machine (its tokens stay counted: the safe side).
        assert!(
            (4..=5).contains(&total),
            "{stage}: {total} admitted, burst 5"
        );
    }
    let quota = KeyUse {
        plan: "gold",
        key: "alice",
        quota: Some(QuotaSettings {
            limit: 7,
            period: QuotaPeriod::Month,
            offset: 0,
        }),
        fail_mode: FailMode::Closed,
    };
    let admission = Admission {
        limits: &[],
        usage: Some(quota),
    };
    let mut total = 0;
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        total += usize::from(admitted(node, &admission).await);
    }
    assert_eq!(total, 7, "one quota across both limiters");
    assert_eq!(
        a.quota("gold", "alice", &quota.quota.unwrap())
            .await
            .remaining,
        0
    );
    let per_master = cluster.keys_per_master();
    assert!(
        per_master.iter().all(|&n| n > 0),
        "hash tags spread the buckets: {per_master:?}"
    );
}
