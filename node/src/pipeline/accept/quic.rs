//! Phase 1 for HTTP/3: QUIC endpoints (quinn) on the public listener's port number over UDP,
//! with the same certificates chosen by SNI and ALPN `h3`. Each public worker runs its own
//! endpoint (see `workers.rs`). Each request stream becomes a `Request` with a streaming body and
//! goes to the same handler as HTTP/1.1 and HTTP/2.
//!
//! 0-RTT is not offered: early data can be replayed, and the gateway cannot tell which
//! integrations tolerate that. Domains that require client certificates (mTLS) are not
//! verified on QUIC, so their requests get 421 there and clients retry over TCP.

use super::h3_stream::{self, RecvBody};
use super::{Handler, stopped};
use crate::config::{Http3Settings, Limits, LiveLimits};
use crate::pipeline::ConnInfo;
use bytes::Bytes;
use h3::server::RequestResolver;
use http::Version;
use quinn::crypto::rustls::QuicServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    #[error("TLS settings unusable for QUIC: {0}")]
    Tls(String),
    #[error("public.http3: {0}")]
    Transport(String),
    #[error("cannot listen on {addr} (UDP): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What every worker's QUIC endpoint is built from. One endpoint config for all of them: they
/// share the stateless-reset key, so a packet a worker cannot place (a client whose address
/// changed hashes to another worker's socket) gets a reset the client accepts, and it
/// reconnects at once instead of waiting for the idle timeout.
#[derive(Clone)]
pub struct QuicConfig {
    pub server: quinn::ServerConfig,
    pub endpoint: quinn::EndpointConfig,
}

impl QuicConfig {
    /// `tls` must allow TLS 1.3 and offer ALPN `h3`.
    pub fn new(
        tls: Arc<rustls::ServerConfig>,
        settings: &Http3Settings,
    ) -> Result<QuicConfig, QuicError> {
        let crypto = QuicServerConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(Arc::new(transport(settings)?));
        let endpoint = quinn::EndpointConfig::default();
        Ok(QuicConfig { server, endpoint })
    }

    /// An endpoint on `socket`, driven by the runtime this is called on.
    pub fn endpoint(self, socket: std::net::UdpSocket) -> std::io::Result<quinn::Endpoint> {
        let runtime = Arc::new(quinn::TokioRuntime);
        quinn::Endpoint::new(self.endpoint, Some(self.server), socket, runtime)
    }
}

fn transport(settings: &Http3Settings) -> Result<quinn::TransportConfig, QuicError> {
    let invalid = |e: quinn::VarIntBoundsExceeded| QuicError::Transport(e.to_string());
    let idle = quinn::IdleTimeout::try_from(Duration::from_millis(settings.max_idle_timeout_ms))
        .map_err(invalid)?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(Some(idle))
        .max_concurrent_bidi_streams(settings.max_concurrent_streams.into())
        // Clients open no unidirectional streams but HTTP/3's control and QPACK ones.
        .max_concurrent_uni_streams(8u32.into())
        .stream_receive_window(settings.stream_receive_window.into())
        .receive_window(settings.receive_window.into());
    Ok(transport)
}

/// Serves QUIC connections until `shutdown`; then refuses new ones, tells each open connection
/// to stop (HTTP/3 GOAWAY), lets in-flight requests finish for up to the grace period, and
/// closes the endpoint.
pub async fn serve<H: Handler>(
    endpoint: quinn::Endpoint,
    handler: Arc<H>,
    limits: LiveLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
            () = stopped(&mut shutdown) => break,
        };
        while connections.try_join_next().is_some() {}
        // The limits current at accept (a reload changes them for new connections only).
        let (handler, limits, shutdown) = (handler.clone(), limits.load_full(), shutdown.clone());
        connections.spawn(connection(incoming, handler, limits, shutdown));
    }
    endpoint.set_server_config(None);
    let grace = Duration::from_millis(limits.load().shutdown_grace_ms);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!("shutdown grace period over; closing remaining QUIC connections");
    }
    // Connections still open after the grace period close as HTTP/3 says a clean close is
    // spelled (H3_NO_ERROR, 0x100), like those h3 closes itself after their GOAWAY.
    let no_error = u64::from(h3::error::Code::H3_NO_ERROR);
    let code = quinn::VarInt::from_u64(no_error).expect("0x100 is a QUIC varint");
    endpoint.close(code, b"shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
}

async fn connection<H: Handler>(
    incoming: quinn::Incoming,
    handler: Arc<H>,
    limits: Arc<Limits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let handshake = Duration::from_millis(limits.header_read_timeout_ms);
    let connection = match tokio::time::timeout(handshake, incoming).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => return tracing::debug!(error = %e, "QUIC handshake failed"),
        Err(_) => return tracing::debug!("QUIC handshake timed out"),
    };
    let conn = ConnInfo {
        peer: connection.remote_address(),
        tls: true,
        client_cert: None,
        listener: Default::default(),
    };
    let built = h3::server::builder()
        .max_field_section_size(limits.max_header_bytes as u64)
        .build::<_, Bytes>(h3_quinn::Connection::new(connection))
        .await;
    let mut h3 = match built {
        Ok(h3) => h3,
        Err(e) => return tracing::debug!(peer = %conn.peer, error = %e, "HTTP/3 setup failed"),
    };
    let mut requests = JoinSet::new();
    let mut closing = false;
    loop {
        tokio::select! {
            accepted = h3.accept() => match accepted {
                Ok(Some(resolver)) => {
                    while requests.try_join_next().is_some() {}
                    requests.spawn(request(resolver, handler.clone(), conn.clone()));
                }
                // After a GOAWAY: every request it admitted has finished.
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(peer = %conn.peer, error = %e, "HTTP/3 connection ended");
                    break;
                }
            },
            () = stopped(&mut shutdown), if !closing => {
                // GOAWAY: requests accepted so far (and one racing it) finish; the client
                // sends the rest on a new connection.
                closing = true;
                if let Err(e) = h3.shutdown(1).await {
                    tracing::debug!(peer = %conn.peer, error = %e, "HTTP/3 GOAWAY failed");
                    break;
                }
            }
        }
    }
    while requests.join_next().await.is_some() {}
}

async fn request<H: Handler>(
    resolver: RequestResolver<h3_quinn::Connection, Bytes>,
    handler: Arc<H>,
    conn: ConnInfo,
) {
    let peer = conn.peer;
    let (mut request, stream) = match resolver.resolve_request().await {
        Ok(resolved) => resolved,
        Err(e) => return tracing::debug!(%peer, error = %e, "HTTP/3 request unreadable"),
    };
    *request.version_mut() = Version::HTTP_3;
    let (mut send, recv) = stream.split();
    let request = request.map(|()| RecvBody::new(recv));
    let response = handler.handle(request, conn).await;
    if let Err(e) = h3_stream::send_response(&mut send, response).await {
        tracing::debug!(%peer, error = %e, "HTTP/3 response not delivered");
        send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
    }
}
