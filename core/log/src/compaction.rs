//! Log compaction (`cleanup.policy = compact`): in the sealed segments, keep only the newest
//! record of each key, as Kafka's log cleaner does. The active segment is never touched.
//!
//! A pass builds a map of each key's newest offset over every sealed segment, then writes a
//! cleaned copy of each segment into `.cleaner/` beside the partition's files, without
//! holding the log's lock. Batches whose records all survive are copied as they are; a batch
//! that loses some is rebuilt with the survivors (same base offset, same last offset delta,
//! record bytes unchanged, CRC recomputed), and one that loses all of them disappears —
//! except the segment's last batch, kept as an empty batch so the segment still says where
//! its offsets end. Tombstones (null values) go once older than `delete.retention.ms`.
//! Compressed, transactional and control batches are kept whole: the log has no codecs.
//!
//! Swapping a cleaned segment in is crash-safe. The cleaned log, index and time index are
//! synced; renaming `.cleaner/<base>.log` to `<base>.log.swap` is the commit point; then the
//! indexes and the log are renamed over the originals. Opening a partition finishes any swap
//! it finds and discards an unfinished `.cleaner/`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::checkpoint;
use crate::error::IoError;
use crate::records;
use crate::segment::{self, AppendFailure, Segment};

/// Where cleaned copies are written before they are swapped in.
pub(crate) const CLEANER_DIR: &str = ".cleaner";
/// The first offset not yet covered by a compaction pass.
pub(crate) const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";
const SWAP_SUFFIX: &str = ".log.swap";

/// A sealed segment as a compaction pass sees it: bytes that no longer change, read
/// through a shared handle so the pass needs no lock.
#[derive(Debug, Clone)]
pub(crate) struct SealedSegment {
    pub(crate) base: u64,
    pub(crate) next_offset: u64,
    pub(crate) size: u64,
    pub(crate) file: Arc<File>,
    pub(crate) path: PathBuf,
}

/// The newest offset of every key in the sealed segments. Keys are kept as 128-bit hashes
/// (24 bytes per key with the offset, whatever the key's size), as Kafka's cleaner keeps
/// digests; two keys colliding is vanishingly unlikely at any realistic key count.
#[derive(Debug, Default)]
pub(crate) struct LatestOffsets {
    newest: HashMap<u128, i64>,
}

impl LatestOffsets {
    /// Reads every plain batch of `segments` and records each keyed record's offset.
    pub(crate) fn build(segments: &[SealedSegment]) -> Result<Self, IoError> {
        let mut map = Self::default();
        for segment in segments {
            for_each_batch(segment, |header, bytes| {
                if !records::is_plain(header) {
                    return Ok(());
                }
                // A batch that does not decode was validated on append; keep it whole and
                // let the rewrite skip it the same way.
                if let Ok(records) = records::decode(bytes) {
                    for record in records {
                        if let Some(key) = record.key {
                            map.newest.insert(key_digest(key), record.offset);
                        }
                    }
                }
                Ok(())
            })?;
        }
        Ok(map)
    }

    fn is_newest(&self, key: &[u8], offset: i64) -> bool {
        self.newest
            .get(&key_digest(key))
            .is_none_or(|&newest| newest <= offset)
    }

    /// Keys known.
    pub(crate) fn len(&self) -> usize {
        self.newest.len()
    }
}

fn key_digest(key: &[u8]) -> u128 {
    let half = |salt: u8| {
        let mut hasher = DefaultHasher::new();
        salt.hash(&mut hasher);
        key.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// What cleaning one segment did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanedStats {
    pub(crate) records_removed: u64,
    pub(crate) bytes_before: u64,
    pub(crate) bytes_after: u64,
}

/// Writes the cleaned copy of `source` into `dir/.cleaner/` and seals it. Returns `None`
/// (and leaves nothing behind) when no record would go, so an unchanged segment is never
/// rewritten.
pub(crate) fn write_cleaned(
    dir: &Path,
    source: &SealedSegment,
    latest: &LatestOffsets,
    tombstone_horizon_ms: i64,
    index_interval: u32,
    now_ms: i64,
) -> Result<Option<(Segment, CleanedStats)>, IoError> {
    // First pass: does anything go at all? Cheap compared with a rewrite.
    let mut removable = 0u64;
    for_each_batch(source, |header, bytes| {
        removable += removed_records(header, bytes, latest, tombstone_horizon_ms);
        Ok(())
    })?;
    if removable == 0 {
        return Ok(None);
    }
    let cleaner = dir.join(CLEANER_DIR);
    fs::create_dir_all(&cleaner).map_err(|e| IoError::new("creating", &cleaner, e))?;
    let mut cleaned = Segment::create(&cleaner, source.base, now_ms)?;
    let mut stats = CleanedStats {
        bytes_before: source.size,
        ..CleanedStats::default()
    };
    let mut position = 0u64;
    for_each_batch(source, |header, bytes| {
        position += header.total_len() as u64;
        let last_of_segment = position >= source.size;
        let out = survivors(header, bytes, latest, tombstone_horizon_ms);
        let out = match out {
            Survivors::All => std::borrow::Cow::Borrowed(bytes),
            Survivors::Some { batch, removed } => {
                stats.records_removed += removed;
                std::borrow::Cow::Owned(batch)
            }
            Survivors::None { removed } => {
                stats.records_removed += removed;
                if !last_of_segment {
                    return Ok(());
                }
                std::borrow::Cow::Owned(records::rebuild(bytes, &[]))
            }
        };
        let header = batch::validate(&out).map_err(|e| {
            IoError::new(
                "rebuilding a batch of",
                &source.path,
                std::io::Error::other(e.to_string()),
            )
        })?;
        cleaned
            .append(&out, &[(0, header)], index_interval, now_ms)
            .map_err(|failure| match failure {
                AppendFailure::Clean(e) | AppendFailure::Dirty(e, _) | AppendFailure::Index(e) => e,
            })?;
        Ok(())
    })?;
    cleaned.seal()?;
    checkpoint::sync_dir(&cleaner)?;
    stats.bytes_after = cleaned.size;
    Ok(Some((cleaned, stats)))
}

enum Survivors {
    All,
    Some { batch: Vec<u8>, removed: u64 },
    None { removed: u64 },
}

fn survivors(
    header: &BatchHeader,
    bytes: &[u8],
    latest: &LatestOffsets,
    tombstone_horizon_ms: i64,
) -> Survivors {
    let Some(records) = plain_records(header, bytes) else {
        return Survivors::All;
    };
    let kept: Vec<_> = records
        .iter()
        .filter(|r| keeps(r, latest, tombstone_horizon_ms))
        .copied()
        .collect();
    let removed = (records.len() - kept.len()) as u64;
    match (removed, kept.is_empty()) {
        (0, _) => Survivors::All,
        (_, true) => Survivors::None { removed },
        _ => Survivors::Some {
            batch: records::rebuild(bytes, &kept),
            removed,
        },
    }
}

fn removed_records(
    header: &BatchHeader,
    bytes: &[u8],
    latest: &LatestOffsets,
    tombstone_horizon_ms: i64,
) -> u64 {
    plain_records(header, bytes).map_or(0, |records| {
        records
            .iter()
            .filter(|r| !keeps(r, latest, tombstone_horizon_ms))
            .count() as u64
    })
}

fn plain_records<'a>(header: &BatchHeader, bytes: &'a [u8]) -> Option<Vec<records::Record<'a>>> {
    if !records::is_plain(header) {
        return None;
    }
    records::decode(bytes).ok()
}

/// Unkeyed records stay (Kafka refuses them in compacted topics; weir keeps what it was
/// given); a keyed record stays while it is its key's newest, a tombstone only until the
/// horizon.
fn keeps(record: &records::Record<'_>, latest: &LatestOffsets, tombstone_horizon_ms: i64) -> bool {
    let Some(key) = record.key else {
        return true;
    };
    if !latest.is_newest(key, record.offset) {
        return false;
    }
    record.value.is_some() || record.timestamp >= tombstone_horizon_ms
}

/// Calls `f` with each batch of `segment`, in order.
fn for_each_batch(
    segment: &SealedSegment,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<(), IoError>,
) -> Result<(), IoError> {
    let io = |e| IoError::new("reading", &segment.path, e);
    let mut buf = Vec::new();
    let mut position = 0u64;
    let mut head = [0u8; HEADER_LEN];
    while position < segment.size {
        segment
            .file
            .read_exact_at(&mut head, position)
            .map_err(io)?;
        let header = BatchHeader::parse(&head).map_err(|e| {
            IoError::new(
                "reading",
                &segment.path,
                std::io::Error::other(e.to_string()),
            )
        })?;
        buf.resize(header.total_len(), 0);
        segment.file.read_exact_at(&mut buf, position).map_err(io)?;
        f(&header, &buf)?;
        position += header.total_len() as u64;
    }
    Ok(())
}

/// Swaps the cleaned copy of the segment at `base` in for the original: the commit point,
/// then the renames. The caller holds the log's write lock and reopens the segment after.
pub(crate) fn swap_in(dir: &Path, base: u64) -> Result<(), IoError> {
    let stem = segment::file_stem(base);
    let cleaned_log = dir.join(CLEANER_DIR).join(format!("{stem}.log"));
    let swap = dir.join(format!("{stem}{SWAP_SUFFIX}"));
    fs::rename(&cleaned_log, &swap).map_err(|e| IoError::new("renaming", &cleaned_log, e))?;
    checkpoint::sync_dir(dir)?;
    finish_swap(dir, &stem)
}

/// Completes a swap whose commit point (`<stem>.log.swap`) was reached.
fn finish_swap(dir: &Path, stem: &str) -> Result<(), IoError> {
    let cleaner = dir.join(CLEANER_DIR);
    for ext in ["index", "timeindex"] {
        let from = cleaner.join(format!("{stem}.{ext}"));
        let to = dir.join(format!("{stem}.{ext}"));
        match fs::rename(&from, &to) {
            Ok(()) => {}
            // Already moved before a crash; or lost, and then opening rebuilds it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IoError::new("renaming", &from, e)),
        }
    }
    let swap = dir.join(format!("{stem}{SWAP_SUFFIX}"));
    let log = dir.join(format!("{stem}.log"));
    fs::rename(&swap, &log).map_err(|e| IoError::new("renaming", &swap, e))?;
    checkpoint::sync_dir(dir)
}

/// On open: finishes every committed swap and drops what an unfinished pass left.
pub(crate) fn finish_interrupted(dir: &Path) -> Result<(), IoError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IoError::new("listing", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| IoError::new("listing", dir, e))?;
        let name = entry.file_name();
        if let Some(stem) = name.to_string_lossy().strip_suffix(SWAP_SUFFIX) {
            tracing::info!(partition = %dir.display(), segment = stem, "finishing an interrupted compaction swap");
            finish_swap(dir, stem)?;
        }
    }
    discard_cleaner_dir(dir)
}

/// Removes `.cleaner/` and whatever is in it.
pub(crate) fn discard_cleaner_dir(dir: &Path) -> Result<(), IoError> {
    let cleaner = dir.join(CLEANER_DIR);
    match fs::remove_dir_all(&cleaner) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IoError::new("deleting", &cleaner, e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::{CleanupPolicy, FlushMode, FlushPolicy, LogConfig};
    use crate::testing::BatchBuilder;
    use crate::{PartitionLog, SystemClock};

    fn config() -> LogConfig {
        LogConfig {
            segment_bytes: 300,
            index_interval_bytes: 64,
            retention: None,
            flush: FlushPolicy {
                mode: FlushMode::Os,
                ..FlushPolicy::default()
            },
            cleanup: CleanupPolicy {
                delete: false,
                compact: true,
            },
            min_cleanable_dirty_permille: 0,
            ..LogConfig::default()
        }
    }

    fn values_of(log: &PartitionLog) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let bytes = log.read(offset, 1 << 20, None).unwrap().to_vec().unwrap();
            if bytes.is_empty() {
                return out;
            }
            let mut at = 0;
            while at < bytes.len() {
                let header = batch::validate(&bytes[at..]).unwrap();
                for r in records::decode(&bytes[at..]).unwrap() {
                    out.push((r.offset, r.value.unwrap().to_vec()));
                }
                offset = header.next_offset() as u64;
                at += header.total_len();
            }
        }
    }

    /// A crash at any step of the swap leaves a log that opens to either the original or
    /// the cleaned segment, never a mix, and never a stale index.
    #[test]
    fn a_crash_anywhere_in_the_swap_opens_to_a_whole_segment() {
        for crash_after in 0..4 {
            let dir = tempfile::tempdir().unwrap();
            let log = PartitionLog::open(dir.path(), config(), Arc::new(SystemClock)).unwrap();
            for i in 0..20u8 {
                let value = [i; 90];
                let batch = BatchBuilder::new().record(Some(b"k"), &value).build();
                log.append(&batch, 0).unwrap();
            }
            let original = values_of(&log);
            let bases = log.segment_bases();
            let (base, next) = (bases[0], bases[1]);
            drop(log);

            let stem = segment::file_stem(base);
            let path = dir.path().join(format!("{stem}.log"));
            let file = File::open(&path).unwrap();
            let sealed = SealedSegment {
                base,
                next_offset: next,
                size: file.metadata().unwrap().len(),
                file: Arc::new(file),
                path,
            };
            let all: Vec<SealedSegment> = bases[..bases.len() - 1]
                .iter()
                .zip(&bases[1..])
                .map(|(&b, &n)| {
                    let path = dir.path().join(format!("{}.log", segment::file_stem(b)));
                    let file = File::open(&path).unwrap();
                    SealedSegment {
                        base: b,
                        next_offset: n,
                        size: file.metadata().unwrap().len(),
                        file: Arc::new(file),
                        path,
                    }
                })
                .collect();
            let latest = LatestOffsets::build(&all).unwrap();
            let (cleaned, stats) = write_cleaned(dir.path(), &sealed, &latest, 0, 64, 0)
                .unwrap()
                .unwrap();
            assert!(stats.records_removed > 0);
            drop(cleaned);
            let cleaner = dir.path().join(CLEANER_DIR);
            let swap = dir.path().join(format!("{stem}{SWAP_SUFFIX}"));
            match crash_after {
                0 => {} // cleaned copy written, commit point not reached
                1 => fs::rename(cleaner.join(format!("{stem}.log")), &swap).unwrap(),
                2 => {
                    fs::rename(cleaner.join(format!("{stem}.log")), &swap).unwrap();
                    fs::rename(
                        cleaner.join(format!("{stem}.index")),
                        dir.path().join(format!("{stem}.index")),
                    )
                    .unwrap();
                }
                _ => swap_in(dir.path(), base).unwrap(),
            }
            let log = PartitionLog::open(dir.path(), config(), Arc::new(SystemClock)).unwrap();
            let seen = values_of(&log);
            let first_segment: Vec<_> = seen
                .iter()
                .filter(|(o, _)| (*o as u64) < next)
                .cloned()
                .collect();
            let rest: Vec<_> = seen
                .iter()
                .filter(|(o, _)| (*o as u64) >= next)
                .cloned()
                .collect();
            let original_rest: Vec<_> = original
                .iter()
                .filter(|(o, _)| (*o as u64) >= next)
                .cloned()
                .collect();
            assert_eq!(rest, original_rest, "crash after step {crash_after}");
            if crash_after == 0 {
                assert_eq!(seen, original, "before the commit point nothing changed");
            } else {
                assert!(
                    first_segment.is_empty(),
                    "crash after step {crash_after}: every record of the first segment was superseded: {first_segment:?}"
                );
            }
            assert!(!cleaner.exists(), "leftovers are cleared on open");
            assert!(!swap.exists());
            assert_eq!(log.log_end_offset(), 20);
        }
    }
}
