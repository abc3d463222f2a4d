//! Saving the embedded limiter's quota counters and daily usage to the data directory, so a
//! restart does not hand out a fresh quota. The node saves every [`SAVE_INTERVAL`] and at
//! shutdown; after a crash (kill -9) at most one interval of counting is lost. Buckets are not
//! saved: a restarted node starts them full, as a new node would.

use super::calendar::{DAY_MS, format_day, parse_day};
use super::local::LocalLimiter;
use super::quota::{DayUsage, HISTORY_DAYS, KeyUsage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const SAVE_INTERVAL: Duration = Duration::from_secs(10);
pub const FILE_NAME: &str = "usage.json";

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usage file ({reason})")]
    Damaged { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct SavedUsage {
    version: u32,
    saved_at_ms: i64,
    keys: Vec<SavedKey>,
}

#[derive(Serialize, Deserialize)]
struct SavedKey {
    plan_id: String,
    key_id: String,
    /// The quota counter as it stands: period tag and requests used in it.
    quota_tag: u32,
    quota_used: i64,
    #[serde(default)]
    touched_day: Option<String>,
    /// `YYYY-MM-DD` → use that day.
    days: BTreeMap<String, DayUsage>,
}

impl LocalLimiter {
    /// Writes every key's counters to `path` durably: a temporary file, fsynced, renamed over
    /// the old one, then the directory fsynced.
    pub fn save(&self, path: &Path) -> Result<(), PersistError> {
        let _one_at_a_time = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys = Vec::new();
        self.usage.for_each(|u| keys.push(saved(u)));
        let file = SavedUsage {
            version: 1,
            saved_at_ms: self.clock.now_ms(),
            keys,
        };
        let bytes = serde_json::to_vec(&file).expect("usage serializes");
        let io = |source| PersistError::Io {
            path: path.to_path_buf(),
            source,
        };
        let temp = path.with_extension("json.tmp");
        let mut out = std::fs::File::create(&temp).map_err(io)?;
        out.write_all(&bytes).map_err(io)?;
        out.sync_all().map_err(io)?;
        std::fs::rename(&temp, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }

    /// Reads counters saved by [`LocalLimiter::save`]; a missing file is a fresh start.
    pub fn load(&self, path: &Path) -> Result<usize, PersistError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(PersistError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let file: SavedUsage =
            serde_json::from_slice(&bytes).map_err(|e| PersistError::Damaged {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let today = self.clock.now_ms().div_euclid(DAY_MS);
        for key in &file.keys {
            let usage = KeyUsage::new(&key.plan_id, &key.key_id);
            usage.quota.restore(key.quota_tag, key.quota_used);
            if let Some(day) = key.touched_day.as_deref().and_then(parse_day) {
                usage.touch(day);
            }
            let days = key
                .days
                .iter()
                .filter_map(|(d, u)| parse_day(d).map(|d| (d, *u)))
                .filter(|(d, _)| *d > today - HISTORY_DAYS)
                .collect();
            usage.restore_days(days);
            let id = self.usage_key(&key.plan_id, &key.key_id);
            self.usage.with(id, || usage, |_| ());
        }
        Ok(file.keys.len())
    }
}

fn saved(u: &KeyUsage) -> SavedKey {
    let (quota_tag, quota_used) = u.quota.state();
    SavedKey {
        plan_id: u.plan_id.to_string(),
        key_id: u.key_id.to_string(),
        quota_tag,
        quota_used,
        touched_day: u.touched_day().map(format_day),
        days: u
            .days()
            .into_iter()
            .map(|(d, usage)| (format_day(d), usage))
            .collect(),
    }
}

/// A node's embedded limiter: loaded from the data directory at start, swept and saved every
/// [`SAVE_INTERVAL`], saved once more at shutdown.
pub struct Embedded {
    pub limiter: Arc<LocalLimiter>,
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Embedded {
    pub fn start(data_dir: &Path) -> Result<Embedded, PersistError> {
        let limiter = Arc::new(LocalLimiter::default());
        let path = data_dir.join(FILE_NAME);
        match limiter.load(&path) {
            Ok(_) => {}
            Err(e @ PersistError::Damaged { .. }) => {
                // Counting starts afresh rather than keeping the node down; the file is kept
                // for the operator.
                let aside = path.with_extension("json.damaged");
                tracing::error!(error = %e, aside = %aside.display(), "usage counters lost");
                let _ = std::fs::rename(&path, &aside);
            }
            Err(e) => return Err(e),
        }
        let task = tokio::spawn(maintain(limiter.clone(), path.clone()));
        Ok(Embedded {
            limiter,
            path,
            task,
        })
    }

    /// Stops the periodic work and saves the counters as they are now.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        save_logged(self.limiter.clone(), self.path.clone()).await;
    }
}

impl Drop for Embedded {
    /// A node that failed to start stops its periodic work too.
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn maintain(limiter: Arc<LocalLimiter>, path: PathBuf) {
    let mut tick = tokio::time::interval(SAVE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        limiter.sweep();
        save_logged(limiter.clone(), path.clone()).await;
    }
}

async fn save_logged(limiter: Arc<LocalLimiter>, path: PathBuf) {
    let saved = tokio::task::spawn_blocking(move || limiter.save(&path)).await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "usage counters not saved"),
        Err(e) => tracing::error!(error = %e, "usage counters not saved"),
    }
}
