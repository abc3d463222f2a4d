//! A running node: opens the data directory, applies bootstrap documents, binds the public and
//! admin listeners, and shuts down gracefully.

use crate::admin::Admin;
use crate::cluster::{Cluster, Join, SelfInfo};
use crate::config::{ClusterSection, ConfigError, NodeConfig};
use crate::control::{Control, ControlError};
use crate::peer::memory::MemoryNetwork;
use crate::peer::quic::QuicPeers;
use crate::peer::tls::PeerIdentity;
use crate::peer::{HandlerSlot, PeerTransport};
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
use std::time::Duration;
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
    #[error("cluster: {0}")]
    Cluster(String),
}

/// The networks a node's cluster traffic goes over: UDP gossip and QUIC peers unless a test
/// puts them in memory (where links can be cut and delayed).
#[derive(Default, Clone)]
pub struct Networks {
    pub gossip: Option<chitchat::transport::ChannelTransport>,
    pub peers: Option<MemoryNetwork>,
}

pub struct Node {
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
    control: Arc<Control>,
    shutdown: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    upkeep: JoinHandle<()>,
    limits: throttle::Embedded,
    cluster: Option<Arc<Cluster>>,
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
        let cluster_slot = Arc::new(std::sync::OnceLock::new());
        let admin = Arc::new(Admin {
            control: control.clone(),
            token,
            open_probes: config.admin.open_probes,
            metrics,
            node_id: config.node.id.clone(),
            ready: ready.clone(),
            limiter: limits.limiter.clone(),
            cluster: cluster_slot.clone(),
        });
        let (shutdown, stop) = watch::channel(false);
        let stop_cluster = stop.clone();
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
        let mut listeners = vec![
            tokio::spawn(public.join()),
            tokio::spawn(accept::serve(
                admin_listener,
                None,
                admin,
                config.limits.clone(),
                stop,
            )),
        ];
        let cluster = match &config.cluster {
            Some(settings) => {
                let addrs = (public_addr, admin_addr);
                let joined =
                    join(&config, settings, &control, addrs, &networks, &stop_cluster).await?;
                listeners.extend(joined.1);
                let _ = cluster_slot.set(joined.0.clone());
                Some(joined.0)
            }
            None => None,
        };
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
            cluster,
        })
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

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Some(cluster) = &self.cluster {
            cluster.leave();
        }
        for listener in self.listeners {
            let _ = listener.await;
        }
        self.upkeep.abort();
        self.limits.stop().await;
    }
}

/// Joins the cluster: opens the peer channel (QUIC with the cluster's certificates, or the
/// test's memory network), then starts gossip and replication.
async fn join(
    config: &NodeConfig,
    settings: &ClusterSection,
    control: &Arc<Control>,
    (public, admin): (SocketAddr, SocketAddr),
    networks: &Networks,
    stop: &watch::Receiver<bool>,
) -> Result<(Arc<Cluster>, Option<JoinHandle<()>>), StartError> {
    let fail = |e: &dyn std::fmt::Display| StartError::Cluster(e.to_string());
    let node_id = &config.node.id;
    let (peers, handler, peer_addr, server): (Arc<dyn PeerTransport>, HandlerSlot, String, _) =
        match &networks.peers {
            Some(network) => {
                let addr = format!("memory/{node_id}");
                let (peers, handler) = network.join(node_id, &addr);
                (Arc::new(peers), handler, addr, None)
            }
            None => {
                let identity =
                    PeerIdentity::from_files(&settings.ca, &settings.cert, &settings.key)
                        .map_err(|e| fail(&e))?;
                let timeout = Duration::from_millis(settings.peer_timeout_ms);
                let quic =
                    QuicPeers::bind(settings.peer, &identity, timeout).map_err(|source| {
                        StartError::Bind {
                            what: "cluster.peer",
                            addr: settings.peer,
                            source,
                        }
                    })?;
                let addr = settings.peer_advertise(quic.local_addr().map_err(|e| fail(&e))?);
                let quic = Arc::new(quic);
                let handler = HandlerSlot::default();
                let server = tokio::spawn({
                    let (quic, handler, stop) = (quic.clone(), handler.clone(), stop.clone());
                    async move { quic.serve(handler, stop).await }
                });
                (quic as Arc<dyn PeerTransport>, handler, addr, Some(server))
            }
        };
    let udp = chitchat::transport::UdpTransport;
    let gossip: &dyn chitchat::transport::Transport = match &networks.gossip {
        Some(channel) => channel,
        None => &udp,
    };
    let cluster = Cluster::start(Join {
        settings: settings.clone(),
        info: SelfInfo {
            node_id: node_id.clone(),
            region: config.node.region.clone(),
            public: public.to_string(),
            admin: admin.to_string(),
            peer: peer_addr,
        },
        control: control.clone(),
        gossip,
        peers,
        handler,
        forwarder: None,
        stop: stop.clone(),
    })
    .await
    .map_err(|e| fail(&e))?;
    tracing::info!(node = %node_id, gossip = %cluster.gossip_addr(), "joined the cluster");
    Ok((Arc::new(cluster), server))
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
