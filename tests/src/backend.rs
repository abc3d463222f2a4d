//! Real backends for integrations: small hyper servers on 127.0.0.1:0.
//!
//! Every backend answers any path with an echo of what it received, as JSON:
//! `{backend, method, path, query, version, headers, body}`, plus a few special paths:
//! - `/slow?ms=N`: waits N ms, then echoes (counts arrivals, see [`Backend::wait_slow`]);
//! - `/stream?mib=N`: N MiB of `x`, produced lazily in 64 KiB chunks;
//! - `/status/{code}`: echoes with that status;
//! - `/count`: `{"count": requests so far}`.
//!
//! Every answer carries `x-backend: {name}`; an echo also carries each `name=value` pair listed
//! in the request's `x-echo-set` header (`;`-separated) as a response header.

use crate::certs::Leaf;
use crate::client::{Body, BoxError, full};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

const CHUNK: usize = 64 * 1024;
const MIB: usize = 1024 * 1024;

/// How a backend speaks.
#[derive(Clone)]
enum Mode {
    /// HTTP/1.1 and h2c (prior knowledge), told apart by the preface.
    Auto,
    /// h2c only: an HTTP/1.1 request fails.
    H2cOnly,
    /// TLS, HTTP/2 or HTTP/1.1 by ALPN.
    Tls(TlsAcceptor),
}

struct State {
    name: String,
    hits: AtomicUsize,
    /// Bytes `/stream` has produced so far (all requests).
    streamed: Arc<AtomicUsize>,
    /// `/stream` bodies not yet finished or dropped.
    open_streams: Arc<AtomicUsize>,
    slow_started: watch::Sender<usize>,
}

pub struct Backend {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Backend {
    /// HTTP/1.1 + h2c.
    pub async fn start(name: &str) -> Backend {
        Backend::spawn(name, Mode::Auto).await
    }

    pub async fn h2c_only(name: &str) -> Backend {
        Backend::spawn(name, Mode::H2cOnly).await
    }

    /// HTTPS with `leaf`, offering h2 and http/1.1.
    pub async fn tls(name: &str, leaf: &Leaf) -> Backend {
        let acceptor = TlsAcceptor::from(leaf.server_config(&[b"h2", b"http/1.1"]));
        Backend::spawn(name, Mode::Tls(acceptor)).await
    }

    async fn spawn(name: &str, mode: Mode) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = listener.local_addr().expect("backend address");
        let state = Arc::new(State {
            name: name.to_string(),
            hits: AtomicUsize::new(0),
            streamed: Arc::new(AtomicUsize::new(0)),
            open_streams: Arc::new(AtomicUsize::new(0)),
            slow_started: watch::channel(0).0,
        });
        let task = tokio::spawn(accept_loop(listener, mode, state.clone()));
        Backend { addr, state, task }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Bytes produced by `/stream` so far.
    pub fn streamed(&self) -> usize {
        self.state.streamed.load(Ordering::SeqCst)
    }

    /// `/stream` bodies still being produced (dropped ones do not count).
    pub fn open_streams(&self) -> usize {
        self.state.open_streams.load(Ordering::SeqCst)
    }

    /// Waits until `n` `/slow` requests have arrived (at most 10 s).
    pub async fn wait_slow(&self, n: usize) {
        let mut rx = self.state.slow_started.subscribe();
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|&s| s >= n))
            .await
            .expect("slow requests did not arrive in time")
            .expect("backend alive");
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, mode: Mode, state: Arc<State>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let service = service_fn(move |request| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(&state, request).await) }
        });
        let mode = mode.clone();
        tokio::spawn(async move {
            let executor = TokioExecutor::new();
            let _ = match mode {
                Mode::Auto => {
                    auto::Builder::new(executor)
                        .serve_connection(TokioIo::new(tcp), service)
                        .await
                }
                Mode::H2cOnly => {
                    auto::Builder::new(executor)
                        .http2_only()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await
                }
                Mode::Tls(acceptor) => match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        auto::Builder::new(executor)
                            .serve_connection(TokioIo::new(tls), service)
                            .await
                    }
                    Err(_) => return,
                },
            };
        });
    }
}

fn query_number(query: Option<&str>, name: &str) -> Option<u64> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.parse().ok()).flatten()
    })
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Body> {
    let hits = state.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let mut status = StatusCode::OK;
    if path == "/stream" {
        let mib = query_number(query.as_deref(), "mib").unwrap_or(1) as usize;
        let open = OpenGuard::new(state.open_streams.clone());
        let body = lazy_stream(mib * MIB, state.streamed.clone(), open);
        return reply(state, StatusCode::OK, body);
    }
    if path == "/count" {
        return reply(state, status, full(json!({ "count": hits }).to_string()));
    }
    if path == "/slow" {
        state.slow_started.send_modify(|n| *n += 1);
        let ms = query_number(query.as_deref(), "ms").unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(code) = path.strip_prefix("/status/") {
        status = code
            .parse()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
    }
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return reply(state, StatusCode::BAD_REQUEST, full(e.to_string())),
    };
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(name.to_string(), Value::from(values.join(", ")));
    }
    let echo = json!({
        "backend": state.name,
        "method": parts.method.as_str(),
        "path": path,
        "query": query,
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": body.len(),
        "body": String::from_utf8_lossy(&body[..body.len().min(CHUNK)]),
    });
    let mut response = reply(state, status, full(echo.to_string()));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let wanted = parts
        .headers
        .get("x-echo-set")
        .and_then(|v| v.to_str().ok());
    for pair in wanted.unwrap_or("").split(';').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from(name.trim()),
            http::HeaderValue::try_from(value.trim()),
        ) {
            headers.append(n, v);
        }
    }
    response
}

fn reply(state: &State, status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(name) = http::HeaderValue::try_from(state.name.as_str()) {
        response.headers_mut().insert("x-backend", name);
    }
    response
}

/// `total` bytes of `x`, one 64 KiB chunk at a time, each made only when the reader wants it.
/// Counts itself in while it lives.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(count: Arc<AtomicUsize>) -> OpenGuard {
        count.fetch_add(1, Ordering::SeqCst);
        OpenGuard(count)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lazy_stream(total: usize, counter: Arc<AtomicUsize>, open: OpenGuard) -> Body {
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = futures_util::stream::unfold(0usize, move |sent| {
        let _open = &open;
        let (chunk, counter) = (chunk.clone(), counter.clone());
        async move {
            (sent < total).then(|| {
                let n = CHUNK.min(total - sent);
                counter.fetch_add(n, Ordering::SeqCst);
                (Ok::<_, BoxError>(Frame::data(chunk.slice(..n))), sent + n)
            })
        }
    });
    StreamBody::new(chunks).boxed_unsync()
}

/// A backend that accepts connections and resets them without answering.
pub struct ResetBackend {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ResetBackend {
    pub async fn start() -> ResetBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(reset_after_request_head(tcp));
            }
        });
        ResetBackend { addr, task }
    }
}

/// Reads the request head, then closes with RST (linger 0) instead of answering.
async fn reset_after_request_head(mut tcp: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = tcp.set_zero_linger();
    drop(tcp);
}

impl Drop for ResetBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address where nothing listens. The port stays bound (without listening) while this
/// lives, so no other socket of the test run can take it: connecting is always refused.
pub struct ClosedPort {
    pub addr: SocketAddr,
    _socket: tokio::net::TcpSocket,
}

pub fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    ClosedPort {
        addr: socket.local_addr().expect("address"),
        _socket: socket,
    }
}
