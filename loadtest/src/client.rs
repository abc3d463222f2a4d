//! Connections to one target: a pool of HTTP/1.1 connections (one request at a time each), a
//! few HTTP/2 connections shared by concurrent streams (cleartext or TLS), or a few HTTP/3
//! connections ([`crate::h3`]).

use crate::config::{HttpVersion, LoadConfig};
use crate::spec::Target;
use anyhow::Context;
use bytes::Bytes;
use http::header::HOST;
use http::uri::Authority;
use http::{HeaderValue, Request, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

/// Why a request got no HTTP answer. The names appear in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    Connect,
    Tls,
    Timeout,
    /// The connection broke or the peer spoke bad HTTP.
    Io,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Tls => "tls",
            Failure::Timeout => "timeout",
            Failure::Io => "io",
        }
    }
}

/// An HTTP answer: status, body size, and when the request went out on a connection.
pub struct Answer {
    pub status: u16,
    pub bytes: usize,
    pub sent_at: tokio::time::Instant,
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// Everything needed to reach one target.
pub struct Pool {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    http: HttpVersion,
    /// `:authority` / `Host` of every request.
    authority: Authority,
    scheme: http::uri::Scheme,
    path: http::uri::PathAndQuery,
    /// HTTP/1.1: one permit per connection; a request holds one while it runs.
    h1_permits: Semaphore,
    h1_idle: Mutex<Vec<http1::SendRequest<Full<Bytes>>>>,
    /// HTTP/2: connections shared by streams, used in turn.
    h2_slots: Vec<tokio::sync::Mutex<Option<http2::SendRequest<Full<Bytes>>>>>,
    h2_next: AtomicUsize,
    h3: Option<crate::h3::H3>,
}

impl Pool {
    pub async fn new(target: &Target, config: &LoadConfig) -> anyhow::Result<Pool> {
        let host_port = target.host_port();
        let addr = tokio::net::lookup_host(&host_port)
            .await
            .with_context(|| format!("target {}: cannot resolve {host_port}", target.url))?
            .next()
            .with_context(|| format!("target {}: {host_port} has no address", target.url))?;
        let authority = match config.headers.iter().find(|(n, _)| *n == HOST) {
            Some((_, host)) => Authority::try_from(host.as_bytes())
                .with_context(|| format!("the host header {host:?} is not a host[:port]"))?,
            None => target.authority.clone(),
        };
        let tls = match target.tls() {
            true => Some(tls_connector(config, authority.host())?),
            false => None,
        };
        let h3 = match config.http {
            HttpVersion::Http3 => Some(crate::h3::H3::new(
                addr,
                authority.host(),
                tls_config(config)?,
                config.connections,
            )?),
            _ => None,
        };
        Ok(Pool {
            addr,
            tls,
            http: config.http,
            authority,
            scheme: target.scheme.clone(),
            path: target.path.clone(),
            h1_permits: Semaphore::new(config.connections),
            h1_idle: Mutex::new(Vec::new()),
            h2_slots: (0..config.connections)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            h2_next: AtomicUsize::new(0),
            h3,
        })
    }

    /// The request every call sends, less the per-request headers.
    fn request(&self, config: &LoadConfig, key: Option<&HeaderValue>) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(config.body.clone()));
        *request.method_mut() = config.method.clone();
        let headers = request.headers_mut();
        for (name, value) in config.headers.iter().filter(|(n, _)| *n != HOST) {
            headers.append(name, value.clone());
        }
        if let Some(key) = key {
            headers.insert("x-api-key", key.clone());
        }
        match self.http {
            HttpVersion::Http1 => {
                *request.uri_mut() = Uri::from(self.path.clone());
                let host = HeaderValue::from_str(self.authority.as_str()).expect("authority");
                request.headers_mut().insert(HOST, host);
            }
            HttpVersion::Http2 | HttpVersion::Http3 => {
                *request.uri_mut() = Uri::builder()
                    .scheme(self.scheme.clone())
                    .authority(self.authority.clone())
                    .path_and_query(self.path.clone())
                    .build()
                    .expect("valid parts");
                *request.version_mut() = match self.http {
                    HttpVersion::Http3 => Version::HTTP_3,
                    _ => Version::HTTP_2,
                };
            }
        }
        request
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(
        &self,
        config: &LoadConfig,
        key: Option<&HeaderValue>,
    ) -> Result<Answer, Failure> {
        let request = self.request(config, key);
        match (self.http, &self.h3) {
            (HttpVersion::Http3, Some(h3)) => {
                let (parts, _) = request.into_parts();
                h3.send(Request::from_parts(parts, ()), config.body.clone())
                    .await
            }
            (HttpVersion::Http2, _) => self.send_h2(request).await,
            _ => self.send_h1(request).await,
        }
    }

    async fn send_h1(&self, request: Request<Full<Bytes>>) -> Result<Answer, Failure> {
        let _permit = self.h1_permits.acquire().await.expect("never closed");
        let idle = self.h1_idle.lock().expect("not poisoned").pop();
        let mut sender = match idle {
            Some(sender) if !sender.is_closed() => sender,
            _ => match self.connect().await? {
                Sender::H1(sender) => sender,
                Sender::H2(_) => unreachable!("HTTP/1.1 pool"),
            },
        };
        sender.ready().await.map_err(|_| Failure::Io)?;
        let sent_at = tokio::time::Instant::now();
        let answer = read(sender.send_request(request).await, sent_at).await?;
        self.h1_idle.lock().expect("not poisoned").push(sender);
        Ok(answer)
    }

    async fn send_h2(&self, request: Request<Full<Bytes>>) -> Result<Answer, Failure> {
        let slot = self.h2_next.fetch_add(1, Ordering::Relaxed) % self.h2_slots.len();
        let mut sender = {
            let mut slot = self.h2_slots[slot].lock().await;
            match &*slot {
                Some(sender) if !sender.is_closed() => sender.clone(),
                _ => {
                    let fresh = match self.connect().await? {
                        Sender::H2(sender) => sender,
                        Sender::H1(_) => unreachable!("HTTP/2 pool"),
                    };
                    *slot = Some(fresh.clone());
                    fresh
                }
            }
        };
        sender.ready().await.map_err(|_| Failure::Io)?;
        let sent_at = tokio::time::Instant::now();
        read(sender.send_request(request).await, sent_at).await
    }

    async fn connect(&self) -> Result<Sender, Failure> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|_| Failure::Connect)?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(TokioIo::new(tcp), self.http).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|_| Failure::Tls)?;
                let want = alpn(self.http);
                if tls.get_ref().1.alpn_protocol().is_some_and(|p| p != want) {
                    return Err(Failure::Tls);
                }
                handshake(TokioIo::new(tls), self.http).await
            }
        }
    }
}

async fn handshake<T>(io: TokioIo<T>, http: HttpVersion) -> Result<Sender, Failure>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A connection task ending in an error shows up as a failed request; nothing to log here.
    Ok(match http {
        // HTTP/3 runs over QUIC (crate::h3), never over TCP.
        HttpVersion::Http1 | HttpVersion::Http3 => {
            let (sender, conn) = http1::handshake(io).await.map_err(|_| Failure::Io)?;
            tokio::spawn(conn);
            Sender::H1(sender)
        }
        HttpVersion::Http2 => {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|_| Failure::Io)?;
            tokio::spawn(conn);
            Sender::H2(sender)
        }
    })
}

async fn read(
    response: hyper::Result<http::Response<hyper::body::Incoming>>,
    sent_at: tokio::time::Instant,
) -> Result<Answer, Failure> {
    let response = response.map_err(|_| Failure::Io)?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| Failure::Io)?;
    Ok(Answer {
        status,
        bytes: body.to_bytes().len(),
        sent_at,
    })
}

/// The ALPN protocol of each HTTP version.
fn alpn(http: HttpVersion) -> &'static [u8] {
    match http {
        HttpVersion::Http1 => b"http/1.1",
        HttpVersion::Http2 => b"h2",
        HttpVersion::Http3 => b"h3",
    }
}

/// TLS over TCP with SNI `host`.
fn tls_connector(
    config: &LoadConfig,
    host: &str,
) -> anyhow::Result<(TlsConnector, ServerName<'static>)> {
    let name = ServerName::try_from(host.to_string())
        .with_context(|| format!("'{host}' is not a TLS server name"))?;
    Ok((TlsConnector::from(Arc::new(tls_config(config)?)), name))
}

/// The public roots plus `--ca`, and ALPN for the chosen version.
fn tls_config(config: &LoadConfig) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).with_context(|| format!("--ca {}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.with_context(|| format!("--ca {}: bad PEM", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("--ca {}: not a CA certificate", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn(config.http).to_vec()];
    Ok(tls)
}
