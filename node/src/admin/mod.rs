//! The admin API: bearer-token JSON endpoints over the control plane, plus `/health`,
//! `/ready` and `/metrics`.

mod authorizers;
mod cache;
mod cluster;
mod connections;
mod keys;
mod objects;
mod plans;

use crate::body::{self, Body, RequestBody, json_response};
use crate::control::{Control, ControlError};
use crate::pipeline::ConnInfo;
use crate::pipeline::accept::Handler;
use bytes::Bytes;
use edgeway_shared::admin::{AdminError, Health};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use subtle::ConstantTimeEq;

/// Admin request bodies (API documents with certificates) stay well under this.
const MAX_ADMIN_BODY: usize = 16 * 1024 * 1024;

pub struct Admin {
    pub control: Arc<Control>,
    pub token: String,
    pub open_probes: bool,
    pub metrics: PrometheusHandle,
    pub node_id: String,
    pub ready: Arc<AtomicBool>,
    /// Usage and quota counters of keys in usage plans.
    pub limiter: Arc<dyn crate::pipeline::throttle::Limiter>,
    /// Set once the node has joined its cluster (never, for a node that runs alone).
    pub cluster: Arc<std::sync::OnceLock<Arc<crate::cluster::Cluster>>>,
    /// `POST /drain`.
    pub drain: Arc<crate::node::Drain>,
    /// This node's stage response caches.
    pub caches: crate::pipeline::cache::Caches,
    /// This node's WebSocket connections (`@connections`).
    pub websockets: crate::pipeline::websocket::Sessions,
}

/// An admin failure: status, a stable error code, and a message naming what was wrong.
pub struct Failure(StatusCode, &'static str, String);

impl From<ControlError> for Failure {
    fn from(e: ControlError) -> Self {
        let (status, code) = match &e {
            ControlError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ControlError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            ControlError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ControlError::Exists(_) => (StatusCode::CONFLICT, "exists"),
            ControlError::Disk(_) => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "admin write failed");
        }
        Failure(status, code, e.to_string())
    }
}

pub fn bad_request(message: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, "bad_request", message.into())
}

pub type Reply = Result<Response<Body>, Failure>;

impl Handler for Admin {
    async fn handle<B: RequestBody>(&self, request: Request<B>, _conn: ConnInfo) -> Response<Body> {
        self.dispatch(request)
            .await
            .unwrap_or_else(|Failure(status, code, message)| {
                json_response(
                    status.as_u16(),
                    &AdminError {
                        error: code.into(),
                        message,
                    },
                )
            })
    }
}

impl Admin {
    async fn dispatch<B: RequestBody>(&self, request: Request<B>) -> Reply {
        let (parts, incoming) = request.into_parts();
        let path = parts.uri.path().trim_end_matches('/').to_string();
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let probe = matches!(segments.as_slice(), ["health"] | ["ready"] | ["metrics"]);
        if !(probe && self.open_probes || self.authorized(&parts.headers)) {
            let mut response = json_response(
                401,
                &AdminError {
                    error: "unauthorized".into(),
                    message: "a valid bearer token is required".into(),
                },
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            return Ok(response);
        }
        let method = parts.method.clone();
        match (&method, segments.as_slice()) {
            (&Method::GET, ["health"]) => Ok(self.health("ok")),
            (&Method::GET, ["ready"]) => {
                let caught_up = self.cluster.get().is_none_or(|c| c.caught_up());
                if self.drain.is_draining() {
                    Ok(json_response(503, &self.status("draining")))
                } else if self.ready.load(Ordering::Acquire) && caught_up {
                    Ok(self.health("ready"))
                } else {
                    Ok(json_response(503, &self.status("starting")))
                }
            }
            (&Method::POST, ["drain"]) => {
                let drain = self.drain.clone();
                tokio::spawn(async move { drain.run().await });
                Ok(json_response(202, &self.status("draining")))
            }
            (&Method::GET, ["metrics"]) => Ok(Response::builder()
                .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
                .body(body::full(self.metrics.render()))
                .expect("static parts")),
            (_, ["cluster", rest @ ..]) => {
                cluster::route(self.cluster.get().map(|c| &**c), &method, rest).await
            }
            (_, ["@connections", id]) => {
                let body = read_body(incoming).await?;
                connections::route(self, &method, id, body).await
            }
            (&Method::DELETE, ["apis", api, "stages", stage, "cache"]) => {
                let query = parts.uri.query().unwrap_or("");
                cache::flush(self, api, stage, query).await
            }
            _ => {
                let body = read_body(incoming).await?;
                if segments.first() == Some(&"usageplans") {
                    let query = parts.uri.query().unwrap_or("");
                    let ctx = plans::Ctx {
                        control: &self.control,
                        limiter: &*self.limiter,
                    };
                    return plans::route(ctx, &method, &segments[1..], query, body).await;
                }
                if segments.first() == Some(&"apikeys") {
                    return keys::route(&self.control, &method, &segments[1..], body).await;
                }
                objects::route(&self.control, &method, &segments, body).await
            }
        }
    }

    fn authorized(&self, headers: &http::HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        given.as_bytes().ct_eq(self.token.as_bytes()).into()
    }

    fn status(&self, status: &str) -> Health {
        Health {
            status: status.into(),
            node: self.node_id.clone(),
            objects: self
                .control
                .store()
                .view()
                .values()
                .filter(|r| r.object.is_some())
                .count(),
        }
    }

    fn health(&self, status: &str) -> Response<Body> {
        json_response(200, &self.status(status))
    }
}

async fn read_body<B: RequestBody>(incoming: B) -> Result<Bytes, Failure> {
    Limited::new(incoming, MAX_ADMIN_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            Failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request body: {e}"),
            )
        })
}
