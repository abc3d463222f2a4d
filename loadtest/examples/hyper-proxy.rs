//! The floor of Edgeway's stack: a bare hyper 1 reverse proxy (hyper-util auto server, legacy
//! pooled client, multi-thread tokio) with none of Edgeway's pipeline. Used to tell costs of the
//! stack from costs of the gateway's own code in BENCHMARKS.md.
//!
//! cargo run --release -p edgeway-load --example hyper-proxy -- 127.0.0.1:LISTEN http://127.0.0.1:BACKEND

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::sync::Arc;

type Body = http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: std::net::SocketAddr = args.next().unwrap_or("127.0.0.1:8082".into()).parse()?;
    let backend: Uri = args
        .next()
        .unwrap_or("http://127.0.0.1:8081".into())
        .parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let client: Client<HttpConnector, Incoming> =
                Client::builder(TokioExecutor::new()).build(connector);
            let client = Arc::new(client);
            let listener = tokio::net::TcpListener::bind(listen).await?;
            loop {
                let (tcp, _) = listener.accept().await?;
                let _ = tcp.set_nodelay(true);
                let client = client.clone();
                let backend = backend.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |mut request: Request<Incoming>| {
                        let client = client.clone();
                        let mut parts = backend.clone().into_parts();
                        parts.path_and_query = request.uri().path_and_query().cloned();
                        *request.uri_mut() = Uri::from_parts(parts).expect("valid uri");
                        request.headers_mut().remove(hyper::header::HOST);
                        async move {
                            match client.request(request).await {
                                Ok(response) => Ok(response.map(|b| b.boxed())),
                                Err(e) => {
                                    let mut r = Response::new(
                                        http_body_util::Full::new(bytes::Bytes::from(
                                            e.to_string(),
                                        ))
                                        .map_err(|never| match never {})
                                        .boxed(),
                                    );
                                    *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                                    Ok::<Response<Body>, std::convert::Infallible>(r)
                                }
                            }
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        })
}
