//! Anti-entropy: keeps this node's state equal to its live peers'. Runs on every change of
//! local state (publish the new digest, hint the peers), every membership or digest change
//! seen through gossip, every hint from a peer, and a periodic full pass. Each full sync with a
//! peer leaves a receipt; after each round the node publishes its watermark, collects the
//! tombstones every member holds (`tombstones`) and, when it was away too long, settles
//! (`settle`).

use super::catch_up::{CatchUp, Verdict};
use super::members::Heartbeats;
use super::settle::{Listing, Settle};
use super::tombstones::{Collected, Receipts, decode_stamp};
use super::{digest, gossip, latest_generations, peer_address};
use crate::control::Control;
use crate::peer::protocol::{Manifest, decode_records};
use crate::peer::{PeerAddress, PeerRequest, PeerResponse, PeerTransport};
use chitchat::{Chitchat, ChitchatId, NodeState};
use edgeway_shared::ObjectKey;
use std::collections::{BTreeMap, HashSet};
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
    pub receipts: std::sync::Mutex<Receipts>,
    pub collected: std::sync::Mutex<Collected>,
    pub settle: std::sync::Mutex<Settle>,
    pub rounds: Arc<std::sync::atomic::AtomicU64>,
}

type Live = watch::Receiver<BTreeMap<ChitchatId, NodeState>>;

/// A live peer: its identity (with generation), where to reach it, what it gossips.
pub(super) struct Peer {
    pub id: ChitchatId,
    pub addr: PeerAddress,
    pub state: NodeState,
}

/// What a round found: whether every peer asked answered, and (when settling) what they hold.
pub(super) struct Round {
    pub all_answered: bool,
    pub listings: Vec<Listing>,
}

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
                catch_up.observe(peers.iter().map(|p| p.addr.node_id.clone()).collect());
            }
            let stale = self.is_stale();
            let full = everyone || not_caught_up || stale;
            let some_peer = !peers.is_empty();
            let round = self.round(peers, full, stale).await;
            self.after_round(
                full,
                full && some_peer && round.all_answered,
                round.listings,
            )
            .await;
            if not_caught_up && self.maybe_caught_up(catch_up.verdict(round.all_answered)) {
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
        for peer in self.live_peers(live) {
            let peers = self.peers.clone();
            tokio::spawn(async move {
                let _ = peers.call(&peer.addr, PeerRequest::Changed).await;
            });
        }
    }

    /// Live peers with what they publish: the latest generation of each, never an earlier
    /// generation of this node (a killed one can look live for a moment after a restart).
    fn live_peers(&self, live: &Live) -> Vec<Peer> {
        latest_generations(&live.borrow())
            .into_values()
            .filter(|(id, _)| id.node_id != self.me.node_id)
            .filter_map(|(id, state)| {
                let addr = peer_address(&id, &state)?;
                Some(Peer { id, addr, state })
            })
            .collect()
    }

    async fn sync_with_named(&self, live: &Live, node_id: &str) {
        let peer = self
            .live_peers(live)
            .into_iter()
            .find(|p| p.addr.node_id == node_id);
        if let Some(peer) = peer {
            let _ = self.pull(&peer, false).await;
        }
    }

    /// Pulls from every peer whose digest differs from ours (all of them when `everyone`).
    /// When `listing`, also returns what each peer listed, for settling.
    async fn round(&self, peers: Vec<Peer>, everyone: bool, listing: bool) -> Round {
        let ours = digest::encode(&digest::of(&self.control.store().view()));
        let targets: Vec<Peer> = peers
            .into_iter()
            .filter(|p| everyone || p.state.get(gossip::DIGEST) != Some(ours.as_str()))
            .collect();
        let pulls = targets.iter().map(|peer| self.pull(peer, listing));
        let results = futures_util::future::join_all(pulls).await;
        let all_answered = results.iter().all(Result::is_ok);
        let listings = (targets.iter().zip(results))
            .filter_map(|(peer, result)| {
                Some(Listing {
                    keys: result.ok()??,
                    gc_floor: peer.state.get(gossip::GC_FLOOR).and_then(decode_stamp),
                })
            })
            .collect();
        Round {
            all_answered,
            listings,
        }
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

    /// Fetches from `peer` every record it holds newer than ours, unless the peer is not
    /// settled (then only its manifest is read). With `listing`, returns the keys it listed.
    async fn pull(&self, peer: &Peer, listing: bool) -> Result<Option<HashSet<ObjectKey>>, ()> {
        let result = self.try_pull(peer, listing).await;
        let node = &peer.addr.node_id;
        match &result {
            Ok((0, _)) => {}
            Ok((n, _)) => tracing::debug!(peer = %node, records = n, "pulled state"),
            Err(e) => {
                metrics::counter!("edgeway_cluster_sync_failures_total").increment(1);
                tracing::warn!(peer = %node, error = %e, "state sync failed");
            }
        }
        result.map(|(_, keys)| keys).map_err(|_| ())
    }

    async fn try_pull(
        &self,
        peer: &Peer,
        listing: bool,
    ) -> Result<(usize, Option<HashSet<ObjectKey>>), String> {
        let theirs: Manifest = match self.peers.call(&peer.addr, PeerRequest::Manifest).await {
            Ok(PeerResponse::Manifest(m)) => m,
            Ok(other) => return Err(format!("unexpected answer to manifest: {other:?}")),
            Err(e) => return Err(e.to_string()),
        };
        // Hybrid logical clock discipline: this node's later writes order after what it saw.
        self.control.store().observe(&theirs.as_of);
        let keys = listing.then(|| theirs.entries.iter().map(|(k, _)| k.clone()).collect());
        // A peer that may have been away too long could offer objects whose deletes were
        // collected; nothing is taken from it until it has settled.
        if peer.state.get(gossip::SETTLED) == Some(gossip::NO) {
            return Ok((0, keys));
        }
        let applied = self.fetch_newer(&peer.addr, theirs.entries).await?;
        let receipts = &mut self.receipts.lock().unwrap_or_else(|e| e.into_inner());
        receipts.record(peer.id.clone(), &theirs.as_of);
        Ok((applied, keys))
    }

    /// Fetches and applies the listed records newer than ours, except tombstones (or older
    /// records) this node has just collected.
    async fn fetch_newer(
        &self,
        peer: &PeerAddress,
        entries: Vec<(ObjectKey, edgeway_shared::Version)>,
    ) -> Result<usize, String> {
        let view = self.control.store().view();
        let wanted: Vec<ObjectKey> = {
            let collected = self.collected.lock().unwrap_or_else(|e| e.into_inner());
            (entries.into_iter())
                .filter(|(k, v)| match view.get(k) {
                    Some(held) => held.version < *v,
                    None => !collected.covers(k, v),
                })
                .map(|(k, _)| k)
                .collect()
        };
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
