//! The cluster-wide limiter with Redis far away: a real `redis-server` behind a relay that adds
//! 50 ms to every round trip, three limiters (three nodes) sharing one quota under more load
//! than it allows, every request decided without waiting out the round trip. The cluster
//! overshoots the quota by at most one request per live node, and Redis counts every request
//! any node admitted.

use edgeway::pipeline::throttle::calendar::{WallClock, period_at};
use edgeway::pipeline::throttle::{
    Admission, Admit, KeyUse, Limiter, LocalLimiter, RedisLimiter, RedisSettings, Store, Verdict,
};
use edgeway_shared::{FailMode, QuotaPeriod, QuotaSettings};
use edgeway_tests::{DelayRelay, RedisServer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

struct Today;

impl WallClock for Today {
    fn now_ms(&self) -> i64 {
        edgeway_shared::version::wall_millis() as i64
    }
}

const NODES: usize = 3;
const ROUND_TRIP: Duration = Duration::from_millis(50);

/// The defaults a node runs with (a request waits at most 5 ms for a lease), but calls may
/// take a second: Redis is slow here, not gone.
fn settings(url: &str) -> RedisSettings {
    let mut s = RedisSettings::server(url);
    s.response_timeout_ms = 1_000;
    s.connect_timeout_ms = 1_000;
    s
}

async fn limiter(s: &RedisSettings, live: watch::Receiver<usize>) -> Arc<RedisLimiter> {
    let local = Arc::new(LocalLimiter::with_clock(Arc::new(Today)));
    let limiter = RedisLimiter::start(s.clone(), local, live)
        .await
        .expect("limiter starts");
    assert!(!limiter.in_fallback(), "redis answered through the relay");
    Arc::new(limiter)
}

fn quota_use(quota: &QuotaSettings, fail_mode: FailMode) -> KeyUse<'_> {
    KeyUse {
        plan: "gold",
        key: "alice",
        quota: Some(*quota),
        fail_mode,
    }
}

/// Offers `per_node` requests a second to each limiter for `duration` (open loop: a request
/// waiting for a lease does not hold the next one back); returns how many were admitted.
async fn offer(
    nodes: &[Arc<RedisLimiter>],
    quota: QuotaSettings,
    fail_mode: FailMode,
    per_node: u32,
    duration: Duration,
) -> u64 {
    let admitted = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for node in nodes {
        let (node, admitted) = (node.clone(), admitted.clone());
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / per_node);
            let (end, mut waiting) = (Instant::now() + duration, Vec::new());
            while Instant::now() < end {
                tick.tick().await;
                let admission = Admission {
                    limits: &[],
                    usage: Some(quota_use(&quota, fail_mode)),
                };
                match node.admit(&admission) {
                    Admit::Now(v) => {
                        admitted.fetch_add(u64::from(is_admitted(&v)), Ordering::Relaxed);
                    }
                    Admit::Later(decision) => {
                        let admitted = admitted.clone();
                        waiting.push(tokio::spawn(async move {
                            let v = decision.await;
                            admitted.fetch_add(u64::from(is_admitted(&v)), Ordering::Relaxed);
                        }));
                    }
                }
            }
            for w in waiting {
                w.await.expect("a decision");
            }
        }));
    }
    for s in senders {
        s.await.expect("sender");
    }
    admitted.load(Ordering::Relaxed)
}

fn is_admitted(v: &Verdict) -> bool {
    matches!(v, Verdict::Admitted(_))
}

async fn shares_a_quota_over_a_far_redis(fail_mode: FailMode) {
    let redis = RedisServer::start();
    let target: SocketAddr = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    let relay = DelayRelay::start(target, ROUND_TRIP).await;
    let s = settings(&relay.redis_url());
    let (_members, live) = watch::channel(NODES);
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(limiter(&s, live.clone()).await);
    }
    let quota = QuotaSettings {
        limit: 600,
        period: QuotaPeriod::Day,
        offset: 0,
    };
    // 3 × 200 rps for 3 s: the quota is used up in about a second, then leases that went
    // unused come back (they expire after 2 s) and are handed out again.
    let admitted = offer(&nodes, quota, fail_mode, 200, Duration::from_secs(3)).await;
    assert!(
        admitted <= quota.limit + NODES as u64,
        "{NODES} nodes admitted {admitted} of a quota of {} (overshoot bound: {NODES})",
        quota.limit
    );
    assert!(
        admitted >= quota.limit * 9 / 10,
        "admitted only {admitted} of {}",
        quota.limit
    );
    // Redis counted every request a node admitted (granted to it, or admitted before its first
    // lease came and reported after).
    let store = Store::new(&settings(&redis.url())).unwrap();
    let key = store.quota_key("gold", "alice", period_at(&quota, Today.now_ms()).tag);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let used = store.quota_used(&key).await.unwrap();
        if used >= admitted as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis counts {used} of the {admitted} requests admitted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_over_a_far_redis_overshoots_by_at_most_one_per_node_fail_open() {
    shares_a_quota_over_a_far_redis(FailMode::Open).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_over_a_far_redis_overshoots_by_at_most_one_per_node_fail_closed() {
    shares_a_quota_over_a_far_redis(FailMode::Closed).await;
}
