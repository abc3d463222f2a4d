//! A running node: opens the data directory, applies bootstrap documents, binds the public and
//! admin listeners, and shuts down gracefully.

use crate::admin::Admin;
use crate::config::{ConfigError, NodeConfig};
use crate::control::{Control, ControlError};
use crate::pipeline::integrate::{Clients, client::ClientError};
use crate::pipeline::{Gateway, accept, authorize, throttle};
use crate::store::{DiskError, Store};
use crate::tls::{self, TlsError};
use edgeway_shared::ObjectKind;
use edgeway_shared::admin::ApiDocument;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] DiskError),
    #[error("public.tls: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Backends(#[from] ClientError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bootstrap document {path}: {message}")]
    Bootstrap { path: PathBuf, message: String },
    #[error("usage counters: {0}")]
    Usage(#[from] throttle::PersistError),
}

pub struct Node {
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
    control: Arc<Control>,
    shutdown: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    upkeep: JoinHandle<()>,
    limits: throttle::Embedded,
}

impl Node {
    /// Starts a node; returns once both listeners accept connections.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        config.validate()?;
        let token = config.admin_token()?;
        let metrics = crate::metrics::install();
        let upkeep = crate::metrics::spawn_upkeep(metrics.clone());
        let default_cert = match &config.public.tls {
            Some(files) => Some(Arc::new(tls::certified_key_from_files(
                &files.cert,
                &files.key,
            )?)),
            None => None,
        };
        let store = Store::open(&config.node.data_dir, &config.node.id)?;
        let control = Arc::new(Control::with_default_certificate(
            store,
            default_cert.clone(),
        ));
        for path in &config.node.bootstrap {
            bootstrap(&control, path).await?;
        }
        let limits = throttle::Embedded::start(&config.node.data_dir)?;
        let tls = config
            .public
            .tls
            .is_some()
            .then(|| Arc::new(tls::ServerTls::new(control.snapshot(), default_cert)));
        let workers = config
            .public
            .workers
            .unwrap_or_else(crate::workers::default_count);
        let clients = Clients::with_workers(&config.backends, workers)?;
        let gateway = Arc::new(Gateway {
            snapshot: control.snapshot(),
            authorizers: authorize::Registry::new(clients.clone(), &config.node.region),
            clients,
            max_body_bytes: config.limits.max_body_bytes,
            trusted_proxies: config
                .public
                .trusted_proxies
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            throttle: throttle::Throttle {
                limiter: limits.limiter.clone(),
                node: edgeway_shared::ThrottleSettings {
                    rate_limit: config.limits.node_rate,
                    burst_limit: config.limits.node_burst,
                },
            },
        });
        let ready = Arc::new(AtomicBool::new(false));
        let admin = Arc::new(Admin {
            control: control.clone(),
            token,
            open_probes: config.admin.open_probes,
            metrics,
            node_id: config.node.id.clone(),
            ready: ready.clone(),
            limiter: limits.limiter.clone(),
        });
        let (shutdown, stop) = watch::channel(false);
        let listen = config.public.listen;
        let (public_addr, public) = crate::workers::start(
            listen,
            workers,
            gateway,
            tls,
            config.limits.clone(),
            stop.clone(),
        )
        .map_err(|source| StartError::Bind {
            what: "public",
            addr: listen,
            source,
        })?;
        let admin_listener = bind("admin", config.admin.listen).await?;
        let admin_addr = local(&admin_listener)?;
        let listeners = vec![
            tokio::spawn(public.join()),
            tokio::spawn(accept::serve(
                admin_listener,
                None,
                admin,
                config.limits.clone(),
                stop,
            )),
        ];
        ready.store(true, Ordering::Release);
        tracing::info!(node = %config.node.id, %public_addr, %admin_addr, "edgeway node ready");
        Ok(Node {
            public_addr,
            admin_addr,
            control,
            shutdown,
            listeners,
            upkeep,
            limits,
        })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
        self.upkeep.abort();
        self.limits.stop().await;
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

fn local(listener: &TcpListener) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        what: "local address",
        addr: ([0, 0, 0, 0], 0).into(),
        source,
    })
}

/// Applies a document unless its API already exists (operators' later changes win).
async fn bootstrap(control: &Control, path: &std::path::Path) -> Result<(), StartError> {
    let fail = |message: String| StartError::Bootstrap {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let doc: ApiDocument = serde_json::from_slice(&text).map_err(|e| fail(e.to_string()))?;
    if control.get(ObjectKind::Api, &doc.api.id).is_ok() {
        return Ok(());
    }
    control
        .apply_document(doc)
        .await
        .map_err(|e: ControlError| fail(e.to_string()))
}

/// Runs a node until SIGINT or SIGTERM, then shuts it down gracefully.
pub async fn run(config: NodeConfig) -> Result<(), StartError> {
    let node = Node::start(config).await?;
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    node.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
