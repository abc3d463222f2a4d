//! The handshake: an HTTP/1.1 `Upgrade: websocket` request to a WebSocket API's stage URL.
//! `$connect` (when the API has one) is authorized and throttled like any route, then called;
//! a non-2xx answer is the client's answer and no connection opens.

use super::call::Connection;
use super::event::EventType;
use super::session::{self, Session};
use super::sessions::{Info, now_ms};
use crate::body::{self, Body};
use crate::error::{ErrorSource, GatewayError};
use crate::pipeline::authorize::{self, RequestView};
use crate::pipeline::{ConnInfo, Gateway, Outcome};
use crate::snapshot::{Snapshot, StageRuntime};
use crate::tls::ClientCert;
use bytes::Bytes;
use edgeway_shared::{CONNECT_ROUTE, ResponseType};
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use std::net::IpAddr;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The handshake request as the earlier phases left it.
pub struct Handshake<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub version: http::Version,
    /// Where hyper left the connection's upgrade.
    pub extensions: &'a mut http::Extensions,
    pub headers: HeaderMap,
    /// The path inside the stage.
    pub path: &'a str,
    pub stage: &'a Arc<StageRuntime>,
    pub snapshot: &'a Snapshot,
    pub source_ip: IpAddr,
    pub client_cert: Option<Arc<ClientCert>>,
    pub conn: &'a ConnInfo,
}

pub(in crate::pipeline) async fn connect(
    gateway: &Gateway,
    handshake: Handshake<'_>,
    outcome: &mut Outcome,
) -> Result<Response<Body>, GatewayError> {
    let Handshake {
        mut headers, stage, ..
    } = handshake;
    let accept_key = accept_key(handshake.method, handshake.version, &headers)?;
    let upgrade = (handshake.extensions)
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(upgrade_required)?;
    if gateway.websockets.is_closing() {
        return Err(GatewayError::new(
            ResponseType::Default5xx,
            ErrorSource::Internal,
            "Service Unavailable: the node is draining",
        )
        .with_status(503));
    }
    let connect_route = stage.route_keys.get(CONNECT_ROUTE).cloned();
    let mut principal = authorize::Principal::default();
    if let Some(route) = &connect_route {
        outcome.route = Some(route.clone());
        let view = RequestView {
            method: handshake.method,
            uri: handshake.uri,
            path: handshake.path,
            params: &[],
            headers: &headers,
            source_ip: handshake.source_ip,
            client_cert: handshake.client_cert.as_deref(),
        };
        let authorizers = &gateway.authorizers;
        principal =
            authorize::authorize(authorizers, handshake.snapshot, stage, route, &view).await?;
        principal.client_cert = handshake.client_cert.clone();
        gateway.admit(stage, route, &principal, outcome).await?;
    }
    if outcome.logged_stage.is_some() {
        outcome.principal = Some(principal.clone());
    }

    let registration = gateway.websockets.register(Info {
        api_id: stage.api.id.clone(),
        stage: stage.name.to_string(),
        connected_at: now_ms(),
        last_active_at: now_ms().into(),
        source_ip: handshake.source_ip,
        user_agent: (headers.get(http::header::USER_AGENT))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let connection = Arc::new(Connection {
        id: registration.id.clone(),
        stage: stage.clone(),
        principal,
        peer: handshake.conn.peer,
        tls: handshake.conn.tls,
        clients: gateway.clients.clone(),
    });
    if let Some(route) = &connect_route {
        strip_handshake_headers(&mut headers);
        let started = std::time::Instant::now();
        let answer = connection
            .call(
                route.clone(),
                EventType::Connect,
                handshake.uri.clone(),
                headers,
                Bytes::new(),
            )
            .await;
        outcome.integration_time = Some(started.elapsed());
        outcome.integration_started = Some(started);
        let answer = answer?;
        if !answer.status().is_success() {
            // The integration refused the connection: its answer is the client's.
            return Ok(answer);
        }
    }
    let limits = gateway.limits.load();
    let session = Session::new(connection, registration, &limits);
    tokio::spawn(session::run(session, upgrade));
    Ok(switching_protocols(&accept_key))
}

/// An `Upgrade: websocket` request of RFC 6455 §4.2.1, or 426 Upgrade Required.
fn accept_key(
    method: &http::Method,
    version: http::Version,
    headers: &HeaderMap,
) -> Result<String, GatewayError> {
    let has = |name, token: &str| {
        (headers.get_all(name).iter())
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let versioned = headers
        .get(http::header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let upgrading = method == http::Method::GET
        && version == http::Version::HTTP_11
        && has(UPGRADE, "websocket")
        && has(CONNECTION, "upgrade")
        && versioned;
    match headers.get(SEC_WEBSOCKET_KEY) {
        Some(key) if upgrading => Ok(derive_accept_key(key.as_bytes())),
        _ => Err(upgrade_required()),
    }
}

fn upgrade_required() -> GatewayError {
    GatewayError::client(
        ResponseType::BadRequestParameters,
        "Upgrade Required: WebSocket APIs take an HTTP/1.1 Upgrade: websocket request",
    )
    .with_status(426)
}

/// A regional WebSocket API asked at a node outside its home region: connections are not
/// forwarded (the peer channel carries requests, not upgraded streams).
pub(in crate::pipeline) fn not_forwarded() -> GatewayError {
    GatewayError::client(
        ResponseType::BadRequestParameters,
        "Misdirected Request: connect to a node of the API's home region",
    )
    .with_status(421)
}

/// The integration gets the handshake's headers, but not the upgrade itself.
fn strip_handshake_headers(headers: &mut HeaderMap) {
    let upgrade_only: Vec<_> = (headers.keys())
        .filter(|name| name.as_str().starts_with("sec-websocket-"))
        .cloned()
        .collect();
    for name in upgrade_only {
        headers.remove(name);
    }
    headers.remove(UPGRADE);
    headers.remove(CONNECTION);
}

fn switching_protocols(accept_key: &str) -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(value) = HeaderValue::from_str(accept_key) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_key_of_the_rfc_sample() {
        let key = super::derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
