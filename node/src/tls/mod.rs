//! Server TLS: the listener's default certificate plus each custom domain's own, chosen by SNI
//! from the current snapshot (so a new domain certificate needs no restart).

use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

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

/// A verifier that accepts client certificates chaining to the given PEM CA certificates.
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

struct SniResolver {
    snapshot: Arc<ArcSwap<Snapshot>>,
    default: Option<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("default", &self.default.is_some())
            .finish()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|name| self.snapshot.load().certificate(&name.to_ascii_lowercase()))
            .or_else(|| self.default.clone())
    }
}

/// TLS settings for the public listener: HTTP/2 and HTTP/1.1 by ALPN.
pub fn server_config(
    snapshot: Arc<ArcSwap<Snapshot>>,
    default: Option<Arc<CertifiedKey>>,
) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { snapshot, default }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}
