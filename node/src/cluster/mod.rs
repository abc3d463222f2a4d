//! The cluster: membership by gossip, and configuration replicated between peers.
//!
//! Every node publishes its region, addresses, health and a digest of its state. A node that
//! sees a live peer with a different digest asks that peer, over the mutually authenticated
//! peer channel, for its manifest and then for the records it lacks or holds older versions of
//! (last writer wins per object; deletes are tombstones). Both sides do this, so nodes that
//! took writes on both sides of a partition converge once it heals. A local write also sends
//! a `Changed` hint to live peers so they pull at once instead of at the next gossip round.
//! Tombstones are collected once every member holds them (`tombstones`); a node that was away
//! longer than the dead-node grace takes its peers' state before it is pulled from (`settle`).

mod catch_up;
mod collect;
pub mod digest;
pub mod gossip;
mod load;
mod members;
mod service;
mod settle;
mod sync;
mod tombstones;

pub use service::{ClusterService, Forwarder};

use crate::config::ClusterSection;
use crate::control::Control;
use crate::peer::{HandlerSlot, PeerAddress, PeerTransport};
use chitchat::{ChitchatHandle, ChitchatId, NodeState};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What a node tells the cluster about itself at start.
#[derive(Debug, Clone)]
pub struct SelfInfo {
    pub node_id: String,
    pub region: String,
    pub public: String,
    pub admin: String,
    pub peer: String,
}

/// Everything a node joins the cluster with.
pub struct Join<'a> {
    pub settings: ClusterSection,
    pub info: SelfInfo,
    pub control: Arc<Control>,
    /// chitchat's transport: UDP, or its in-memory channel in tests.
    pub gossip: &'a dyn chitchat::transport::Transport,
    pub peers: Arc<dyn PeerTransport>,
    /// The peer channel's handler slot; filled here.
    pub handler: HandlerSlot,
    pub forwarder: Option<Arc<dyn Forwarder>>,
    /// This node's response caches (cluster-wide flushes empty them).
    pub caches: crate::pipeline::cache::Caches,
    /// This node's WebSocket connections (`@connections` from other nodes reaches them).
    pub websockets: crate::pipeline::websocket::Sessions,
    /// Set to the number of live members (this node included) as it changes.
    pub members: watch::Sender<usize>,
    pub stop: watch::Receiver<bool>,
}

pub struct Cluster {
    info: SelfInfo,
    settings: ClusterSection,
    gossip: ChitchatHandle,
    peers: Arc<dyn PeerTransport>,
    control: Arc<Control>,
    caught_up: watch::Receiver<bool>,
    heartbeats: members::Heartbeats,
    /// Complete sync rounds (every live peer answered) since start.
    rounds: Arc<std::sync::atomic::AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Cluster {
    /// Joins the cluster and starts keeping this node's state equal to its peers'.
    pub async fn start(join: Join<'_>) -> Result<Cluster, gossip::GossipError> {
        let Join {
            settings,
            info,
            control,
            gossip: gossip_transport,
            peers,
            handler,
            forwarder,
            caches,
            websockets,
            members,
            stop,
        } = join;
        let alone = settings.seeds.is_empty();
        let health = if alone { "ready" } else { "starting" };
        let grace = Duration::from_secs(settings.dead_grace_secs);
        let settle = settle::Settle::open(control.store().dir(), grace);
        let settled = if settle.stale() {
            gossip::NO
        } else {
            gossip::YES
        };
        let mut initial = vec![
            (gossip::SETTLED.to_string(), settled.to_string()),
            (gossip::REGION.to_string(), info.region.clone()),
            (gossip::PEER.to_string(), info.peer.clone()),
            (gossip::PUBLIC.to_string(), info.public.clone()),
            (gossip::ADMIN.to_string(), info.admin.clone()),
            (gossip::HEALTH.to_string(), health.to_string()),
            (
                gossip::DIGEST.to_string(),
                digest::encode(&digest::of(&control.store().view())),
            ),
        ];
        if let Some(floor) = settle.gc_floor() {
            initial.push((
                gossip::GC_FLOOR.to_string(),
                tombstones::encode_stamp(floor),
            ));
        }
        let handle = gossip::start(&settings, &info.node_id, gossip_transport, initial).await?;
        let (hints_tx, hints) = mpsc::channel(64);
        handler.set(Arc::new(ClusterService::new(
            control.clone(),
            hints_tx,
            forwarder,
            (caches, websockets),
        )));
        let (caught_up_tx, caught_up) = watch::channel(alone);
        let heartbeats = members::Heartbeats::default();
        let rounds = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let live = handle.chitchat().lock().await.live_nodes_watcher();
        let syncer = sync::Syncer {
            me: handle.chitchat_id().clone(),
            control: control.clone(),
            peers: peers.clone(),
            chitchat: handle.chitchat(),
            caught_up: caught_up_tx,
            join_timeout: Duration::from_millis(settings.join_timeout_ms),
            sync_interval: Duration::from_millis(settings.sync_interval_ms),
            heartbeat_interval: settings.gossip_interval(),
            heartbeats: heartbeats.clone(),
            members,
            receipts: Default::default(),
            collected: std::sync::Mutex::new(tombstones::Collected::new(grace)),
            settle: std::sync::Mutex::new(settle),
            rounds: rounds.clone(),
        };
        let tasks = vec![tokio::spawn(syncer.run(live, hints, stop))];
        Ok(Cluster {
            info,
            settings,
            gossip: handle,
            peers,
            control,
            caught_up,
            heartbeats,
            rounds,
            tasks,
        })
    }

    /// This node's gossip address, as peers reach it.
    pub fn gossip_addr(&self) -> std::net::SocketAddr {
        self.gossip.chitchat_id().gossip_advertise_addr
    }

    pub fn node_id(&self) -> &str {
        &self.info.node_id
    }

    pub fn region(&self) -> &str {
        &self.info.region
    }

    /// True once the node has synced with the peers it found at start (or found none).
    pub fn caught_up(&self) -> bool {
        *self.caught_up.borrow()
    }

    /// Publishes this node's health (`starting`, `ready`, `draining`).
    pub async fn set_health(&self, health: &str) {
        self.gossip
            .with_chitchat(|c| c.self_node_state().set(gossip::HEALTH, health))
            .await;
    }

    /// Live nodes other than this one, with what they publish.
    pub async fn live_peers(&self) -> Vec<(ChitchatId, NodeState)> {
        let chitchat = self.gossip.chitchat();
        let chitchat = chitchat.lock().await;
        let me = chitchat.self_chitchat_id().clone();
        let live: Vec<ChitchatId> = chitchat.live_nodes().cloned().collect();
        live.into_iter()
            .filter(|id| *id != me)
            .filter_map(|id| chitchat.node_state(&id).cloned().map(|s| (id, s)))
            .collect()
    }

    /// Live peers of a region that serve traffic, nearest first is not known: in id order.
    pub async fn live_in_region(&self, region: &str) -> Vec<PeerAddress> {
        self.live_peers()
            .await
            .into_iter()
            .filter(|(_, s)| s.get(gossip::REGION) == Some(region))
            .filter(|(_, s)| s.get(gossip::HEALTH) == Some("ready"))
            .filter_map(|(id, s)| peer_address(&id, &s))
            .collect()
    }

    /// One request to the live peer `node_id`; `Err` says why it could not be asked.
    pub async fn call_node(
        &self,
        node_id: &str,
        request: crate::peer::PeerRequest,
    ) -> Result<crate::peer::PeerResponse, String> {
        let peer = (self.live_peers().await.iter())
            .filter(|(id, _)| *id.node_id == *node_id)
            .find_map(|(id, state)| peer_address(id, state))
            .ok_or_else(|| format!("node {node_id} is not a live member"))?;
        self.peers
            .call(&peer, request)
            .await
            .map_err(|e| e.to_string())
    }

    /// Asks every live peer to empty its cache of one stage; returns the ids of those that
    /// did and of those that could not be reached (with why).
    pub async fn flush_cache(
        &self,
        api: &str,
        stage: &str,
    ) -> (Vec<String>, Vec<(String, String)>) {
        let peers: Vec<PeerAddress> = (self.live_peers().await.iter())
            .filter_map(|(id, state)| peer_address(id, state))
            .collect();
        let calls = peers.iter().map(|peer| async move {
            let request = crate::peer::PeerRequest::FlushCache {
                api: api.to_string(),
                stage: stage.to_string(),
            };
            let result = match self.peers.call(peer, request).await {
                Ok(crate::peer::PeerResponse::Ack) => Ok(()),
                Ok(other) => Err(format!("unexpected answer: {other:?}")),
                Err(e) => Err(e.to_string()),
            };
            (peer.node_id.clone(), result)
        });
        let mut flushed = Vec::new();
        let mut failed = Vec::new();
        for (node, result) in futures_util::future::join_all(calls).await {
            match result {
                Ok(()) => flushed.push(node),
                Err(e) => failed.push((node, e)),
            }
        }
        (flushed, failed)
    }

    pub fn peers(&self) -> &Arc<dyn PeerTransport> {
        &self.peers
    }

    /// Gives gossip a few rounds to carry what this node published last (its `left` health)
    /// before it goes quiet.
    pub async fn linger(&self) {
        tokio::time::sleep(self.settings.gossip_interval() * 5).await;
    }

    /// Leaves: stops gossiping and syncing (peers then see this node dead).
    pub fn leave(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.gossip.initiate_shutdown();
    }
}

/// Where to reach a peer's channel, from what it gossips.
pub fn peer_address(id: &ChitchatId, state: &NodeState) -> Option<PeerAddress> {
    Some(PeerAddress {
        node_id: id.node_id.to_string(),
        addr: state.get(gossip::PEER)?.to_string(),
    })
}

/// Live members by id (self included), latest generation only.
pub(crate) fn latest_generations(
    nodes: &BTreeMap<ChitchatId, NodeState>,
) -> BTreeMap<String, (ChitchatId, NodeState)> {
    let mut latest: BTreeMap<String, (ChitchatId, NodeState)> = BTreeMap::new();
    for (id, state) in nodes {
        let newer = latest
            .get(&*id.node_id)
            .is_none_or(|(held, _)| held.generation_id < id.generation_id);
        if newer {
            latest.insert(id.node_id.to_string(), (id.clone(), state.clone()));
        }
    }
    latest
}
