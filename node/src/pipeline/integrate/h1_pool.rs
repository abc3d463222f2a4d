//! A lean HTTP/1.1 connection pool for plain-http backends, one per public worker, on hyper's
//! `client::conn::http1`. It does per request only what a pooled proxy call needs: pop an idle
//! connection (or connect), send, and put the connection back when the response body has ended.
//! hyper-util's legacy client, used for TLS and HTTP/2 backends, also spawns a task per response
//! to wait for the connection to become idle again, and takes a shared lock twice.
//!
//! A worker's requests and their response bodies run on the worker's own thread, so its pool's
//! mutex is never contended; it is there so the pool can be shared outside workers (tests, tools).

use crate::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Uri};
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long an idle connection is kept, as hyper-util's client does by default.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Idle HTTP/1.1 connections per backend (`host:port`); clones share them.
#[derive(Clone)]
pub struct H1Pool {
    shared: Arc<Shared>,
}

struct Shared {
    idle: Mutex<Idle>,
    max_idle_per_backend: usize,
    idle_timeout: Duration,
}

#[derive(Default)]
struct Idle {
    backends: HashMap<Authority, VecDeque<IdleConn>, foldhash::fast::RandomState>,
    /// Whether a sweeper task is running (one at most, only while something is idle).
    sweeping: bool,
}

struct IdleConn {
    sender: SendRequest<Body>,
    since: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("backend URI {0} names no host")]
    NoAuthority(Uri),
    #[error("could not connect to the backend: {0}")]
    Connect(#[source] std::io::Error),
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

impl SendError {
    /// Whether no connection to the backend could be made (as opposed to a failed exchange).
    pub fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect(_))
    }
}

impl H1Pool {
    pub fn new(max_idle_per_backend: usize, idle_timeout: Duration) -> H1Pool {
        H1Pool {
            shared: Arc::new(Shared {
                idle: Mutex::default(),
                max_idle_per_backend,
                idle_timeout,
            }),
        }
    }

    /// Sends `request` (an absolute `http://` URI) in origin form with a `Host` header, on an idle
    /// connection if one is ready, else on a new one. A reused connection that turns out closed
    /// before any byte of the request went out is not an error: the request goes on the next
    /// one. The response body hands its connection back to the pool when it ends.
    pub async fn send(&self, mut request: Request<Body>) -> Result<Response<Body>, SendError> {
        let authority = to_origin_form(&mut request)?;
        while let Some(mut sender) = self.checkout(&authority) {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.lease(response, sender, authority)),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(failed.into_error().into()),
                },
            }
        }
        let mut sender = connect(&authority).await?;
        let response = sender.send_request(request).await?;
        Ok(self.lease(response, sender, authority))
    }

    /// Idle connections held for `authority` (tests and diagnostics).
    pub fn idle_count(&self, authority: &Authority) -> usize {
        self.shared
            .lock()
            .backends
            .get(authority)
            .map_or(0, VecDeque::len)
    }

    /// The most recently used idle connection that is ready for a request. Closed and expired
    /// ones are dropped; busy ones stay (a backend may answer before it has read the whole
    /// request body, and the connection is not free until hyper has sent the rest).
    fn checkout(&self, authority: &Authority) -> Option<SendRequest<Body>> {
        let mut idle = self.shared.lock();
        let conns = idle.backends.get_mut(authority)?;
        let mut busy = Vec::new();
        let mut ready = None;
        while let Some(conn) = conns.pop_back() {
            if conn.sender.is_closed() || conn.since.elapsed() >= self.shared.idle_timeout {
                continue;
            }
            if conn.sender.is_ready() {
                ready = Some(conn.sender);
                break;
            }
            busy.push(conn);
        }
        conns.extend(busy.into_iter().rev());
        ready
    }

    fn lease(
        &self,
        response: Response<Incoming>,
        sender: SendRequest<Body>,
        authority: Authority,
    ) -> Response<Body> {
        let (parts, body) = response.into_parts();
        let mut body = PooledBody {
            body,
            lease: Some(Lease {
                pool: Arc::downgrade(&self.shared),
                authority,
                sender,
            }),
        };
        if http_body::Body::is_end_stream(&body.body) {
            body.release();
        }
        Response::from_parts(parts, crate::body::stream(body))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn checkin(self: &Arc<Self>, authority: Authority, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        let conns = idle.backends.entry(authority).or_default();
        conns.push_back(IdleConn {
            sender,
            since: Instant::now(),
        });
        if conns.len() > self.max_idle_per_backend {
            conns.pop_front();
        }
        if !idle.sweeping
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            idle.sweeping = true;
            runtime.spawn(sweep(Arc::downgrade(self)));
        }
    }

    /// Drops connections idle for too long or closed; returns when the next one expires, or
    /// `None` (and stops sweeping) when nothing is idle any more.
    fn sweep(&self, now: Instant) -> Option<Instant> {
        let mut idle = self.lock();
        idle.backends.retain(|_, conns| {
            conns.retain(|c| !c.sender.is_closed() && now < c.since + self.idle_timeout);
            !conns.is_empty()
        });
        let oldest = idle
            .backends
            .values()
            .filter_map(|c| c.front())
            .map(|c| c.since)
            .min();
        idle.sweeping = oldest.is_some();
        oldest.map(|since| since + self.idle_timeout)
    }
}

async fn sweep(pool: Weak<Shared>) {
    loop {
        let Some(next) = pool.upgrade().and_then(|pool| pool.sweep(Instant::now())) else {
            return;
        };
        tokio::time::sleep_until(next).await;
    }
}

/// Turns an absolute URI into origin form (`/path?query`) and sets `Host` unless mapped.
fn to_origin_form(request: &mut Request<Body>) -> Result<Authority, SendError> {
    let uri = request.uri();
    let Some(authority) = uri.authority().cloned() else {
        return Err(SendError::NoAuthority(uri.clone()));
    };
    let mut origin = http::uri::Parts::default();
    origin.path_and_query = Some(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    *request.uri_mut() = Uri::from_parts(origin).expect("a path alone is a valid URI");
    if !request.headers().contains_key(header::HOST) {
        // As hyper-util's client does: the port only when it is not the scheme's default.
        let host = match authority.port_u16() {
            Some(80) => HeaderValue::from_str(authority.host()),
            _ => HeaderValue::from_str(authority.as_str()),
        };
        if let Ok(host) = host {
            request.headers_mut().insert(header::HOST, host);
        }
    }
    Ok(authority)
}

async fn connect(authority: &Authority) -> Result<SendRequest<Body>, SendError> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Ok(connected) => connected.map_err(SendError::Connect)?,
        Err(_) => {
            let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
            return Err(SendError::Connect(timed_out));
        }
    };
    tcp.set_nodelay(true).map_err(SendError::Connect)?;
    let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
    let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive);
    let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "backend connection ended with an error");
        }
    });
    Ok(sender)
}

/// A connection lent to one response: back to its pool when the body has ended.
struct Lease {
    pool: Weak<Shared>,
    authority: Authority,
    sender: SendRequest<Body>,
}

/// A backend response body that returns its connection when the last byte has arrived
/// (hyper's server stops polling a body once it reports its end, so that is checked after
/// every frame). A body dropped early drops the connection, which hyper then closes.
struct PooledBody {
    body: Incoming,
    lease: Option<Lease>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(Lease {
            pool,
            authority,
            sender,
        }) = self.lease.take()
            && let Some(pool) = pool.upgrade()
        {
            pool.checkin(authority, sender);
        }
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            Some(Err(_)) => this.lease = None,
            None => this.release(),
            Some(Ok(_)) if this.body.is_end_stream() => this.release(),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper::service::service_fn;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    /// A keep-alive HTTP/1.1 backend answering every request with its `Host` and path; counts
    /// the connections it accepted.
    async fn backend() -> (Authority, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = Authority::try_from(listener.local_addr().unwrap().to_string()).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let service = service_fn(|request: Request<Incoming>| async move {
                    let host = request.headers().get(header::HOST).cloned();
                    let answer = format!("{} {}", host.unwrap().to_str().unwrap(), request.uri());
                    Ok::<_, Infallible>(Response::new(crate::body::full(answer)))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        (authority, accepted)
    }

    fn get(authority: &Authority, path: &str) -> Request<Body> {
        let mut request = Request::new(crate::body::empty());
        *request.uri_mut() = format!("http://{authority}{path}").parse().unwrap();
        request
    }

    async fn text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn sends_origin_form_with_host_and_reuses_the_connection_once_the_body_ended() {
        let (authority, accepted) = backend().await;
        let pool = H1Pool::new(8, IDLE_TIMEOUT);
        let first = pool.send(get(&authority, "/a/b?x=1")).await.unwrap();
        // Not back in the pool while its body is still being read.
        assert_eq!(pool.idle_count(&authority), 0);
        assert_eq!(text(first).await, format!("{authority} /a/b?x=1"));
        assert_eq!(pool.idle_count(&authority), 1);
        let second = pool.send(get(&authority, "/c")).await.unwrap();
        assert_eq!(text(second).await, format!("{authority} /c"));
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "the second request reused the connection"
        );
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_does_not_return_the_connection() {
        let (authority, accepted) = backend().await;
        let pool = H1Pool::new(8, IDLE_TIMEOUT);
        drop(pool.send(get(&authority, "/")).await.unwrap());
        assert_eq!(pool.idle_count(&authority), 0);
        let again = pool.send(get(&authority, "/")).await.unwrap();
        assert_eq!(text(again).await, format!("{authority} /"));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn keeps_at_most_the_cap_of_idle_connections_per_backend() {
        let (authority, accepted) = backend().await;
        let pool = H1Pool::new(2, IDLE_TIMEOUT);
        let responses: Vec<_> =
            futures_util::future::join_all((0..4).map(|_| pool.send(get(&authority, "/")))).await;
        for response in responses {
            text(response.unwrap()).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
        assert_eq!(pool.idle_count(&authority), 2);
    }

    #[tokio::test]
    async fn a_connection_the_backend_closed_while_idle_is_not_used_again() {
        // A backend that answers one request per connection, then closes it without saying so.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = Authority::try_from(listener.local_addr().unwrap().to_string()).unwrap();
        let (closed, mut on_close) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                drop(tcp);
                let _ = closed.send(());
            }
        });
        let pool = H1Pool::new(8, IDLE_TIMEOUT);
        for _ in 0..3 {
            let response = pool.send(get(&authority, "/")).await.unwrap();
            assert_eq!(text(response).await, "ok");
            // Once the backend has closed, a few turns of the runtime let hyper's connection
            // task see it (a request racing the close itself can fail, as with any client).
            on_close.recv().await.unwrap();
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
        }
    }

    #[tokio::test]
    async fn a_backend_that_refuses_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = Authority::try_from(listener.local_addr().unwrap().to_string()).unwrap();
        drop(listener);
        let error = H1Pool::new(8, IDLE_TIMEOUT)
            .send(get(&authority, "/"))
            .await
            .unwrap_err();
        assert!(error.is_connect(), "{error}");
    }

    #[tokio::test]
    async fn idle_connections_are_swept_after_the_idle_timeout() {
        let (authority, _) = backend().await;
        let pool = H1Pool::new(8, Duration::from_secs(30));
        text(pool.send(get(&authority, "/")).await.unwrap()).await;
        assert_eq!(pool.idle_count(&authority), 1);
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(pool.idle_count(&authority), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        // The sweeper runs when this task next yields.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.idle_count(&authority), 0);
        assert!(
            !pool.shared.lock().sweeping,
            "nothing idle: the sweeper stopped"
        );
    }
}
