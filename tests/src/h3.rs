//! An HTTP/3 client over quinn for tests: one QUIC connection (TLS 1.3, ALPN `h3`, the test CA
//! trusted), many requests on it, each answer read whole.

use crate::client::Reply;
use bytes::{Buf, Bytes, BytesMut};
use h3::client::RequestStream;
use h3_quinn::BidiStream;
use http::{Method, Request, Version};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::RootCertStore;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

pub struct H3Conn {
    endpoint: quinn::Endpoint,
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    driver: JoinHandle<()>,
}

impl H3Conn {
    /// Connects to `addr` (UDP) presenting `server_name` (SNI), trusting `roots`.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        roots: RootCertStore,
    ) -> Result<H3Conn, Box<dyn std::error::Error + Send + Sync>> {
        let mut tls = rustls::ClientConfig::builder_with_provider(crate::certs::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h3".to_vec()];
        let crypto = QuicClientConfig::try_from(tls)?;
        let mut endpoint = quinn::Endpoint::client(([127, 0, 0, 1], 0).into())?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let connection = endpoint.connect(addr, server_name)?.await?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(connection)).await?;
        let driver = tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Ok(H3Conn {
            endpoint,
            send,
            driver,
        })
    }

    /// Opens a request stream and sends `request`'s head; the caller sends the body.
    pub async fn start(
        &mut self,
        request: Request<()>,
    ) -> Result<RequestStream<BidiStream<Bytes>, Bytes>, h3::error::StreamError> {
        self.send.send_request(request).await
    }

    /// Sends `request` with `body` (sent in `chunks` pieces) and reads the whole answer.
    pub async fn fetch(
        &mut self,
        request: Request<()>,
        body: Bytes,
        chunks: usize,
    ) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        let mut stream = self.send.send_request(request).await?;
        let size = body.len().div_ceil(chunks.max(1)).max(1);
        let mut rest = body;
        let mut sent = Ok(());
        while !rest.is_empty() && sent.is_ok() {
            let piece = rest.split_to(size.min(rest.len()));
            sent = stream.send_data(piece).await;
        }
        // A server may answer before the whole request arrived and stop the request's sending
        // side (RFC 9114 §4.1.2): the complete answer still counts, so only the answer decides.
        if sent.is_ok() {
            let _ = stream.finish().await;
        }
        let response = stream.recv_response().await?;
        let mut body = BytesMut::new();
        while let Some(mut chunk) = stream.recv_data().await? {
            body.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
        }
        let (parts, ()) = response.into_parts();
        Ok(Reply {
            status: parts.status,
            version: Version::HTTP_3,
            headers: parts.headers,
            body: body.freeze(),
        })
    }

    /// `GET https://{host}{path}` without a body.
    pub async fn get(&mut self, host: &str, path: &str) -> Reply {
        self.fetch(h3_request(Method::GET, host, path), Bytes::new(), 1)
            .await
            .expect("HTTP/3 request")
    }
}

impl Drop for H3Conn {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"done");
        self.driver.abort();
    }
}

/// A request for `https://{host}{path}` (`:authority` = host).
pub fn h3_request(method: Method, host: &str, path: &str) -> Request<()> {
    Request::builder()
        .method(method)
        .uri(format!("https://{host}{path}"))
        .body(())
        .expect("valid request")
}
