//! The embedded limiter under tokio's paused clock and a settable calendar clock.

use super::calendar::{DAY_MS, HOUR_MS, WallClock, parse_day};
use super::*;
use edgeway_shared::{QuotaPeriod, QuotaSettings};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::time::advance;

#[derive(Default)]
struct Calendar(AtomicI64);

impl WallClock for Calendar {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Calendar {
    fn set(&self, date: &str, hour: i64, ms: i64) {
        let at = parse_day(date).unwrap() * DAY_MS + hour * HOUR_MS + ms;
        self.0.store(at, Ordering::SeqCst);
    }
}

fn throttle(rate: f64, burst: u32) -> ThrottleSettings {
    ThrottleSettings {
        rate_limit: rate,
        burst_limit: burst,
    }
}

fn limiter() -> (LocalLimiter, Arc<Calendar>) {
    let calendar = Arc::new(Calendar::default());
    calendar.set("2024-03-10", 12, 0);
    (LocalLimiter::with_clock(calendar.clone()), calendar)
}

fn admit(limiter: &LocalLimiter, admission: &Admission<'_>) -> Verdict {
    match limiter.admit(admission) {
        Admit::Now(v) => v,
        Admit::Later(_) => panic!("the local limiter answers at once"),
    }
}

/// Admits until the first refusal; returns how many passed.
fn drain(limiter: &LocalLimiter, admission: &Admission<'_>) -> usize {
    let mut n = 0;
    while let Verdict::Admitted(_) = admit(limiter, admission) {
        n += 1;
    }
    n
}

const STAGE: Scope<'static> = Scope::Stage {
    api: "a",
    stage: "prod",
};

fn one(scope: Scope<'static>, settings: ThrottleSettings) -> [Limit<'static>; 1] {
    [Limit { scope, settings }]
}

#[tokio::test(start_paused = true)]
async fn a_stage_bucket_admits_its_burst_then_its_rate() {
    let (l, _) = limiter();
    let limits = one(STAGE, throttle(4.0, 3));
    let a = Admission {
        limits: &limits,
        usage: None,
    };
    assert_eq!(drain(&l, &a), 3);
    let mut later = 0;
    for _ in 0..8 {
        advance(Duration::from_millis(250)).await;
        later += drain(&l, &a);
    }
    assert_eq!(later, 8, "4 per second for 2 s");
    advance(Duration::from_millis(125)).await;
    assert_eq!(drain(&l, &a), 0, "half a token is no token");
}

#[tokio::test(start_paused = true)]
async fn refusals_name_the_limit_and_when_to_retry() {
    let (l, _) = limiter();
    let limits = one(STAGE, throttle(0.5, 2));
    let a = Admission {
        limits: &limits,
        usage: None,
    };
    let Verdict::Admitted(Some(s)) = admit(&l, &a) else {
        panic!("first request admitted");
    };
    assert_eq!((s.kind, s.limit, s.remaining), (LimitKind::Stage, 2, 1));
    assert_eq!(s.reset, Duration::from_secs(2));
    admit(&l, &a);
    advance(Duration::from_millis(500)).await;
    let Verdict::Refused {
        standing,
        retry_after,
    } = admit(&l, &a)
    else {
        panic!("third request refused");
    };
    assert_eq!((standing.kind, standing.remaining), (LimitKind::Stage, 0));
    assert_eq!(retry_after, Duration::from_millis(1500));
}

#[tokio::test(start_paused = true)]
async fn a_key_over_its_plan_is_refused_without_using_the_stage_or_other_keys() {
    let (l, _) = limiter();
    let limits_for = |key: &'static str| {
        [
            Limit {
                scope: Scope::Key { plan: "gold", key },
                settings: throttle(1.0, 2),
            },
            Limit {
                scope: STAGE,
                settings: throttle(1.0, 5),
            },
        ]
    };
    let (alice, bob) = (limits_for("alice"), limits_for("bob"));
    let a = |limits| Admission {
        limits,
        usage: None,
    };
    assert_eq!(drain(&l, &a(&alice)), 2);
    for _ in 0..10 {
        assert!(matches!(admit(&l, &a(&alice)), Verdict::Refused { .. }));
    }
    // Bob gets his own two; the stage bucket saw 4 admissions, so one token is left.
    assert_eq!(drain(&l, &a(&bob)), 2);
    let stage_only = one(STAGE, throttle(1.0, 5));
    assert_eq!(drain(&l, &a(&stage_only)), 1);
}

#[tokio::test(start_paused = true)]
async fn a_later_refusal_gives_back_the_earlier_tokens() {
    let (l, _) = limiter();
    let limits = [
        Limit {
            scope: Scope::Key {
                plan: "p",
                key: "k",
            },
            settings: throttle(1.0, 10),
        },
        Limit {
            scope: Scope::Node,
            settings: throttle(1.0, 1),
        },
    ];
    let a = Admission {
        limits: &limits,
        usage: None,
    };
    assert_eq!(drain(&l, &a), 1);
    let key_only = one(
        Scope::Key {
            plan: "p",
            key: "k",
        },
        throttle(1.0, 10),
    );
    let b = Admission {
        limits: &key_only,
        usage: None,
    };
    assert_eq!(
        drain(&l, &b),
        9,
        "the refused requests took nothing from the key"
    );
}

#[tokio::test(start_paused = true)]
async fn the_tightest_limit_is_reported() {
    let (l, _) = limiter();
    let limits = [
        Limit {
            scope: STAGE,
            settings: throttle(100.0, 50),
        },
        Limit {
            scope: Scope::Node,
            settings: throttle(100.0, 3),
        },
    ];
    let a = Admission {
        limits: &limits,
        usage: None,
    };
    let Verdict::Admitted(Some(s)) = admit(&l, &a) else {
        panic!("admitted");
    };
    assert_eq!((s.kind, s.limit, s.remaining), (LimitKind::Node, 3, 2));
}

fn quota(limit: u64, period: QuotaPeriod, offset: u32) -> Option<QuotaSettings> {
    Some(QuotaSettings {
        limit,
        period,
        offset,
    })
}

/// Uses up a quota of 2 at `before`, checks it is refused until `boundary` and fresh from it.
async fn quota_rolls_over(q: Option<QuotaSettings>, before: (&str, i64), boundary: (&str, i64)) {
    let (l, calendar) = limiter();
    let a = Admission {
        limits: &[],
        usage: Some(KeyUse {
            plan: "p",
            key: "k",
            quota: q,
            fail_mode: edgeway_shared::FailMode::Open,
        }),
    };
    calendar.set(before.0, before.1, 0);
    assert_eq!(drain(&l, &a), 2, "{q:?}");
    calendar.set(boundary.0, boundary.1, -1);
    let Verdict::Refused {
        standing,
        retry_after,
    } = admit(&l, &a)
    else {
        panic!("{q:?}: refused until {boundary:?}");
    };
    assert_eq!(standing.kind, LimitKind::Quota);
    assert_eq!(retry_after, Duration::from_millis(1));
    calendar.set(boundary.0, boundary.1, 0);
    assert_eq!(drain(&l, &a), 2, "{q:?}: fresh at {boundary:?}");
}

#[tokio::test(start_paused = true)]
async fn quotas_roll_over_at_utc_midnight_monday_and_the_first_moved_by_their_offset() {
    use QuotaPeriod::*;
    quota_rolls_over(quota(2, Day, 0), ("2024-03-10", 9), ("2024-03-11", 0)).await;
    quota_rolls_over(quota(2, Day, 6), ("2024-03-11", 3), ("2024-03-11", 6)).await;
    // 2024-03-11 was a Monday.
    quota_rolls_over(quota(2, Week, 0), ("2024-03-06", 9), ("2024-03-11", 0)).await;
    quota_rolls_over(quota(2, Week, 3), ("2024-03-11", 9), ("2024-03-14", 0)).await;
    quota_rolls_over(quota(2, Month, 0), ("2024-02-29", 23), ("2024-03-01", 0)).await;
    quota_rolls_over(quota(2, Month, 9), ("2024-03-01", 0), ("2024-03-10", 0)).await;
}

#[tokio::test(start_paused = true)]
async fn a_quota_can_be_extended_and_reset_and_use_is_counted_per_day() {
    let (l, calendar) = limiter();
    let q = quota(3, QuotaPeriod::Month, 0);
    let a = Admission {
        limits: &[],
        usage: Some(KeyUse {
            plan: "p",
            key: "k",
            quota: q,
            fail_mode: edgeway_shared::FailMode::Open,
        }),
    };
    assert_eq!(drain(&l, &a), 3);
    let q = q.unwrap();
    assert_eq!(l.quota_now("p", "k", &q).remaining, 0);
    assert_eq!(
        l.set_quota_remaining_now("p", "k", &q, Some(5)).remaining,
        5
    );
    assert_eq!(drain(&l, &a), 5);
    calendar.set("2024-03-11", 1, 0);
    assert_eq!(l.set_quota_remaining_now("p", "k", &q, None).remaining, 3);
    assert_eq!(drain(&l, &a), 3);
    let days = l.usage("p", "k", 0, i64::MAX);
    let day = |d| parse_day(d).unwrap();
    assert_eq!(
        days[&day("2024-03-10")],
        DayUsage {
            used: 8,
            remaining: Some(0)
        }
    );
    assert_eq!(days[&day("2024-03-11")].used, 3);
    assert!(l.usage("p", "other", 0, i64::MAX).is_empty());
}

#[tokio::test(start_paused = true)]
async fn full_buckets_are_evicted_and_busy_ones_kept() {
    let (l, _) = limiter();
    for i in 0..100u32 {
        let stage = format!("s{i}");
        let limits = [Limit {
            scope: Scope::Stage {
                api: "a",
                stage: &stage,
            },
            settings: throttle(1.0, 10),
        }];
        admit(
            &l,
            &Admission {
                limits: &limits,
                usage: None,
            },
        );
    }
    assert_eq!(l.bucket_count(), 100);
    l.sweep();
    assert_eq!(l.bucket_count(), 100, "none is full yet");
    advance(Duration::from_millis(999)).await;
    let busy = one(STAGE, throttle(1.0, 10));
    let a = Admission {
        limits: &busy,
        usage: None,
    };
    assert_eq!(drain(&l, &a), 10);
    advance(Duration::from_millis(1)).await;
    l.sweep();
    assert_eq!(l.bucket_count(), 1, "only the drained bucket holds state");
    assert_eq!(
        drain(&l, &a),
        0,
        "it kept its state: a fresh bucket would admit 10"
    );
}

#[tokio::test(start_paused = true)]
async fn usage_nobody_touched_for_the_history_window_is_dropped() {
    let (l, calendar) = limiter();
    let a = Admission {
        limits: &[],
        usage: Some(KeyUse {
            plan: "p",
            key: "k",
            quota: None,
            fail_mode: edgeway_shared::FailMode::Open,
        }),
    };
    admit(&l, &a);
    calendar.set("2024-05-01", 0, 0);
    l.sweep();
    assert_eq!(l.usage_count(), 1);
    calendar.set("2024-06-08", 0, 0);
    l.sweep();
    assert_eq!(l.usage_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn saved_quotas_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(USAGE_FILE);
    let (l, calendar) = limiter();
    let q = quota(5, QuotaPeriod::Day, 0);
    let a = Admission {
        limits: &[],
        usage: Some(KeyUse {
            plan: "p",
            key: "k",
            quota: q,
            fail_mode: edgeway_shared::FailMode::Open,
        }),
    };
    assert_eq!(drain(&l, &a), 5);
    l.save(&path).unwrap();

    let again = LocalLimiter::with_clock(calendar.clone());
    assert_eq!(again.load(&path).unwrap(), 1);
    assert_eq!(drain(&again, &a), 0, "no fresh quota after a restart");
    assert_eq!(
        again.usage("p", "k", 0, i64::MAX),
        l.usage("p", "k", 0, i64::MAX)
    );
    calendar.set("2024-03-11", 0, 0);
    assert_eq!(drain(&again, &a), 5);

    assert_eq!(
        LocalLimiter::default()
            .load(&dir.path().join("none"))
            .unwrap(),
        0
    );
    std::fs::write(&path, b"{not json").unwrap();
    assert!(matches!(
        LocalLimiter::default().load(&path),
        Err(PersistError::Damaged { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_damaged_usage_file_is_set_aside_and_counting_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(USAGE_FILE), b"{\"version\": 1, \"keys\": [").unwrap();
    let limits = Embedded::start(dir.path()).expect("a damaged file does not stop the node");
    assert_eq!(limits.limiter.usage_count(), 0);
    assert!(dir.path().join("usage.json.damaged").exists());
    limits.stop().await;
    assert!(dir.path().join(USAGE_FILE).exists(), "saved again at stop");
}
