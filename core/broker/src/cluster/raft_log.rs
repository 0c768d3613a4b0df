//! `RaftLogFile`: the metadata quorum's Raft log, vote and commit point, in the `raft/`
//! directory of the broker's first log directory. The log is one append-only file of
//! records (`u32` length, CRC32C, JSON); truncation and purging append a record rather than
//! rewrite, and a purge compacts the file once it holds mostly purged entries. A torn tail
//! after a crash is cut at the first record whose length or checksum is wrong. Vote and
//! commit point are small files written to a temporary name, synced and renamed.
//!
//! Writes happen in openraft's storage task, one at a time, as its contract requires; they
//! are small (metadata changes, not records), so they sync inline.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{NodeId, TypeConfig};

const LOG_FILE: &str = "log";
const VOTE_FILE: &str = "vote";
const COMMITTED_FILE: &str = "committed";

/// One record of the log file.
#[derive(Serialize, Deserialize)]
enum LogRecord {
    Entry(Entry<TypeConfig>),
    /// Entries from this index on are gone (a new leader overwrote them).
    TruncateFrom(u64),
    /// Entries up to this id are in a snapshot and gone.
    PurgeUpTo(LogId<NodeId>),
}

#[derive(Debug, Default)]
struct LogContents {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    records_in_file: usize,
}

/// The Raft log on disk, shared by openraft's writer and its readers.
#[derive(Debug, Clone)]
pub(crate) struct RaftLogFile {
    dir: PathBuf,
    inner: Arc<Mutex<LogContents>>,
}

impl RaftLogFile {
    /// Opens (or creates) the log in `dir`, cutting a torn tail.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let mut contents = LogContents::default();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut at = 0;
        while let Some((record, len)) = decode(&bytes[at..]) {
            contents.apply(record);
            contents.records_in_file += 1;
            at += len;
        }
        if at < bytes.len() {
            tracing::warn!(file = %path.display(), cut = bytes.len() - at, "cutting a torn tail off the Raft log");
            let file = OpenOptions::new().write(true).open(&path)?;
            file.set_len(at as u64)?;
            file.sync_all()?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            inner: Arc::new(Mutex::new(contents)),
        })
    }

    fn append_records(&self, records: &[LogRecord]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for record in records {
            encode(record, &mut buf)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(LOG_FILE))?;
        file.write_all(&buf)?;
        file.sync_data()
    }

    /// Rewrites the file with only the live entries (after purges).
    fn compact(&self, contents: &mut LogContents) -> std::io::Result<()> {
        let mut buf = Vec::new();
        if let Some(purged) = contents.last_purged {
            encode(&LogRecord::PurgeUpTo(purged), &mut buf)?;
        }
        for entry in contents.entries.values() {
            encode(&LogRecord::Entry(entry.clone()), &mut buf)?;
        }
        write_atomically(&self.dir.join(LOG_FILE), &buf)?;
        contents.records_in_file = contents.entries.len() + 1;
        Ok(())
    }
}

impl LogContents {
    fn apply(&mut self, record: LogRecord) {
        match record {
            LogRecord::Entry(entry) => {
                self.entries.insert(entry.log_id.index, entry);
            }
            LogRecord::TruncateFrom(index) => {
                self.entries.split_off(&index);
            }
            LogRecord::PurgeUpTo(log_id) => {
                self.entries = self.entries.split_off(&(log_id.index + 1));
                self.last_purged = Some(log_id);
            }
        }
    }
}

fn encode(record: &LogRecord, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let json = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    buf.extend_from_slice(&(json.len() as u32).to_be_bytes());
    buf.extend_from_slice(&crc32c::crc32c(&json).to_be_bytes());
    buf.extend_from_slice(&json);
    Ok(())
}

/// The record at the start of `bytes` and its encoded length; `None` at the end or at a
/// torn or corrupt record.
fn decode(bytes: &[u8]) -> Option<(LogRecord, usize)> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?);
    let json = bytes.get(8..8 + len)?;
    if crc32c::crc32c(json) != crc {
        return None;
    }
    let record = serde_json::from_slice(json).ok()?;
    Some((record, 8 + len))
}

/// Writes `bytes` to `path` through a synced temporary file and a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads a small JSON file written by [`write_atomically`]; `None` when absent.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> std::io::Result<Option<T>> {
    let mut text = Vec::new();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(std::io::Error::other)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_atomically(path, &bytes)
}

impl RaftLogReader<TypeConfig> for RaftLogFile {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        Ok(self
            .inner
            .lock()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for RaftLogFile {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let inner = self.inner.lock();
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        write_json(&self.dir.join(VOTE_FILE), vote)
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        read_json(&self.dir.join(VOTE_FILE)).map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        write_json(&self.dir.join(COMMITTED_FILE), &committed)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        read_json::<Option<LogId<NodeId>>>(&self.dir.join(COMMITTED_FILE))
            .map(Option::flatten)
            .map_err(|e| StorageIOError::read_logs(&e).into())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records: Vec<LogRecord> = entries.into_iter().map(LogRecord::Entry).collect();
        let written = self.append_records(&records);
        let failed = written.as_ref().err().map(StorageIOError::write_logs);
        if written.is_ok() {
            let mut inner = self.inner.lock();
            inner.records_in_file += records.len();
            for record in records {
                inner.apply(record);
            }
        }
        callback.log_io_completed(written);
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let record = LogRecord::TruncateFrom(log_id.index);
        self.append_records(std::slice::from_ref(&record))
            .map_err(|e| StorageIOError::write_logs(&e))?;
        let mut inner = self.inner.lock();
        inner.records_in_file += 1;
        inner.apply(record);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let record = LogRecord::PurgeUpTo(log_id);
        self.append_records(std::slice::from_ref(&record))
            .map_err(|e| StorageIOError::write_logs(&e))?;
        let mut inner = self.inner.lock();
        inner.records_in_file += 1;
        inner.apply(record);
        if inner.records_in_file > 2 * inner.entries.len() + 64 {
            self.compact(&mut inner)
                .map_err(|e| StorageIOError::write_logs(&e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;

    fn entry(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    #[test]
    fn survives_reopen_truncation_purge_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = RaftLogFile::open(dir.path()).unwrap();
        let records: Vec<_> = (1..=5).map(|i| LogRecord::Entry(entry(i))).collect();
        log.append_records(&records).unwrap();
        log.append_records(&[
            LogRecord::TruncateFrom(4),
            LogRecord::PurgeUpTo(entry(1).log_id),
        ])
        .unwrap();
        // A half-written record at the end, as after a crash.
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG_FILE))
            .unwrap();
        file.write_all(&[0, 0, 1, 0, 9]).unwrap();
        drop(file);
        let reopened = RaftLogFile::open(dir.path()).unwrap();
        let inner = reopened.inner.lock();
        assert_eq!(
            inner.entries.keys().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(inner.last_purged.map(|l| l.index), Some(1));
    }
}
