//! A bare hyper 1 reverse proxy with none of Edgeway's pipeline: the floor of Edgeway's stack,
//! used in BENCHMARKS.md to tell the stack's costs from the gateway's own.
//!
//! Two shapes:
//! - `--per-core` (what bench.sh runs): one thread per core, each with a current-thread tokio
//!   runtime, its own `SO_REUSEPORT` listening socket and its own pooled client, so a request and
//!   its backend call stay on one thread: the shape of Edgeway's public workers.
//! - default: one multi-thread tokio runtime and one shared pooled client.
//!
//! hyper-proxy 127.0.0.1:LISTEN http://127.0.0.1:BACKEND [--per-core]

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket};

type Body = http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>;
type Pool = Arc<Client<HttpConnector, Incoming>>;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_core = args.iter().any(|a| a == "--per-core");
    let mut positional = args.iter().filter(|a| !a.starts_with("--"));
    let listen: SocketAddr = positional
        .next()
        .map_or("127.0.0.1:8082", |s| s.as_str())
        .parse()?;
    let backend: Uri = positional
        .next()
        .map_or("http://127.0.0.1:8081", |s| s.as_str())
        .parse()?;
    if !per_core {
        return tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(async move { serve(TcpListener::bind(listen).await?, backend).await });
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut threads = Vec::new();
    for _ in 0..cores {
        let backend = backend.clone();
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let socket = TcpSocket::new_v4()?;
                socket.set_reuseport(true)?;
                socket.set_reuseaddr(true)?;
                socket.bind(listen)?;
                serve(socket.listen(1024)?, backend).await
            })
        }));
    }
    for thread in threads {
        thread.join().expect("worker thread panicked")?;
    }
    Ok(())
}

async fn serve(listener: TcpListener, backend: Uri) -> anyhow::Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Pool = Arc::new(Client::builder(TokioExecutor::new()).build(connector));
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (client, backend) = (client.clone(), backend.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| forward(client.clone(), &backend, request));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

fn forward(
    client: Pool,
    backend: &Uri,
    mut request: Request<Incoming>,
) -> impl Future<Output = Result<Response<Body>, std::convert::Infallible>> + use<> {
    let mut parts = backend.clone().into_parts();
    parts.path_and_query = request.uri().path_and_query().cloned();
    *request.uri_mut() = Uri::from_parts(parts).expect("valid uri");
    request.headers_mut().remove(hyper::header::HOST);
    async move {
        Ok(match client.request(request).await {
            Ok(response) => response.map(|b| b.boxed()),
            Err(e) => {
                let body = http_body_util::Full::new(bytes::Bytes::from(e.to_string()))
                    .map_err(|never| match never {})
                    .boxed();
                let mut response = Response::new(body);
                *response.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                response
            }
        })
    }
}
