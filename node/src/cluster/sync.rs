//! Anti-entropy: keeps this node's state equal to its live peers'. Runs on every change of
//! local state (publish the new digest, hint the peers), every membership or digest change
//! seen through gossip, every hint from a peer, and a periodic full pass.

use super::catch_up::{CatchUp, Verdict};
use super::members::Heartbeats;
use super::{digest, gossip, latest_generations, peer_address};
use crate::control::Control;
use crate::peer::protocol::decode_records;
use crate::peer::{PeerAddress, PeerRequest, PeerResponse, PeerTransport};
use chitchat::{Chitchat, ChitchatId, NodeState};
use edgeway_shared::ObjectKey;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, watch};

/// Keys per fetch request (answers are capped the same way on the serving side).
const FETCH_CHUNK: usize = crate::control::FETCH_BATCH;

pub(super) struct Syncer {
    pub me: ChitchatId,
    pub control: Arc<Control>,
    pub peers: Arc<dyn PeerTransport>,
    pub chitchat: Arc<Mutex<Chitchat>>,
    pub caught_up: watch::Sender<bool>,
    pub join_timeout: Duration,
    pub sync_interval: Duration,
    pub heartbeat_interval: Duration,
    pub heartbeats: Heartbeats,
    pub members: watch::Sender<usize>,
}

type Live = watch::Receiver<BTreeMap<ChitchatId, NodeState>>;

impl Syncer {
    pub async fn run(
        self,
        mut live: Live,
        mut hints: mpsc::Receiver<String>,
        mut stop: watch::Receiver<bool>,
    ) {
        // Two heartbeats make a peer live; relayed ones arrive a round or two apart.
        let settle = self.heartbeat_interval * 3;
        let mut catch_up = CatchUp::new(self.join_timeout, settle);
        let mut changes = self.control.changes();
        let mut full = tokio::time::interval(self.sync_interval);
        let mut beat = tokio::time::interval(self.heartbeat_interval);
        let mut load = super::load::CpuLoad::default();
        self.publish_digest().await;
        loop {
            let everyone = tokio::select! {
                _ = changes.changed() => {
                    self.publish_digest().await;
                    self.hint_peers(&live).await;
                    continue;
                }
                _ = live.changed() => false,
                Some(from) = hints.recv() => {
                    self.sync_with_named(&live, &from).await;
                    continue;
                }
                _ = full.tick() => {
                    if let Some(cores) = load.sample() {
                        let mut chitchat = self.chitchat.lock().await;
                        chitchat.self_node_state().set(gossip::LOAD, format!("{cores:.3}"));
                    }
                    true
                }
                _ = beat.tick() => {
                    self.heartbeats.observe(&*self.chitchat.lock().await);
                    let members = live.borrow().len();
                    metrics::gauge!("edgeway_cluster_live_members").set(members as f64);
                    self.members.send_if_modified(|held| std::mem::replace(held, members.max(1)) != members.max(1));
                    if *self.caught_up.borrow() { continue; }
                    false
                }
                _ = crate::pipeline::accept::stopped(&mut stop) => return,
            };
            let not_caught_up = !*self.caught_up.borrow();
            let peers = self.live_peers(&live);
            if not_caught_up {
                catch_up.observe(peers.iter().map(|(p, _)| p.node_id.clone()).collect());
            }
            let all_answered = self.round(peers, everyone || not_caught_up).await;
            if not_caught_up && self.maybe_caught_up(catch_up.verdict(all_answered)) {
                self.chitchat
                    .lock()
                    .await
                    .self_node_state()
                    .set(gossip::HEALTH, "ready");
            }
        }
    }

    async fn publish_digest(&self) {
        let digest = digest::of(&self.control.store().view());
        metrics::gauge!("edgeway_config_records").set(digest.records as f64);
        let digest = digest::encode(&digest);
        self.chitchat
            .lock()
            .await
            .self_node_state()
            .set(gossip::DIGEST, digest);
    }

    /// Tells live peers this node has new state; they pull from it at once.
    async fn hint_peers(&self, live: &Live) {
        for (peer, _) in self.live_peers(live) {
            let peers = self.peers.clone();
            tokio::spawn(async move {
                let _ = peers.call(&peer, PeerRequest::Changed).await;
            });
        }
    }

    /// Live peers with what they publish: the latest generation of each, never an earlier
    /// generation of this node (a killed one can look live for a moment after a restart).
    fn live_peers(&self, live: &Live) -> Vec<(PeerAddress, NodeState)> {
        latest_generations(&live.borrow())
            .into_values()
            .filter(|(id, _)| id.node_id != self.me.node_id)
            .filter_map(|(id, state)| Some((peer_address(&id, &state)?, state)))
            .collect()
    }

    async fn sync_with_named(&self, live: &Live, node_id: &str) {
        let peer = self
            .live_peers(live)
            .into_iter()
            .find(|(p, _)| p.node_id == node_id);
        if let Some((peer, _)) = peer {
            let _ = self.pull(&peer).await;
        }
    }

    /// Pulls from every peer whose digest differs from ours (all of them when `everyone`).
    /// True when every peer asked answered.
    async fn round(&self, peers: Vec<(PeerAddress, NodeState)>, everyone: bool) -> bool {
        let ours = digest::encode(&digest::of(&self.control.store().view()));
        let targets: Vec<PeerAddress> = peers
            .into_iter()
            .filter(|(_, state)| everyone || state.get(gossip::DIGEST) != Some(ours.as_str()))
            .map(|(peer, _)| peer)
            .collect();
        let pulls = targets.iter().map(|peer| self.pull(peer));
        futures_util::future::join_all(pulls)
            .await
            .iter()
            .all(Result::is_ok)
    }

    /// Marks the node caught up on a verdict that says so; returns whether it now is.
    fn maybe_caught_up(&self, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Waiting => return false,
            Verdict::Synced => {}
            Verdict::Alone => tracing::info!("no live peer found; serving alone"),
            Verdict::TimedOut => {
                tracing::warn!("some peers did not answer; serving with what the others had")
            }
        }
        self.caught_up.send_replace(true);
        true
    }

    /// Fetches from `peer` every record it holds newer than ours.
    async fn pull(&self, peer: &PeerAddress) -> Result<usize, ()> {
        let result = self.try_pull(peer).await;
        match &result {
            Ok(0) => {}
            Ok(n) => tracing::debug!(peer = %peer.node_id, records = n, "pulled state"),
            Err(e) => {
                metrics::counter!("edgeway_cluster_sync_failures_total").increment(1);
                tracing::warn!(peer = %peer.node_id, error = %e, "state sync failed");
            }
        }
        result.map_err(|_| ())
    }

    async fn try_pull(&self, peer: &PeerAddress) -> Result<usize, String> {
        let theirs = match self.peers.call(peer, PeerRequest::Manifest).await {
            Ok(PeerResponse::Manifest(m)) => m,
            Ok(other) => return Err(format!("unexpected answer to manifest: {other:?}")),
            Err(e) => return Err(e.to_string()),
        };
        let view = self.control.store().view();
        let wanted: Vec<ObjectKey> = theirs
            .into_iter()
            .filter(|(k, v)| view.get(k).is_none_or(|held| held.version < *v))
            .map(|(k, _)| k)
            .collect();
        let mut applied = 0;
        for keys in wanted.chunks(FETCH_CHUNK) {
            let request = PeerRequest::Fetch {
                keys: keys.to_vec(),
            };
            let frames = match self.peers.call(peer, request).await {
                Ok(PeerResponse::Records(frames)) => frames,
                Ok(other) => return Err(format!("unexpected answer to fetch: {other:?}")),
                Err(e) => return Err(e.to_string()),
            };
            let records = decode_records(&frames).map_err(|e| e.to_string())?;
            applied += self
                .control
                .merge_remote(records)
                .await
                .map_err(|e| e.to_string())?;
        }
        if applied > 0 {
            metrics::counter!("edgeway_cluster_records_pulled_total").increment(applied as u64);
        }
        Ok(applied)
    }
}
