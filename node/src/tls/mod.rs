//! Server TLS. Each connection's ClientHello is read first; its SNI name picks the settings from
//! the current snapshot: a custom domain with a truststore gets its own settings (a client
//! certificate chaining to the truststore is required), every other name the listener's shared
//! settings (the domain's own certificate by SNI, else the listener's default). rustls verifies
//! client certificates per `ServerConfig`, not per certificate, hence the choice before the
//! handshake rather than a certificate resolver alone.

pub mod client_cert;

pub use client_cert::ClientCert;

use crate::snapshot::Snapshot;
use arc_swap::{ArcSwap, ArcSwapOption};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{Acceptor, ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: {message}")]
    Pem { what: String, message: String },
}

fn pem_error(what: &str, message: impl ToString) -> TlsError {
    TlsError::Pem {
        what: what.to_string(),
        message: message.to_string(),
    }
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key, checked to belong together.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error("certificate", e))?;
    if chain.is_empty() {
        return Err(pem_error("certificate", "no PEM certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| pem_error("private key", e))?;
    let key = CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| pem_error("certificate and key", e))?;
    Ok(key)
}

/// A verifier that requires a client certificate chaining to the given PEM CA certificates.
pub fn client_verifier(truststore_pem: &[u8]) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(truststore_pem) {
        roots
            .add(cert.map_err(|e| pem_error("truststore", e))?)
            .map_err(|e| pem_error("truststore", e))?;
    }
    if roots.is_empty() {
        return Err(pem_error("truststore", "no PEM certificate found"));
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| pem_error("truststore", e))
}

pub fn certified_key_from_files(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| pem_error(&p.display().to_string(), e));
    certified_key(&read(cert)?, &read(key)?)
}

const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The public listener's default certificate (`public.tls`), shared by the TCP and QUIC
/// handshakes and by mTLS domains without a certificate of their own. A slot rather than a
/// value because a config reload (SIGHUP) swaps it: handshakes that start afterwards present
/// the new certificate, while established connections keep the session they negotiated.
#[derive(Default)]
pub struct DefaultCert(ArcSwapOption<CertifiedKey>);

impl DefaultCert {
    pub fn new(cert: Option<Arc<CertifiedKey>>) -> Arc<DefaultCert> {
        Arc::new(DefaultCert(ArcSwapOption::new(cert)))
    }

    pub fn get(&self) -> Option<Arc<CertifiedKey>> {
        self.0.load_full()
    }

    pub fn set(&self, cert: Option<Arc<CertifiedKey>>) {
        self.0.store(cert);
    }
}

impl std::fmt::Debug for DefaultCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DefaultCert")
            .field(&self.0.load().is_some())
            .finish()
    }
}

/// Settings for one mTLS domain: its own certificate, else the listener's default (neither: the
/// handshake fails for want of one), and a verifier that requires a client certificate from
/// `truststore_pem`. Built when the snapshot is, so connections only pick them.
pub fn mtls_config(
    truststore_pem: &[u8],
    own: Option<Arc<CertifiedKey>>,
    default: Arc<DefaultCert>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = client_verifier(truststore_pem)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| pem_error("TLS versions", e))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(OwnOrDefault { own, default }));
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// An mTLS domain's certificate; the default is looked up at each handshake so a reloaded one
/// reaches domains that have none of their own without recompiling the snapshot.
#[derive(Debug)]
struct OwnOrDefault {
    own: Option<Arc<CertifiedKey>>,
    default: Arc<DefaultCert>,
}

impl ResolvesServerCert for OwnOrDefault {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.own.clone().or_else(|| self.default.get())
    }
}

struct SniResolver {
    snapshot: Arc<ArcSwap<Snapshot>>,
    default: Arc<DefaultCert>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("default", &self.default)
            .finish()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|name| self.snapshot.load().certificate(&name.to_ascii_lowercase()))
            .or_else(|| self.default.get())
    }
}

/// The QUIC endpoint's settings: TLS 1.3 only (QUIC requires it), ALPN `h3`, the certificate
/// by SNI as on TCP, no client certificates, no 0-RTT (`max_early_data_size` stays 0).
pub fn quic_server_config(
    snapshot: Arc<ArcSwap<Snapshot>>,
    default: Arc<DefaultCert>,
) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("ring supports TLS 1.3")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { snapshot, default }));
    config.alpn_protocols = vec![b"h3".to_vec()];
    Arc::new(config)
}

/// The listener's shared settings (names without mTLS): HTTP/2 and HTTP/1.1 by ALPN, the
/// certificate by SNI from the current snapshot.
pub fn server_config(
    snapshot: Arc<ArcSwap<Snapshot>>,
    default: Arc<DefaultCert>,
) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { snapshot, default }));
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// TLS for a listener: picks each connection's settings by SNI, then shakes hands.
pub struct ServerTls {
    snapshot: Arc<ArcSwap<Snapshot>>,
    shared: Arc<ServerConfig>,
}

impl ServerTls {
    pub fn new(snapshot: Arc<ArcSwap<Snapshot>>, default: Arc<DefaultCert>) -> ServerTls {
        ServerTls {
            shared: server_config(snapshot.clone(), default),
            snapshot,
        }
    }

    /// Reads the ClientHello, completes the handshake with the settings its name calls for,
    /// and returns the client certificate an mTLS domain's truststore verified.
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<(TlsStream<TcpStream>, Option<Arc<ClientCert>>)> {
        let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await?;
        let name = start
            .client_hello()
            .server_name()
            .map(str::to_ascii_lowercase);
        let mtls = name
            .as_deref()
            .and_then(|n| self.snapshot.load().mtls(n).cloned());
        let Some(mtls) = mtls else {
            let stream = start.into_stream(self.shared.clone()).await?;
            return Ok((stream, None));
        };
        // A domain whose truststore cannot be used refuses everyone rather than no one.
        let config = mtls.config.clone().ok_or_else(|| {
            std::io::Error::other("the domain's truststore is unusable; connection refused")
        })?;
        let stream = start.into_stream(config).await?;
        let der = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or_else(|| std::io::Error::other("verified connection without a certificate"))?;
        let domain = name.unwrap_or_default();
        let cert =
            ClientCert::parse(der, domain, mtls.truststore).map_err(std::io::Error::other)?;
        Ok((stream, Some(Arc::new(cert))))
    }
}

/// A domain that requires client certificates, as the snapshot keeps it.
pub struct MtlsDomain {
    /// `None` when the truststore or certificate could not be used: connections are refused.
    pub config: Option<Arc<ServerConfig>>,
    /// SHA-256 of the truststore PEM. Requests count a connection as verified only under the
    /// truststore the domain has now, not one it had when the connection was made.
    pub truststore: [u8; 32],
}

impl MtlsDomain {
    pub fn compile(
        name: &str,
        truststore_pem: &str,
        own: Option<Arc<CertifiedKey>>,
        default: Arc<DefaultCert>,
    ) -> Self {
        use sha2::{Digest, Sha256};
        let config = mtls_config(truststore_pem.as_bytes(), own, default)
            .map_err(|e| tracing::warn!(domain = %name, error = %e, "mTLS domain refuses every connection"))
            .ok();
        MtlsDomain {
            config,
            truststore: Sha256::digest(truststore_pem.as_bytes()).into(),
        }
    }
}
