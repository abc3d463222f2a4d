//! Pooled HTTP clients for backends: HTTP/1.1 and HTTP/2, cleartext and rustls TLS (plain-http
//! HTTP/1.1 goes through the lean [`H1Pool`], the rest through hyper-util's client).

use super::h1_pool::{self, H1Pool};
use crate::body::Body;
use crate::config::Backends;
use edgeway_shared::BackendProtocol;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use std::sync::Arc;
use std::time::Duration;

pub type BackendClient = Client<HttpsConnector<HttpConnector>, Body>;

#[derive(Debug, thiserror::Error)]
#[error("backends.ca_file {path}: {message}")]
pub struct ClientError {
    path: String,
    message: String,
}

/// Backend clients: one per backend protocol, each with its own connection pool, and one such
/// pair per public worker thread (plus one for everything else). A worker's backend
/// connections then live on its own thread, so a proxied request never wakes another thread.
#[derive(Clone)]
pub struct Clients {
    pools: Arc<[Pools]>,
}

struct Pools {
    auto: BackendClient,
    http2: BackendClient,
    /// Plain-http HTTP/1.1 backends (`auto` on an `http://` URI): the lean pool.
    http1: H1Pool,
}

impl Clients {
    /// One pool pair, for use outside public workers (tests, tools).
    pub fn new(config: &Backends) -> Result<Clients, ClientError> {
        Self::with_workers(config, 0)
    }

    /// A pool pair for each of `workers` public worker threads, plus a shared one.
    pub fn with_workers(config: &Backends, workers: usize) -> Result<Clients, ClientError> {
        let tls = tls_config(config)?;
        let pools = (0..=workers).map(|_| Pools::new(config, &tls)).collect();
        Ok(Clients { pools })
    }

    /// The client for a protocol, from the calling worker thread's own pools.
    pub fn get(&self, protocol: BackendProtocol) -> &BackendClient {
        let pools = self.pools_here();
        match protocol {
            BackendProtocol::Auto => &pools.auto,
            BackendProtocol::Http2 => &pools.http2,
        }
    }

    /// The calling worker thread's pool for plain-http HTTP/1.1 backends.
    pub fn http1(&self) -> &H1Pool {
        &self.pools_here().http1
    }

    fn pools_here(&self) -> &Pools {
        let index = crate::workers::current().map_or(0, |w| w + 1);
        self.pools.get(index).unwrap_or(&self.pools[0])
    }
}

impl Pools {
    fn new(config: &Backends, tls: &rustls::ClientConfig) -> Pools {
        Pools {
            auto: build(
                config,
                HttpsConnectorBuilder::new()
                    .with_tls_config(tls.clone())
                    .https_or_http()
                    .enable_all_versions()
                    .wrap_connector(connector()),
                false,
            ),
            http2: build(
                config,
                HttpsConnectorBuilder::new()
                    .with_tls_config(tls.clone())
                    .https_or_http()
                    .enable_http2()
                    .wrap_connector(connector()),
                true,
            ),
            http1: H1Pool::new(config.pool_max_idle_per_host, h1_pool::IDLE_TIMEOUT),
        }
    }
}

fn build(
    config: &Backends,
    connector: HttpsConnector<HttpConnector>,
    http2_only: bool,
) -> BackendClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        // Without a pool timer no idle reaper runs (see crates.md).
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .http2_only(http2_only)
        .build(connector)
}

fn tls_config(config: &Backends) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &config.ca_file {
        let fail = |message: String| ClientError {
            path: path.display().to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| fail(e.to_string()))?;
        if certs.is_empty() {
            return Err(fail("holds no PEM certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| fail(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http
}
