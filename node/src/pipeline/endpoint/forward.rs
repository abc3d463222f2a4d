//! The first node's side of regional forwarding: the whole request (bodies are bounded by the
//! request size limit) goes over the peer channel to a live node of the API's home region,
//! which runs it through its own pipeline; its answer comes back as is.

use crate::body::{self, Body};
use crate::cluster::Cluster;
use crate::error::GatewayError;
use crate::peer::protocol::{ForwardedRequest, ForwardedResponse};
use crate::peer::{PeerRequest, PeerResponse};
use edgeway_shared::ResponseType;
use http::{HeaderMap, Response};
use http_body_util::{BodyExt, LengthLimitError};
use std::net::IpAddr;

/// Headers that belong to one connection, never to a forwarded message.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
];

/// What the first node knows about the request it forwards.
pub struct Outbound<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub host: &'a str,
    pub headers: HeaderMap,
    pub body: Body,
    pub source: IpAddr,
}

pub async fn forward(
    cluster: Option<&Cluster>,
    home: &str,
    request: Outbound<'_>,
) -> Result<Response<Body>, GatewayError> {
    let Some(cluster) = cluster else {
        return Err(unavailable(home));
    };
    let candidates = cluster.live_in_region(home).await;
    if candidates.is_empty() {
        return Err(unavailable(home));
    }
    let forwarded = PeerRequest::Forward(outbound(request).await?);
    for peer in &candidates {
        match cluster.peers().call(peer, forwarded.clone()).await {
            Ok(PeerResponse::Forwarded(answer)) => {
                metrics::counter!("edgeway_forwarded_requests_total", "home_region" => home.to_string())
                    .increment(1);
                return Ok(inbound(answer));
            }
            Ok(other) => tracing::warn!(peer = %peer.node_id, answer = ?other, "forward refused"),
            Err(e) => tracing::warn!(peer = %peer.node_id, error = %e, "forward failed"),
        }
    }
    metrics::counter!("edgeway_forward_failures_total", "home_region" => home.to_string())
        .increment(1);
    Err(unavailable(home))
}

fn unavailable(home: &str) -> GatewayError {
    GatewayError::internal(format!("No node of region {home} is available")).with_status(503)
}

async fn outbound(request: Outbound<'_>) -> Result<ForwardedRequest, GatewayError> {
    let body = request.body.collect().await.map_err(|e| {
        if e.is::<LengthLimitError>() {
            GatewayError::client(ResponseType::RequestTooLarge, "Request Too Long")
        } else {
            GatewayError::client(
                ResponseType::BadRequestBody,
                "Request body could not be read",
            )
        }
    })?;
    let mut headers = end_to_end(&request.headers);
    headers.retain(|(name, _)| name != "host");
    headers.push(("host".into(), request.host.as_bytes().to_vec()));
    Ok(ForwardedRequest {
        method: request.method.to_string(),
        uri: request
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string(),
        headers,
        body: body.to_bytes().to_vec(),
        source: request.source.to_string(),
    })
}

pub fn end_to_end(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect()
}

fn inbound(answer: ForwardedResponse) -> Response<Body> {
    let mut response = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(name.as_str(), value.as_slice());
        }
    }
    response.body(body::full(answer.body)).unwrap_or_else(|_| {
        let mut bad = Response::new(body::full("Bad Gateway"));
        *bad.status_mut() = http::StatusCode::BAD_GATEWAY;
        bad
    })
}
