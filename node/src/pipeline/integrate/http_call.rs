//! Calling an HTTP backend: build the integration request, send it on a pooled connection
//! under the integration timeout, and stream the answer back.

use super::mapping::RequestTarget;
use super::{CallContext, HttpTarget, MethodRequest};
use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::pipeline::policy::X_FORWARDED_FOR;
use edgeway_shared::BackendProtocol;
use edgeway_shared::ResponseType;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::Scheme;
use http::{Request, Response, Uri, Version};
use http_body_util::LengthLimitError;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters escaped in a mapped path segment or query component.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'=')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Connection-level headers that never cross a proxy (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one pass comparing names (standard ones compare as an
    // enum) instead of nine hashed removals on every request and every response.
    let any = headers
        .keys()
        .any(|name| name == header::TRANSFER_ENCODING || HOP_BY_HOP.contains(name));
    if !any {
        return;
    }
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

pub async fn call(
    target: &HttpTarget,
    request: MethodRequest<'_>,
    ctx: CallContext<'_>,
) -> Result<Response<Body>, GatewayError> {
    let MethodRequest {
        method,
        uri,
        headers,
        body,
    } = request;
    let trace = match &ctx.trace {
        Some(ids) => super::trace::TraceContext::for_span(ids, &headers),
        None => super::trace::TraceContext::from_client(&headers),
    };
    let (backend_uri, mut backend_headers) = match &target.mapping {
        None => proxy_request(target, uri, headers, &ctx)?,
        Some(mapping) => {
            let values = mapping.request_values(&headers, uri.query(), ctx.params, ctx.principal);
            mapped_request(target, &headers, &values)?
        }
    };
    trace.apply(&mut backend_headers);
    let mut backend = Request::new(body);
    *backend.method_mut() = target.method.clone().unwrap_or_else(|| method.clone());
    *backend.uri_mut() = backend_uri;
    *backend.headers_mut() = backend_headers;
    *backend.version_mut() = Version::HTTP_11;

    // Plain-http HTTP/1.1 backends go through the lean per-worker pool; TLS and HTTP/2 ones
    // through hyper-util's client (ALPN, h2 multiplexing).
    let lean =
        target.protocol == BackendProtocol::Auto && backend.uri().scheme() == Some(&Scheme::HTTP);
    let exchange = async {
        if lean {
            let pool = ctx.clients.http1();
            pool.send(backend)
                .await
                .map_err(|e| classify(&e, e.is_connect()))
        } else {
            let client = ctx.clients.get(target.protocol);
            match client.request(backend).await {
                Ok(response) => Ok(response.map(body::stream)),
                Err(e) => Err(classify(&e, e.is_connect())),
            }
        }
    };
    let response = match tokio::time::timeout(target.timeout, exchange).await {
        Err(_) => {
            return Err(GatewayError::integration(
                ResponseType::IntegrationTimeout,
                "Endpoint request timed out",
            ));
        }
        Ok(result) => result?,
    };
    let (mut parts, body) = response.into_parts();
    match &target.mapping {
        None => strip_hop_by_hop(&mut parts.headers),
        Some(mapping) => {
            (parts.status, parts.headers) = mapping.map_response(parts.status, &parts.headers)
        }
    }
    Ok(Response::from_parts(parts, body))
}

/// `http_proxy`: the client's headers and query string go through as they are.
fn proxy_request(
    target: &HttpTarget,
    client_uri: &Uri,
    mut headers: HeaderMap,
    ctx: &CallContext<'_>,
) -> Result<(Uri, HeaderMap), GatewayError> {
    let mut uri = target.uri.render(|name| {
        ctx.params
            .iter()
            .find(|p| &*p.name == name)
            .map(|p| Cow::Borrowed(p.raw))
    });
    if let Some(query) = client_uri.query() {
        uri.push(if uri.contains('?') { '&' } else { '?' });
        uri.push_str(query);
    }
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    // Every earlier line counts: several lines mean one comma-separated list.
    let mut forwarded_for = String::with_capacity(64);
    for line in headers.get_all(&X_FORWARDED_FOR).iter() {
        if let Ok(line) = line.to_str() {
            forwarded_for.push_str(line);
            forwarded_for.push_str(", ");
        }
    }
    let _ = write!(forwarded_for, "{}", ctx.peer.ip());
    if let Ok(v) = HeaderValue::try_from(forwarded_for) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if ctx.tls { "https" } else { "http" }),
    );
    Ok((parse_uri(uri)?, headers))
}

/// `http`: only mapped parameters (plus the body's content headers) reach the backend.
fn mapped_request(
    target: &HttpTarget,
    client_headers: &HeaderMap,
    values: &[(&RequestTarget, String)],
) -> Result<(Uri, HeaderMap), GatewayError> {
    let mut uri = target.uri.render(|name| {
        values.iter().find_map(|(t, v)| match t {
            RequestTarget::Path(n) if n == name => {
                Some(Cow::Owned(utf8_percent_encode(v, COMPONENT).to_string()))
            }
            _ => None,
        })
    });
    let mut headers = HeaderMap::new();
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
    ] {
        if let Some(v) = client_headers.get(&name) {
            headers.insert(name, v.clone());
        }
    }
    for (target, value) in values {
        match target {
            RequestTarget::Header(name) => {
                let value = HeaderValue::try_from(value.as_str()).map_err(|_| {
                    GatewayError::client(
                        ResponseType::BadRequestParameters,
                        "Invalid request parameter value",
                    )
                })?;
                headers.insert(name.clone(), value);
            }
            RequestTarget::Query(name) => {
                uri.push(if uri.contains('?') { '&' } else { '?' });
                uri.push_str(&utf8_percent_encode(name, COMPONENT).to_string());
                uri.push('=');
                uri.push_str(&utf8_percent_encode(value, COMPONENT).to_string());
            }
            RequestTarget::Path(_) => {}
        }
    }
    Ok((parse_uri(uri)?, headers))
}

fn parse_uri(uri: String) -> Result<Uri, GatewayError> {
    Uri::try_from(uri).map_err(|_| {
        GatewayError::client(
            ResponseType::BadRequestParameters,
            "Request parameters make an invalid backend URI",
        )
    })
}

/// Sorts a client error into the gateway response it becomes; `connect` says no connection
/// to the backend could be made.
fn classify(error: &(dyn std::error::Error + 'static), connect: bool) -> GatewayError {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return GatewayError::client(ResponseType::RequestTooLarge, "Request Too Long");
        }
        source = e.source();
    }
    tracing::debug!(error = ?error, "integration request failed");
    let message = if connect {
        "Could not connect to the integration endpoint"
    } else {
        "Integration endpoint failed"
    };
    GatewayError::integration(ResponseType::IntegrationFailure, message)
}
