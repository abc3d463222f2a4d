//! Phase 6, authorize: API key, JWT, custom authorizer and mTLS identity → the principal the
//! later phases (throttle, integrate) and the integration see.

use crate::error::GatewayError;
use crate::snapshot::{KeyEntry, RouteRuntime, Snapshot, StageRuntime};
use std::net::IpAddr;
use std::sync::Arc;

/// Who is calling, as far as the gateway could establish.
#[derive(Debug, Default)]
pub struct Principal {
    /// The caller's API key (header or authorizer-supplied), when the route requires one.
    pub api_key: Option<Arc<KeyEntry>>,
    pub principal_id: Option<String>,
    /// JWT claims, for `$context.authorizer.claims.*`.
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// A custom authorizer's `context`.
    pub context: serde_json::Map<String, serde_json::Value>,
    /// The mTLS client certificate, for `$context.identity.clientCert.*`.
    pub client_cert: Option<Arc<crate::tls::ClientCert>>,
}

/// The parts of the request authorizers may read.
pub struct RequestView<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub headers: &'a http::HeaderMap,
    pub source_ip: IpAddr,
}

pub async fn authorize(
    _snapshot: &Snapshot,
    _stage: &StageRuntime,
    _route: &RouteRuntime,
    _request: &RequestView<'_>,
) -> Result<Principal, GatewayError> {
    // Routes cannot require keys or authorizers until this phase enforces them: the control
    // plane refuses those settings (control::check::not_yet_enforced).
    Ok(Principal::default())
}
