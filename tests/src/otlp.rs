//! A test OpenTelemetry collector: a small hyper server on 127.0.0.1:0 that takes OTLP/HTTP
//! protobuf on `POST /v1/traces` and keeps every span it decodes.

use crate::certs::Leaf;
use crate::client::{Body, full};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use opentelemetry_proto::tonic::trace::v1::Span;

/// A span as received, with its resource's `service.name`.
#[derive(Debug, Clone)]
pub struct Received {
    pub service_name: Option<String>,
    pub span: Span,
}

impl Received {
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// A string or integer attribute, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }
}

pub struct Collector {
    pub addr: SocketAddr,
    scheme: &'static str,
    spans: watch::Sender<Vec<Received>>,
    task: JoinHandle<()>,
}

impl Collector {
    /// Cleartext OTLP/HTTP.
    pub async fn start() -> Collector {
        Collector::spawn(None).await
    }

    /// OTLP/HTTP over TLS with `leaf`'s certificate (h2 and http/1.1 by ALPN).
    pub async fn tls(leaf: &Leaf) -> Collector {
        let acceptor = TlsAcceptor::from(leaf.server_config(&[b"h2", b"http/1.1"]));
        Collector::spawn(Some(acceptor)).await
    }

    async fn spawn(tls: Option<TlsAcceptor>) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let spans = watch::Sender::new(Vec::new());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(accept_loop(listener, tls, Arc::new(spans.clone())));
        Collector {
            addr,
            scheme,
            spans,
            task,
        }
    }

    /// The base URL, as `[tracing] otlp_endpoint` takes it.
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Waits (up to 10 s) until a received span satisfies `wanted`, and returns it.
    pub async fn wait_for(&self, what: &str, wanted: impl Fn(&Received) -> bool) -> Received {
        let mut rx = self.spans.subscribe();
        let found = tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|spans| spans.iter().any(&wanted)),
        )
        .await;
        let spans = self.spans.borrow();
        match found {
            Ok(_) => spans.iter().find(|s| wanted(s)).cloned().expect("found"),
            Err(_) => panic!("no span {what} arrived; got {:#?}", *spans),
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.spans.borrow().clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    spans: Arc<watch::Sender<Vec<Received>>>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let spans = spans.clone();
        let service = service_fn(move |request| {
            let spans = spans.clone();
            async move { Ok::<_, Infallible>(handle(&spans, request).await) }
        });
        let tls = tls.clone();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = match tls {
                None => builder.serve_connection(TokioIo::new(tcp), service).await,
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                    Err(_) => return,
                },
            };
        });
    }
}

async fn handle(
    spans: &watch::Sender<Vec<Received>>,
    request: Request<Incoming>,
) -> Response<Body> {
    let answer = |status: StatusCode| {
        let mut response = Response::new(full(Vec::new()));
        *response.status_mut() = status;
        response
    };
    let protobuf = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/x-protobuf");
    if request.method() != http::Method::POST || request.uri().path() != "/v1/traces" {
        return answer(StatusCode::NOT_FOUND);
    }
    if !protobuf {
        return answer(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let Ok(body) = request.into_body().collect().await else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let mut received = Vec::new();
    for resource_spans in export.resource_spans {
        let service_name = resource_spans
            .resource
            .as_ref()
            .and_then(|r| attribute(&r.attributes, "service.name"));
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                let service_name = service_name.clone();
                received.push(Received { service_name, span });
            }
        }
    }
    spans.send_modify(|all| all.extend(received));
    // An empty ExportTraceServiceResponse: all accepted.
    let mut response = answer(StatusCode::OK);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref();
    match value.and_then(|AnyValue { value }| value.as_ref())? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
