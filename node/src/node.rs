//! A running node: opens the data directory, applies bootstrap documents, binds the public and
//! admin listeners, and shuts down gracefully.

mod drain;
mod join;
mod reload;
mod signals;

pub use drain::Drain;
pub use join::Networks;
pub use reload::{ReloadError, Reloaded};
pub use signals::run;

use crate::access_log::AccessLog;
use crate::admin::Admin;
use crate::cluster::Cluster;
use crate::config::{ConfigError, LiveLimits, NodeConfig};
use crate::control::{Control, ControlError};
use crate::pipeline::endpoint::internal::LoopbackForwarder;
use crate::pipeline::endpoint::{Listener, OnListener};
use crate::pipeline::integrate::{Clients, client::ClientError};
use crate::pipeline::{Gateway, accept, authorize, throttle};
use crate::store::{DiskError, Store};
use crate::tls::{self, TlsError};
use crate::workers::BindError;
use edgeway_shared::ObjectKind;
use edgeway_shared::admin::ApiDocument;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    #[error("public.http3: {0}")]
    Quic(#[from] accept::quic::QuicError),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("access_log.destination: {0}")]
    AccessLog(std::io::Error),
    #[error("{0}")]
    Tracing(#[from] crate::otlp::ExportError),
    #[error("limits.redis: {0}")]
    Redis(#[from] throttle::CallError),
}

pub struct Node {
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
    private_addr: Option<SocketAddr>,
    control: Arc<Control>,
    shutdown: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    upkeep: JoinHandle<()>,
    limits: throttle::Embedded,
    cluster: Option<Arc<Cluster>>,
    drain: Arc<Drain>,
    reloader: reload::Reloader,
    /// The OTLP span exporter, when `[tracing] otlp_endpoint` is set.
    spans: Option<crate::otlp::Exporter>,
}

impl Node {
    /// Starts a node; returns once both listeners accept connections.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        Node::start_with(config, Networks::default()).await
    }

    /// Starts a node whose cluster traffic goes over the given networks.
    pub async fn start_with(config: NodeConfig, networks: Networks) -> Result<Node, StartError> {
        config.validate()?;
        let token = config.admin_token()?;
        let metrics = crate::metrics::install();
        let upkeep = crate::metrics::spawn_upkeep(metrics.clone());
        // One slot for the TCP and QUIC handshakes and mTLS domains, so a reload swaps it once.
        let default_cert = tls::DefaultCert::new(match &config.public.tls {
            Some(files) => Some(Arc::new(tls::certified_key_from_files(
                &files.cert,
                &files.key,
            )?)),
            None => None,
        });
        let store = Store::open(&config.node.data_dir, &config.node.id)?;
        let control = Arc::new(Control::with_default_certificate(
            store,
            default_cert.clone(),
        ));
        let live_limits = crate::config::live_limits(&config.limits);
        for path in &config.node.bootstrap {
            bootstrap(&control, path).await?;
        }
        let limits = throttle::Embedded::start(&config.node.data_dir)?;
        // Live members (this node included), as gossip sees them: the Redis limiter's share.
        let members = watch::Sender::new(1usize);
        let limiter = limiter(&config, &limits, members.subscribe()).await?;
        let tls = config.public.tls.is_some().then(|| {
            Arc::new(tls::ServerTls::new(
                control.snapshot(),
                default_cert.clone(),
            ))
        });
        let workers = config
            .public
            .workers
            .unwrap_or_else(crate::workers::default_count);
        let clients = Clients::with_workers(&config.backends, workers)?;
        let cluster_slot = Arc::new(std::sync::OnceLock::new());
        let caches = crate::pipeline::cache::Caches::default();
        let access_log = AccessLog::start(&config.access_log).map_err(StartError::AccessLog)?;
        let (spans, exporter) =
            crate::otlp::Spans::start(&config.tracing, &config.node.id, &config.backends)?;
        let gateway = Arc::new(Gateway {
            snapshot: control.snapshot(),
            authorizers: authorize::Registry::new(clients.clone(), &config.node.region),
            caches: caches.clone(),
            clients,
            limits: live_limits.clone(),
            trusted_proxies: config
                .public
                .trusted_proxies
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            throttle: throttle::Throttle {
                limiter: limiter.clone(),
                limits: live_limits.clone(),
            },
            region: config.node.region.clone(),
            cluster: cluster_slot.clone(),
            forward_secret: crate::pipeline::endpoint::internal::new_secret(),
            access_log: access_log.clone(),
            spans,
            alt_svc: Default::default(),
            websockets: crate::pipeline::websocket::Sessions::new(&config.node.id),
        });
        let ready = Arc::new(AtomicBool::new(false));
        let drain = Arc::new(Drain::new(
            cluster_slot.clone(),
            gateway.websockets.clone(),
            live_limits.clone(),
        ));
        let admin = Arc::new(Admin {
            control: control.clone(),
            token,
            open_probes: config.admin.open_probes,
            metrics,
            node_id: config.node.id.clone(),
            ready: ready.clone(),
            limiter,
            cluster: cluster_slot.clone(),
            drain: drain.clone(),
            caches,
            websockets: gateway.websockets.clone(),
        });
        let (shutdown, stop) = watch::channel(false);
        let traffic_stop = drain.traffic_stop();
        let listen = config.public.listen;
        let quic = match config.public.http3.enabled {
            true => {
                let quic_tls = tls::quic_server_config(control.snapshot(), default_cert.clone());
                Some(accept::quic::QuicConfig::new(
                    quic_tls,
                    &config.public.http3,
                )?)
            }
            false => None,
        };
        let (public_addr, public) = crate::workers::start(
            listen,
            workers,
            gateway.clone(),
            tls.clone(),
            quic,
            live_limits.clone(),
            traffic_stop.clone(),
        )
        .map_err(|e| match e {
            BindError::Tcp { addr, source } => StartError::Bind {
                what: "public",
                addr,
                source,
            },
            BindError::Udp { addr, source } => {
                accept::quic::QuicError::Bind { addr, source }.into()
            }
        })?;
        drain.add(tokio::spawn(public.join())).await;
        let h3 = &config.public.http3;
        if h3.enabled && h3.advertise {
            let alt_svc = format!(
                "h3=\":{}\"; ma={}",
                public_addr.port(),
                h3.alt_svc_max_age_seconds
            );
            let _ = gateway
                .alt_svc
                .set(alt_svc.parse().expect("digits and quotes"));
        }
        let on = Listeners {
            limits: &live_limits,
            stop: &traffic_stop,
        };
        let admin_on = Listeners {
            limits: &live_limits,
            stop: &stop,
        };
        let (admin_addr, served) = admin_on
            .serve("admin", config.admin.listen, None, admin)
            .await?;
        let mut listeners = vec![served];
        let private_addr = match config.private.listen {
            Some(addr) => {
                let private = on.gateway(&gateway, Listener::Private);
                let (addr, served) = on.serve("private", addr, tls, private).await?;
                drain.add(served).await;
                Some(addr)
            }
            None => None,
        };
        let cluster = match &config.cluster {
            Some(settings) => {
                // Requests other regions forward come in here, through the whole pipeline.
                let internal = on.gateway(&gateway, Listener::Internal);
                let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
                let (internal_addr, served) =
                    on.serve("internal", loopback, None, internal).await?;
                drain.add(served).await;
                let forwarder =
                    LoopbackForwarder::new(internal_addr, gateway.forward_secret.clone());
                let addrs = (public_addr, admin_addr);
                let seams = join::Seams {
                    networks: &networks,
                    forwarder: Arc::new(forwarder),
                    caches: gateway.caches.clone(),
                    websockets: gateway.websockets.clone(),
                    members,
                    stop: &stop,
                };
                let (cluster, server) =
                    join::join(&config, settings, &control, addrs, seams).await?;
                listeners.extend(server);
                let _ = cluster_slot.set(cluster.clone());
                Some(cluster)
            }
            None => None,
        };
        let reloader = reload::Reloader::new(config.clone(), live_limits, default_cert, access_log);
        ready.store(true, Ordering::Release);
        tracing::info!(node = %config.node.id, %public_addr, %admin_addr, "edgeway node ready");
        Ok(Node {
            public_addr,
            admin_addr,
            private_addr,
            control,
            shutdown,
            listeners,
            upkeep,
            limits,
            cluster,
            drain,
            reloader,
            spans: exporter,
        })
    }

    /// Reopens the access log file (after rotation; SIGHUP does this).
    pub async fn reopen_logs(&self) {
        self.reloader.reopen_logs().await;
    }

    /// Applies what can change live from `config` (validated as at start): the default
    /// certificate, `[limits]` but Redis, the access log destination. On error nothing
    /// changes. Fields that need a restart are returned (and logged), not applied.
    pub async fn reload(&self, config: NodeConfig) -> Result<Reloaded, ReloadError> {
        self.reloader.apply(config).await
    }

    /// [`Node::reload`] from a file, as SIGHUP does.
    pub async fn reload_file(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        self.reloader.reload_file(path).await
    }

    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The private listener's address, when `private.listen` is set.
    pub fn private_addr(&self) -> Option<SocketAddr> {
        self.private_addr
    }

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), then returns.
    pub async fn shutdown(self) {
        self.drain.run().await;
        let _ = self.shutdown.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
        self.upkeep.abort();
        self.limits.stop().await;
        if let Some(spans) = self.spans {
            spans.stop().await;
        }
    }
}

/// The embedded limiter, or the cluster-wide one when `limits.redis` is set (which keeps the
/// node-wide limit and daily usage in the embedded one).
async fn limiter(
    config: &NodeConfig,
    limits: &throttle::Embedded,
    live_nodes: watch::Receiver<usize>,
) -> Result<Arc<dyn throttle::Limiter>, StartError> {
    let Some(redis) = &config.limits.redis else {
        return Ok(limits.limiter.clone());
    };
    let limiter = throttle::RedisLimiter::start(redis.clone(), limits.limiter.clone(), live_nodes);
    Ok(Arc::new(limiter.await?))
}

/// Where a node's extra listeners get their limits and stop signal.
struct Listeners<'a> {
    limits: &'a LiveLimits,
    stop: &'a watch::Receiver<bool>,
}

impl Listeners<'_> {
    /// Binds `addr` and serves it with `handler` until the node stops.
    async fn serve<H: accept::Handler>(
        &self,
        what: &'static str,
        addr: SocketAddr,
        tls: Option<Arc<tls::ServerTls>>,
        handler: Arc<H>,
    ) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
        let bind = |source| StartError::Bind { what, addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind)?;
        let bound = listener.local_addr().map_err(bind)?;
        let limits = self.limits.clone();
        let served = tokio::spawn(accept::serve(
            listener,
            tls,
            handler,
            limits,
            self.stop.clone(),
        ));
        Ok((bound, served))
    }

    fn gateway(&self, gateway: &Arc<Gateway>, listener: Listener) -> Arc<OnListener<Gateway>> {
        Arc::new(OnListener {
            listener,
            inner: gateway.clone(),
        })
    }
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
