//! Phase 4, route: method + path → route and path parameters; CORS preflights the API allows
//! are answered here, whatever the routes.

use super::cors::Applied;
use crate::body::Body;
use crate::error::GatewayError;
use crate::snapshot::router::{MatchError, Param};
use crate::snapshot::{RouteRuntime, StageRuntime};
use edgeway_shared::{ApiKind, ResponseType};
use std::sync::Arc;

pub struct Routed<'p> {
    pub route: Arc<RouteRuntime>,
    pub params: Vec<Param<'p>>,
}

/// The gateway's answer to an allowed CORS preflight. Other preflights (CORS not configured,
/// origin or method not allowed) are routed like any request.
pub fn preflight(cors: Option<&Applied>) -> Option<http::Response<Body>> {
    cors?.preflight_response()
}

pub fn route<'p>(
    stage: &StageRuntime,
    method: &str,
    path: &'p str,
) -> Result<Routed<'p>, GatewayError> {
    match stage.router.find(method, path) {
        Ok(m) => Ok(Routed {
            route: m.entry.value.clone(),
            params: m.params,
        }),
        // AWS answers an unknown REST resource with 403 "Missing Authentication Token" (so route
        // existence does not leak to unauthenticated callers) and an HTTP API with 404.
        Err(MatchError::NotFound) => Err(match stage.api.kind {
            ApiKind::Rest => GatewayError::client(
                ResponseType::MissingAuthenticationToken,
                "Missing Authentication Token",
            ),
            ApiKind::Http | ApiKind::Websocket => {
                GatewayError::client(ResponseType::ResourceNotFound, "Not Found")
            }
        }),
        Err(MatchError::BadPath(why)) => Err(GatewayError::client(
            ResponseType::BadRequestParameters,
            why,
        )),
    }
}
