//! Redis in trouble: killed, restarted, or stalled mid-test. Requests keep being decided
//! within the wait bound, with this node's share of each limit; quotas this node never saw
//! follow the plan's fail mode; leasing resumes by itself, and what was admitted meanwhile
//! is counted in Redis.

use edgeway::pipeline::throttle::calendar::WallClock;
use edgeway::pipeline::throttle::{
    Admission, Admit, KeyUse, Limit, Limiter, LocalLimiter, RedisLimiter, RedisSettings, Scope,
    Store, Verdict,
};
use edgeway_shared::{FailMode, QuotaPeriod, QuotaSettings, ThrottleSettings};
use edgeway_tests::RedisServer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

struct Today;

impl WallClock for Today {
    fn now_ms(&self) -> i64 {
        edgeway_shared::version::wall_millis() as i64
    }
}

/// Timings of a node close to its Redis: short waits, quick probes, Redis calls that may take
/// up to `call_ms`.
fn settings(url: &str, call_ms: u64) -> RedisSettings {
    let mut s = RedisSettings::server(url);
    s.lease_wait_ms = 20;
    s.response_timeout_ms = call_ms;
    s.connect_timeout_ms = call_ms;
    s.retries = 0;
    s.probe_interval_ms = 100;
    s
}

/// The longest any request may take to be decided: the lease wait (20 ms), plus a loaded
/// machine; well under a Redis call's deadline where the test gives calls 2 s.
const BOUND: Duration = Duration::from_millis(1_000);

async fn limiter(s: &RedisSettings, live: watch::Receiver<usize>) -> RedisLimiter {
    let local = Arc::new(LocalLimiter::with_clock(Arc::new(Today)));
    RedisLimiter::start(s.clone(), local, live)
        .await
        .expect("limiter starts")
}

/// Decides one request; fails the test if that took longer than [`BOUND`].
async fn admit(limiter: &RedisLimiter, admission: &Admission<'_>) -> bool {
    let started = Instant::now();
    let verdict = match limiter.admit(admission) {
        Admit::Now(v) => v,
        Admit::Later(f) => f.await,
    };
    let took = started.elapsed();
    assert!(took <= BOUND, "a request waited {took:?} for the limiter");
    matches!(verdict, Verdict::Admitted(_))
}

async fn until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const STAGE: Scope<'static> = Scope::Stage {
    api: "shop",
    stage: "prod",
};

fn quota_use(key: &'static str, limit: u64, fail_mode: FailMode) -> KeyUse<'static> {
    KeyUse {
        plan: "gold",
        key,
        quota: Some(QuotaSettings {
            limit,
            period: QuotaPeriod::Day,
            offset: 0,
        }),
        fail_mode,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_redis_means_this_nodes_share_then_leasing_resumes_when_it_is_back() {
    let mut redis = RedisServer::start();
    let s = settings(&redis.url(), 2_000);
    // Two live nodes: without Redis this one may admit half of each limit.
    let (_members, live) = watch::channel(2usize);
    let l = limiter(&s, live).await;
    assert!(!l.in_fallback());
    let limits = [Limit {
        scope: STAGE,
        settings: ThrottleSettings {
            rate_limit: 0.001,
            burst_limit: 40,
        },
    }];
    let stage = Admission {
        limits: &limits,
        usage: None,
    };
    for _ in 0..5 {
        assert!(admit(&l, &stage).await, "leased from redis");
    }

    redis.kill();
    // Requests go on being decided (none waits past the bound) while the node notices.
    let mut outage = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !l.in_fallback() {
        assert!(Instant::now() < deadline, "never fell back");
        outage += usize::from(admit(&l, &stage).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..100 {
        outage += usize::from(admit(&l, &stage).await);
    }
    // Half of the burst of 40 (no refill to speak of), plus what was left of the lease taken
    // before the kill (at most a quarter of the burst).
    assert!(
        (20..=30).contains(&outage),
        "admitted {outage} without redis"
    );

    // A quota this node never saw: the plan decides.
    let closed = Admission {
        limits: &[],
        usage: Some(quota_use("never-seen-closed", 10, FailMode::Closed)),
    };
    let open = Admission {
        limits: &[],
        usage: Some(quota_use("never-seen-open", 10, FailMode::Open)),
    };
    assert!(!admit(&l, &closed).await, "fail-closed refuses");
    assert!(admit(&l, &open).await, "fail-open serves");

    redis.restart();
    until("leasing again", Duration::from_secs(10), || {
        !l.in_fallback()
    })
    .await;
    // The restarted Redis is empty: the bucket starts full there, and leases come from it.
    let mut leased = 0;
    for _ in 0..10 {
        leased += usize::from(admit(&l, &stage).await);
    }
    assert_eq!(leased, 10);
    assert!(
        redis.calls("evalsha") + redis.calls("eval") > 0,
        "leases came from redis"
    );
    // The fail-open admission was counted in Redis when it came back.
    let store = Store::new(&s).unwrap();
    let period = edgeway::pipeline::throttle::calendar::period_at(
        &quota_use("x", 10, FailMode::Open).quota.unwrap(),
        Today.now_ms(),
    );
    let key = store.quota_key("gold", "never-seen-open", period.tag);
    // Counted when Redis came back; the lease taken for the key's next requests, unused,
    // goes back when it expires.
    let mut used = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while used != 1 {
        assert!(
            Instant::now() < deadline,
            "redis counts {used} requests, 1 was admitted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        used = store.quota_used(&key).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_is_survived_and_the_quota_used_meanwhile_is_counted_after() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    // Calls time out well within the 3 s stall.
    let s = settings(&redis.url(), 200);
    let (_members, live) = watch::channel(2usize);
    let l = limiter(&s, live).await;
    let quota = quota_use("alice", 100, FailMode::Closed);
    let admission = Admission {
        limits: &[],
        usage: Some(quota),
    };
    for _ in 0..10 {
        assert!(admit(&l, &admission).await);
    }
    // Redis stops answering for 3 s (a blocked server, not a dead one: its data stays).
    let port = redis.port.to_string();
    let stall = std::process::Command::new("timeout")
        .args([
            "-s",
            "KILL",
            "20",
            "redis-cli",
            "-p",
            &port,
            "DEBUG",
            "SLEEP",
            "3",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-cli runs");
    let mut offline = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !l.in_fallback() {
        assert!(Instant::now() < deadline, "never fell back");
        offline += usize::from(admit(&l, &admission).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..200 {
        offline += usize::from(admit(&l, &admission).await);
    }
    // Its share of the 90 left (45), plus at most what its lease still held.
    assert!(
        (45..=90).contains(&offline),
        "admitted {offline} while redis stalled"
    );
    let mut stall = stall;
    let _ = stall.wait();
    until("leasing again", Duration::from_secs(10), || {
        !l.in_fallback()
    })
    .await;
    let store = Store::new(&s).unwrap();
    let period =
        edgeway::pipeline::throttle::calendar::period_at(&quota.quota.unwrap(), Today.now_ms());
    let key = store.quota_key("gold", "alice", period.tag);
    // Everything this node admitted is counted. (Lease calls that timed out during the stall
    // ran when it ended: their grants went to nobody and stay counted, erring on the safe
    // side.)
    let admitted = 10 + offline as i64;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut used = store.quota_used(&key).await.unwrap();
    while used < admitted {
        assert!(
            Instant::now() < deadline,
            "redis counts {used}, node admitted {admitted}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        used = store.quota_used(&key).await.unwrap();
    }
    let remaining = l
        .quota("gold", "alice", &quota.quota.unwrap())
        .await
        .remaining;
    assert_eq!(remaining, (100 - used).max(0) as u64);
}
