//! The request path, one module per phase, in the order a request meets them (see
//! `../shared/design.md`): accept → resolve → route → policy → authorize → throttle → cache →
//! integrate → respond. Phases that later work adds (endpoint, validate) slot in between.

pub mod accept;
pub mod authorize;
pub mod cache;
pub mod cors;
pub mod endpoint;
pub mod ids;
pub mod integrate;
mod observe;
pub mod policy;
pub mod resolve;
pub mod respond;
pub mod route;
pub mod throttle;
pub mod websocket;

use crate::body::{Body, RequestBody};
use crate::error::GatewayError;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use edgeway_shared::ResponseType;
use http::{Request, Response};
use integrate::{CallContext, Clients, MethodRequest};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the accept phase knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// Which listener took the connection.
    pub listener: endpoint::Listener,
    /// The certificate an mTLS domain's truststore verified at the handshake.
    pub client_cert: Option<Arc<crate::tls::ClientCert>>,
}

/// The data plane of a node: reads the current snapshot, runs the phases.
pub struct Gateway {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub clients: Clients,
    /// `[limits]` as of the last reload: the body size limit is read per request.
    pub limits: crate::config::LiveLimits,
    /// Peers whose `X-Forwarded-For` is believed (`public.trusted_proxies`).
    pub trusted_proxies: Vec<edgeway_shared::cidr::Cidr>,
    pub throttle: throttle::Throttle,
    /// Authorizer runtimes (JWKS and result caches), kept across snapshot swaps.
    pub authorizers: authorize::Registry,
    /// This node's region (regional endpoints).
    pub region: String,
    /// Set once the node has joined its cluster.
    pub cluster: Arc<std::sync::OnceLock<Arc<crate::cluster::Cluster>>>,
    /// Proves a request on the internal listener was forwarded by this process.
    pub forward_secret: String,
    /// Stage response caches, kept across snapshot swaps.
    pub caches: cache::Caches,
    /// Where stages' access log lines go.
    pub access_log: crate::access_log::AccessLog,
    /// Where request spans go (OTLP), when exported.
    pub spans: crate::otlp::Spans,
    /// `Alt-Svc` for answers on TCP, once the HTTP/3 endpoint is up (never when it is off).
    pub alt_svc: std::sync::OnceLock<http::HeaderValue>,
    /// The WebSocket connections this node holds.
    pub websockets: websocket::Sessions,
}

/// What respond needs to know about how far a request got.
#[derive(Default)]
struct Outcome {
    api: Option<Arc<edgeway_shared::Api>>,
    route: Option<Arc<crate::snapshot::RouteRuntime>>,
    integration_time: Option<Duration>,
    integration_started: Option<Instant>,
    /// The request's trace ids, when spans are exported.
    trace: Option<crate::otlp::TraceIds>,
    /// The stage, when spans are exported (its name goes on the span).
    traced_stage: Option<Arc<crate::snapshot::StageRuntime>>,
    /// Which limit refused the request, if one did.
    refused: Option<throttle::LimitKind>,
    /// How the stage cache took part.
    cache: Option<crate::metrics::CacheUse>,
    /// The API's CORS settings as they apply to this request.
    cors: Option<cors::Applied>,
    /// The tightest rate limit that applied, for the `RateLimit-*` headers.
    rate: throttle::RateLimitInfo,
    /// The stage, when it keeps an access log (and what its line needs).
    logged_stage: Option<Arc<crate::snapshot::StageRuntime>>,
    source_ip: Option<std::net::IpAddr>,
    principal: Option<authorize::Principal>,
    error: Option<(ResponseType, String)>,
}

impl accept::Handler for Gateway {
    async fn handle<B: RequestBody>(&self, request: Request<B>, conn: ConnInfo) -> Response<Body> {
        let started = Instant::now();
        let version = request.version();
        let request_id = client_request_id(request.headers()).unwrap_or_else(ids::request_id);
        let asked = observe::Asked::of(&request, conn.peer);
        let mut outcome = Outcome {
            trace: self.spans.begin(request.headers()),
            ..Outcome::default()
        };
        let mut response = match self.run(request, conn, &mut outcome).await {
            Ok(response) => response,
            Err(error) => {
                if error.source != crate::error::ErrorSource::Client {
                    tracing::warn!(%request_id, %error, "request failed");
                }
                if outcome.logged_stage.is_some() {
                    outcome.error = Some((error.kind, error.message.to_string()));
                }
                respond::error_response(&error, outcome.api.as_deref(), &request_id)
            }
        };
        respond::finish(&mut response, &request_id, &outcome.rate);
        if version != http::Version::HTTP_3
            && let Some(alt_svc) = self.alt_svc.get()
        {
            respond::advertise(&mut response, alt_svc);
        }
        if let Some(cors) = &outcome.cors {
            respond::cors(&mut response, cors);
        }
        observe::record(self, &outcome, &asked, &request_id, &response, started);
        response
    }

    async fn settled(&self, grace: Duration) {
        self.websockets.ended(grace).await;
    }
}

impl Gateway {
    async fn run(
        &self,
        request: Request<impl RequestBody>,
        conn: ConnInfo,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, GatewayError> {
        let (mut parts, body) = request.into_parts();
        let mut conn = conn;
        if !endpoint::internal::admit(&mut conn, &mut parts.headers, &self.forward_secret) {
            return Err(GatewayError::client(
                ResponseType::AccessDenied,
                "Forbidden",
            ));
        }
        let max_body = self.limits.load().max_body_bytes;
        let body = accept::limit_body(&parts, body, max_body)?;
        let snapshot = self.snapshot.load_full();
        let host = accept::host(&parts).ok_or_else(|| {
            GatewayError::client(ResponseType::BadRequestParameters, "Missing Host")
        })?;

        let client_cert = accept::client_cert(&snapshot, &host, &conn)?;
        let headers = std::mem::take(&mut parts.headers);

        let resolved = resolve::resolve(&snapshot, &host, parts.uri.path())?;
        outcome.api = Some(resolved.stage.api.clone());
        let logged = resolved.stage.access_log.is_some();
        if logged {
            outcome.logged_stage = Some(resolved.stage.clone());
        }
        if outcome.trace.is_some() {
            outcome.traced_stage = Some(resolved.stage.clone());
        }

        let source_ip = policy::source_ip(conn.peer.ip(), &headers, &self.trusted_proxies);
        outcome.source_ip = Some(source_ip);
        let api = &resolved.stage.api;
        if let endpoint::Placement::Forward { home } =
            endpoint::place(api, conn.listener, source_ip, &self.region)?
        {
            if api.kind == edgeway_shared::ApiKind::Websocket {
                return Err(websocket::not_forwarded());
            }
            let outbound = endpoint::forward::Outbound {
                method: &parts.method,
                uri: &parts.uri,
                host: &host,
                headers,
                body,
                source: source_ip,
            };
            let cluster = self.cluster.get().map(|c| &**c);
            return endpoint::forward::forward(cluster, &home, outbound).await;
        }
        if api.kind == edgeway_shared::ApiKind::Websocket {
            if let Some(policy) = &resolved.stage.policy {
                policy.check(source_ip)?;
            }
            let handshake = websocket::Handshake {
                method: &parts.method,
                uri: &parts.uri,
                version: parts.version,
                extensions: &mut parts.extensions,
                headers,
                path: resolved.path,
                stage: &resolved.stage,
                snapshot: &snapshot,
                source_ip,
                client_cert,
                conn: &conn,
            };
            // Boxed: the handshake's future is the largest of the phases, and every request's
            // future would carry its size (moved at least once per request) if it were inline.
            return Box::pin(websocket::connect(self, handshake, outcome)).await;
        }
        outcome.cors = (resolved.stage.cors.as_ref())
            .map(|policy| cors::Applied::new(policy, &parts.method, &headers));
        if let Some(preflight) = route::preflight(outcome.cors.as_ref()) {
            return Ok(preflight);
        }

        let routed = route::route(&resolved.stage, parts.method.as_str(), resolved.path)?;
        outcome.route = Some(routed.route.clone());

        if let Some(policy) = &resolved.stage.policy {
            policy.check(source_ip)?;
        }

        let view = authorize::RequestView {
            method: &parts.method,
            uri: &parts.uri,
            path: resolved.path,
            params: &routed.params,
            headers: &headers,
            source_ip,
            client_cert: client_cert.as_deref(),
        };
        let stage = &resolved.stage;
        let mut principal =
            authorize::authorize(&self.authorizers, &snapshot, stage, &routed.route, &view).await?;
        principal.client_cert = client_cert;
        if logged {
            outcome.principal = Some(principal.clone());
        }

        self.admit(&resolved.stage, &routed.route, &principal, outcome)
            .await?;

        let wait = match &routed.route.target {
            integrate::Target::Http(http) => http.timeout,
            _ => Duration::ZERO,
        };
        let lookup = cache::Request {
            key: cache::policy::KeyParts {
                method: &parts.method,
                deployment: &stage.deployment_id,
                route: &routed.route.key,
                query: parts.uri.query(),
                headers: &headers,
                params: &routed.params,
            },
            headers: &headers,
            principal: &principal,
            wait,
        };
        let looked_up = if cache::takes_part(stage, &routed.route, &parts.method) {
            cache::lookup(&self.caches, &snapshot, stage, &routed.route, lookup).await?
        } else {
            cache::pass_through()
        };
        let fetch = match looked_up {
            cache::Lookup::Answer(response, used) => {
                outcome.cache = Some(used);
                return Ok(response);
            }
            cache::Lookup::Fetch(fetch) => {
                outcome.cache = fetch.used;
                fetch
            }
        };

        let integration_started = Instant::now();
        let ctx = CallContext {
            params: &routed.params,
            principal: &principal,
            peer: conn.peer,
            tls: conn.tls,
            clients: &self.clients,
            trace: outcome.trace,
        };
        let request = MethodRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers,
            body,
        };
        let result = integrate::call(&routed.route.target, request, ctx).await;
        outcome.integration_time = Some(integration_started.elapsed());
        outcome.integration_started = Some(integration_started);
        fetch.finish(result).await
    }
}

impl Gateway {
    /// The throttle phase: admits the request or refuses it, noting which limit did.
    async fn admit(
        &self,
        stage: &crate::snapshot::StageRuntime,
        route: &crate::snapshot::RouteRuntime,
        principal: &authorize::Principal,
        outcome: &mut Outcome,
    ) -> Result<(), GatewayError> {
        match self.throttle.admit(stage, route, principal).await {
            Ok(rate) => {
                outcome.rate = rate;
                Ok(())
            }
            Err(refused) => {
                outcome.rate = refused.info;
                outcome.refused = Some(refused.kind);
                Err(refused.error)
            }
        }
    }
}

/// The caller's `x-request-id`, when it is a sane one (1–128 visible ASCII characters).
fn client_request_id(headers: &http::HeaderMap) -> Option<String> {
    let id = headers.get(respond::REQUEST_ID)?.to_str().ok()?;
    let sane = (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
    sane.then(|| id.to_string())
}
