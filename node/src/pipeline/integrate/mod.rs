//! Phase 10, integrate: call what the route points at and turn its answer into the method
//! response. `http_proxy` passes requests and responses through, streaming; `http` maps
//! parameters both ways; `mock` answers from the gateway.

pub mod client;
pub mod h1_pool;
mod http_call;
pub mod mapping;
pub mod template;
pub mod trace;

pub use client::Clients;

use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::snapshot::router::Param;
use bytes::Bytes;
use edgeway_shared::{BackendProtocol, Integration, IntegrationType};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use mapping::Mapping;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use template::{UriTemplate, with_stage_variables};

/// An integration compiled for one stage (stage variables already filled in).
#[derive(Debug)]
pub enum Target {
    Mock {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    Http(HttpTarget),
    /// Settings that cannot work (e.g. a URI that is invalid once variables are filled in): the
    /// route answers API_CONFIGURATION_ERROR instead of guessing.
    Broken(String),
}

#[derive(Debug)]
pub struct HttpTarget {
    pub uri: UriTemplate,
    pub method: Option<Method>,
    pub timeout: Duration,
    pub protocol: BackendProtocol,
    /// `None` for `http_proxy`.
    pub mapping: Option<Mapping>,
}

pub fn compile(integration: &Integration, variables: &BTreeMap<String, String>) -> Target {
    match try_compile(integration, variables) {
        Ok(target) => target,
        Err(message) => {
            tracing::warn!(integration = %integration.id, %message, "integration cannot be used");
            Target::Broken(message)
        }
    }
}

fn try_compile(
    integration: &Integration,
    variables: &BTreeMap<String, String>,
) -> Result<Target, String> {
    if integration.kind == IntegrationType::Mock {
        let mock = integration
            .mock
            .as_ref()
            .ok_or("mock integration without a mock answer")?;
        let mut headers = HeaderMap::new();
        for (name, value) in &mock.headers {
            let value = with_stage_variables(value, variables);
            headers.insert(
                HeaderName::try_from(name.as_str()).map_err(|e| e.to_string())?,
                HeaderValue::try_from(value).map_err(|e| format!("mock header {name}: {e}"))?,
            );
        }
        return Ok(Target::Mock {
            status: StatusCode::from_u16(mock.status_code).map_err(|e| e.to_string())?,
            headers,
            body: Bytes::from(with_stage_variables(&mock.body, variables)),
        });
    }
    let uri = with_stage_variables(
        integration
            .uri
            .as_deref()
            .ok_or("http integration without uri")?,
        variables,
    );
    let template = UriTemplate::parse(&uri);
    // Check the URI now, with placeholders filled by a harmless value.
    let probe = template.render(|_| Some("x".into()));
    let parsed: http::Uri = probe
        .parse()
        .map_err(|e| format!("uri '{uri}' is not valid: {e}"))?;
    if parsed.host().is_none() || !matches!(parsed.scheme_str(), Some("http" | "https")) {
        return Err(format!(
            "uri '{uri}' needs an http:// or https:// scheme and a host"
        ));
    }
    let mapping = match integration.kind {
        IntegrationType::Http => Some(Mapping::compile(
            &integration.request_parameters,
            &integration.responses,
            variables,
        )?),
        _ => None,
    };
    Ok(Target::Http(HttpTarget {
        uri: template,
        method: integration
            .http_method
            .as_deref()
            .map(|m| Method::from_bytes(m.as_bytes()))
            .transpose()
            .map_err(|e| e.to_string())?,
        timeout: Duration::from_millis(integration.timeout_ms),
        protocol: integration.backend_protocol,
        mapping,
    }))
}

/// The client's request as the integration sees it. Headers are owned so `http_proxy` can
/// forward them without a copy.
pub struct MethodRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a http::Uri,
    pub headers: HeaderMap,
    pub body: Body,
}

/// What the integration needs besides the request itself.
pub struct CallContext<'a> {
    pub params: &'a [Param<'a>],
    /// Who is calling (mapping sources such as `context.identity.clientCert.*`).
    pub principal: &'a crate::pipeline::authorize::Principal,
    pub peer: SocketAddr,
    pub tls: bool,
    pub clients: &'a Clients,
    /// The request's trace ids when spans are exported (else `traceparent` is made here).
    pub trace: Option<trace::TraceIds>,
}

pub async fn call(
    target: &Target,
    request: MethodRequest<'_>,
    ctx: CallContext<'_>,
) -> Result<Response<Body>, GatewayError> {
    match target {
        Target::Mock {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(body::full(body.clone()));
            *response.status_mut() = *status;
            *response.headers_mut() = crate::pipeline::respond::headers_with_room(headers);
            Ok(response)
        }
        Target::Http(http) => http_call::call(http, request, ctx).await,
        Target::Broken(message) => Err(GatewayError::new(
            edgeway_shared::ResponseType::ApiConfigurationError,
            crate::error::ErrorSource::Internal,
            format!("Internal server error (integration misconfigured: {message})"),
        )),
    }
}
