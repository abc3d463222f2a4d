//! Who may call, and how often: API keys, usage plans, throttles and quotas, resource
//! policies and CORS.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An API key. The value is shown once, when the key is created; only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Lower-case hex SHA-256 of the key value.
    #[serde(default)]
    pub value_sha256: String,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub created_at: u64,
}

fn yes() -> bool {
    true
}

/// Token bucket: `rate_limit` requests per second on average, bursts up to `burst_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThrottleSettings {
    pub rate_limit: f64,
    pub burst_limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

/// At most `limit` requests per UTC calendar period. `offset` moves the period's start: hours
/// for DAY (0–23), days after Monday for WEEK (0–6), days after the 1st for MONTH (0–27).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuotaSettings {
    pub limit: u64,
    pub period: QuotaPeriod,
    #[serde(default)]
    pub offset: u32,
}

/// Limits for the API keys attached to it, on the stages it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagePlan {
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub api_stages: Vec<PlanStage>,
    #[serde(default)]
    pub throttle: Option<ThrottleSettings>,
    #[serde(default)]
    pub quota: Option<QuotaSettings>,
    /// What the plan's keys get when the cluster-wide limiter (Redis) cannot be reached and a
    /// fallback share cannot be worked out (a quota whose standing this node never saw).
    #[serde(default)]
    pub fail_mode: FailMode,
}

/// Fail-open (serve, counting locally) or fail-closed (refuse with 429) when limits cannot be
/// checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailMode {
    #[default]
    Open,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStage {
    pub api_id: String,
    pub stage: String,
    /// Per-route throttles for each key of the plan, by route key (`GET /pets/{id}`). They
    /// apply before the plan throttle, not instead of it: a request passes both.
    #[serde(default)]
    pub route_throttles: BTreeMap<String, ThrottleSettings>,
}

/// A key attached to a plan (AWS's UsagePlanKey). Its id is `{plan_id}/{key_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagePlanKey {
    #[serde(default)]
    pub plan_id: String,
    pub key_id: String,
}

/// Where a route that requires a key finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiKeySource {
    /// The `x-api-key` header.
    #[default]
    Header,
    /// The `usageIdentifierKey` a custom authorizer returns.
    Authorizer,
}

/// Source-address rules of an API; a deny match wins over an allow match. With an empty
/// `allow`, every address not denied is allowed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourcePolicy {
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    #[serde(default)]
    pub deny_cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cors {
    /// Exact origins, `*`, or wildcards such as `https://*.example.com`.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    #[serde(default)]
    pub allow_methods: Vec<String>,
    #[serde(default)]
    pub allow_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
    #[serde(default)]
    pub max_age_seconds: Option<u32>,
}
