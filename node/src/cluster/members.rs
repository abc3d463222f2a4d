//! The admin views of the cluster: `/cluster/members` and `/cluster/status`.

use super::{Cluster, digest, gossip, latest_generations};
use chitchat::{Chitchat, ChitchatId};
use edgeway_shared::admin::{ClusterMember, ClusterMembers, ClusterStatus, MemberAddresses};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// When each node's heartbeat last moved, as this node saw it.
#[derive(Clone, Default)]
pub(super) struct Heartbeats(Arc<Mutex<BTreeMap<ChitchatId, (u64, Instant)>>>);

impl Heartbeats {
    pub fn observe(&self, chitchat: &Chitchat) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        for (id, state) in chitchat.node_states() {
            let beat = u64::from(state.heartbeat());
            match seen.get(id) {
                Some((held, _)) if *held == beat => {}
                _ => {
                    seen.insert(id.clone(), (beat, now));
                }
            }
        }
        seen.retain(|id, _| chitchat.node_states().contains_key(id));
    }

    fn ms_ago(&self, id: &ChitchatId) -> Option<u64> {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(id).map(|(_, at)| at.elapsed().as_millis() as u64)
    }
}

impl Cluster {
    pub async fn members(&self) -> ClusterMembers {
        let ours = digest::of(&self.control.store().view());
        let chitchat = self.gossip.chitchat();
        let chitchat = chitchat.lock().await;
        let me = chitchat.self_chitchat_id().clone();
        let live: HashSet<ChitchatId> = chitchat.live_nodes().cloned().collect();
        let members = latest_generations(chitchat.node_states())
            .into_values()
            .map(|(id, state)| {
                let theirs = state.get(gossip::DIGEST).and_then(digest::decode);
                let get = |k: &str| state.get(k).map(str::to_string);
                ClusterMember {
                    id: id.node_id.to_string(),
                    generation: id.generation_id,
                    region: get(gossip::REGION).unwrap_or_default(),
                    alive: live.contains(&id),
                    this_node: id == me,
                    addresses: MemberAddresses {
                        gossip: id.gossip_advertise_addr.to_string(),
                        peer: get(gossip::PEER),
                        public: get(gossip::PUBLIC),
                        admin: get(gossip::ADMIN),
                    },
                    heartbeat: u64::from(state.heartbeat()),
                    last_heartbeat_ms_ago: if id == me {
                        Some(0)
                    } else {
                        self.heartbeats.ms_ago(&id)
                    },
                    health: get(gossip::HEALTH).unwrap_or_default(),
                    load: state.get(gossip::LOAD).and_then(|l| l.parse().ok()),
                    caught_up: theirs.as_ref() == Some(&ours),
                    digest: theirs,
                }
            })
            .collect();
        ClusterMembers {
            cluster_id: self.settings.id.clone(),
            members,
        }
    }

    pub async fn status(&self) -> ClusterStatus {
        let members = self.members().await;
        let (watermark, gc_floor, settled) = {
            let chitchat = self.gossip.chitchat();
            let mut chitchat = chitchat.lock().await;
            let mine = chitchat.self_node_state();
            let get = |key: &str| mine.get(key).map(str::to_string);
            let settled = mine.get(gossip::SETTLED) != Some(gossip::NO);
            (get(gossip::WATERMARK), get(gossip::GC_FLOOR), settled)
        };
        let ours = digest::of(&self.control.store().view());
        let peers = || members.members.iter().filter(|m| !m.this_node);
        let differing: Vec<String> = peers()
            .filter(|m| m.alive && !m.caught_up)
            .map(|m| m.id.clone())
            .collect();
        ClusterStatus {
            cluster_id: self.settings.id.clone(),
            node: self.info.node_id.clone(),
            region: self.info.region.clone(),
            converged: differing.is_empty(),
            caught_up: self.caught_up(),
            digest: ours,
            live_members: members.members.iter().filter(|m| m.alive).count(),
            dead_members: members.members.iter().filter(|m| !m.alive).count(),
            differing,
            tombstones: self.control.store().tombstones() as u64,
            sync_rounds: self.rounds.load(std::sync::atomic::Ordering::Relaxed),
            watermark: watermark.and_then(|w| Some(w.split_once(':')?.0.to_string())),
            gc_floor,
            settled,
        }
    }
}
