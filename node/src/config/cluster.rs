//! `[cluster]`: gossip membership and the peer channel. Absent, the node runs alone.

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Nodes gossip only with nodes of the same cluster id.
    pub id: String,
    /// Gossip (UDP) listen address.
    pub gossip: SocketAddr,
    /// The gossip address peers should use, when `gossip` is a wildcard or behind NAT.
    #[serde(default)]
    pub gossip_advertise: Option<SocketAddr>,
    /// Peer channel (QUIC, mutual TLS) listen address.
    pub peer: SocketAddr,
    #[serde(default)]
    pub peer_advertise: Option<String>,
    /// Gossip addresses (`host:port`, names allowed) of nodes to join through.
    #[serde(default)]
    pub seeds: Vec<String>,
    /// Cluster CA, and this node's certificate (its DNS name is the node id) and key.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default = "default_gossip_interval_ms")]
    pub gossip_interval_ms: u64,
    /// Phi-accrual threshold above which a silent node is dead (lower: noticed sooner).
    #[serde(default = "default_phi")]
    pub failure_phi: f64,
    /// How long a dead node is remembered before it is forgotten.
    #[serde(default = "default_dead_grace_secs")]
    pub dead_grace_secs: u64,
    /// How long a starting node looks for live peers before it serves alone.
    #[serde(default = "default_join_timeout_ms")]
    pub join_timeout_ms: u64,
    /// Full comparison with every peer at least this often, whatever gossip says.
    #[serde(default = "default_sync_interval_ms")]
    pub sync_interval_ms: u64,
    /// A peer call that takes longer fails.
    #[serde(default = "default_peer_timeout_ms")]
    pub peer_timeout_ms: u64,
}

fn default_gossip_interval_ms() -> u64 {
    200
}
fn default_phi() -> f64 {
    6.0
}
fn default_dead_grace_secs() -> u64 {
    600
}
fn default_join_timeout_ms() -> u64 {
    3_000
}
fn default_sync_interval_ms() -> u64 {
    5_000
}
fn default_peer_timeout_ms() -> u64 {
    5_000
}

impl ClusterSection {
    pub fn validate(&self, node_id: &str) -> Result<(), ConfigError> {
        if self.id.is_empty() {
            return Err(invalid("cluster.id", "must not be empty"));
        }
        // The peer channel's certificates name nodes by id, so ids must be DNS labels.
        let label = node_id.len() <= 63
            && !node_id.starts_with('-')
            && node_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !label {
            return Err(invalid(
                "node.id",
                "in a cluster must be a DNS label (a-z, 0-9, '-', at most 63)",
            ));
        }
        if self.gossip.ip().is_unspecified() && self.gossip_advertise.is_none() {
            return Err(invalid(
                "cluster.gossip_advertise",
                "is required when cluster.gossip listens on a wildcard address",
            ));
        }
        if self.peer.ip().is_unspecified() && self.peer_advertise.is_none() {
            return Err(invalid(
                "cluster.peer_advertise",
                "is required when cluster.peer listens on a wildcard address",
            ));
        }
        if !(10..=10_000).contains(&self.gossip_interval_ms) {
            return Err(invalid(
                "cluster.gossip_interval_ms",
                "must be between 10 and 10000",
            ));
        }
        if !(self.failure_phi.is_finite() && self.failure_phi >= 1.0) {
            return Err(invalid("cluster.failure_phi", "must be a number >= 1"));
        }
        if self.dead_grace_secs < 10 {
            return Err(invalid("cluster.dead_grace_secs", "must be >= 10"));
        }
        if self.sync_interval_ms < 100 {
            return Err(invalid("cluster.sync_interval_ms", "must be >= 100"));
        }
        if self.peer_timeout_ms < 10 {
            return Err(invalid("cluster.peer_timeout_ms", "must be >= 10"));
        }
        Ok(())
    }

    pub fn gossip_interval(&self) -> Duration {
        Duration::from_millis(self.gossip_interval_ms)
    }

    /// The peer address to advertise, given the address the endpoint bound.
    pub fn peer_advertise(&self, bound: SocketAddr) -> String {
        self.peer_advertise
            .clone()
            .unwrap_or_else(|| bound.to_string())
    }
}
