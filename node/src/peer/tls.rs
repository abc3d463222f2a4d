//! Mutual TLS for the peer channel: every node holds a certificate signed by the cluster CA
//! whose DNS name is its node id. Servers require a client certificate from the same CA;
//! clients check the server's chain and that it names the node they meant to reach, so a node
//! that is not in the cluster cannot answer or ask anything, whatever gossip claims.

use crate::tls::{TlsError, certified_key, client_verifier, provider};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// ALPN of the peer protocol; a client speaking anything else is refused in the handshake.
pub const PEER_ALPN: &[u8] = b"edgeway-peer/1";

/// This node's credentials on the peer channel.
#[derive(Clone)]
pub struct PeerIdentity {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

fn tls_error(what: &str, message: impl ToString) -> TlsError {
    TlsError::Pem {
        what: what.to_string(),
        message: message.to_string(),
    }
}

impl PeerIdentity {
    pub fn from_pem(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        // Parse everything now so a bad file stops the start, not the first sync.
        client_verifier(ca_pem)?;
        certified_key(cert_pem, key_pem)?;
        Ok(PeerIdentity {
            ca_pem: ca_pem.to_vec(),
            cert_pem: cert_pem.to_vec(),
            key_pem: key_pem.to_vec(),
        })
    }

    pub fn from_files(ca: &Path, cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| tls_error(&p.display().to_string(), e));
        PeerIdentity::from_pem(&read(ca)?, &read(cert)?, &read(key)?)
    }

    fn chain_and_key(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let chain = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_error("peer certificate", e))?;
        let key =
            PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|e| tls_error("peer key", e))?;
        Ok((chain, key))
    }

    pub fn server_config(&self, idle: Duration) -> Result<quinn::ServerConfig, TlsError> {
        let (chain, key) = self.chain_and_key()?;
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_error("peer TLS", e))?
            .with_client_cert_verifier(client_verifier(&self.ca_pem)?)
            .with_single_cert(chain, key)
            .map_err(|e| tls_error("peer certificate", e))?;
        tls.alpn_protocols = vec![PEER_ALPN.to_vec()];
        let crypto = QuicServerConfig::try_from(tls).map_err(|e| tls_error("peer QUIC", e))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(transport(idle));
        Ok(config)
    }

    pub fn client_config(&self, idle: Duration) -> Result<quinn::ClientConfig, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.ca_pem) {
            let cert = cert.map_err(|e| tls_error("cluster CA", e))?;
            roots.add(cert).map_err(|e| tls_error("cluster CA", e))?;
        }
        let (chain, key) = self.chain_and_key()?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_error("peer TLS", e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_error("peer certificate", e))?;
        tls.alpn_protocols = vec![PEER_ALPN.to_vec()];
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| tls_error("peer QUIC", e))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(transport(idle));
        Ok(config)
    }
}

fn transport(idle: Duration) -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(quinn::IdleTimeout::try_from(idle).ok())
        .keep_alive_interval(Some(idle / 3))
        .max_concurrent_bidi_streams(256u32.into())
        .max_concurrent_uni_streams(0u32.into());
    Arc::new(transport)
}
