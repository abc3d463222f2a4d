//! Removing records for good: tombstones every member holds, and (on a node that was away too
//! long) records whose deletes were collected meanwhile. Removal rewrites the data directory as
//! one state file (see `disk.rs`), so a removed record cannot come back after a crash.

use super::{DiskError, Record, State, Store};
use edgeway_shared::{ObjectKey, Version};
use std::collections::HashSet;
use std::sync::Arc;

/// Compares by time and counter only: horizons and floors are ticks of some node's clock.
fn before(version: &Version, limit: &Version) -> bool {
    (version.millis, version.counter) < (limit.millis, limit.counter)
}

impl Store {
    /// The newest version among the tombstones that arrived before `horizon`: what
    /// [`Store::collect`] would drop at most.
    pub fn collectable(&self, horizon: &Version) -> Option<Version> {
        let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        let view = self.view();
        (arrivals.iter())
            .filter(|(_, at)| before(at, horizon))
            .filter_map(|(k, _)| view.get(k).map(|r| r.version.clone()))
            .max()
    }

    /// How many tombstones are held.
    pub fn tombstones(&self) -> usize {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Drops the tombstones that arrived before `horizon` (compared by time and counter) and
    /// returns them. Durable before it returns: the state file written leaves them out.
    pub async fn collect(&self, horizon: &Version) -> Result<Vec<Record>, DiskError> {
        let due: HashSet<ObjectKey> = {
            let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
            (arrivals.iter())
                .filter(|(_, at)| before(at, horizon))
                .map(|(k, _)| k.clone())
                .collect()
        };
        // Re-checked under the writer lock: a newer record may have replaced one meanwhile.
        self.remove_where(move |store, key, record| {
            record.object.is_none()
                && due.contains(key)
                && store.arrival(key).is_some_and(|at| before(&at, horizon))
        })
        .await
    }

    /// Drops records older than `floor` whose keys are not in `keep` (a rejoining node's view of
    /// what its peers hold); returns them. Durable before it returns.
    pub async fn drop_unlisted(
        &self,
        floor: &Version,
        keep: &HashSet<ObjectKey>,
    ) -> Result<Vec<Record>, DiskError> {
        self.remove_where(move |_, key, record| {
            before(&record.version, floor) && !keep.contains(key)
        })
        .await
    }

    fn arrival(&self, key: &ObjectKey) -> Option<Version> {
        let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        arrivals.get(key).cloned()
    }

    /// Removes the records `pick` chooses: writes the state without them as a state file, then
    /// swaps it in. A crash in between leaves them in place, to be removed again later.
    async fn remove_where(
        &self,
        pick: impl Fn(&Store, &ObjectKey, &Record) -> bool,
    ) -> Result<Vec<Record>, DiskError> {
        let _writer = self.writer.lock().await;
        let view = self.view();
        let (gone, kept): (Vec<Record>, Vec<Record>) =
            view.values().cloned().partition(|r| pick(self, &r.key, r));
        if gone.is_empty() {
            return Ok(gone);
        }
        let next: State = kept.iter().map(|r| (r.key.clone(), r.clone())).collect();
        self.on_disk(move |disk| disk.compact(&kept)).await?;
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        for record in &gone {
            arrivals.remove(&record.key);
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Change, Store};
    use edgeway_shared::{Api, ApiKind, Object, ObjectKey};
    use std::collections::HashSet;
    use std::path::Path;

    fn api(id: &str) -> Object {
        Object::Api(Api::new(id, id, ApiKind::Http))
    }

    fn key(id: &str) -> ObjectKey {
        api(id).key()
    }

    async fn put_then_delete(store: &Store, id: &str) {
        store.commit(vec![Change::Put(api(id))]).await.unwrap();
        store.commit(vec![Change::Delete(key(id))]).await.unwrap();
    }

    fn files(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    #[tokio::test]
    async fn only_tombstones_that_arrived_before_the_horizon_go_and_they_stay_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "n1").unwrap();
        store.commit(vec![Change::Put(api("kept"))]).await.unwrap();
        put_then_delete(&store, "old").await;
        let (as_of, _) = store.manifest();
        put_then_delete(&store, "new").await;
        assert_eq!(store.tombstones(), 2);

        let gone = store.collect(&as_of).await.unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].key, key("old"));
        let view = store.view();
        assert!(!view.contains_key(&key("old")));
        assert!(view.get(&key("new")).is_some_and(|r| r.object.is_none()));
        assert_eq!(store.tombstones(), 1);
        drop(store);

        let reopened = Store::open(dir.path(), "n1").unwrap();
        assert!(!reopened.view().contains_key(&key("old")));
        assert!(reopened.get(&key("kept")).is_some());
        assert_eq!(reopened.tombstones(), 1);
    }

    #[tokio::test]
    async fn old_files_left_by_a_crash_during_removal_do_not_bring_anything_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "n1").unwrap();
        put_then_delete(&store, "doomed").await;
        let before: Vec<(std::path::PathBuf, Vec<u8>)> = files(dir.path())
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        let (as_of, _) = store.manifest();
        assert_eq!(store.collect(&as_of).await.unwrap().len(), 1);
        drop(store);
        // As if the process died after the state file's rename but before the old batches
        // were unlinked: the put's batch is back, the delete's is not.
        let (put_batch, bytes) = &before[0];
        std::fs::write(put_batch, bytes).unwrap();

        let reopened = Store::open(dir.path(), "n1").unwrap();
        assert!(!reopened.view().contains_key(&key("doomed")));
        assert!(
            !put_batch.exists(),
            "superseded files are cleaned up on open"
        );
    }

    #[tokio::test]
    async fn dropping_unlisted_records_spares_newer_and_listed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "n1").unwrap();
        for id in ["stale", "listed"] {
            store.commit(vec![Change::Put(api(id))]).await.unwrap();
        }
        let (floor, _) = store.manifest();
        store
            .commit(vec![Change::Put(api("recent"))])
            .await
            .unwrap();
        let keep: HashSet<ObjectKey> = [key("listed")].into_iter().collect();

        let gone = store.drop_unlisted(&floor, &keep).await.unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].key, key("stale"));
        drop(store);
        let reopened = Store::open(dir.path(), "n1").unwrap();
        assert!(reopened.get(&key("stale")).is_none());
        assert!(reopened.get(&key("listed")).is_some());
        assert!(reopened.get(&key("recent")).is_some());
    }
}
