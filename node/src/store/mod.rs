//! The control-plane store: every object with its version, durable in the data directory,
//! readable as an immutable view for building snapshots.
//!
//! Each tombstone also carries a local arrival stamp: a tick of this node's clock taken, under
//! the state lock, when the tombstone was applied (or when the store was opened, for those
//! read from disk). A manifest is stamped the same way (`Store::manifest`), so a peer that
//! pulled a manifest stamped after a tombstone's arrival is known to hold that delete. That is
//! what lets the cluster collect tombstones safely (see `cluster::tombstones`).

mod collect;
mod disk;

pub use disk::DiskError;

use disk::Disk;
use edgeway_shared::Version;
use edgeway_shared::version::Clock;
use edgeway_shared::{Object, ObjectKey, ObjectKind, Record};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Fold batches into one file once there are this many.
const COMPACT_AFTER: usize = 256;

/// All current records, tombstones included.
pub type State = BTreeMap<ObjectKey, Record>;

/// One change in a write.
#[derive(Debug, Clone)]
// Changes live briefly on the admin path; boxing every object would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Change {
    Put(Object),
    Delete(ObjectKey),
}

pub struct Store {
    dir: std::path::PathBuf,
    clock: Clock,
    state: Mutex<Arc<State>>,
    /// When each held tombstone arrived, by this node's clock (changed under `writer`).
    arrivals: Mutex<BTreeMap<ObjectKey, Version>>,
    disk: Arc<Mutex<Disk>>,
    /// Serialises writers; held across the fsync so batches land in version order.
    writer: tokio::sync::Mutex<()>,
}

impl Store {
    pub fn open(dir: &Path, node_id: &str) -> Result<Store, DiskError> {
        let (disk, records) = Disk::open(dir)?;
        let clock = Clock::new(node_id);
        let mut state = State::new();
        for record in records {
            clock.observe(&record.version);
            merge(&mut state, record);
        }
        // What was on disk arrived no later than now; any manifest served from here on shows it.
        let opened = clock.tick();
        let arrivals = (state.iter())
            .filter(|(_, r)| r.object.is_none())
            .map(|(k, _)| (k.clone(), opened.clone()))
            .collect();
        Ok(Store {
            dir: dir.to_path_buf(),
            clock,
            state: Mutex::new(Arc::new(state)),
            arrivals: Mutex::new(arrivals),
            disk: Arc::new(Mutex::new(disk)),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// The current state; cheap (an `Arc` clone).
    pub fn view(&self) -> Arc<State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Object> {
        self.view().get(key).and_then(|r| r.object.clone())
    }

    /// Live objects of one kind whose id starts with `prefix`.
    pub fn list(&self, kind: ObjectKind, prefix: &str) -> Vec<Object> {
        let view = self.view();
        view.range(
            ObjectKey {
                kind,
                id: prefix.to_string(),
            }..,
        )
        .take_while(|(k, _)| k.kind == kind && k.id.starts_with(prefix))
        .filter_map(|(_, r)| r.object.clone())
        .collect()
    }

    /// Versions, writes durably, then applies the changes. When this returns `Ok`, the write
    /// survives a crash.
    pub async fn commit(&self, changes: Vec<Change>) -> Result<Vec<Record>, DiskError> {
        let _writer = self.writer.lock().await;
        let batch: Vec<Record> = changes
            .into_iter()
            .map(|change| {
                let version = self.clock.tick();
                match change {
                    Change::Put(object) => Record {
                        key: object.key(),
                        version,
                        object: Some(object),
                    },
                    Change::Delete(key) => Record {
                        key,
                        version,
                        object: None,
                    },
                }
            })
            .collect();
        let batch = self
            .on_disk(move |disk| disk.append(&batch).map(|_| batch))
            .await?;
        self.apply(&batch).await;
        Ok(batch)
    }

    /// Merges records already on disk into the state, then compacts when batches pile up.
    /// Callers hold `writer`.
    async fn apply(&self, batch: &[Record]) {
        let merged = {
            let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
            // Ticked under the state lock, as manifests are: see `Store::manifest`.
            let arrived = self.clock.tick();
            let mut next = State::clone(&guard);
            for record in batch {
                merge(&mut next, record.clone());
            }
            self.stamp_arrivals(&next, batch, &arrived);
            *guard = Arc::new(next);
            guard.clone()
        };
        let compact = move |disk: &mut Disk| {
            if disk.batch_count() < COMPACT_AFTER {
                return Ok(());
            }
            let all: Vec<Record> = merged.values().cloned().collect();
            disk.compact(&all)
        };
        // A failed compaction loses nothing: the batches it would replace are still there.
        if let Err(e) = self.on_disk(compact).await {
            tracing::warn!(error = %e, "compaction failed; will retry on a later write");
        }
    }

    /// Stores records that other nodes wrote, keeping only those newer than what this node
    /// holds (last writer wins), durably before they are applied. Returns the ones applied.
    pub async fn apply_remote(&self, records: Vec<Record>) -> Result<Vec<Record>, DiskError> {
        let _writer = self.writer.lock().await;
        let view = self.view();
        let newer: Vec<Record> = records
            .into_iter()
            .filter(|r| view.get(&r.key).is_none_or(|held| held.version < r.version))
            .collect();
        if newer.is_empty() {
            return Ok(newer);
        }
        for record in &newer {
            self.clock.observe(&record.version);
        }
        let newer = self
            .on_disk(move |disk| disk.append(&newer).map(|_| newer))
            .await?;
        self.apply(&newer).await;
        Ok(newer)
    }

    /// Keeps the arrival stamps in step with the records that just became current.
    fn stamp_arrivals(&self, next: &State, batch: &[Record], arrived: &Version) {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        for record in batch {
            let current = next.get(&record.key);
            if current.is_some_and(|r| r.version == record.version) {
                if record.object.is_none() {
                    arrivals.insert(record.key.clone(), arrived.clone());
                } else {
                    arrivals.remove(&record.key);
                }
            }
        }
    }

    /// The state for a peer's manifest, with a stamp from this node's clock: every record that
    /// arrived with an earlier stamp is in it. Arrival stamps and this one are both ticked while
    /// holding the state lock, so the order of the ticks is the order in which the states were
    /// swapped in (and a manifest never waits for a write's fsync).
    pub fn manifest(&self) -> (Version, Arc<State>) {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (self.clock.tick(), guard.clone())
    }

    /// Moves this node's clock past a version seen elsewhere (a peer's gossip).
    pub fn observe(&self, seen: &Version) {
        self.clock.observe(seen);
    }

    /// The data directory (other modules keep small files of their own beside the batches).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs blocking file work off the async threads.
    async fn on_disk<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Disk) -> Result<T, DiskError> + Send + 'static,
    ) -> Result<T, DiskError> {
        let disk = self.disk.clone();
        tokio::task::spawn_blocking(move || {
            work(&mut disk.lock().unwrap_or_else(|e| e.into_inner()))
        })
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
    }
}

/// Last writer wins: a record replaces the stored one only if its version is newer.
fn merge(state: &mut State, record: Record) {
    match state.get(&record.key) {
        Some(existing) if existing.version >= record.version => {}
        _ => {
            state.insert(record.key.clone(), record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeway_shared::{Api, ApiKind};

    fn api(id: &str, name: &str) -> Object {
        Object::Api(Api::new(id, name, ApiKind::Http))
    }

    #[tokio::test]
    async fn writes_survive_reopen_and_later_writes_win() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), "n1").unwrap();
            store
                .commit(vec![Change::Put(api("a", "first"))])
                .await
                .unwrap();
            store
                .commit(vec![
                    Change::Put(api("a", "second")),
                    Change::Put(api("b", "b")),
                ])
                .await
                .unwrap();
            store
                .commit(vec![Change::Delete(api("b", "b").key())])
                .await
                .unwrap();
        }
        let store = Store::open(dir.path(), "n1").unwrap();
        assert_eq!(store.get(&api("a", "").key()), Some(api("a", "second")));
        assert_eq!(store.get(&api("b", "").key()), None);
        assert_eq!(store.list(ObjectKind::Api, "").len(), 1);
    }

    #[tokio::test]
    async fn compaction_keeps_every_object_and_tombstone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "n1").unwrap();
        for i in 0..COMPACT_AFTER + 3 {
            store
                .commit(vec![Change::Put(api(
                    &format!("api{}", i % 10),
                    &format!("v{i}"),
                ))])
                .await
                .unwrap();
        }
        store
            .commit(vec![Change::Delete(api("api0", "").key())])
            .await
            .unwrap();
        let before = store.view();
        drop(store);
        let reopened = Store::open(dir.path(), "n1").unwrap();
        assert_eq!(*reopened.view(), *before);
        assert!(std::fs::read_dir(dir.path()).unwrap().count() < 10);
    }

    #[tokio::test]
    async fn a_damaged_file_is_reported_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), "n1")
            .unwrap()
            .commit(vec![Change::Put(api("a", "x"))])
            .await
            .unwrap();
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 4]).unwrap();
        let err = Store::open(dir.path(), "n1")
            .err()
            .expect("must refuse")
            .to_string();
        assert!(
            err.contains("damaged") && err.contains(file.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
}
