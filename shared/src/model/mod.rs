//! The objects an operator defines, mirroring Amazon API Gateway's: APIs, routes,
//! integrations, deployments, stages, custom domains and gateway responses.
//!
//! Every struct here is plain data with serde derives and no `skip`/`flatten`/`tag`, so the
//! same types travel as JSON (admin API, storage) and as bincode (peer wire).

mod access;
mod api;
mod authorizer;
mod cache;
mod deployment;
mod domain;
mod integration;
mod object;
mod responses;
mod route;

pub use access::{
    ApiKey, ApiKeySource, Cors, FailMode, PlanStage, QuotaPeriod, QuotaSettings, ResourcePolicy,
    ThrottleSettings, UsagePlan, UsagePlanKey,
};
pub use api::{Api, ApiKind, DEFAULT_ROUTE_SELECTION, EndpointType, OutsideHome};
pub use authorizer::{Authorizer, AuthorizerType, JwtSettings};
pub use cache::{
    CacheKeyParameters, CacheSettings, DEFAULT_CACHE_CAPACITY_BYTES, DEFAULT_CACHE_TTL_SECONDS,
    MAX_CACHE_TTL_SECONDS, MAX_CACHED_BODY_BYTES, RouteCacheSettings, UnauthorizedCacheControl,
};
pub use deployment::{AccessLogSettings, DEFAULT_STAGE, Deployment, Stage};
pub use domain::{BasePathMapping, Domain};
pub use integration::{
    BackendProtocol, DEFAULT_TIMEOUT_MS, Integration, IntegrationResponse, IntegrationType,
    MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, MockResponse,
};
pub use object::{Object, ObjectKey, ObjectKind, Record};
pub use responses::{GatewayResponse, ResponseType};
pub use route::{CONNECT_ROUTE, DEFAULT_ROUTE, DISCONNECT_ROUTE, Route};
