//! The limiter interface: where token buckets and quota counters live. The embedded default
//! keeps them in this process ([`super::LocalLimiter`]); a cluster-wide limiter (Redis leases)
//! implements the same trait and is chosen when the node starts, so the request path does not
//! change.

use super::quota::DayUsage;
use edgeway_shared::{FailMode, QuotaSettings, ThrottleSettings};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Whose bucket a throttle takes from. Each variant names its bucket completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope<'a> {
    /// A usage plan's per-route throttle, for one key on one API stage.
    KeyRoute {
        plan: &'a str,
        key: &'a str,
        api: &'a str,
        stage: &'a str,
        route: &'a str,
    },
    /// A usage plan's throttle for one key, over all the plan's stages.
    Key { plan: &'a str, key: &'a str },
    /// A stage's throttle for one route, every caller.
    Route {
        api: &'a str,
        stage: &'a str,
        route: &'a str,
    },
    /// A stage's throttle, every caller.
    Stage { api: &'a str, stage: &'a str },
    /// Everything this node serves.
    Node,
}

/// Which kind of limit answered: a bounded label for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    KeyRoute,
    Key,
    Route,
    Stage,
    Node,
    Quota,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::KeyRoute => "key_route",
            LimitKind::Key => "key",
            LimitKind::Route => "route",
            LimitKind::Stage => "stage",
            LimitKind::Node => "node",
            LimitKind::Quota => "quota",
        }
    }
}

impl Scope<'_> {
    pub fn kind(&self) -> LimitKind {
        match self {
            Scope::KeyRoute { .. } => LimitKind::KeyRoute,
            Scope::Key { .. } => LimitKind::Key,
            Scope::Route { .. } => LimitKind::Route,
            Scope::Stage { .. } => LimitKind::Stage,
            Scope::Node => LimitKind::Node,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    pub scope: Scope<'a>,
    pub settings: ThrottleSettings,
}

/// A key's use of its usage plan: counted per day, and against the plan's quota if it has one.
#[derive(Debug, Clone, Copy)]
pub struct KeyUse<'a> {
    pub plan: &'a str,
    pub key: &'a str,
    pub quota: Option<QuotaSettings>,
    /// What to do when the quota cannot be checked (cluster-wide limiter only).
    pub fail_mode: FailMode,
}

/// Everything one request must pass, in the order it must pass them. All or nothing: a refused
/// request takes no token and no quota.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    pub limits: &'a [Limit<'a>],
    pub usage: Option<KeyUse<'a>>,
}

/// How a client stands against one limit (for the `RateLimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub kind: LimitKind,
    /// Burst capacity of a throttle; the quota's limit.
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again; until the quota period ends.
    pub reset: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted; the limit with the fewest requests left, if any applied.
    Admitted(Option<Standing>),
    /// Refused by a throttle (`standing.kind`) or the quota, until `retry_after` has passed.
    Refused {
        standing: Standing,
        retry_after: Duration,
    },
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A verdict now, or (for limiters that may have to ask a shared store) later.
pub enum Admit {
    Now(Verdict),
    Later(BoxFuture<Verdict>),
}

/// Where a key stands against its plan's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaStanding {
    pub remaining: u64,
    /// The current period, milliseconds since the Unix epoch.
    pub period_start_ms: i64,
    pub period_end_ms: i64,
}

pub trait Limiter: Send + Sync {
    /// Takes one token from every limit of the admission, in order, then one request of the
    /// quota; stops at the first that refuses and gives back what it took.
    fn admit(&self, admission: &Admission<'_>) -> Admit;

    /// Requests and quota left per UTC day (day number → use), for days `first..=last`.
    fn usage(&self, plan: &str, key: &str, first: i64, last: i64) -> BTreeMap<i64, DayUsage>;

    /// The current quota period's standing (a shared store may have to be asked).
    fn quota(&self, plan: &str, key: &str, quota: &QuotaSettings) -> BoxFuture<QuotaStanding>;

    /// Sets what is left of the current period (AWS UpdateUsage), or restores the full quota
    /// (`None`); fails when the store that holds quotas cannot be reached.
    fn set_quota_remaining(
        &self,
        plan: &str,
        key: &str,
        quota: &QuotaSettings,
        remaining: Option<u64>,
    ) -> BoxFuture<Result<QuotaStanding, String>>;
}
