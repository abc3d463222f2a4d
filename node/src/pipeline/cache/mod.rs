//! Phase 9, cache: answers from the stage's cache when it can, and otherwise lets the
//! integration's answer fill it. After throttle (a hit is still authorized, throttled and
//! counted), before integrate.
//!
//! - Only routes with a TTL and methods the route caches (GET by default) take part.
//! - Concurrent misses of one key make one integration call: the first request leads, the
//!   others wait (up to the integration's timeout) for its answer (see `flights`).
//! - `Cache-Control: max-age=0` from an authorized caller (one that passed the route's
//!   authorizer or API key, or anyone when the stage does not require authorization) replaces
//!   the entry; other callers get the stage's `unauthorized_handling`.
//! - Answers carry `Age` and the stage's status header (`x-cache: Hit|Miss`).

pub(crate) mod entry;
mod flights;
pub mod policy;
mod stats;
mod store;

pub use policy::{RoutePolicy, StagePolicy};
pub use store::{Caches, StageCache};

use crate::body::Body;
use crate::error::{ErrorSource, GatewayError};
use crate::metrics::CacheUse;
use crate::pipeline::authorize::Principal;
use crate::snapshot::{RouteRuntime, Snapshot, StageRuntime};
use edgeway_shared::{MAX_CACHED_BODY_BYTES, ResponseType, UnauthorizedCacheControl};
use entry::{Buffered, Entry};
use flights::{Flight, Join, Leader};
use http::{HeaderName, HeaderValue, Response};
use policy::KeyParts;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const WARNING: HeaderName = HeaderName::from_static("warning");
const IGNORED_WARNING: &str =
    "199 - \"Cache-Control: max-age=0 ignored: not authorized to invalidate the cache\"";

/// The request as the cache phase sees it.
pub struct Request<'a> {
    pub key: KeyParts<'a>,
    pub headers: &'a http::HeaderMap,
    pub principal: &'a Principal,
    /// How long a waiter waits for the leader: the integration's own timeout.
    pub wait: Duration,
}

/// What the request does next.
pub enum Lookup {
    /// Answered without the integration (a hit, or another request's answer).
    Answer(Response<Body>, CacheUse),
    /// Call the integration, then hand its answer to [`Fetch::finish`].
    Fetch(Fetch),
}

/// A request on its way to the integration, and what its answer must go through afterwards.
pub struct Fetch {
    fill: Option<Fill>,
    marks: Marks,
    /// `Miss` when the cache took part, `None` for a request it does not cache.
    pub used: Option<CacheUse>,
}

/// A leader's duty: store the answer if it may be stored, and tell the waiters.
struct Fill {
    cache: Arc<StageCache>,
    leader: Leader,
    key: String,
    ttl: Duration,
    cache_non_2xx: bool,
}

/// Headers the answer gets.
#[derive(Default)]
struct Marks {
    status_header: Option<HeaderName>,
    warning: bool,
}

/// Whether the stage's cache takes part in a request of `method` to `route` at all. Checked
/// before [`lookup`], so the many requests it does not concern skip building its future.
pub fn takes_part(stage: &StageRuntime, route: &RouteRuntime, method: &http::Method) -> bool {
    stage.cache.is_some() && route.cache.as_ref().is_some_and(|p| p.caches(method))
}

/// What a request the cache does not take part in does next: straight to the integration.
pub fn pass_through() -> Lookup {
    Lookup::Fetch(Fetch {
        fill: None,
        marks: Marks::default(),
        used: None,
    })
}

/// Runs the phase. Requests that are not cached go straight to the integration.
pub async fn lookup(
    caches: &Caches,
    snapshot: &Snapshot,
    stage: &StageRuntime,
    route: &RouteRuntime,
    request: Request<'_>,
) -> Result<Lookup, GatewayError> {
    let (Some(stage_policy), Some(policy)) = (&stage.cache, &route.cache) else {
        return Ok(pass_through());
    };
    if !policy.caches(request.key.method) {
        return Ok(pass_through());
    }
    let cache = stage.cache_slot.get_or_init(|| {
        caches.stage(
            snapshot,
            &stage.api.id,
            &stage.name,
            stage_policy.capacity_bytes,
        )
    });
    let mut marks = Marks {
        status_header: stage_policy.status_header.clone(),
        warning: false,
    };
    let key = policy.key(request.key);
    if policy::wants_invalidation(request.headers) {
        let authorized = !stage_policy.require_authorization
            || request.principal.principal_id.is_some()
            || request.principal.api_key.is_some();
        match (authorized, stage_policy.unauthorized) {
            (true, _) => cache.remove(&key).await,
            (false, UnauthorizedCacheControl::FailWith403) => {
                return Err(GatewayError::new(
                    ResponseType::AccessDenied,
                    ErrorSource::Client,
                    "Unauthorized to invalidate the cache",
                ));
            }
            (false, UnauthorizedCacheControl::SucceedWithResponseHeader) => marks.warning = true,
            (false, UnauthorizedCacheControl::SucceedWithoutResponseHeader) => {}
        }
    }
    if let Some(entry) = cache.get(&key).await {
        return Ok(Lookup::Answer(marks.hit(&entry), CacheUse::Hit));
    }
    match cache.flights.join(&key) {
        Join::Lead(leader) => {
            // The last leader may have stored it between our look and our join.
            if let Some(entry) = cache.get(&key).await {
                return Ok(Lookup::Answer(marks.hit(&entry), CacheUse::Hit));
            }
            let fill = Fill {
                cache: cache.clone(),
                leader,
                key,
                ttl: policy.ttl,
                cache_non_2xx: stage_policy.cache_non_2xx,
            };
            Ok(Lookup::Fetch(Fetch {
                fill: Some(fill),
                marks,
                used: Some(CacheUse::Miss),
            }))
        }
        Join::Wait(receiver) => match flights::wait(receiver, request.wait).await {
            Some(entry) => Ok(Lookup::Answer(marks.hit(&entry), CacheUse::Coalesced)),
            None => {
                // The leader stored nothing: this request fetches for itself, unshared.
                Ok(Lookup::Fetch(Fetch {
                    fill: None,
                    marks,
                    used: Some(CacheUse::Miss),
                }))
            }
        },
    }
}

impl Fetch {
    /// Stores the integration's answer when it may be stored, and marks it.
    pub async fn finish(
        self,
        result: Result<Response<Body>, GatewayError>,
    ) -> Result<Response<Body>, GatewayError> {
        let Fetch { fill, marks, .. } = self;
        let mut response = match fill {
            // Boxed: buffering an answer to store it is the rare path, and inline its future
            // would be moved along with every request that goes to the integration.
            Some(fill) => Box::pin(fill.store(result?)).await?,
            None => result?,
        };
        marks.apply(&mut response, "Miss");
        Ok(response)
    }
}

impl Fill {
    async fn store(self, response: Response<Body>) -> Result<Response<Body>, GatewayError> {
        let (mut head, body) = response.into_parts();
        if !entry::storable(&head, self.cache_non_2xx) {
            self.leader.land(Flight::Pass);
            return Ok(Response::from_parts(head, body));
        }
        let buffered = entry::buffer(body, MAX_CACHED_BODY_BYTES)
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, "integration body failed");
                GatewayError::integration(
                    ResponseType::IntegrationFailure,
                    "Integration endpoint failed",
                )
            })?;
        let body = match buffered {
            Buffered::Passed(body) => {
                self.leader.land(Flight::Pass);
                return Ok(Response::from_parts(head, body));
            }
            Buffered::Whole(body) => body,
        };
        let age_at_store = (head.headers.remove(http::header::AGE))
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        let now = Instant::now();
        let entry = Arc::new(Entry {
            status: head.status,
            headers: head.headers.clone(),
            body,
            age_at_store,
            stored_at: now,
            expires_at: now + self.ttl,
        });
        self.cache.insert(self.key, entry.clone()).await;
        self.leader.land(Flight::Stored(entry.clone()));
        let mut response = entry.to_response(now);
        *response.version_mut() = head.version;
        Ok(response)
    }
}

impl Marks {
    fn hit(&self, entry: &Entry) -> Response<Body> {
        let mut response = entry.to_response(Instant::now());
        self.apply(&mut response, "Hit");
        response
    }

    fn apply(&self, response: &mut Response<Body>, status: &'static str) {
        let headers = response.headers_mut();
        if let Some(name) = &self.status_header {
            headers.insert(name.clone(), HeaderValue::from_static(status));
        }
        if self.warning {
            headers.insert(WARNING, HeaderValue::from_static(IGNORED_WARNING));
        }
    }
}
