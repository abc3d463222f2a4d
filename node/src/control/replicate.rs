//! The control plane's side of replication: what this node holds, and taking in what peers
//! wrote. Peers' writes were checked where they were made; here a record is only accepted if it
//! is well formed (its key names its object), and last writer wins per object.

use super::{Control, ControlError, Result};
use crate::peer::protocol::Manifest;
use edgeway_shared::{ObjectKey, Record, Version};
use std::collections::HashSet;

/// At most this many records per fetch answer, so one frame stays well under the limit.
pub const FETCH_BATCH: usize = 2_000;

impl Control {
    /// Every key this node holds with its version, tombstones included, stamped.
    pub async fn manifest(&self) -> Manifest {
        let (as_of, view) = self.store.manifest();
        let entries = (view.iter())
            .map(|(k, r)| (k.clone(), r.version.clone()))
            .collect();
        Manifest { as_of, entries }
    }

    /// Drops the tombstones every member is known to hold (arrived before `horizon`); returns
    /// their keys and versions. Live objects do not change, so neither does the snapshot.
    pub async fn collect_tombstones(&self, horizon: &Version) -> Result<Vec<(ObjectKey, Version)>> {
        let _write = self.writes.lock().await;
        let gone = self.store.collect(horizon).await?;
        Ok(gone.into_iter().map(|r| (r.key, r.version)).collect())
    }

    /// A rejoining node's cleanup: drops records older than `floor` that no authoritative peer
    /// holds (their deletes were collected while this node was away).
    pub async fn drop_unlisted(&self, floor: &Version, keep: &HashSet<ObjectKey>) -> Result<usize> {
        let _write = self.writes.lock().await;
        let gone = self.store.drop_unlisted(floor, keep).await?;
        if gone.iter().any(|r| r.object.is_some()) {
            self.publish();
        }
        Ok(gone.len())
    }

    /// The records held for these keys (unknown keys are skipped).
    pub fn records(&self, keys: &[ObjectKey]) -> Vec<Record> {
        let view = self.store.view();
        keys.iter()
            .take(FETCH_BATCH)
            .filter_map(|k| view.get(k).cloned())
            .collect()
    }

    /// Applies records written elsewhere; returns how many were newer than what this node
    /// held. Durable before the new snapshot serves them.
    pub async fn merge_remote(&self, records: Vec<Record>) -> Result<usize> {
        for record in &records {
            if let Some(object) = &record.object
                && object.key() != record.key
            {
                return Err(ControlError::Conflict(format!(
                    "replicated record {} holds object {}",
                    record.key,
                    object.key()
                )));
            }
        }
        let _write = self.writes.lock().await;
        let applied = self.store.apply_remote(records).await?;
        if !applied.is_empty() {
            self.publish();
        }
        Ok(applied.len())
    }
}
