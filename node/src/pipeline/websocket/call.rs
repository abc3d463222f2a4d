//! Calls a route's integration on behalf of one connection: the `$connect` handshake, each
//! message, `$disconnect`. The integration sees the connection's context as headers.

use super::event::{Context, EventType};
use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::pipeline::authorize::Principal;
use crate::pipeline::cache::entry::Buffered;
use crate::pipeline::integrate::{self, CallContext, Clients, MethodRequest};
use crate::snapshot::{RouteRuntime, StageRuntime};
use bytes::Bytes;
use edgeway_shared::ResponseType;
use http::{HeaderMap, HeaderValue, Method, Response, Uri};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// Everything a connection's integration calls share, fixed at the handshake.
pub struct Connection {
    pub id: String,
    pub stage: Arc<StageRuntime>,
    /// Who `$connect` authorized; messages ride on it, as in AWS.
    pub principal: Principal,
    pub peer: SocketAddr,
    pub tls: bool,
    pub clients: Clients,
}

impl Connection {
    /// Calls `route` with `body`; `headers` are the handshake's for `$connect`, else empty.
    // An owned, boxed `dyn Future + Send + 'static`: Send is proven here. Borrowing futures
    // awaited inside the spawned session make rustc ask Send of them for every lifetime, which
    // it cannot prove (rust-lang/rust#110338).
    pub fn call(
        self: &Arc<Self>,
        route: Arc<RouteRuntime>,
        event: EventType,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Body>, GatewayError>> + Send + 'static>> {
        let this = self.clone();
        Box::pin(async move { this.invoke(&route, event, &uri, headers, body).await })
    }

    fn invoke<'a>(
        &'a self,
        route: &'a RouteRuntime,
        event: EventType,
        uri: &'a Uri,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Body>, GatewayError>> + Send + 'a>> {
        let context = Context {
            connection_id: &self.id,
            route_key: &route.key,
            event,
            stage: &self.stage.name,
            api_id: &self.stage.api.id,
        };
        context.apply(&mut headers);
        if event == EventType::Message {
            let kind = if std::str::from_utf8(&body).is_ok() {
                "text/plain; charset=utf-8"
            } else {
                "application/octet-stream"
            };
            let json = serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok();
            let kind = if json { "application/json" } else { kind };
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(kind));
        }
        let request = MethodRequest {
            method: &Method::POST,
            uri,
            headers,
            body: body::full(body),
        };
        let ctx = CallContext {
            params: &[],
            principal: &self.principal,
            peer: self.peer,
            tls: self.tls,
            clients: &self.clients,
            trace: None,
        };
        Box::pin(integrate::call(&route.target, request, ctx))
    }
}

/// An integration's answer body, up to the message size limit.
pub async fn answer_body(response: Response<Body>) -> Result<Bytes, GatewayError> {
    let limit = super::MAX_MESSAGE_BYTES as u64;
    match crate::pipeline::cache::entry::buffer(response.into_body(), limit).await {
        Ok(Buffered::Whole(bytes)) => Ok(bytes),
        Ok(Buffered::Passed(_)) => Err(GatewayError::integration(
            ResponseType::IntegrationFailure,
            "integration answer over 128 KiB",
        )),
        Err(e) => Err(GatewayError::integration(
            ResponseType::IntegrationFailure,
            format!("integration answer unreadable: {e}"),
        )),
    }
}
