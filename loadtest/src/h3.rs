//! HTTP/3 to one target: QUIC connections (quinn, TLS 1.3, ALPN `h3`), each shared by
//! concurrent request streams, used in turn.

use crate::client::{Answer, Failure};
use bytes::{Buf, Bytes};
use h3::client::SendRequest;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Mutex;
use tokio::time::Instant;

type Sender = SendRequest<h3_quinn::OpenStreams, Bytes>;

pub struct H3 {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    server_name: String,
    slots: Vec<Mutex<Option<Sender>>>,
    next: AtomicUsize,
}

impl H3 {
    /// `tls` must offer ALPN `h3` and allow TLS 1.3.
    pub fn new(
        addr: SocketAddr,
        server_name: &str,
        tls: rustls::ClientConfig,
        connections: usize,
    ) -> anyhow::Result<H3> {
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(tls))?;
        let local: SocketAddr = match addr {
            SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            SocketAddr::V6(_) => ([0u16; 8], 0).into(),
        };
        let mut endpoint = quinn::Endpoint::client(local)?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
        Ok(H3 {
            endpoint,
            addr,
            server_name: server_name.to_string(),
            slots: (0..connections).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        })
    }

    pub async fn send(&self, request: http::Request<()>, body: Bytes) -> Result<Answer, Failure> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let mut sender = {
            let mut slot = slot.lock().await;
            match &*slot {
                Some(sender) => sender.clone(),
                None => {
                    let fresh = self.connect().await?;
                    *slot = Some(fresh.clone());
                    fresh
                }
            }
        };
        let sent_at = Instant::now();
        let mut stream = match sender.send_request(request).await {
            Ok(stream) => stream,
            Err(_) => {
                // The connection is gone: the next request on this slot opens a new one.
                *slot.lock().await = None;
                return Err(Failure::Io);
            }
        };
        // A server may answer before the whole request arrived and stop the request's sending
        // side (RFC 9114 §4.1.2); then sending fails but the complete answer still counts, so
        // only the answer decides.
        let sent = match body.is_empty() {
            true => Ok(()),
            false => stream.send_data(body).await,
        };
        if sent.is_ok() {
            let _ = stream.finish().await;
        }
        let response = stream.recv_response().await.map_err(|_| Failure::Io)?;
        let mut bytes = 0;
        while let Some(chunk) = stream.recv_data().await.map_err(|_| Failure::Io)? {
            bytes += chunk.remaining();
        }
        Ok(Answer {
            status: response.status().as_u16(),
            bytes,
            sent_at,
        })
    }

    async fn connect(&self) -> Result<Sender, Failure> {
        let connecting = self
            .endpoint
            .connect(self.addr, &self.server_name)
            .map_err(|_| Failure::Connect)?;
        let conn = connecting.await.map_err(|e| match e {
            quinn::ConnectionError::TimedOut => Failure::Connect,
            _ => Failure::Tls,
        })?;
        let (mut driver, sender) = h3::client::new(h3_quinn::Connection::new(conn))
            .await
            .map_err(|_| Failure::Io)?;
        // The driver runs the connection until it closes; requests fail then and reconnect.
        tokio::spawn(async move {
            let _ = driver.wait_idle().await;
        });
        Ok(sender)
    }
}
