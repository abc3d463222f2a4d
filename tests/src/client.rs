//! Clients that reach a node the way users do: HTTP/1.1, h2c by prior knowledge, and HTTP/2 or
//! HTTP/1.1 over TLS chosen by ALPN with a chosen SNI name. One [`Conn`] is one connection, so
//! tests can tell "the same connection" from "a new one".

use crate::certs;
use bytes::Bytes;
use futures_util::Stream;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::{TcpSocket, TcpStream};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Request (and backend response) body: any source, possibly streaming.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

/// A streaming body without a declared length (chunked on HTTP/1.1).
pub fn streaming<S>(chunks: S) -> Body
where
    S: Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
{
    use futures_util::StreamExt;
    BodyExt::boxed_unsync(StreamBody::new(chunks.map(|c| c.map(Frame::data))))
}

/// How a cleartext connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    /// HTTP/2 over cleartext by prior knowledge.
    H2c,
}

/// A request for `host` + `path` (path may hold a query and raw, even malformed, escapes).
pub fn request(method: Method, host: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(format!("http://{host}{path}"))
        .header(HOST, host)
}

pub fn get(host: &str, path: &str) -> Request<Body> {
    request(Method::GET, host, path)
        .body(empty())
        .expect("valid request")
}

enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

/// One client connection.
pub struct Conn {
    sender: Sender,
    scheme: Scheme,
}

/// What the TLS handshake showed.
pub struct TlsInfo {
    /// The certificate the server presented (its leaf).
    pub peer_cert: CertificateDer<'static>,
    pub alpn: Option<Vec<u8>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr, proto: Proto) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let h2 = proto == Proto::H2c;
        Conn::over(TokioIo::new(tcp), h2, Scheme::HTTP)
            .await
            .map_err(std::io::Error::other)
    }

    /// Like [`Conn::open`], from a chosen local address (any of 127.0.0.0/8 works on Linux), so
    /// tests can appear as several clients.
    pub async fn open_from(local: IpAddr, addr: SocketAddr, proto: Proto) -> std::io::Result<Conn> {
        let socket = match local {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(local, 0))?;
        let tcp = socket.connect(addr).await?;
        tcp.set_nodelay(true)?;
        let h2 = proto == Proto::H2c;
        Conn::over(TokioIo::new(tcp), h2, Scheme::HTTP)
            .await
            .map_err(std::io::Error::other)
    }

    /// TLS to `addr` with SNI `sni`, verified against `config`'s roots; HTTP/2 when the server
    /// picks `h2` by ALPN, HTTP/1.1 otherwise.
    pub async fn open_tls(
        addr: SocketAddr,
        sni: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<(Conn, TlsInfo), BoxError> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from(sni.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        let session = tls.get_ref().1;
        let info = TlsInfo {
            peer_cert: session
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or("server sent no certificate")?
                .clone()
                .into_owned(),
            alpn: session.alpn_protocol().map(<[u8]>::to_vec),
        };
        let h2 = info.alpn.as_deref() == Some(b"h2");
        let conn = Conn::over(TokioIo::new(tls), h2, Scheme::HTTPS).await?;
        Ok((conn, info))
    }

    /// TLS trusting `ca`, offering h2 and http/1.1.
    pub async fn open_tls_trusting(
        addr: SocketAddr,
        sni: &str,
        ca: &certs::TestCa,
    ) -> Result<(Conn, TlsInfo), BoxError> {
        let config = certs::client_config(ca.roots(), &[b"h2", b"http/1.1"]);
        Conn::open_tls(addr, sni, config).await
    }

    async fn over<T>(io: TokioIo<T>, h2: bool, scheme: Scheme) -> hyper::Result<Conn>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let sender = if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            Sender::H2(sender)
        } else {
            let (sender, conn) = http1::handshake(io).await?;
            tokio::spawn(conn);
            Sender::H1(sender)
        };
        Ok(Conn { sender, scheme })
    }

    /// Another handle on the same HTTP/2 connection (`None` for HTTP/1.1), for concurrent
    /// streams.
    pub fn share(&self) -> Option<Conn> {
        match &self.sender {
            Sender::H2(sender) => Some(Conn {
                sender: Sender::H2(sender.clone()),
                scheme: self.scheme.clone(),
            }),
            Sender::H1(_) => None,
        }
    }

    pub fn version(&self) -> Version {
        match self.sender {
            Sender::H1(_) => Version::HTTP_11,
            Sender::H2(_) => Version::HTTP_2,
        }
    }

    /// Sends a request made by [`request`]: origin-form + `Host` on HTTP/1.1, `:authority`
    /// (from the `Host` header) on HTTP/2.
    pub async fn send(&mut self, request: Request<Body>) -> hyper::Result<Response<Incoming>> {
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        match &mut self.sender {
            Sender::H1(sender) => {
                parts.uri = Uri::from(path);
                parts.version = Version::HTTP_11;
                sender.ready().await?;
                sender.send_request(Request::from_parts(parts, body)).await
            }
            Sender::H2(sender) => {
                let authority = parts
                    .headers
                    .remove(HOST)
                    .and_then(|h| Authority::try_from(h.as_bytes()).ok())
                    .or_else(|| parts.uri.authority().cloned())
                    .unwrap_or_else(|| Authority::from_static("localhost"));
                parts.uri = Uri::builder()
                    .scheme(self.scheme.clone())
                    .authority(authority)
                    .path_and_query(path)
                    .build()
                    .expect("valid parts make a valid URI");
                parts.version = Version::HTTP_2;
                sender.ready().await?;
                sender.send_request(Request::from_parts(parts, body)).await
            }
        }
    }

    /// Sends and reads the whole answer; panics on a transport error.
    pub async fn fetch(&mut self, request: Request<Body>) -> Reply {
        let response = self.send(request).await.expect("request failed");
        Reply::read(response).await
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub async fn read(response: Response<Incoming>) -> Reply {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read body").to_bytes();
        Reply {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The gateway response type (`x-amzn-errortype`).
    pub fn error_type(&self) -> Option<&str> {
        self.header("x-amzn-errortype")
    }

    /// Asserts a gateway error answer: status, type header and a `{"message": ...}` body.
    #[track_caller]
    pub fn assert_gateway_error(&self, status: u16, kind: &str) {
        assert_eq!(
            (self.status.as_u16(), self.error_type()),
            (status, Some(kind)),
            "body: {}",
            self.text()
        );
        let body = self.json();
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "gateway errors carry a message: {body}"
        );
    }
}
