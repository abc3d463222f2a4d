//! Joining the cluster: the peer channel (QUIC with the cluster's certificates, or a test's
//! memory network), then gossip and replication.

use super::StartError;
use crate::cluster::{Cluster, Forwarder, Join, SelfInfo};
use crate::config::{ClusterSection, NodeConfig};
use crate::control::Control;
use crate::peer::memory::MemoryNetwork;
use crate::peer::quic::QuicPeers;
use crate::peer::tls::PeerIdentity;
use crate::peer::{HandlerSlot, PeerTransport};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The networks a node's cluster traffic goes over: UDP gossip and QUIC peers unless a test
/// puts them in memory (where links can be cut and delayed).
#[derive(Default, Clone)]
pub struct Networks {
    pub gossip: Option<chitchat::transport::ChannelTransport>,
    pub peers: Option<MemoryNetwork>,
}

/// What a joining node brings besides its config.
pub(super) struct Seams<'a> {
    pub networks: &'a Networks,
    /// Serves requests other regions forward to this node.
    pub forwarder: Arc<dyn Forwarder>,
    pub caches: crate::pipeline::cache::Caches,
    pub websockets: crate::pipeline::websocket::Sessions,
    /// Kept up to date with the number of live members.
    pub members: watch::Sender<usize>,
    pub stop: &'a watch::Receiver<bool>,
}

/// Joins the cluster: opens the peer channel (QUIC with the cluster's certificates, or the
/// test's memory network), then starts gossip and replication.
pub(super) async fn join(
    config: &NodeConfig,
    settings: &ClusterSection,
    control: &Arc<Control>,
    (public, admin): (SocketAddr, SocketAddr),
    seams: Seams<'_>,
) -> Result<(Arc<Cluster>, Option<JoinHandle<()>>), StartError> {
    let Seams {
        networks,
        forwarder,
        caches,
        websockets,
        members,
        stop,
    } = seams;
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
        forwarder: Some(forwarder),
        caches,
        websockets,
        members,
        stop: stop.clone(),
    })
    .await
    .map_err(|e| fail(&e))?;
    tracing::info!(node = %node_id, gossip = %cluster.gossip_addr(), "joined the cluster");
    Ok((Arc::new(cluster), server))
}
