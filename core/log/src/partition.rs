//! `PartitionLog`: one partition's ordered, durable sequence of record batches.
//!
//! Concurrency: the segment map lives behind one `RwLock`. Appends, rolls, truncation and
//! retention take it exclusively; reads take it shared just long enough to turn an offset
//! into a file range, then copy bytes without it. Syncing to disk never holds it: the group
//! commit (`sync_to`) snapshots the log end and the active file, syncs, and publishes the new
//! durable offset, so appends keep landing in the page cache while an fsync is in flight and
//! the next fsync covers all of them.
//!
//! Files in a partition directory: `<base>.log`, `<base>.index`, `<base>.timeindex` per
//! segment, and the checkpoints `recovery-point`, `log-start-offset`,
//! `leader-epoch-checkpoint` and (only while closed) `clean-shutdown`.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::batch::{self, BatchHeader};
use crate::checkpoint;
use crate::clock::Clock;
use crate::compaction::{self, CLEANER_CHECKPOINT, LatestOffsets, SealedSegment};
use crate::config::{FlushMode, LogConfig};
use crate::epoch::LeaderEpochs;
use crate::error::{
    AppendError, BatchError, FlushError, IoError, MaintenanceError, OpenError, ReadError,
};
use crate::read::FileSlice;
use crate::retention::{self, SegmentFacts};
use crate::segment::{self, AppendFailure, Segment};

const RECOVERY_POINT: &str = "recovery-point";
const LOG_START_OFFSET: &str = "log-start-offset";
const CLEAN_SHUTDOWN: &str = "clean-shutdown";

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub first_offset: u64,
    /// Offset of the last record appended.
    pub last_offset: u64,
    /// The log end offset after the append (`last_offset + 1`).
    pub next_offset: u64,
    /// Largest record timestamp among the batches.
    pub max_timestamp: i64,
    /// Bytes appended.
    pub bytes: u64,
}

/// What opening the log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The log was closed cleanly and nothing was scanned.
    pub clean: bool,
    /// Segments scanned batch by batch.
    pub segments_scanned: usize,
    /// Bytes removed: the torn or corrupt tail and any segment after it.
    pub truncated_bytes: u64,
    /// Offsets the dropped bytes held, as far as their headers still tell.
    pub dropped_offsets: Option<Range<u64>>,
    /// Why the scan stopped early, when it did.
    pub reason: Option<String>,
}

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionOutcome {
    /// The pass ran (the dirty ratio was reached); otherwise nothing was read.
    pub ran: bool,
    /// Distinct keys seen in the sealed segments.
    pub keys: usize,
    /// Segments replaced by a cleaned copy.
    pub segments_rewritten: usize,
    /// Records dropped: superseded by a newer record of their key, or expired tombstones.
    pub records_removed: u64,
    /// Bytes of the rewritten segments before and after.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub deleted_segments: usize,
    /// Bytes freed.
    pub deleted_bytes: u64,
    /// The log start offset afterwards.
    pub log_start_offset: u64,
}

struct LogState {
    config: LogConfig,
    /// Never empty: the last segment is the active one.
    segments: BTreeMap<u64, Segment>,
    log_start_offset: u64,
    epochs: LeaderEpochs,
    /// Set after a failed sync or an unrepairable write: data may be lost, refuse writes.
    poisoned: bool,
    /// Sealed segments below this offset have been through a compaction pass.
    cleaned_to: u64,
    closed: bool,
}

impl LogState {
    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn next_offset(&self) -> u64 {
        self.active().next_offset
    }
}

#[derive(Default)]
struct CommitState {
    /// Every offset below this is on disk.
    synced: u64,
    /// A sync is in flight; others wait for it instead of starting their own.
    syncing: bool,
    failed: bool,
    /// fsyncs performed by the group commit, for observing how well it batches.
    syncs: u64,
    /// When the oldest unsynced append happened, for `flush.ms`.
    oldest_unsynced_ms: Option<i64>,
}

/// One partition's log: append, read, sync, truncate, retention, recovery.
pub struct PartitionLog {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    state: RwLock<LogState>,
    commit: Mutex<CommitState>,
    synced_cv: Condvar,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl PartitionLog {
    /// Opens the log in `dir` (creating it when new). After a crash (no clean-shutdown
    /// marker) the segments from the recovery point on are scanned, a torn or corrupt tail
    /// is truncated with a warning, and missing indexes are rebuilt.
    pub fn open(dir: &Path, config: LogConfig, clock: Arc<dyn Clock>) -> Result<Self, OpenError> {
        fs::create_dir_all(dir).map_err(|e| IoError::new("creating", dir, e))?;
        compaction::finish_interrupted(dir)?;
        let bases = list_segments(dir)?;
        let marker_path = dir.join(CLEAN_SHUTDOWN);
        let marker = checkpoint::read(&marker_path, 3)?.and_then(|rows| rows.first().cloned());
        let start_checkpoint =
            checkpoint::read_single(&dir.join(LOG_START_OFFSET))?.unwrap_or(0) as u64;
        let recovery_point =
            checkpoint::read_single(&dir.join(RECOVERY_POINT))?.unwrap_or(0) as u64;
        let cleaned_to =
            checkpoint::read_single(&dir.join(CLEANER_CHECKPOINT))?.unwrap_or(0) as u64;
        let now = clock.now_ms();
        let mut epochs = LeaderEpochs::load(dir)?;
        let mut report = RecoveryReport::default();

        let mut segments = BTreeMap::new();
        if bases.is_empty() {
            let base = start_checkpoint;
            segments.insert(base, Segment::create(dir, base, now)?);
            report.clean = true;
        } else {
            let clean_end = marker.and_then(|m| clean_marker_end(dir, &bases, &m));
            report.clean = clean_end.is_some();
            let recover_from = if clean_end.is_some() {
                u64::MAX
            } else {
                bases
                    .iter()
                    .rev()
                    .find(|&&b| b <= recovery_point)
                    .copied()
                    .unwrap_or(bases[0])
            };
            let mut epoch_starts = Vec::new();
            for (i, &base) in bases.iter().enumerate() {
                let is_last = i + 1 == bases.len();
                if base < recover_from {
                    let next = match (bases.get(i + 1), clean_end) {
                        (Some(&next), _) => next,
                        (None, Some(end)) => end,
                        (None, None) => {
                            unreachable!("the last segment is always recovered after a crash")
                        }
                    };
                    let seg = Segment::open_trusted(
                        dir,
                        base,
                        next,
                        is_last,
                        config.index_interval_bytes,
                    )?;
                    segments.insert(base, seg);
                    continue;
                }
                let (mut seg, outcome) =
                    Segment::recover(dir, base, config.index_interval_bytes, now)?;
                report.segments_scanned += 1;
                epoch_starts.extend(outcome.epoch_starts.iter().copied());
                let follower = bases.get(i + 1).copied();
                let broken =
                    outcome.truncated_bytes > 0 || follower.is_some_and(|n| n != seg.next_offset);
                if broken {
                    let later = &bases[i + 1..];
                    let later_bytes = delete_segment_files(dir, later)?;
                    let claimed_end = later.last().map_or(outcome.claimed_next_offset, |&b| {
                        b.max(outcome.claimed_next_offset)
                    });
                    report.truncated_bytes = outcome.truncated_bytes + later_bytes;
                    report.dropped_offsets =
                        Some(seg.next_offset..claimed_end.max(seg.next_offset));
                    report.reason = outcome
                        .stop_reason
                        .clone()
                        .or(Some("offsets do not continue into the next segment".into()));
                    tracing::warn!(
                        partition = %dir.display(),
                        segment = base,
                        dropped_bytes = report.truncated_bytes,
                        dropped_offsets = ?report.dropped_offsets,
                        reason = report.reason.as_deref().unwrap_or(""),
                        "recovery truncated the log at the last valid batch: dropped {} bytes holding offsets {}..{}",
                        report.truncated_bytes,
                        seg.next_offset,
                        claimed_end.max(seg.next_offset),
                    );
                    segments.insert(base, seg);
                    break;
                }
                if !is_last {
                    seg.seal()?;
                }
                segments.insert(base, seg);
            }
            for (epoch, start) in epoch_starts {
                epochs.assign(epoch, start)?;
            }
        }

        let first_base = *segments.keys().next().expect("at least one segment");
        let log_start_offset = start_checkpoint.max(first_base);
        // Segments wholly below the log start are leftovers of an interrupted retention pass.
        while segments.len() > 1 {
            let (&base, seg) = segments.iter().next().expect("non-empty");
            if seg.next_offset > log_start_offset {
                break;
            }
            segments.remove(&base).expect("present").delete()?;
        }
        let next = segments
            .values()
            .next_back()
            .expect("at least one segment")
            .next_offset;
        let mut state = LogState {
            config,
            segments,
            // A start checkpoint past the end (every segment expired) means an empty log.
            log_start_offset: log_start_offset.min(next),
            epochs,
            poisoned: false,
            cleaned_to,
            closed: false,
        };
        state.epochs.truncate_from_end(next)?;
        state.active().sync_all()?;
        checkpoint::remove(&marker_path)?;
        checkpoint::sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            clock,
            state: RwLock::new(state),
            commit: Mutex::new(CommitState {
                synced: next,
                ..CommitState::default()
            }),
            synced_cv: Condvar::new(),
            recovery: report,
        })
    }

    /// Appends one or more concatenated batches as the leader in `leader_epoch`: validates
    /// all of them first (nothing is written if any is bad), assigns contiguous offsets and
    /// the epoch, and writes them. The bytes are in the page cache on return; call
    /// [`make_durable`](Self::make_durable) before acknowledging. `records` is left as it
    /// was: the offsets and epoch are stamped on the way to the file.
    pub fn append(&self, records: &[u8], leader_epoch: i32) -> Result<AppendInfo, AppendError> {
        let mut batches = batch::validate_all(records)?;
        let max_batch = self.state.read().config.max_batch_bytes;
        for (_, header) in &batches {
            if header.record_count != header.last_offset_delta + 1 {
                return Err(BatchError::RecordCountMismatch {
                    count: header.record_count,
                    last_offset_delta: header.last_offset_delta,
                }
                .into());
            }
            if header.total_len() > max_batch as usize {
                return Err(BatchError::TooLarge {
                    size: header.total_len(),
                    limit: max_batch,
                }
                .into());
            }
        }
        let now = self.clock.now_ms();
        let mut state = self.state.write();
        self.check_writable(&state)?;
        let first = state.next_offset();
        let mut next = first;
        for (_, header) in &mut batches {
            header.base_offset = next as i64;
            header.leader_epoch = leader_epoch;
            next = header.next_offset() as u64;
        }
        if leader_epoch >= 0 {
            state
                .epochs
                .assign(leader_epoch, first)
                .map_err(|e| self.poison(&mut state, e))?;
        }
        self.write(&mut state, records, &batches, now)
    }

    /// Appends batches replicated from a leader, keeping their offsets and epochs. The first
    /// batch must start at the log end offset and each must follow the previous one.
    pub fn append_replicated(&self, records: &[u8]) -> Result<AppendInfo, AppendError> {
        let batches = batch::validate_all(records)?;
        let now = self.clock.now_ms();
        let mut state = self.state.write();
        self.check_writable(&state)?;
        let mut expected = state.next_offset();
        for (_, header) in &batches {
            if header.base_offset < 0 || header.base_offset as u64 != expected {
                return Err(AppendError::OutOfOrder {
                    expected,
                    got: header.base_offset,
                });
            }
            expected = header.next_offset() as u64;
        }
        for (_, header) in &batches {
            state
                .epochs
                .assign(header.leader_epoch, header.base_offset as u64)
                .map_err(|e| self.poison(&mut state, e))?;
        }
        self.write(&mut state, records, &batches, now)
    }

    fn write(
        &self,
        state: &mut LogState,
        bytes: &[u8],
        batches: &[(usize, BatchHeader)],
        now: i64,
    ) -> Result<AppendInfo, AppendError> {
        let first = state.next_offset();
        let last = batches
            .last()
            .map_or(first, |(_, h)| h.last_offset() as u64);
        let active = state.active();
        let len = bytes.len() as u64;
        let config = state.config;
        let needs_roll = active.size > 0
            && (active.size + len > config.segment_bytes.min(u64::from(u32::MAX))
                || now - active.created_ms >= config.segment_age.as_millis() as i64
                || last - active.base_offset > u64::from(u32::MAX));
        if needs_roll {
            self.roll(state, now).map_err(|e| match e {
                MaintenanceError::Io(io) => AppendError::Io {
                    path: io.path,
                    source: io.source,
                },
                _ => AppendError::Poisoned(self.dir.clone()),
            })?;
        }
        match state
            .active_mut()
            .append(bytes, batches, config.index_interval_bytes, now)
        {
            Ok(()) => {}
            Err(AppendFailure::Clean(e)) => {
                return Err(AppendError::Io {
                    path: e.path,
                    source: e.source,
                });
            }
            Err(AppendFailure::Dirty(e, cut)) => {
                tracing::error!(error = %cut, "could not remove a partial write");
                return Err(self.poison(state, e));
            }
            Err(AppendFailure::Index(e)) => return Err(self.poison(state, e)),
        }
        if config.flush.mode == FlushMode::Fsync {
            state.active().start_writeback(len);
        }
        let mut commit = self.commit.lock();
        commit.oldest_unsynced_ms.get_or_insert(now);
        Ok(AppendInfo {
            first_offset: first,
            last_offset: last,
            next_offset: last + 1,
            max_timestamp: batches
                .iter()
                .map(|(_, h)| h.max_timestamp)
                .max()
                .unwrap_or(-1),
            bytes: len,
        })
    }

    fn check_writable(&self, state: &LogState) -> Result<(), AppendError> {
        if state.poisoned || state.closed {
            return Err(AppendError::Poisoned(self.dir.clone()));
        }
        Ok(())
    }

    fn poison(&self, state: &mut LogState, cause: IoError) -> AppendError {
        tracing::error!(partition = %self.dir.display(), error = %cause, "log refuses further writes");
        state.poisoned = true;
        AppendError::Io {
            path: cause.path,
            source: cause.source,
        }
    }

    /// Seals the active segment (synced) and starts a new one at the log end offset.
    fn roll(&self, state: &mut LogState, now: i64) -> Result<(), MaintenanceError> {
        let next = state.next_offset();
        if let Err(e) = state.active_mut().seal() {
            state.poisoned = true;
            return Err(e.into());
        }
        let segment = Segment::create(&self.dir, next, now)?;
        state.segments.insert(next, segment);
        checkpoint::sync_dir(&self.dir)?;
        checkpoint::write(&self.dir.join(RECOVERY_POINT), &[vec![next as i64]])?;
        let mut commit = self.commit.lock();
        commit.synced = commit.synced.max(next);
        Ok(())
    }

    /// Returns once every offset below `offset` is durable under this log's flush policy:
    /// with `flush = "fsync"` that means synced (sharing one fsync with concurrent callers);
    /// with `flush = "os"` it returns at once unless `flush.messages` is due.
    pub fn make_durable(&self, offset: u64) -> Result<(), FlushError> {
        if self.is_durable(offset) {
            return Ok(());
        }
        self.sync_to(offset)
    }

    /// Whether [`Self::make_durable`] for `offset` would return at once, without syncing:
    /// offsets below it are already synced, or the flush policy does not ask for a sync now.
    /// Under `fsync`, a log whose sync failed never is (`make_durable` reports the failure).
    pub fn is_durable(&self, offset: u64) -> bool {
        let flush = self.state.read().config.flush;
        let commit = self.commit.lock();
        match flush.mode {
            FlushMode::Fsync => !commit.failed && commit.synced >= offset,
            FlushMode::Os => flush
                .flush_messages
                .is_none_or(|n| offset.saturating_sub(commit.synced) < n),
        }
    }

    /// Syncs until every offset below `offset` is on disk (group commit: if a sync is in
    /// flight, waits for it and starts another only if it did not cover `offset`).
    pub fn sync_to(&self, offset: u64) -> Result<(), FlushError> {
        let mut commit = self.commit.lock();
        loop {
            if commit.failed {
                return Err(FlushError::Poisoned(self.dir.clone()));
            }
            if commit.synced >= offset {
                return Ok(());
            }
            if !commit.syncing {
                commit.syncing = true;
                break;
            }
            self.synced_cv.wait(&mut commit);
        }
        drop(commit);
        let (end, file, path) = {
            let state = self.state.read();
            let (file, path) = state.active().log_file();
            (state.next_offset(), file, path.to_path_buf())
        };
        let result = file.sync_data();
        let mut commit = self.commit.lock();
        commit.syncing = false;
        let outcome = match result {
            Ok(()) => {
                commit.syncs += 1;
                commit.synced = commit.synced.max(end);
                commit.oldest_unsynced_ms = None;
                Ok(())
            }
            Err(source) => {
                commit.failed = true;
                Err(FlushError::Io { path, source })
            }
        };
        self.synced_cv.notify_all();
        drop(commit);
        if outcome.is_err() {
            tracing::error!(partition = %self.dir.display(), "fsync failed; log refuses further writes");
            self.state.write().poisoned = true;
        }
        outcome
    }

    /// Syncs everything appended so far.
    pub fn flush(&self) -> Result<(), FlushError> {
        self.sync_to(self.log_end_offset())
    }

    /// Syncs if `flush.ms` has passed since the oldest unsynced append (page-cache mode);
    /// the store's maintenance task calls this periodically.
    pub fn flush_if_due(&self) -> Result<(), FlushError> {
        let Some(interval) = self.state.read().config.flush.flush_interval else {
            return Ok(());
        };
        let oldest = self.commit.lock().oldest_unsynced_ms;
        match oldest {
            Some(t) if self.clock.now_ms() - t >= interval.as_millis() as i64 => self.flush(),
            _ => Ok(()),
        }
    }

    /// Whole batches starting with the one that holds `offset`, up to about `max_bytes`
    /// (at least one batch), from a single segment, and never at or past `upper` (an
    /// exclusive batch boundary such as the high watermark). Empty at the end of the log.
    pub fn read(
        &self,
        offset: u64,
        max_bytes: u64,
        upper: Option<u64>,
    ) -> Result<FileSlice, ReadError> {
        let state = self.state.read();
        let log_end = state.next_offset();
        if offset < state.log_start_offset || offset > log_end {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start: state.log_start_offset,
                log_end,
            });
        }
        let limit = upper.unwrap_or(log_end).min(log_end);
        let io = |e: IoError| ReadError::Io {
            path: e.path,
            source: e.source,
        };
        let mut offset = offset;
        loop {
            let (_, segment) = state
                .segments
                .range(..=offset)
                .next_back()
                .expect("offset >= first segment base");
            if offset >= limit || offset >= segment.next_offset {
                let (file, path) = state.active().log_file();
                return Ok(FileSlice::empty(file, path.to_path_buf()));
            }
            let Some((start, header)) = segment.locate(offset).map_err(io)? else {
                let (file, path) = segment.log_file();
                return Ok(FileSlice::empty(file, path.to_path_buf()));
            };
            // Compaction leaves a record-less batch at the end of a sealed segment to mark
            // where its offsets end. Serving it alone would hand the client a fetch with no
            // record (librdkafka then grows its fetch size, and errors after enough of them):
            // go on to the next segment instead.
            let ends_segment = start + header.total_len() as u64 >= segment.size;
            if header.record_count == 0 && ends_segment && segment.next_offset < log_end {
                offset = segment.next_offset;
                continue;
            }
            let end = if limit < segment.next_offset {
                segment
                    .locate(limit)
                    .map_err(io)?
                    .map_or(segment.size, |(pos, _)| pos)
            } else {
                segment.size
            };
            return segment.slice(start, max_bytes, end).map_err(io);
        }
    }

    /// The first offset whose record timestamp is at least `timestamp_ms`, with that
    /// record's timestamp (Kafka's ListOffsets by time), or `None` when every record is older.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(u64, i64)>, ReadError> {
        let state = self.state.read();
        for segment in state.segments.values() {
            if segment.next_offset <= state.log_start_offset {
                continue;
            }
            let found = segment
                .offset_for_timestamp(timestamp_ms)
                .map_err(|e| ReadError::Io {
                    path: e.path,
                    source: e.source,
                })?;
            if let Some((offset, timestamp)) = found {
                return Ok(Some((offset.max(state.log_start_offset), timestamp)));
            }
        }
        Ok(None)
    }

    /// Calls `f` with the header of every batch from the one holding `from` to the log end,
    /// reading only the 61-byte headers (rebuilding producer state on open, say).
    pub fn scan_headers(
        &self,
        from: u64,
        mut f: impl FnMut(&BatchHeader),
    ) -> Result<(), ReadError> {
        let state = self.state.read();
        let from = from.max(state.log_start_offset);
        for segment in state.segments.values() {
            if segment.next_offset <= from {
                continue;
            }
            segment
                .scan_headers(from, &mut f)
                .map_err(|e| ReadError::Io {
                    path: e.path,
                    source: e.source,
                })?;
        }
        Ok(())
    }

    /// Removes every record at or after `offset` (a follower matching its leader's history);
    /// the log end becomes the start of the batch holding `offset`.
    pub fn truncate_to(&self, offset: u64) -> Result<u64, MaintenanceError> {
        let mut state = self.state.write();
        if state.poisoned {
            return Err(MaintenanceError::Poisoned(self.dir.clone()));
        }
        if offset >= state.next_offset() {
            return Ok(state.next_offset());
        }
        let now = self.clock.now_ms();
        let later: Vec<u64> = state
            .segments
            .range(offset + 1..)
            .map(|(b, _)| *b)
            .collect();
        for base in later.into_iter().rev() {
            if state.segments.len() == 1 {
                break;
            }
            state.segments.remove(&base).expect("listed").delete()?;
        }
        let new_end = if state.active().base_offset > offset {
            // Truncating below the first segment: start over at `offset`.
            let old: Vec<u64> = state.segments.keys().copied().collect();
            for base in old {
                state.segments.remove(&base).expect("listed").delete()?;
            }
            state
                .segments
                .insert(offset, Segment::create(&self.dir, offset, now)?);
            state.log_start_offset = offset;
            checkpoint::write(&self.dir.join(LOG_START_OFFSET), &[vec![offset as i64]])?;
            offset
        } else {
            state.active_mut().truncate_to(offset)?
        };
        state.active().sync_all()?;
        checkpoint::sync_dir(&self.dir)?;
        let active_base = state.active().base_offset;
        checkpoint::write(&self.dir.join(RECOVERY_POINT), &[vec![active_base as i64]])?;
        state.epochs.truncate_from_end(new_end)?;
        let mut commit = self.commit.lock();
        commit.synced = commit.synced.min(new_end);
        Ok(new_end)
    }

    /// Deletes segments past `retention.ms` or beyond `retention.bytes`, oldest first, and
    /// moves (and persists) the log start offset. Does nothing unless `cleanup.policy`
    /// includes delete.
    pub fn enforce_retention(&self) -> Result<RetentionOutcome, MaintenanceError> {
        let now = self.clock.now_ms();
        let mut state = self.state.write();
        if state.poisoned {
            return Err(MaintenanceError::Poisoned(self.dir.clone()));
        }
        if !state.config.cleanup.delete {
            return Ok(RetentionOutcome {
                log_start_offset: state.log_start_offset,
                ..RetentionOutcome::default()
            });
        }
        let facts: Vec<SegmentFacts> = state
            .segments
            .values()
            .map(|s| SegmentFacts {
                size: s.size,
                newest_ms: if s.max_timestamp >= 0 {
                    s.max_timestamp
                } else {
                    s.last_modified_ms
                },
            })
            .collect();
        let config = state.config;
        let plan = retention::plan(
            &facts,
            config.retention.map(|d| d.as_millis() as i64),
            config.retention_bytes,
            now,
        );
        if plan.delete == 0 {
            return Ok(RetentionOutcome {
                log_start_offset: state.log_start_offset,
                ..RetentionOutcome::default()
            });
        }
        if plan.roll_active_first {
            self.roll(&mut state, now)?;
        }
        let doomed: Vec<u64> = state.segments.keys().take(plan.delete).copied().collect();
        let new_start = *state
            .segments
            .keys()
            .nth(plan.delete)
            .expect("the active segment stays");
        // Persist the new start first: a crash before the files go leaves segments that
        // opening deletes; the reverse order would serve offsets retention already dropped.
        checkpoint::write(&self.dir.join(LOG_START_OFFSET), &[vec![new_start as i64]])?;
        state.log_start_offset = new_start;
        let mut outcome = RetentionOutcome {
            log_start_offset: new_start,
            ..RetentionOutcome::default()
        };
        for base in doomed {
            let segment = state.segments.remove(&base).expect("listed");
            outcome.deleted_bytes += segment.size;
            outcome.deleted_segments += 1;
            segment.delete()?;
        }
        state.epochs.truncate_from_start(new_start)?;
        tracing::info!(
            partition = %self.dir.display(),
            segments = outcome.deleted_segments,
            bytes = outcome.deleted_bytes,
            log_start_offset = new_start,
            "retention deleted segments"
        );
        Ok(outcome)
    }

    /// With `cleanup.policy` including compact, and once the sealed bytes no pass has seen
    /// reach `min.cleanable.dirty.ratio`, rewrites the sealed segments keeping the newest
    /// record of each key (see the `compaction` module). Appends and reads go on meanwhile;
    /// the lock is taken only to swap each cleaned segment in.
    pub fn compact(&self) -> Result<CompactionOutcome, MaintenanceError> {
        let now = self.clock.now_ms();
        let (sealed, config, cleaned_to) = {
            let state = self.state.read();
            if state.poisoned {
                return Err(MaintenanceError::Poisoned(self.dir.clone()));
            }
            let active = state.active().base_offset;
            let sealed: Vec<SealedSegment> = state
                .segments
                .values()
                .filter(|s| s.base_offset != active && s.next_offset > state.log_start_offset)
                .map(|s| {
                    let (file, path) = s.log_file();
                    SealedSegment {
                        base: s.base_offset,
                        next_offset: s.next_offset,
                        size: s.size,
                        file,
                        path: path.to_path_buf(),
                    }
                })
                .collect();
            (sealed, state.config, state.cleaned_to)
        };
        let mut outcome = CompactionOutcome::default();
        if !config.cleanup.compact || sealed.is_empty() {
            return Ok(outcome);
        }
        let total: u64 = sealed.iter().map(|s| s.size).sum();
        let dirty: u64 = sealed
            .iter()
            .filter(|s| s.base >= cleaned_to)
            .map(|s| s.size)
            .sum();
        if dirty == 0 || dirty * 1000 < u64::from(config.min_cleanable_dirty_permille) * total {
            return Ok(outcome);
        }
        outcome.ran = true;
        let latest = LatestOffsets::build(&sealed)?;
        outcome.keys = latest.len();
        let horizon = now.saturating_sub(config.delete_retention.as_millis() as i64);
        for segment in &sealed {
            let cleaned = compaction::write_cleaned(
                &self.dir,
                segment,
                &latest,
                horizon,
                config.index_interval_bytes,
                now,
            )?;
            let Some((cleaned, stats)) = cleaned else {
                continue;
            };
            drop(cleaned);
            let mut state = self.state.write();
            let unchanged = state
                .segments
                .get(&segment.base)
                .is_some_and(|s| Arc::ptr_eq(&s.log_file().0, &segment.file));
            if !unchanged || state.poisoned {
                // Retention or truncation got there first; this copy is stale.
                compaction::discard_cleaner_dir(&self.dir)?;
                continue;
            }
            let swapped = compaction::swap_in(&self.dir, segment.base).and_then(|()| {
                Segment::open_trusted(
                    &self.dir,
                    segment.base,
                    segment.next_offset,
                    false,
                    config.index_interval_bytes,
                )
            });
            match swapped {
                Ok(reopened) => {
                    state.segments.insert(segment.base, reopened);
                }
                Err(e) => {
                    // The files may be half swapped; reopening the partition finishes it.
                    state.poisoned = true;
                    return Err(e.into());
                }
            }
            outcome.segments_rewritten += 1;
            outcome.records_removed += stats.records_removed;
            outcome.bytes_before += stats.bytes_before;
            outcome.bytes_after += stats.bytes_after;
        }
        compaction::discard_cleaner_dir(&self.dir)?;
        let cleaned_to = sealed.last().map_or(cleaned_to, |s| s.next_offset);
        checkpoint::write(
            &self.dir.join(CLEANER_CHECKPOINT),
            &[vec![cleaned_to as i64]],
        )?;
        self.state.write().cleaned_to = cleaned_to;
        if outcome.segments_rewritten > 0 {
            tracing::info!(
                partition = %self.dir.display(),
                segments = outcome.segments_rewritten,
                records_removed = outcome.records_removed,
                bytes_before = outcome.bytes_before,
                bytes_after = outcome.bytes_after,
                "compaction rewrote segments"
            );
        }
        Ok(outcome)
    }

    /// Syncs everything and writes the clean-shutdown marker, so the next open reads no
    /// batch at all. The log refuses writes afterwards.
    pub fn close(&self) -> Result<(), MaintenanceError> {
        let mut state = self.state.write();
        if state.closed {
            return Ok(());
        }
        if state.poisoned {
            return Err(MaintenanceError::Poisoned(self.dir.clone()));
        }
        state.active_mut().push_time_entry()?;
        state.active().sync_all()?;
        let active = state.active();
        let marker = vec![
            active.next_offset as i64,
            active.base_offset as i64,
            active.size as i64,
        ];
        checkpoint::write(&self.dir.join(CLEAN_SHUTDOWN), &[marker])?;
        state.closed = true;
        Ok(())
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> u64 {
        self.state.read().log_start_offset
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> u64 {
        self.state.read().next_offset()
    }

    /// Every offset below this is on disk.
    pub fn synced_offset(&self) -> u64 {
        self.commit.lock().synced
    }

    /// How many fsyncs the group commit has issued since the log was opened.
    pub fn group_commit_syncs(&self) -> u64 {
        self.commit.lock().syncs
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.state.read().segments.values().map(|s| s.size).sum()
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        self.state.read().segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_bases(&self) -> Vec<u64> {
        self.state.read().segments.keys().copied().collect()
    }

    /// The newest leader epoch the log has seen.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.state.read().epochs.latest()
    }

    /// OffsetForLeaderEpoch: the largest epoch not above `epoch` and the offset where it
    /// ended; `None` when `epoch` precedes the log's history.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, u64)> {
        let state = self.state.read();
        state.epochs.end_offset_for(epoch, state.next_offset())
    }

    /// The settings in force.
    pub fn config(&self) -> LogConfig {
        self.state.read().config
    }

    /// Changes the settings (a topic's configs were altered); applies from the next append
    /// or retention pass.
    pub fn set_config(&self, config: LogConfig) {
        self.state.write().config = config;
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening this log found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }
}

/// The log end promised by a clean-shutdown marker `[next_offset, active_base, size]`, if it
/// matches the files (a marker that does not match means recovery after all).
fn clean_marker_end(dir: &Path, bases: &[u64], marker: &[i64]) -> Option<u64> {
    let (next, active_base, size) = (marker[0] as u64, marker[1] as u64, marker[2] as u64);
    let last = *bases.last()?;
    let log = dir.join(format!("{}.log", segment::file_stem(last)));
    let actual = fs::metadata(log).ok()?.len();
    (last == active_base && actual == size && next >= last).then_some(next)
}

/// Base offsets of the segments in `dir`, ascending; removes leftover temporary files.
fn list_segments(dir: &Path) -> Result<Vec<u64>, IoError> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| IoError::new("listing", dir, e))? {
        let entry = entry.map_err(|e| IoError::new("listing", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(base) = segment::parse_log_file_name(&name) {
            bases.push(base);
        } else if name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Deletes the files of the segments at `bases`; returns the log bytes they held.
fn delete_segment_files(dir: &Path, bases: &[u64]) -> Result<u64, IoError> {
    let mut bytes = 0;
    for &base in bases {
        let stem = segment::file_stem(base);
        for ext in ["log", "index", "timeindex"] {
            let path = dir.join(format!("{stem}.{ext}"));
            match fs::metadata(&path) {
                Ok(meta) => {
                    if ext == "log" {
                        bytes += meta.len();
                    }
                    fs::remove_file(&path).map_err(|e| IoError::new("deleting", &path, e))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoError::new("reading metadata of", &path, e)),
            }
        }
    }
    Ok(bytes)
}
