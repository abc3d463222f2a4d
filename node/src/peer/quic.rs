//! The peer channel over QUIC: one connection per peer, kept and reused; one bidirectional
//! stream per call, each direction one frame ended by FIN and read with the frame limit.
//! Both ends present certificates from the cluster CA (see [`super::tls`]).

use super::protocol::{self, MAX_FRAME_BYTES};
use super::tls::PeerIdentity;
use super::{BoxFuture, HandlerSlot, PeerAddress, PeerError, PeerRequest, PeerResponse};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

pub struct QuicPeers {
    endpoint: quinn::Endpoint,
    connections: Mutex<HashMap<PeerAddress, quinn::Connection>>,
    timeout: Duration,
}

impl QuicPeers {
    /// Binds the peer endpoint (server and client in one UDP socket).
    pub fn bind(
        addr: SocketAddr,
        identity: &PeerIdentity,
        timeout: Duration,
    ) -> Result<QuicPeers, std::io::Error> {
        let idle = Duration::from_secs(30);
        let server = identity
            .server_config(idle)
            .map_err(std::io::Error::other)?;
        let client = identity
            .client_config(idle)
            .map_err(std::io::Error::other)?;
        let mut endpoint = quinn::Endpoint::server(server, addr)?;
        endpoint.set_default_client_config(client);
        Ok(QuicPeers {
            endpoint,
            connections: Mutex::new(HashMap::new()),
            timeout,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Answers peers' calls until `stop` turns true.
    pub async fn serve(&self, handler: HandlerSlot, mut stop: watch::Receiver<bool>) {
        loop {
            let incoming = tokio::select! {
                incoming = self.endpoint.accept() => incoming,
                _ = crate::pipeline::accept::stopped(&mut stop) => break,
            };
            let Some(incoming) = incoming else { break };
            tokio::spawn(serve_connection(incoming, handler.clone()));
        }
        self.endpoint.close(0u32.into(), b"node stopping");
    }

    async fn connection(&self, to: &PeerAddress) -> Result<quinn::Connection, PeerError> {
        if let Some(conn) = self.cached(to) {
            return Ok(conn);
        }
        let fail = |reason: String| PeerError::Connect {
            peer: to.node_id.clone(),
            reason,
        };
        let addr = tokio::net::lookup_host(&to.addr)
            .await
            .map_err(|e| fail(format!("{}: {e}", to.addr)))?
            .next()
            .ok_or_else(|| fail(format!("{}: no address", to.addr)))?;
        let conn = self
            .endpoint
            .connect(addr, &to.node_id)
            .map_err(|e| fail(e.to_string()))?
            .await
            .map_err(|e| fail(e.to_string()))?;
        self.lock().insert(to.clone(), conn.clone());
        Ok(conn)
    }

    fn cached(&self, to: &PeerAddress) -> Option<quinn::Connection> {
        let mut connections = self.lock();
        match connections.get(to) {
            Some(conn) if conn.close_reason().is_none() => Some(conn.clone()),
            Some(_) => {
                connections.remove(to);
                None
            }
            None => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerAddress, quinn::Connection>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn call_once(&self, to: &PeerAddress, request: &[u8]) -> Result<PeerResponse, PeerError> {
        let conn = self.connection(to).await?;
        let fail = |reason: String| PeerError::Transfer {
            peer: to.node_id.clone(),
            reason,
        };
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| fail(e.to_string()))?;
        send.write_all(request)
            .await
            .map_err(|e| fail(e.to_string()))?;
        send.finish().map_err(|e| fail(e.to_string()))?;
        let bytes = recv
            .read_to_end(MAX_FRAME_BYTES)
            .await
            .map_err(|e| fail(e.to_string()))?;
        protocol::decode(&bytes).map_err(|e| PeerError::Frame {
            peer: to.node_id.clone(),
            reason: e.to_string(),
        })
    }
}

impl super::PeerTransport for QuicPeers {
    fn call<'a>(
        &'a self,
        to: &'a PeerAddress,
        request: PeerRequest,
    ) -> BoxFuture<'a, Result<PeerResponse, PeerError>> {
        Box::pin(async move {
            let frame = protocol::encode(&request).map_err(|e| PeerError::Frame {
                peer: to.node_id.clone(),
                reason: e.to_string(),
            })?;
            let call = async {
                match self.call_once(to, &frame).await {
                    // A kept connection may have died since; one fresh try.
                    Err(PeerError::Transfer { .. }) => {
                        self.lock().remove(to);
                        self.call_once(to, &frame).await
                    }
                    other => other,
                }
            };
            tokio::time::timeout(self.timeout, call)
                .await
                .unwrap_or_else(|_| {
                    Err(PeerError::Timeout {
                        peer: to.node_id.clone(),
                        millis: self.timeout.as_millis() as u64,
                    })
                })
        })
    }
}

async fn serve_connection(incoming: quinn::Incoming, handler: HandlerSlot) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            metrics::counter!("edgeway_peer_handshake_failures_total").increment(1);
            tracing::warn!(%remote, error = %e, "peer connection refused in the handshake");
            return;
        }
    };
    let from = peer_name(&conn).unwrap_or_else(|| remote.to_string());
    while let Ok((send, recv)) = conn.accept_bi().await {
        tokio::spawn(serve_stream(send, recv, from.clone(), handler.clone()));
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    from: String,
    handler: HandlerSlot,
) {
    let response = match recv.read_to_end(MAX_FRAME_BYTES).await {
        Ok(bytes) => match protocol::decode::<PeerRequest>(&bytes) {
            Ok(request) => handler.handle(from.clone(), request).await,
            Err(e) => {
                metrics::counter!("edgeway_peer_bad_frames_total").increment(1);
                tracing::warn!(peer = %from, error = %e, "bad peer frame dropped");
                PeerResponse::Error(format!("bad frame: {e}"))
            }
        },
        Err(e) => {
            tracing::warn!(peer = %from, error = %e, "peer request not read");
            return;
        }
    };
    let bytes = protocol::encode(&response).unwrap_or_else(|e| {
        protocol::encode(&PeerResponse::Error(format!("answer not sent: {e}"))).unwrap_or_default()
    });
    if send.write_all(&bytes).await.is_ok() {
        let _ = send.finish();
    }
}

/// The node id in the caller's certificate (its first DNS name), which the CA vouches for.
fn peer_name(conn: &quinn::Connection) -> Option<String> {
    let identity = conn.peer_identity()?;
    let chain = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(chain.first()?).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
        _ => None,
    })
}
