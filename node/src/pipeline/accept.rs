//! Phase 1, accept: TCP and TLS connections, HTTP/1.1 and HTTP/2 (h2c by prior knowledge or
//! ALPN), request size limits, header read timeout, graceful shutdown. HTTP/3 over QUIC is in
//! `quic`; both hand requests to the same [`Handler`].

mod h3_stream;
pub mod quic;

use super::ConnInfo;
use crate::body::{self, Body, RequestBody};
use crate::config::{Limits, LiveLimits};
use crate::error::GatewayError;
use crate::snapshot::Snapshot;
use crate::tls::{ClientCert, ServerTls};
use edgeway_shared::ResponseType;
use http::{Request, Response};
use http_body_util::Limited;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Something that answers requests: the gateway, or the admin API.
pub trait Handler: Send + Sync + 'static {
    fn handle<B: RequestBody>(
        &self,
        request: Request<B>,
        conn: ConnInfo,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// Resolves once what outlives its request (WebSocket sessions) has ended, or after
    /// `grace`: a worker keeps its runtime, and so those sessions, up until then after its
    /// listener has stopped.
    fn settled(&self, grace: Duration) -> impl Future<Output = ()> + Send {
        let _ = grace;
        std::future::ready(())
    }
}

/// Rejects a declared body over the limit at once, and caps a streamed one.
pub fn limit_body<B: RequestBody>(
    parts: &http::request::Parts,
    body: B,
    max: u64,
) -> Result<Body, GatewayError> {
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(GatewayError::client(
            ResponseType::RequestTooLarge,
            "Request Too Long",
        ));
    }
    Ok(body::stream(Limited::new(body, max as usize)))
}

/// The request's host, lower case, without port: `:authority` (HTTP/2) or `Host` (HTTP/1.1).
pub fn host(parts: &http::request::Parts) -> Option<String> {
    let authority = match parts.uri.host() {
        Some(host) => host,
        None => strip_port(parts.headers.get(http::header::HOST)?.to_str().ok()?),
    };
    Some(authority.to_ascii_lowercase())
}

/// The client certificate a request to `host` may use. A host that requires mTLS is served
/// only on a connection whose certificate its current truststore verified for that very name;
/// any other connection (another SNI name, cleartext, a truststore since replaced) gets 421
/// Misdirected Request, which tells clients to open a new connection for the host. Other hosts
/// see no certificate.
pub fn client_cert(
    snapshot: &Snapshot,
    host: &str,
    conn: &ConnInfo,
) -> Result<Option<Arc<ClientCert>>, GatewayError> {
    let Some(required) = snapshot.mtls(host) else {
        return Ok(None);
    };
    match &conn.client_cert {
        Some(cert) if cert.domain == host && cert.truststore == required.truststore => {
            Ok(Some(cert.clone()))
        }
        _ => Err(GatewayError::client(
            ResponseType::AccessDenied,
            "Misdirected Request: this host requires a client certificate; connect with its name (SNI)",
        )
        .with_status(421)),
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed.split_once(']').map_or(host, |(ip, _)| ip);
    }
    host.split_once(':').map_or(host, |(name, _)| name)
}

/// Serves connections until `shutdown` turns true, then lets in-flight requests finish for up to
/// `limits.shutdown_grace_ms`. Each connection takes the limits current when it is accepted
/// (a reload changes them for new connections; open ones keep theirs).
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    handler: Arc<H>,
    limits: LiveLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut current = limits.load_full();
    let mut builder = Arc::new(connection_builder(&current));
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let _ = tcp.set_nodelay(true);
        // Rebuilt only when a reload stored new limits: a pointer comparison per connection.
        if !Arc::ptr_eq(&limits.load(), &current) {
            current = limits.load_full();
            builder = Arc::new(connection_builder(&current));
        }
        let handshake_timeout = Duration::from_millis(current.header_read_timeout_ms);
        let service = move |handler: Arc<H>, conn: ConnInfo| {
            service_fn(move |request: Request<Incoming>| {
                let (handler, conn) = (handler.clone(), conn.clone());
                async move { Ok::<_, Infallible>(handler.handle(request, conn).await) }
            })
        };
        let handler = handler.clone();
        match &tls {
            None => {
                let conn = ConnInfo {
                    peer,
                    tls: false,
                    listener: Default::default(),
                    client_cert: None,
                };
                let service = service(handler, conn);
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                    .into_owned();
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(tls) => {
                let tls = tls.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(handshake_timeout, tls.accept(tcp)).await;
                    let (stream, client_cert) = match handshake {
                        Ok(Ok(accepted)) => accepted,
                        Ok(Err(e)) => {
                            return tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = ConnInfo {
                        peer,
                        tls: true,
                        listener: Default::default(),
                        client_cert,
                    };
                    let service = service(handler, conn);
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    let grace = Duration::from_millis(limits.load().shutdown_grace_ms);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    builder
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::{Domain, Object, Record};
    use sha2::{Digest, Sha256};

    fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    /// A snapshot where `m.test` requires client certificates from `truststore`.
    fn snapshot(truststore: &str) -> Snapshot {
        let object = Object::Domain(Domain {
            name: "m.test".into(),
            certificate_pem: None,
            private_key_pem: None,
            mappings: vec![],
            truststore_pem: Some(truststore.into()),
        });
        let record = Record {
            key: object.key(),
            version: Default::default(),
            object: Some(object),
        };
        Snapshot::compile(&[(record.key.clone(), record)].into(), &Arc::default())
    }

    fn conn(verified_for: Option<(&str, &str)>) -> ConnInfo {
        let client_cert = verified_for.map(|(domain, truststore)| {
            Arc::new(ClientCert {
                subject_dn: "CN=alice".into(),
                issuer_dn: "CN=ca".into(),
                serial_number: "01".into(),
                not_before: String::new(),
                not_after: String::new(),
                domain: domain.into(),
                truststore: Sha256::digest(truststore.as_bytes()).into(),
            })
        });
        ConnInfo {
            peer: ([127, 0, 0, 1], 1).into(),
            tls: true,
            listener: Default::default(),
            client_cert,
        }
    }

    #[test]
    fn mtls_hosts_take_only_certificates_verified_for_them_under_their_truststore() {
        let (ca, other) = (ca_pem(), ca_pem());
        let snapshot = snapshot(&ca);
        let cert = client_cert(&snapshot, "m.test", &conn(Some(("m.test", &ca)))).unwrap();
        assert_eq!(cert.unwrap().subject_dn, "CN=alice");
        for (what, conn) in [
            ("no certificate", conn(None)),
            ("verified for another name", conn(Some(("n.test", &ca)))),
            (
                "verified under another truststore",
                conn(Some(("m.test", &other))),
            ),
        ] {
            let error = client_cert(&snapshot, "m.test", &conn).expect_err(what);
            assert_eq!(
                (error.status(), error.kind),
                (421, ResponseType::AccessDenied)
            );
        }
        // Other hosts never see a certificate, verified or not.
        let other_host = client_cert(&snapshot, "x.test", &conn(Some(("m.test", &ca))));
        assert!(other_host.unwrap().is_none());
    }
}
