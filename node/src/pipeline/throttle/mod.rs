//! Phase 7, throttle: usage-plan per-key per-route → per-key plan → stage/route → node-wide
//! limits, then the quota; 429 `THROTTLED` or `QUOTA_EXCEEDED`.

use super::authorize::Principal;
use crate::error::GatewayError;
use crate::snapshot::{RouteRuntime, StageRuntime};

/// What the client is told about the limit that applied (`RateLimit-*` headers).
#[derive(Debug, Clone, Copy, Default)]
pub struct RateLimitInfo {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset_seconds: Option<u64>,
}

pub fn admit(
    _stage: &StageRuntime,
    _route: &RouteRuntime,
    _principal: &Principal,
) -> Result<RateLimitInfo, GatewayError> {
    // Stage throttles and usage plans are refused by the control plane until this phase
    // enforces them (control::check::not_yet_enforced).
    Ok(RateLimitInfo::default())
}
