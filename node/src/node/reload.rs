//! Config reload (SIGHUP, or [`crate::Node::reload`]): the new file is validated as at start,
//! everything it needs is read or opened, and only then are the live parts swapped in: the
//! default certificate for new TLS handshakes (TCP and QUIC share it), `[limits]` for new
//! connections and requests, the access log's destination. A failure at any step changes
//! nothing, so the node keeps serving on the config it had. Open connections are never
//! touched: they keep their TLS session and the limits they were accepted with, and their next
//! request reads the new body size and node throttle like any other.

use crate::access_log::{AccessLog, Destination};
use crate::config::{ConfigError, LiveLimits, NodeConfig};
use crate::tls::{self, DefaultCert, TlsError};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// Unreadable, unparsable, or a field that fails validation (the message names it).
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("public.tls: {0}")]
    Tls(#[from] TlsError),
    #[error("access_log.destination: {0}")]
    AccessLog(std::io::Error),
}

/// What a successful reload did not apply.
#[derive(Debug, Default)]
pub struct Reloaded {
    /// Changed fields that take effect only after a restart, dotted (`public.listen`).
    pub restart_needed: Vec<String>,
}

/// The live parts of a running node and the config they came from.
pub struct Reloader {
    /// The config in effect. Held across a whole reload: two at once would each compare with
    /// a config the other is replacing.
    running: Mutex<NodeConfig>,
    limits: LiveLimits,
    certificate: Arc<DefaultCert>,
    access_log: AccessLog,
}

const METRIC: &str = "edgeway_config_reloads_total";

impl Reloader {
    pub fn new(
        running: NodeConfig,
        limits: LiveLimits,
        certificate: Arc<DefaultCert>,
        access_log: AccessLog,
    ) -> Reloader {
        // Both series exist from the start, so `increase(...[5m])` sees the first reload.
        for result in ["ok", "error"] {
            metrics::counter!(METRIC, "result" => result).increment(0);
        }
        Reloader {
            running: Mutex::new(running),
            limits,
            certificate,
            access_log,
        }
    }

    /// Reads `path` and applies it; see [`Reloader::apply`].
    pub async fn reload_file(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        match NodeConfig::load(path) {
            Ok(config) => self.apply(config).await,
            Err(e) => Err(self.failed(e.into())),
        }
    }

    /// Validates `config`, reads its certificate, opens its access log, then swaps them in.
    /// Counted in `edgeway_config_reloads_total{result}` and logged either way: an error names
    /// the field and says the old config stays; a changed field that needs a restart gets a
    /// warning of its own.
    pub async fn apply(&self, config: NodeConfig) -> Result<Reloaded, ReloadError> {
        let mut running = self.running.lock().await;
        let prepared = match prepare(&config) {
            Ok(prepared) => prepared,
            Err(e) => return Err(self.failed(e)),
        };
        let plan = running.plan_reload(&config);
        for field in &plan.restart_needed {
            tracing::warn!(%field, "config reload: changed, but takes effect only after a restart");
        }
        // Nothing below can fail: the node is never left half reloaded.
        // Only a listener that speaks TLS now takes a certificate; turning TLS on waits.
        if let (Some(cert), Some(_)) = (prepared.certificate, &plan.next.public.tls) {
            self.certificate.set(Some(Arc::new(cert)));
        }
        self.limits.store(Arc::new(plan.next.limits.clone()));
        self.access_log.switch(prepared.access_log).await;
        *running = plan.next;
        metrics::counter!(METRIC, "result" => "ok").increment(1);
        tracing::info!(
            restart_needed = plan.restart_needed.len(),
            "config reloaded: certificate, limits and access log as in the file"
        );
        Ok(Reloaded {
            restart_needed: plan.restart_needed,
        })
    }

    /// Reopens the access log where it is (log rotation without a config change).
    pub async fn reopen_logs(&self) {
        self.access_log.reopen().await;
    }

    fn failed(&self, error: ReloadError) -> ReloadError {
        metrics::counter!(METRIC, "result" => "error").increment(1);
        tracing::error!(%error, "config reload failed; still running on the previous config");
        error
    }
}

/// What a new config needs from the outside world, got before anything is swapped.
struct Prepared {
    /// `None` without `public.tls`; with it, the files as they are now.
    certificate: Option<rustls::sign::CertifiedKey>,
    /// Opened now (so an unwritable path fails the reload) and also when unchanged: reopening
    /// is what log rotation wants from SIGHUP.
    access_log: Destination,
}

fn prepare(config: &NodeConfig) -> Result<Prepared, ReloadError> {
    // The same checks as at start, before anything is read.
    config.validate()?;
    let certificate = match &config.public.tls {
        Some(files) => Some(tls::certified_key_from_files(&files.cert, &files.key)?),
        None => None,
    };
    let access_log =
        Destination::open(&config.access_log.destination).map_err(ReloadError::AccessLog)?;
    Ok(Prepared {
        certificate,
        access_log,
    })
}
