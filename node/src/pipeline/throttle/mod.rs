//! Phase 7, throttle: usage-plan per-key per-route → per-key plan → stage route (or stage) →
//! node-wide limits, then the key's quota; 429 `THROTTLED` or `QUOTA_EXCEEDED`. The limits live
//! behind the [`Limiter`] trait: in this process by default ([`LocalLimiter`]).

mod bucket;
pub mod calendar;
#[cfg(test)]
mod concurrency;
mod handles;
mod limiter;
mod local;
mod persist;
mod quota;
mod redis;
mod shards;
#[cfg(test)]
mod tests;

pub use limiter::{
    Admission, Admit, KeyUse, Limit, LimitKind, Limiter, QuotaStanding, Scope, Standing, Verdict,
};
pub use local::LocalLimiter;
pub use persist::{Embedded, FILE_NAME as USAGE_FILE, PersistError, SAVE_INTERVAL};
pub use quota::DayUsage;
pub use redis::{BucketGrant, CallError, QuotaGrant, RedisLimiter, RedisSettings, Store};

use super::authorize::Principal;
use crate::error::GatewayError;
use crate::snapshot::{RouteRuntime, StageRuntime};
use edgeway_shared::{ResponseType, ThrottleSettings};
use std::sync::Arc;
use std::time::Duration;

/// What the client is told about the tightest limit that applied (`RateLimit-*` headers, and
/// `Retry-After` on 429).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset_seconds: Option<u64>,
    pub retry_after_seconds: Option<u64>,
}

impl RateLimitInfo {
    fn of(standing: &Standing, retry_after: Option<Duration>) -> RateLimitInfo {
        RateLimitInfo {
            limit: Some(standing.limit),
            remaining: Some(standing.remaining),
            reset_seconds: Some(ceil_seconds(standing.reset)),
            retry_after_seconds: retry_after.map(|d| ceil_seconds(d).max(1)),
        }
    }
}

fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A refused request: the error to answer with, and the headers that go with it.
#[derive(Debug)]
pub struct Refused {
    pub error: GatewayError,
    pub info: RateLimitInfo,
    /// Which limit refused it (counted with the route's series).
    pub kind: LimitKind,
}

/// The throttle phase of a node: its limiter and its node-wide limit.
pub struct Throttle {
    pub limiter: Arc<dyn Limiter>,
    /// `limits.node_rate` and `limits.node_burst` are read per request, so a reload changes
    /// them at once; buckets keep their state and are judged by the new settings.
    pub limits: crate::config::LiveLimits,
}

impl Throttle {
    pub async fn admit(
        &self,
        stage: &StageRuntime,
        route: &RouteRuntime,
        principal: &Principal,
    ) -> Result<RateLimitInfo, Refused> {
        let (api, stage_name) = (stage.api.id.as_str(), &*stage.name);
        let node = {
            let live = self.limits.load();
            ThrottleSettings {
                rate_limit: live.node_rate,
                burst_limit: live.node_burst,
            }
        };
        let mut limits = [Limit {
            scope: Scope::Node,
            settings: node,
        }; 5];
        let mut count = 0;
        let mut push = |scope, settings: Option<&ThrottleSettings>| {
            if let Some(&settings) = settings {
                limits[count] = Limit { scope, settings };
                count += 1;
            }
        };
        let key = principal.api_key.as_deref();
        let plan = key.and_then(|k| Some((k, k.plan_for(api, stage_name)?)));
        if let Some((key, plan)) = plan {
            let (plan_id, key_id) = (plan.id.as_str(), key.id.as_str());
            let per_route = plan
                .api_stages
                .iter()
                .find(|s| s.api_id == api && s.stage == stage_name)
                .and_then(|s| s.route_throttles.get(&*route.key));
            let route_key = &*route.key;
            push(
                Scope::KeyRoute {
                    plan: plan_id,
                    key: key_id,
                    api,
                    stage: stage_name,
                    route: route_key,
                },
                per_route,
            );
            push(
                Scope::Key {
                    plan: plan_id,
                    key: key_id,
                },
                plan.throttle.as_ref(),
            );
        }
        // A route's own throttle replaces the stage's for that route, as in AWS.
        match &route.throttle {
            Some(t) => push(
                Scope::Route {
                    api,
                    stage: stage_name,
                    route: &route.key,
                },
                Some(t),
            ),
            None => push(
                Scope::Stage {
                    api,
                    stage: stage_name,
                },
                stage.throttle.as_ref(),
            ),
        }
        push(Scope::Node, Some(&node));
        let admission = Admission {
            limits: &limits[..count],
            usage: plan.map(|(key, plan)| KeyUse {
                plan: &plan.id,
                key: &key.id,
                quota: plan.quota,
                fail_mode: plan.fail_mode,
            }),
        };
        let verdict = match self.limiter.admit(&admission) {
            Admit::Now(verdict) => verdict,
            Admit::Later(verdict) => verdict.await,
        };
        match verdict {
            Verdict::Admitted(standing) => Ok(standing
                .map(|s| RateLimitInfo::of(&s, None))
                .unwrap_or_default()),
            Verdict::Refused {
                standing,
                retry_after,
            } => {
                let error = match standing.kind {
                    LimitKind::Quota => {
                        GatewayError::client(ResponseType::QuotaExceeded, "Limit Exceeded")
                    }
                    _ => GatewayError::client(ResponseType::Throttled, "Too Many Requests"),
                };
                Err(Refused {
                    error,
                    info: RateLimitInfo::of(&standing, Some(retry_after)),
                    kind: standing.kind,
                })
            }
        }
    }
}
