//! The leaser: a background task that keeps leases topped up. Every tick (or when a request
//! wakes it) it finds the leases that are low and in use, and those whose unused tokens have
//! expired, and sends all their calls at once: on the multiplexed connection they leave back
//! to back (pipelined) and no lease waits for another's answer. While Redis is unreachable it
//! probes instead, and on the first answer counts what was admitted meanwhile and resumes.

use super::bucket::LeasedBucket;
use super::lease::{Ask, SECOND, Sizing};
use super::quota::LeasedQuota;
use super::{Shared, metrics};
use edgeway_shared::ThrottleSettings;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Leases nobody used for this long are dropped (their tokens went back when they expired).
const IDLE: Duration = Duration::from_secs(30);
const SWEEP_EVERY: Duration = Duration::from_secs(5);

pub async fn run(shared: Arc<Shared>) {
    let tick = Duration::from_millis((shared.settings.refill_interval_ms / 4).clamp(5, 50));
    let probe_every = Duration::from_millis(shared.settings.probe_interval_ms);
    let mut next_probe = Instant::now();
    let mut last_sweep = Instant::now();
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(tick) => {}
        }
        if shared.health.in_fallback() {
            if Instant::now() >= next_probe {
                next_probe = Instant::now() + probe_every;
                probe(&shared).await;
            }
            continue;
        }
        dispatch(&shared);
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            let (now, idle) = (shared.now(), IDLE.as_nanos() as u64);
            shared.buckets.retain(|b| !b.lease.is_idle(now, idle));
            shared.quotas.retain(|q| !q.lease.is_idle(now, idle));
        }
    }
}

/// Tries Redis; on an answer, counts in Redis what this node admitted without it, then
/// resumes leasing. Returns whether Redis answered.
pub async fn probe(shared: &Arc<Shared>) -> bool {
    match shared.store.ping().await {
        Ok(()) => {
            report_uncounted(shared).await;
            shared.health.recovered();
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "redis still unavailable");
            false
        }
    }
}

/// Adds to each quota counter the requests admitted while Redis was unreachable (and gives
/// back leases that went unused).
async fn report_uncounted(shared: &Arc<Shared>) {
    let mut reports = Vec::new();
    shared.quotas.for_each(|q| {
        if let Some((tag, n)) = q.take_uncounted() {
            reports.push((q.clone(), tag, n));
        }
    });
    let calls = reports.into_iter().map(|(q, tag, n)| {
        let shared = shared.clone();
        async move {
            let report = Report {
                back: 0,
                uncounted: n,
            };
            quota_call(&shared, &q, tag, None, report).await;
        }
    });
    futures_util::future::join_all(calls).await;
}

fn dispatch(shared: &Arc<Shared>) {
    let now = shared.now();
    let span = shared.span();
    let recent = Shared::ms(shared.settings.lease_ttl_ms);
    let nodes = shared.nodes() as f64;
    shared.buckets.for_each(|b| {
        let back = b.lease.take_expired(now);
        let ask = if b.lease.wants_lease(now, recent) {
            let (rate, _) = b.settings();
            let first = rate * span as f64 / SECOND as f64 / nodes;
            let sizing = Sizing {
                cap_when_short: true,
                ..Sizing::new(span, first, b.cap(span))
            };
            b.lease.begin(now, sizing)
        } else {
            None
        };
        if ask.is_some() || back > 0 {
            tokio::spawn(bucket_call(shared.clone(), b.clone(), ask, back));
        }
    });
    shared.quotas.for_each(|q| {
        let tag = q.tag();
        let mut report = Report {
            back: q.lease.take_expired(now),
            uncounted: 0,
        };
        match q.take_uncounted() {
            // Counted with this period's lease call: no call of its own.
            Some((counted, n)) if counted == tag => report.uncounted = n,
            Some((counted, n)) => {
                let (shared, q) = (shared.clone(), q.clone());
                let late = Report {
                    back: 0,
                    uncounted: n,
                };
                tokio::spawn(async move { quota_call(&shared, &q, counted, None, late).await });
            }
            None => {}
        }
        let ask = if q.lease.wants_lease(now, recent) {
            let limit = q.limit.load(Ordering::Relaxed);
            q.lease.begin(now, Sizing::new(span, 1.0, limit))
        } else {
            None
        };
        if ask.is_some() || report.back > 0 || report.uncounted != 0 {
            let (shared, q) = (shared.clone(), q.clone());
            tokio::spawn(async move { quota_call(&shared, &q, tag, ask, report).await });
        }
    });
}

/// What a quota call tells Redis besides its ask: `back` unused requests of an expired lease,
/// and `uncounted` requests admitted without a lease (negative: leased ones not used).
#[derive(Debug, Clone, Copy)]
struct Report {
    back: u64,
    uncounted: i64,
}

fn outcome(granted: u64, want: u64) -> &'static str {
    match granted {
        0 => "denied",
        g if g < want => "partial",
        _ => "granted",
    }
}

async fn bucket_call(shared: Arc<Shared>, b: Arc<LeasedBucket>, ask: Option<Ask>, back: u64) {
    let (rate, burst) = b.settings();
    let settings = ThrottleSettings {
        rate_limit: rate,
        burst_limit: burst.min(u64::from(u32::MAX)) as u32,
    };
    let want = ask.map_or(0, |a| a.want);
    let started = Instant::now();
    match shared
        .store
        .lease_bucket(&b.key, &settings, want, back)
        .await
    {
        Ok(grant) => {
            shared.answered(started.elapsed());
            if let Some(ask) = ask {
                let ttl = Shared::ms(shared.settings.lease_ttl_ms);
                let wait = grant.wait_us.saturating_mul(1_000);
                b.lease.granted(ask, grant.granted, grant.left, wait, ttl);
                if wait > 0 {
                    // Ask again as soon as Redis said to, not at the next tick: until the
                    // answer comes, this node refuses the bucket's requests.
                    let due =
                        Duration::from_nanos((ask.sent_at + wait).saturating_sub(shared.now()));
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(due).await;
                        shared.wake.notify_one();
                    });
                }
                metrics::lease(outcome(grant.granted, want), "throttle", grant.granted);
            }
        }
        Err(e) => {
            if ask.is_some() {
                b.lease.failed();
            }
            shared.call_failed(&e, "throttle");
        }
    }
}

/// A quota lease and/or report for period `tag`.
async fn quota_call(
    shared: &Arc<Shared>,
    q: &LeasedQuota,
    tag: u32,
    ask: Option<Ask>,
    report: Report,
) {
    let limit = q.limit.load(Ordering::Relaxed);
    let want = ask.map_or(0, |a| a.want);
    let key = shared.quota_key(q, tag);
    let back = report.back as i64 - report.uncounted;
    let started = Instant::now();
    match shared
        .store
        .lease_quota(&key, limit, q.end_ms(), want, back)
        .await
    {
        Ok(grant) => {
            shared.answered(started.elapsed());
            let Some(ask) = ask else { return };
            metrics::lease(outcome(grant.granted, want), "quota", grant.granted);
            if q.tag() != tag {
                // The period turned while the call was out: its grant counts for nothing now.
                q.lease.failed();
                return;
            }
            // Exhausted: ask again now and then (an operator may raise what is left).
            let ttl = Shared::ms(shared.settings.lease_ttl_ms);
            let wait = if grant.left <= 0 { ttl } else { 0 };
            q.lease
                .granted(ask, grant.granted, grant.left.max(0) as u64, wait, ttl);
        }
        Err(e) => {
            if ask.is_some() {
                q.lease.failed();
            }
            // (A call that timed out may still have run: counting twice errs on the safe side.)
            q.restore_uncounted(tag, report.uncounted);
            shared.call_failed(&e, "quota");
        }
    }
}

impl Shared {
    /// A call was answered in `took`: Redis is healthy, and the round trip is known better.
    fn answered(&self, took: Duration) {
        self.health.succeeded();
        let sample = took.as_nanos() as u64;
        let old = self.rtt.load(Ordering::Relaxed);
        let rtt = if old == 0 {
            sample
        } else {
            (7 * old + sample) / 8
        };
        self.rtt.store(rtt, Ordering::Relaxed);
    }

    fn call_failed(&self, error: &super::CallError, kind: &'static str) {
        metrics::lease("error", kind, 0);
        tracing::debug!(%error, kind, "redis lease call failed");
        self.health.failed(self.local.now_ms(), &error.to_string());
    }
}
