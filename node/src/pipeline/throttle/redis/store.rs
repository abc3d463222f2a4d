//! The Redis side of leases, call by call: what the leaser sends, also usable on its own by
//! tools and tests that need to look at a bucket or quota as Redis holds it.

use super::super::calendar::DAY_MS;
use super::super::limiter::Scope;
use super::client::{CallError, Client};
use super::script;
use super::settings::RedisSettings;
use edgeway_shared::ThrottleSettings;

/// What a bucket lease call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketGrant {
    pub granted: u64,
    /// Whole tokens left in Redis after the grant.
    pub left: u64,
    /// Microseconds until Redis holds twice the tokens asked for, when the grant was short or
    /// left the bucket empty (else 0): the node does not ask again before.
    pub wait_us: u64,
}

/// What a quota lease call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaGrant {
    pub granted: u64,
    /// Requests left in the period after the grant (negative after an overshoot).
    pub left: i64,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    prefix: String,
    /// The longest a short grant makes a node wait while tokens are left: a lease's lifetime.
    max_wait_us: u64,
}

impl Store {
    pub fn new(settings: &RedisSettings) -> Result<Store, CallError> {
        Ok(Store {
            client: Client::new(settings)?,
            prefix: settings.key_prefix.clone(),
            max_wait_us: settings.lease_ttl_ms.saturating_mul(1_000),
        })
    }

    /// The Redis key of a throttle's bucket (`None` for the node-wide limit, never in Redis).
    pub fn bucket_key(&self, scope: &Scope<'_>) -> Option<String> {
        script::bucket_key(&self.prefix, scope)
    }

    pub fn quota_key(&self, plan: &str, key: &str, period_tag: u32) -> String {
        script::quota_key(&self.prefix, plan, key, period_tag)
    }

    /// Asks the bucket `key` for `want` tokens, giving back `back` unused ones.
    pub async fn lease_bucket(
        &self,
        key: &str,
        settings: &ThrottleSettings,
        want: u64,
        back: u64,
    ) -> Result<BucketGrant, CallError> {
        let mut call = script::bucket().prepare_invoke();
        call.key(key)
            .arg(settings.rate_limit)
            .arg(u64::from(settings.burst_limit.max(1)))
            .arg(want)
            .arg(back)
            .arg(self.max_wait_us);
        let (granted, left, wait_us) = self.client.run::<(u64, u64, u64)>(&call).await?;
        Ok(BucketGrant {
            granted,
            left,
            wait_us,
        })
    }

    /// Asks the quota counter `key` (of a period ending at `end_ms`) for `want` requests;
    /// `back` gives unused ones back, or (negative) counts requests admitted without a lease.
    pub async fn lease_quota(
        &self,
        key: &str,
        limit: u64,
        end_ms: i64,
        want: u64,
        back: i64,
    ) -> Result<QuotaGrant, CallError> {
        let mut call = script::quota().prepare_invoke();
        call.key(key)
            .arg(limit)
            .arg(want)
            .arg(back)
            .arg(end_ms + DAY_MS);
        let (granted, left) = self.client.run::<(u64, i64)>(&call).await?;
        Ok(QuotaGrant { granted, left })
    }

    /// Requests used of the quota counter `key` (granted to nodes, used or not).
    pub async fn quota_used(&self, key: &str) -> Result<i64, CallError> {
        let used: Option<i64> = self.client.run(&script::quota_used().key(key)).await?;
        Ok(used.unwrap_or(0))
    }

    /// Sets the requests used of the quota counter `key` (of a period ending at `end_ms`).
    pub async fn set_quota_used(&self, key: &str, used: i64, end_ms: i64) -> Result<(), CallError> {
        let mut call = script::quota_set().prepare_invoke();
        call.key(key).arg(used).arg(end_ms + DAY_MS);
        self.client.run::<i64>(&call).await.map(|_| ())
    }

    /// A read that touches no bucket: whether Redis answers.
    pub async fn ping(&self) -> Result<(), CallError> {
        let key = format!("{}:probe", self.prefix);
        self.quota_used(&key).await.map(|_| ())
    }
}
