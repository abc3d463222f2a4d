//! Phase 11's bookkeeping, once the answer is made: the route's metrics, the stage's access
//! log line, and the request's spans (when exported).

use super::{Gateway, Outcome};
use crate::body::Body;
use crate::metrics::{Observed, Protocol, RouteMetrics};
use http::{Request, Response};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

/// Records a finished request everywhere it is counted or logged.
pub(super) fn record(
    gateway: &Gateway,
    outcome: &Outcome,
    asked: &Asked,
    request_id: &str,
    response: &Response<Body>,
    started: Instant,
) {
    let protocol = Protocol::of(asked.version);
    let metrics = outcome
        .route
        .as_deref()
        .map(|r| &r.metrics)
        .unwrap_or_else(|| RouteMetrics::unrouted());
    let total = started.elapsed();
    let observed = Observed {
        status: response.status().as_u16(),
        total,
        integration: outcome.integration_time,
        refused: outcome.refused,
        cache: outcome.cache,
    };
    metrics.record(protocol, &observed);
    if let Some(stage) = &outcome.logged_stage {
        let line = access_line(stage, outcome, asked, request_id, response, started);
        gateway.access_log.write(line);
    }
    if let Some(ids) = outcome.trace {
        let integration = outcome
            .integration_started
            .zip(outcome.integration_time)
            .map(|(at, took)| (at.saturating_duration_since(started), took));
        let stage = outcome.traced_stage.as_deref();
        let finished = crate::otlp::Finished {
            ids,
            method: asked.method.as_str(),
            route_key: outcome.route.as_deref().map(|r| &*r.key),
            api_id: stage.map(|s| s.api.id.as_str()),
            stage: stage.map(|s| &*s.name),
            status: observed.status,
            protocol,
            request_id,
            started: SystemTime::now() - total,
            duration: total,
            integration,
        };
        gateway.spans.finish(&finished);
    }
}

/// What the client asked, kept for the access log before the request is taken apart.
pub(super) struct Asked {
    method: http::Method,
    uri: http::Uri,
    version: http::Version,
    peer: SocketAddr,
    at_ms: u64,
}

impl Asked {
    pub(super) fn of<B>(request: &Request<B>, peer: SocketAddr) -> Asked {
        Asked {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            peer,
            at_ms: edgeway_shared::version::wall_millis(),
        }
    }
}

fn access_line(
    stage: &crate::snapshot::StageRuntime,
    outcome: &Outcome,
    asked: &Asked,
    request_id: &str,
    response: &Response<Body>,
    started: Instant,
) -> String {
    use http_body::Body as _;
    let protocol = match asked.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let integration_ms = outcome.integration_time.map(|d| d.as_millis() as u64);
    let error = outcome.error.as_ref();
    let entry = crate::access_log::Entry {
        request_id,
        api_id: Some(&stage.api.id),
        stage: Some(&stage.name),
        route_key: outcome.route.as_ref().map(|r| &*r.key),
        source_ip: outcome.source_ip.unwrap_or(asked.peer.ip()),
        http_method: asked.method.as_str(),
        path: asked.uri.path(),
        protocol,
        status: response.status().as_u16(),
        request_time_ms: asked.at_ms,
        response_latency_ms: started.elapsed().as_millis() as u64,
        response_length: response.body().size_hint().exact(),
        integration_latency_ms: integration_ms,
        integration_status: integration_ms.and(error.is_none().then(|| response.status().as_u16())),
        error_message: error.map(|(_, m)| m.as_str()),
        error_type: error.map(|(k, _)| k.as_str()),
        principal: outcome.principal.as_ref(),
        client_cert: outcome
            .principal
            .as_ref()
            .and_then(|p| p.client_cert.as_deref()),
    };
    match stage.access_log.as_ref().and_then(|l| l.format.as_deref()) {
        Some(format) => entry.render(format),
        None => entry.json(),
    }
}
