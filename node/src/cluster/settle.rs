//! A node that may have been away longer than the dead-node grace must not bring back objects
//! whose deletes were collected while it was gone.
//!
//! The rule. A node is *fresh* while it keeps completing sync rounds in which every live peer
//! answered; it records the time of the last one in its data directory. It becomes *stale* when
//! the last such round is older than half the dead-node grace (by then its peers may be about
//! to forget it; half leaves room for clock and bookkeeping slack), including across a restart.
//! A stale node gossips `settled=no`, and no node fetches records from a peer that does: its
//! state is not trusted until it has taken its peers' state.
//!
//! To settle, a stale node completes a round in which every live peer answered with its
//! manifest. Every node gossips its *GC floor*: the newest tombstone version it has collected.
//! Let `floor` be the highest floor among the peers, and the *authorities* the peers with that
//! floor. The node drops every record it holds that is older than `floor` and that no authority
//! lists: those can only be objects (or tombstones) whose deletes were collected, since every
//! collected delete is older than its collector's floor and the authorities held every object
//! older than their collections. Then it is fresh again. Writes it made just before going away
//! that no peer ever pulled, and that are older than the floor, are lost with them: the price of
//! being away longer than the grace, as in any tombstone-collecting store.

use super::tombstones::{Stamp, decode_stamp, encode_stamp};
use edgeway_shared::ObjectKey;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

const FILE: &str = "cluster-state.json";
/// The time of the last complete round is saved at most this often.
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// What a node remembers about its place in the cluster across restarts.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Saved {
    /// Wall-clock millis of the last round in which every live peer answered.
    #[serde(default)]
    fresh_at_ms: Option<u64>,
    /// The newest tombstone version this node has collected (`millis.counter`).
    #[serde(default)]
    gc_floor: Option<String>,
}

pub(super) struct Settle {
    path: PathBuf,
    saved: Saved,
    stale_after: Duration,
    fresh_at: Instant,
    stale: bool,
}

/// One peer's answer in a round, for settling: the keys it listed and its gossiped GC floor.
pub(super) struct Listing {
    pub keys: HashSet<ObjectKey>,
    pub gc_floor: Option<Stamp>,
}

impl Settle {
    /// Reads the saved state from `dir`. A missing or unreadable file counts as fresh: nothing
    /// was ever collected by a version that did not write it.
    pub fn open(dir: &Path, grace: Duration) -> Settle {
        let path = dir.join(FILE);
        let saved: Saved = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let stale_after = grace / 2;
        let away = saved
            .fresh_at_ms
            .map(|at| edgeway_shared::version::wall_millis().saturating_sub(at));
        let stale = away.is_some_and(|ms| Duration::from_millis(ms) > stale_after);
        if stale {
            tracing::warn!(
                away_secs = away.unwrap_or(0) / 1000,
                "away longer than half the dead-node grace; taking peers' state before sharing"
            );
        }
        Settle {
            path,
            saved,
            stale_after,
            fresh_at: Instant::now(),
            stale,
        }
    }

    pub fn stale(&self) -> bool {
        self.stale
    }

    pub fn gc_floor(&self) -> Option<Stamp> {
        self.saved.gc_floor.as_deref().and_then(decode_stamp)
    }

    /// Raises the GC floor before a collection; the returned save must be done before the
    /// collection is, so the floor never understates what was collected.
    pub fn raise_gc_floor(&mut self, collected: Stamp) -> Option<Save> {
        if self.gc_floor().is_some_and(|held| held >= collected) {
            return None;
        }
        self.saved.gc_floor = Some(encode_stamp(collected));
        Some(self.save())
    }

    /// After a round: `complete` when every live peer answered and there was one.
    pub fn after_round(&mut self, complete: bool) -> Option<Save> {
        if complete && !self.stale {
            self.fresh_at = Instant::now();
            // Saved at most every few seconds: an older time on disk only errs towards stale.
            let now = edgeway_shared::version::wall_millis();
            let due = (self.saved.fresh_at_ms)
                .is_none_or(|at| now.saturating_sub(at) >= SAVE_EVERY.as_millis() as u64);
            if due {
                self.saved.fresh_at_ms = Some(now);
                return Some(self.save());
            }
        } else if !self.stale && self.fresh_at.elapsed() > self.stale_after {
            tracing::warn!("no complete sync round for half the dead-node grace; now stale");
            self.stale = true;
        }
        None
    }

    /// What a stale node drops: records older than the returned floor whose keys are not in the
    /// returned set. `None` when there is nothing to drop (no peer has collected anything).
    pub fn plan(listings: &[Listing]) -> Option<(Stamp, HashSet<ObjectKey>)> {
        let floor = listings.iter().filter_map(|l| l.gc_floor).max()?;
        let keep = (listings.iter())
            .filter(|l| l.gc_floor == Some(floor))
            .flat_map(|l| l.keys.iter().cloned())
            .collect();
        Some((floor, keep))
    }

    /// The node has taken its peers' state.
    pub fn settled(&mut self) -> Save {
        self.stale = false;
        self.fresh_at = Instant::now();
        self.saved.fresh_at_ms = Some(edgeway_shared::version::wall_millis());
        self.save()
    }

    fn save(&self) -> Save {
        Save {
            path: self.path.clone(),
            bytes: serde_json::to_vec(&self.saved).unwrap_or_default(),
        }
    }
}

/// A write of the saved state, done off the async threads (it fsyncs).
#[must_use]
pub(super) struct Save {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Save {
    /// Written to a temporary file, fsynced and renamed, so it is whole or absent.
    pub fn write(self) {
        let temp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temp)?;
            std::io::Write::write_all(&mut file, &self.bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path)
        };
        if let Err(e) = write() {
            tracing::warn!(error = %e, path = %self.path.display(), "cannot save cluster state");
        }
    }

    pub async fn run(self) {
        let _ = tokio::task::spawn_blocking(move || self.write()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::ObjectKind;

    const GRACE: Duration = Duration::from_secs(600);

    fn keys(ids: &[&str]) -> HashSet<ObjectKey> {
        (ids.iter())
            .map(|id| ObjectKey {
                kind: ObjectKind::Api,
                id: id.to_string(),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_without_complete_rounds_for_half_the_grace_turns_stale_until_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let mut settle = Settle::open(dir.path(), GRACE);
        assert!(!settle.stale(), "a node with no history starts fresh");
        tokio::time::advance(GRACE / 4).await;
        settle
            .after_round(true)
            .expect("a first complete round is saved")
            .write();
        tokio::time::advance(GRACE / 4 + Duration::from_secs(1)).await;
        assert!(settle.after_round(false).is_none());
        assert!(!settle.stale(), "the last complete round is recent enough");
        tokio::time::advance(GRACE / 4).await;
        assert!(settle.after_round(false).is_none());
        assert!(settle.stale());
        assert!(settle.after_round(true).is_none());
        assert!(settle.stale(), "only settling makes it fresh again");
        settle.settled().write();
        assert!(!settle.stale());
    }

    #[test]
    fn a_restart_long_after_the_last_complete_round_starts_stale_and_keeps_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let mut settle = Settle::open(dir.path(), GRACE);
        settle
            .raise_gc_floor((500, 1))
            .expect("a higher floor")
            .write();
        assert!(settle.raise_gc_floor((400, 0)).is_none());
        settle
            .after_round(true)
            .expect("a first complete round is saved")
            .write();
        assert_eq!(Settle::open(dir.path(), GRACE).gc_floor(), Some((500, 1)));
        assert!(!Settle::open(dir.path(), GRACE).stale());
        // Saved a whole grace ago.
        let long_ago = edgeway_shared::version::wall_millis() - GRACE.as_millis() as u64;
        let saved = Saved {
            fresh_at_ms: Some(long_ago),
            gc_floor: Some("500.1".into()),
        };
        std::fs::write(dir.path().join(FILE), serde_json::to_vec(&saved).unwrap()).unwrap();
        assert!(Settle::open(dir.path(), GRACE).stale());
    }

    #[test]
    fn settling_keeps_what_the_peers_with_the_highest_floor_list() {
        let listings = vec![
            Listing {
                keys: keys(&["a", "b"]),
                gc_floor: Some((90, 0)),
            },
            Listing {
                keys: keys(&["c"]),
                gc_floor: Some((90, 0)),
            },
            // Behind the others: what it still lists does not count.
            Listing {
                keys: keys(&["zombie"]),
                gc_floor: Some((10, 0)),
            },
            Listing {
                keys: keys(&["new"]),
                gc_floor: None,
            },
        ];
        let (floor, keep) = Settle::plan(&listings).unwrap();
        assert_eq!(floor, (90, 0));
        assert_eq!(keep, keys(&["a", "b", "c"]));
        let nobody_collected = [Listing {
            keys: keys(&["a"]),
            gc_floor: None,
        }];
        assert!(Settle::plan(&nobody_collected).is_none());
    }
}
