//! What a node does after each sync round about deletes: settles if it was away too long
//! (`settle`), publishes its watermark, and collects the tombstones every member is known to
//! hold (`tombstones`).

use super::settle::{Listing, Settle};
use super::sync::Syncer;
use super::tombstones::{self, Stamp, as_version, encode_stamp, encode_watermark, stamp};
use super::{gossip, latest_generations};

impl Syncer {
    pub(super) fn is_stale(&self) -> bool {
        self.settle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stale()
    }

    /// `full`: a round that asked every live peer; `complete`: one in which every live peer
    /// (at least one) answered. Watermarks are published and tombstones collected only after
    /// full rounds: a gossiped change makes every peer run a round, so doing it after every
    /// round would feed a storm of rounds while a write spreads.
    pub(super) async fn after_round(&self, full: bool, complete: bool, listings: Vec<Listing>) {
        if complete {
            (self.rounds).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if complete && self.is_stale() {
            self.settle_now(listings).await;
        }
        let (save, stale) = {
            let mut settle = self.settle.lock().unwrap_or_else(|e| e.into_inner());
            (settle.after_round(complete), settle.stale())
        };
        if let Some(save) = save {
            save.run().await;
        }
        let settled = if stale { gossip::NO } else { gossip::YES };
        let mut chitchat = self.chitchat.lock().await;
        chitchat.self_node_state().set(gossip::SETTLED, settled);
        if !full {
            return;
        }
        let (members, me) = {
            let me = chitchat.self_chitchat_id().node_id.to_string();
            (latest_generations(chitchat.node_states()), me)
        };
        drop(chitchat);
        let watermark = {
            let mut receipts = self.receipts.lock().unwrap_or_else(|e| e.into_inner());
            receipts.watermark(&me, &members)
        };
        if let Some(watermark) = watermark {
            let value = encode_watermark(watermark, &tombstones::fingerprint(&members));
            let mut chitchat = self.chitchat.lock().await;
            chitchat.self_node_state().set(gossip::WATERMARK, value);
        }
        // A stale node collects nothing: its peers may not count it as a member any more.
        if !stale && let Some(horizon) = tombstones::horizon(&me, &members, gossip::WATERMARK) {
            self.collect(horizon).await;
        }
    }

    /// Drops the tombstones that arrived before `horizon`, raising the GC floor first.
    async fn collect(&self, horizon: Stamp) {
        let store = self.control.store();
        let horizon = as_version(horizon);
        let Some(newest) = store.collectable(&horizon) else {
            return;
        };
        // The floor is saved before the tombstones go, so it never understates a collection.
        let (save, floor) = {
            let mut settle = self.settle.lock().unwrap_or_else(|e| e.into_inner());
            (settle.raise_gc_floor(stamp(&newest)), settle.gc_floor())
        };
        if let Some(save) = save {
            save.run().await;
        }
        if let Some(floor) = floor {
            let mut chitchat = self.chitchat.lock().await;
            chitchat
                .self_node_state()
                .set(gossip::GC_FLOOR, encode_stamp(floor));
        }
        match self.control.collect_tombstones(&horizon).await {
            Ok(gone) if gone.is_empty() => {}
            Ok(gone) => {
                tracing::debug!(tombstones = gone.len(), "collected tombstones");
                metrics::counter!("edgeway_cluster_tombstones_collected_total")
                    .increment(gone.len() as u64);
                let collected = &mut self.collected.lock().unwrap_or_else(|e| e.into_inner());
                collected.remember(gone);
            }
            Err(e) => tracing::warn!(error = %e, "collecting tombstones failed; will retry"),
        }
    }

    /// A stale node takes its peers' state: drops what their authorities no longer hold.
    async fn settle_now(&self, listings: Vec<Listing>) {
        if let Some((floor, keep)) = Settle::plan(&listings) {
            match self.control.drop_unlisted(&as_version(floor), &keep).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    records = n,
                    "dropped records whose deletes were collected while this node was away"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "settling failed; will retry");
                    return;
                }
            }
        }
        tracing::info!("settled: took peers' state after being away");
        let save = self
            .settle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .settled();
        save.run().await;
    }
}
