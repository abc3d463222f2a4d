//! Phase 6, authorize: API key, JWT, custom authorizer and mTLS identity → the principal the
//! later phases (throttle, integrate) and the integration see.
//!
//! Order, as in AWS: the route's authorizer first (a custom one may supply the API key as its
//! `usageIdentifierKey`), then the API key. Failures, as AWS answers them:
//! - no identity for the authorizer, or an invalid JWT: 401 `UNAUTHORIZED` "Unauthorized";
//! - a JWT without a required scope, or an authorizer's deny: 403 `ACCESS_DENIED`;
//! - a custom authorizer that is unreachable, slow or answers nonsense: 500 `AUTHORIZER_FAILURE`;
//! - authorizer settings that cannot work: 500 `AUTHORIZER_CONFIGURATION_ERROR`;
//! - a missing, unknown or disabled key, or one outside the stage's plans: 403 `INVALID_API_KEY`.

mod api_key;
mod custom;
mod event;
mod iam;
mod identity;
mod jwks;
mod jwt;
mod registry;

pub use registry::Registry;

use crate::error::{ErrorSource, GatewayError};
use crate::snapshot::router::Param;
use crate::snapshot::{KeyEntry, RouteRuntime, Snapshot, StageRuntime};
use edgeway_shared::ResponseType;
use registry::Runtime;
use std::net::IpAddr;
use std::sync::Arc;

/// Who is calling, as far as the gateway could establish.
#[derive(Debug, Default, Clone)]
pub struct Principal {
    /// The caller's API key (header or authorizer-supplied), when the route requires one.
    pub api_key: Option<Arc<KeyEntry>>,
    /// A custom authorizer's `principalId`, or a JWT's `sub`.
    pub principal_id: Option<String>,
    /// JWT claims, for `context.authorizer.claims.*`.
    pub claims: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
    /// A custom authorizer's `context`.
    pub context: serde_json::Map<String, serde_json::Value>,
    /// A custom authorizer's `usageIdentifierKey`: the API key when the key source is AUTHORIZER.
    pub usage_identifier_key: Option<String>,
    /// The client certificate an mTLS domain's truststore verified at the handshake.
    pub client_cert: Option<Arc<crate::tls::ClientCert>>,
}

/// The parts of the request authorizers may read.
pub struct RequestView<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    /// The path inside the stage (what the routes see), starting with `/`.
    pub path: &'a str,
    pub params: &'a [Param<'a>],
    pub headers: &'a http::HeaderMap,
    pub source_ip: IpAddr,
    /// The mTLS client certificate, verified for this request's host.
    pub client_cert: Option<&'a crate::tls::ClientCert>,
}

pub async fn authorize(
    registry: &Registry,
    snapshot: &Snapshot,
    stage: &StageRuntime,
    route: &RouteRuntime,
    request: &RequestView<'_>,
) -> Result<Principal, GatewayError> {
    let mut principal = Principal::default();
    if route.authorizer.is_some() {
        // Boxed: an authorizer's future (JWKS fetch, HTTP call, result cache) is large, and
        // inline it would make every request's future that large, routes without one too.
        let call = run_authorizer(registry, snapshot, stage, route, request, &mut principal);
        Box::pin(call).await?;
    }
    if route.api_key_required {
        api_key::check(snapshot, stage, request, &mut principal)?;
    }
    Ok(principal)
}

/// Runs the route's authorizer (JWT or custom), filling `principal`.
async fn run_authorizer(
    registry: &Registry,
    snapshot: &Snapshot,
    stage: &StageRuntime,
    route: &RouteRuntime,
    request: &RequestView<'_>,
    principal: &mut Principal,
) -> Result<(), GatewayError> {
    let Some(settings) = &route.authorizer else {
        return Ok(());
    };
    registry.prune(snapshot);
    let entry = registry.get(&stage.api.id, settings);
    match &entry.runtime {
        Runtime::Jwt(jwt) => {
            let scopes = &route.authorization_scopes;
            jwt.authorize(request, scopes, &stage.variables, principal)
                .await
        }
        Runtime::Custom(custom) => {
            let target = custom::Target {
                api_id: &stage.api.id,
                stage: &stage.name,
                route_key: &route.key,
                variables: &stage.variables,
            };
            custom.authorize(request, &target, principal).await
        }
        Runtime::Broken(_) => Err(GatewayError::new(
            ResponseType::AuthorizerConfigurationError,
            ErrorSource::Internal,
            "Authorizer misconfigured",
        )),
    }
}
