//! Deciding a request with leases: each throttle in order takes a token from its lease (the
//! node-wide limit from the embedded limiter), then the quota; the first that refuses gives
//! back what the earlier ones took. A lease with no tokens and no "empty" answer makes the
//! request wait (bounded) for the leaser; Redis in trouble makes it use the fallback share.

use super::super::calendar::period_at;
use super::super::limiter::{Admission, Admit, KeyUse, Limit, Scope, Standing, Verdict};
use super::super::local::tighten;
use super::Shared;
use super::bucket::LeasedBucket;
use super::fallback;
use super::lease::{Lease, Take};
use super::quota::{LeasedQuota, Offline};
use edgeway_shared::{FailMode, QuotaSettings, ThrottleSettings};
use std::sync::Arc;
use std::time::Duration;

/// What a first, synchronous attempt found.
enum Attempt {
    Done(Verdict),
    /// This lease has nothing and must be asked for.
    Need(Needed),
}

enum Needed {
    Bucket(Arc<LeasedBucket>),
    Quota(Arc<LeasedQuota>),
}

impl Needed {
    fn lease(&self) -> &Lease {
        match self {
            Needed::Bucket(b) => &b.lease,
            Needed::Quota(q) => &q.lease,
        }
    }
}

/// Something taken for the request, to give back if a later limit refuses.
enum Held<'a> {
    Node(&'a Limit<'a>),
    Lease(Arc<LeasedBucket>),
}

pub fn admit(shared: &Arc<Shared>, admission: &Admission<'_>) -> Admit {
    if shared.health.in_fallback() {
        return Admit::Now(finish(shared, admission, offline(shared, admission)));
    }
    match attempt(shared, admission) {
        Attempt::Done(verdict) => Admit::Now(finish(shared, admission, verdict)),
        Attempt::Need(needed) => {
            let owned = OwnedAdmission::of(admission);
            let shared = shared.clone();
            Admit::Later(Box::pin(async move {
                let limits = owned.limits();
                let admission = owned.admission(&limits);
                let verdict = wait_then_decide(&shared, &admission, needed).await;
                finish(&shared, &admission, verdict)
            }))
        }
    }
}

/// Counts the verdict per plan, and an admitted key request on today's usage.
fn finish(shared: &Shared, admission: &Admission<'_>, verdict: Verdict) -> Verdict {
    let admitted = matches!(verdict, Verdict::Admitted(_));
    let plan = admission.usage.map_or("-", |u| u.plan);
    shared.per_plan.count(plan, admitted);
    if let (true, Some(usage)) = (admitted, admission.usage) {
        shared.local.record_use(usage.plan, usage.key);
    }
    verdict
}

async fn wait_then_decide(shared: &Shared, admission: &Admission<'_>, needed: Needed) -> Verdict {
    let lease = needed.lease();
    let ready = lease.ready.notified();
    tokio::pin!(ready);
    ready.as_mut().enable();
    shared.wake.notify_one();
    let wait = Duration::from_millis(shared.settings.lease_wait_ms);
    let _ = tokio::time::timeout(wait, ready).await;
    if shared.health.in_fallback() {
        return offline(shared, admission);
    }
    match attempt(shared, admission) {
        Attempt::Done(verdict) => verdict,
        // Still nothing, and Redis failed lately: it is in trouble, fall back now.
        Attempt::Need(_) if shared.health.shaky() => {
            shared
                .health
                .fall_back(shared.local.now_ms(), "no lease within lease_wait_ms");
            offline(shared, admission)
        }
        // A bucket Redis answered for before is being refilled: this request is one too many.
        Attempt::Need(needed) if needed.lease().is_warm() => refused_for(shared, &needed),
        // A new key and a slow Redis: this node's share, and the fail mode for a quota.
        Attempt::Need(_) => cold(shared, admission),
    }
}

fn refused_for(shared: &Shared, needed: &Needed) -> Verdict {
    let retry_after = Duration::from_millis(shared.settings.refill_interval_ms);
    let standing = match needed {
        Needed::Bucket(b) => b.refused(),
        Needed::Quota(q) => q.standing(0, shared.local.now_ms()),
    };
    Verdict::Refused {
        standing,
        retry_after,
    }
}

/// One pass over the admission's limits and quota, from leases only.
fn attempt(shared: &Shared, admission: &Admission<'_>) -> Attempt {
    let now = shared.now();
    let mut held: [Option<Held<'_>>; 5] = Default::default();
    let mut tightest: Option<Standing> = None;
    for (i, limit) in admission.limits.iter().enumerate().take(held.len()) {
        let refused = match limit.scope {
            Scope::Node => match node_take(shared, limit) {
                Ok(standing) => {
                    held[i] = Some(Held::Node(limit));
                    if let Some(standing) = standing {
                        tighten(&mut tightest, standing);
                    }
                    None
                }
                Err(verdict) => Some(Attempt::Done(verdict)),
            },
            scope => {
                let bucket = shared.bucket(&scope, &limit.settings);
                match take(shared, &bucket.lease, now) {
                    Take::Taken { left } => {
                        tighten(&mut tightest, bucket.standing(left));
                        held[i] = Some(Held::Lease(bucket));
                        None
                    }
                    Take::Empty { retry_in } => Some(Attempt::Done(Verdict::Refused {
                        standing: bucket.refused(),
                        retry_after: Duration::from_nanos(retry_in),
                    })),
                    Take::Need => Some(Attempt::Need(Needed::Bucket(bucket))),
                }
            }
        };
        if let Some(outcome) = refused {
            give_back(shared, &held);
            return outcome;
        }
    }
    let Some(KeyUse {
        plan,
        key,
        quota: Some(settings),
        ..
    }) = admission.usage
    else {
        return Attempt::Done(Verdict::Admitted(tightest));
    };
    let now_ms = shared.local.now_ms();
    let period = period_at(&settings, now_ms);
    let quota = shared.quota(plan, key, &settings, &period);
    let outcome = match take(shared, &quota.lease, now) {
        Take::Taken { left } => {
            tighten(&mut tightest, quota.standing(left, now_ms));
            return Attempt::Done(Verdict::Admitted(tightest));
        }
        Take::Empty { .. } => Attempt::Done(Verdict::Refused {
            standing: quota.standing(0, now_ms),
            retry_after: Duration::from_millis((period.end_ms - now_ms).max(0) as u64),
        }),
        Take::Need => Attempt::Need(Needed::Quota(quota)),
    };
    give_back(shared, &held);
    outcome
}

/// A take that also refuses, without waiting, a request on a lease Redis answered before when
/// waiting for the next lease is pointless (see [`pointless_to_wait`]).
fn take(shared: &Shared, lease: &Lease, now: u64) -> Take {
    match lease.take(now) {
        Take::Taken { left } => {
            if lease.is_low(left) {
                shared.wake.notify_one();
            }
            Take::Taken { left }
        }
        Take::Need
            if lease.is_warm()
                && !shared.health.shaky()
                && pointless_to_wait(shared, lease, now) =>
        {
            shared.wake.notify_one();
            Take::Empty {
                retry_in: Shared::ms(shared.settings.refill_interval_ms),
            }
        }
        other => other,
    }
}

/// Waiting for a lease helps nobody when Redis was empty at the last answer, lately (the key
/// is over its limit: a request that finds this node's share spent is one too many, and
/// waiting would add a round trip to it; the tokens it did not get stay in Redis for the next
/// grant), or when Redis is further away than the wait.
fn pointless_to_wait(shared: &Shared, lease: &Lease, now: u64) -> bool {
    (lease.is_short() && lease.asked_within(now, Shared::ms(shared.settings.lease_ttl_ms)))
        || shared.rtt.load(std::sync::atomic::Ordering::Relaxed)
            > Shared::ms(shared.settings.lease_wait_ms)
}

fn node_take(shared: &Shared, limit: &Limit<'_>) -> Result<Option<Standing>, Verdict> {
    let one = Admission {
        limits: std::slice::from_ref(limit),
        usage: None,
    };
    match shared.local.admit_now(&one) {
        Verdict::Admitted(standing) => Ok(standing),
        refused => Err(refused),
    }
}

fn give_back(shared: &Shared, held: &[Option<Held<'_>>]) {
    for h in held.iter().flatten() {
        match h {
            Held::Node(limit) => shared.local.give_back(
                &Admission {
                    limits: std::slice::from_ref(*limit),
                    usage: None,
                },
                1,
            ),
            Held::Lease(bucket) => bucket.lease.give_back(),
        }
    }
}

/// This node's share of each throttle, then `quota` decides the key's quota if it has one.
fn by_share(
    shared: &Shared,
    admission: &Admission<'_>,
    quota: impl FnOnce(&str, &str, &QuotaSettings, FailMode) -> Result<Option<Standing>, Verdict>,
) -> Verdict {
    fallback::admit(
        &shared.local,
        admission,
        shared.nodes(),
        || match admission.usage {
            Some(KeyUse {
                plan,
                key,
                quota: Some(settings),
                fail_mode,
            }) => quota(plan, key, &settings, fail_mode),
            _ => Ok(None),
        },
    )
}

/// Decides without Redis: this node's share of each throttle, the quota by what this node
/// knew, or the plan's fail mode when it knew nothing.
fn offline(shared: &Shared, admission: &Admission<'_>) -> Verdict {
    let nodes = shared.nodes();
    by_share(shared, admission, |plan, key, settings, fail_mode| {
        offline_quota(shared, plan, key, settings, fail_mode, nodes)
    })
}

/// Decides a request whose first lease is slow in coming (Redis healthy): this node's share
/// of each throttle; a quota nothing is known of follows the plan's fail mode (an admission is
/// counted in Redis by the leaser's next round).
fn cold(shared: &Shared, admission: &Admission<'_>) -> Verdict {
    by_share(shared, admission, |plan, key, settings, fail_mode| {
        let now_ms = shared.local.now_ms();
        let quota = shared.quota(plan, key, settings, &period_at(settings, now_ms));
        match fail_mode {
            FailMode::Open => {
                quota.count_unknown();
                Ok(None)
            }
            FailMode::Closed => Err(Verdict::Refused {
                standing: quota.standing(0, now_ms),
                retry_after: Duration::from_millis(shared.settings.refill_interval_ms),
            }),
        }
    })
}

fn offline_quota(
    shared: &Shared,
    plan: &str,
    key: &str,
    settings: &QuotaSettings,
    fail_mode: FailMode,
    nodes: usize,
) -> Result<Option<Standing>, Verdict> {
    let now_ms = shared.local.now_ms();
    let period = period_at(settings, now_ms);
    let quota = shared.quota(plan, key, settings, &period);
    let fresh = period.start_ms >= shared.health.since_ms();
    let refused = |standing| Verdict::Refused {
        standing,
        retry_after: Duration::from_millis(shared.settings.probe_interval_ms),
    };
    match quota.admit_offline(shared.health.epoch(), nodes as u64, fresh) {
        Offline::Admitted { left } => Ok(Some(quota.standing(left, now_ms))),
        Offline::Exhausted => Err(refused(quota.standing(0, now_ms))),
        Offline::Unknown => match fail_mode {
            FailMode::Open => {
                quota.count_unknown();
                Ok(None)
            }
            FailMode::Closed => Err(refused(quota.standing(0, now_ms))),
        },
    }
}

/// An admission that outlives the request's borrow, for the rare request that waits.
struct OwnedAdmission {
    limits: Vec<(OwnedScope, ThrottleSettings)>,
    usage: Option<(String, String, Option<QuotaSettings>, FailMode)>,
}

enum OwnedScope {
    KeyRoute([String; 5]),
    Key([String; 2]),
    Route([String; 3]),
    Stage([String; 2]),
    Node,
}

impl OwnedAdmission {
    fn of(a: &Admission<'_>) -> OwnedAdmission {
        let s = |v: &str| v.to_string();
        let limits = a
            .limits
            .iter()
            .map(|l| {
                let scope = match l.scope {
                    Scope::KeyRoute {
                        plan,
                        key,
                        api,
                        stage,
                        route,
                    } => OwnedScope::KeyRoute([s(plan), s(key), s(api), s(stage), s(route)]),
                    Scope::Key { plan, key } => OwnedScope::Key([s(plan), s(key)]),
                    Scope::Route { api, stage, route } => {
                        OwnedScope::Route([s(api), s(stage), s(route)])
                    }
                    Scope::Stage { api, stage } => OwnedScope::Stage([s(api), s(stage)]),
                    Scope::Node => OwnedScope::Node,
                };
                (scope, l.settings)
            })
            .collect();
        let usage = a.usage.map(|u| (s(u.plan), s(u.key), u.quota, u.fail_mode));
        OwnedAdmission { limits, usage }
    }

    fn limits(&self) -> Vec<Limit<'_>> {
        self.limits
            .iter()
            .map(|(scope, settings)| Limit {
                scope: match scope {
                    OwnedScope::KeyRoute([plan, key, api, stage, route]) => Scope::KeyRoute {
                        plan,
                        key,
                        api,
                        stage,
                        route,
                    },
                    OwnedScope::Key([plan, key]) => Scope::Key { plan, key },
                    OwnedScope::Route([api, stage, route]) => Scope::Route { api, stage, route },
                    OwnedScope::Stage([api, stage]) => Scope::Stage { api, stage },
                    OwnedScope::Node => Scope::Node,
                },
                settings: *settings,
            })
            .collect()
    }

    fn admission<'a>(&'a self, limits: &'a [Limit<'a>]) -> Admission<'a> {
        Admission {
            limits,
            usage: self
                .usage
                .as_ref()
                .map(|(plan, key, quota, fail_mode)| KeyUse {
                    plan,
                    key,
                    quota: *quota,
                    fail_mode: *fail_mode,
                }),
        }
    }
}
