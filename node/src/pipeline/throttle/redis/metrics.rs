//! What the cluster-wide limiter tells Prometheus: lease calls and what they got, Redis
//! latency, whether the node is in fallback, and admissions and refusals per usage plan.
//! Labels are bounded: fixed outcomes, and plan ids from the configuration.

use metrics::{Counter, counter, gauge, histogram};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

pub const LEASES: &str = "edgeway_redis_lease_requests_total";
pub const LEASE_TOKENS: &str = "edgeway_redis_lease_tokens_total";
pub const LATENCY: &str = "edgeway_redis_latency_seconds";
pub const FALLBACK: &str = "edgeway_redis_fallback";
pub const ADMITTED: &str = "edgeway_limiter_admitted_total";
pub const REFUSED: &str = "edgeway_limiter_refused_total";

/// How a lease call ended: `granted` (all wanted), `partial`, `denied` (nothing left), `error`.
pub fn lease(outcome: &'static str, kind: &'static str, tokens: u64) {
    counter!(LEASES, "outcome" => outcome, "kind" => kind).increment(1);
    if tokens > 0 {
        counter!(LEASE_TOKENS, "kind" => kind).increment(tokens);
    }
}

pub fn latency(d: Duration) {
    histogram!(LATENCY).record(d.as_secs_f64());
}

/// 1 while the node decides without Redis.
pub fn fallback(on: bool) {
    gauge!(FALLBACK).set(if on { 1.0 } else { 0.0 });
}

/// Admitted and refused counters per plan, registered once per plan so a request bumps two
/// atomics behind a read lock, without hashing labels.
#[derive(Default)]
pub struct PerPlan {
    plans: RwLock<HashMap<Box<str>, (Counter, Counter)>>,
}

impl PerPlan {
    /// `plan` is `-` for requests without a usage plan.
    pub fn count(&self, plan: &str, admitted: bool) {
        let bump = |pair: &(Counter, Counter)| match admitted {
            true => pair.0.increment(1),
            false => pair.1.increment(1),
        };
        if let Some(pair) = self
            .plans
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(plan)
        {
            return bump(pair);
        }
        let mut plans = self.plans.write().unwrap_or_else(|e| e.into_inner());
        let pair = plans.entry(plan.into()).or_insert_with(|| {
            let label = plan.to_string();
            (
                counter!(ADMITTED, "plan" => label.clone()),
                counter!(REFUSED, "plan" => label),
            )
        });
        bump(pair);
    }
}
