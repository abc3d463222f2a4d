//! The data directory: every acknowledged write is one batch file, written to a temporary
//! name, fsynced, renamed into place and the directory fsynced, so a file either exists whole
//! or not at all. Records carry versions and merge last-writer-wins, so batches can be replayed
//! in any order and compaction needs no coordination with readers.
//!
//! Compaction writes the whole merged state as one `.state` file that replaces every file with
//! a lower sequence number. Because collected tombstones are left out of it, the old files must
//! never be replayed alongside it: a crash part-way through removing them would otherwise bring
//! back a batch holding an object without the later batch holding its delete. So on open the
//! newest `.state` file wins and anything older is ignored and removed.

use edgeway_shared::Record;
use edgeway_shared::codec::{decode_record, encode_record};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("data directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state file {path} is damaged ({reason}); refusing to start without it. Restore it from a peer or backup, or move it away knowingly"
    )]
    Corrupt { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DiskError + '_ {
    move |source| DiskError::Io {
        path: path.to_path_buf(),
        source,
    }
}

const BATCH_EXT: &str = "batch";
const STATE_EXT: &str = "state";
const TEMP_EXT: &str = "tmp";

pub struct Disk {
    dir: PathBuf,
    next_seq: u64,
}

impl Disk {
    /// Opens (creating) the directory and reads every batch in it.
    pub fn open(dir: &Path) -> Result<(Disk, Vec<Record>), DiskError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut records = Vec::new();
        let mut next_seq = 0;
        let files = data_files(dir)?;
        let base = files
            .iter()
            .filter(|f| f.state)
            .map(|f| f.seq)
            .max()
            .unwrap_or(0);
        for file in files {
            next_seq = next_seq.max(file.seq + 1);
            if file.seq < base {
                // Replaced by the newest state file; a compaction stopped before removing it.
                let _ = fs::remove_file(&file.path);
                continue;
            }
            let bytes = fs::read(&file.path).map_err(io(&file.path))?;
            let batch: Vec<Record> = decode_record(&bytes).map_err(|e| DiskError::Corrupt {
                path: file.path.clone(),
                reason: e.to_string(),
            })?;
            records.extend(batch);
        }
        // A temporary file is a write that was never acknowledged: its rename did not happen.
        for entry in fs::read_dir(dir).map_err(io(dir))?.flatten() {
            if entry.path().extension().is_some_and(|e| e == TEMP_EXT) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok((
            Disk {
                dir: dir.to_path_buf(),
                next_seq,
            },
            records,
        ))
    }

    /// Durably writes one batch. Returns after the data and the directory entry are on disk.
    pub fn append(&mut self, batch: &[Record]) -> Result<(), DiskError> {
        let seq = self.next_seq;
        self.write_file(seq, BATCH_EXT, batch)?;
        self.next_seq += 1;
        Ok(())
    }

    /// How many batch files a compaction would fold together.
    pub fn batch_count(&self) -> usize {
        data_files(&self.dir)
            .map(|f| f.iter().filter(|f| !f.state).count())
            .unwrap_or(0)
    }

    /// Replaces every file so far with one state file holding `all` (the merged state, which
    /// may leave out what is no longer wanted). Once its rename is durable the old files no
    /// longer count, whether or not their removal below completes.
    pub fn compact(&mut self, all: &[Record]) -> Result<(), DiskError> {
        let old = data_files(&self.dir)?;
        let seq = self.next_seq;
        self.write_file(seq, STATE_EXT, all)?;
        self.next_seq += 1;
        for file in old {
            fs::remove_file(&file.path).map_err(io(&file.path))?;
        }
        sync_dir(&self.dir)
    }

    fn write_file(&self, seq: u64, ext: &str, batch: &[Record]) -> Result<(), DiskError> {
        let name = format!("{seq:020}");
        let temp = self.dir.join(format!("{name}.{TEMP_EXT}"));
        let path = self.dir.join(format!("{name}.{ext}"));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io(&temp))?;
        file.write_all(&encode_record(&batch)).map_err(io(&temp))?;
        file.sync_all().map_err(io(&temp))?;
        drop(file);
        fs::rename(&temp, &path).map_err(io(&path))?;
        sync_dir(&self.dir)
    }
}

fn sync_dir(dir: &Path) -> Result<(), DiskError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// A batch or state file.
struct DataFile {
    seq: u64,
    state: bool,
    path: PathBuf,
}

/// Batch and state files in sequence order. Other files are left alone.
fn data_files(dir: &Path) -> Result<Vec<DataFile>, DiskError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let state = path.extension().is_some_and(|e| e == STATE_EXT);
        if state || path.extension().is_some_and(|e| e == BATCH_EXT) {
            let seq = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| DiskError::Corrupt {
                    path: path.clone(),
                    reason: "name is not a sequence number".into(),
                })?;
            files.push(DataFile { seq, state, path });
        }
    }
    files.sort_by_key(|f| f.seq);
    Ok(files)
}
