//! API keys on routes that require one. The key comes from the `x-api-key` header, or (API key
//! source `AUTHORIZER`) from the custom authorizer's `usageIdentifierKey`. It must exist, be
//! enabled, and belong to a usage plan that covers this API stage.
//!
//! AWS answers every failure here alike, 403 `{"message":"Forbidden"}`, whether the key is
//! missing, unknown, disabled or outside the stage's plans, so callers cannot probe which keys
//! exist. Its documented response type for "an invalid API key submitted for a method requiring
//! an API key" is `INVALID_API_KEY` (default status 403), and a missing key is an invalid one:
//! overriding `INVALID_API_KEY` in an API's gateway responses changes all of these answers.

use super::{Principal, RequestView};
use crate::error::GatewayError;
use crate::snapshot::{Snapshot, StageRuntime};
use edgeway_shared::{ApiKeySource, ResponseType};

pub const HEADER: &str = "x-api-key";

pub fn check(
    snapshot: &Snapshot,
    stage: &StageRuntime,
    request: &RequestView<'_>,
    principal: &mut Principal,
) -> Result<(), GatewayError> {
    let forbidden = || GatewayError::client(ResponseType::InvalidApiKey, "Forbidden");
    let value = match stage.api.api_key_source {
        ApiKeySource::Header => request
            .headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ApiKeySource::Authorizer => principal.usage_identifier_key.clone(),
    };
    let value = value.filter(|v| !v.is_empty()).ok_or_else(forbidden)?;
    let key = snapshot.key_by_value(&value).ok_or_else(forbidden)?;
    if !key.enabled || key.plan_for(&stage.api.id, &stage.name).is_none() {
        return Err(forbidden());
    }
    principal.api_key = Some(key.clone());
    Ok(())
}
