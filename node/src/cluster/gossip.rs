//! Membership by gossip (chitchat). Each node publishes a few small keys about itself; the
//! transport is chitchat's own seam (UDP in production, its in-memory channel in tests).
//! Gossip is advisory: what it says only decides whom to ask, over the authenticated peer
//! channel, for state.

use crate::config::ClusterSection;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport};
use chitchat::{
    ChitchatConfig, ChitchatEnvelope, ChitchatHandle, ChitchatId, FailureDetectorConfig,
    ProtocolVersion, spawn_chitchat,
};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

pub const REGION: &str = "region";
pub const PEER: &str = "peer";
pub const PUBLIC: &str = "public";
pub const ADMIN: &str = "admin";
pub const DIGEST: &str = "digest";
pub const HEALTH: &str = "health";
/// Cores' worth of CPU the node used lately (see `load.rs`).
pub const LOAD: &str = "load";
/// The node's sync watermark and the membership it covers (see `tombstones.rs`).
pub const WATERMARK: &str = "watermark";
/// The newest tombstone version the node has collected (see `settle.rs`).
pub const GC_FLOOR: &str = "gc_floor";
/// `no` while the node may hold objects whose deletes were collected (see `settle.rs`).
pub const SETTLED: &str = "settled";
pub const YES: &str = "yes";
pub const NO: &str = "no";

#[derive(Debug, thiserror::Error)]
#[error("gossip: {0}")]
pub struct GossipError(String);

/// Starts gossiping. The socket is opened first so a `:0` port is known before the node's
/// identity (which carries its gossip address) is made.
pub async fn start(
    settings: &ClusterSection,
    node_id: &str,
    transport: &dyn Transport,
    initial: Vec<(String, String)>,
) -> Result<ChitchatHandle, GossipError> {
    let error = |e: anyhow::Error| GossipError(format!("{e:#}"));
    let socket = transport.open(settings.gossip).await.map_err(error)?;
    let bound = socket.local_addr().map_err(error)?;
    let advertise = settings.gossip_advertise.unwrap_or(bound);
    let id = ChitchatId::new(
        node_id.to_string(),
        edgeway_shared::version::wall_millis(),
        advertise,
    );
    let interval = settings.gossip_interval();
    let config = ChitchatConfig {
        chitchat_id: id,
        cluster_id: settings.id.clone(),
        gossip_interval: interval,
        listen_addr: bound,
        seed_nodes: settings.seeds.clone(),
        failure_detector_config: FailureDetectorConfig {
            phi_threshold: settings.failure_phi,
            sampling_window_size: 1000,
            max_interval: interval * 10,
            initial_interval: interval * 2,
            dead_node_grace_period: Duration::from_secs(settings.dead_grace_secs),
        },
        marked_for_deletion_grace_period: Duration::from_secs(settings.dead_grace_secs),
        catchup_callback: None,
        extra_liveness_predicate: None,
        protocol_version: ProtocolVersion::V0,
    };
    let opened = Opened(Mutex::new(Some(socket)));
    spawn_chitchat(config, initial, &opened)
        .await
        .map_err(error)
}

/// A transport whose one socket is already open.
struct Opened(Mutex<Option<Box<dyn Socket>>>);

#[async_trait::async_trait]
impl Transport for Opened {
    async fn open(&self, _listen: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let socket = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        let socket = socket.ok_or_else(|| anyhow::anyhow!("gossip socket already taken"))?;
        Ok(Box::new(Counted(socket)))
    }
}

/// Counts gossip traffic for the metrics (and the idle-bytes benchmark).
struct Counted(Box<dyn Socket>);

#[async_trait::async_trait]
impl Socket for Counted {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.0.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let outcome = self.0.send(to, envelope).await?;
        metrics::counter!("edgeway_gossip_bytes_sent_total")
            .increment(outcome.num_bytes_sent as u64);
        Ok(outcome)
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        let outcome = self.0.recv().await?;
        metrics::counter!("edgeway_gossip_bytes_received_total")
            .increment(outcome.num_bytes_received as u64);
        Ok(outcome)
    }
}
