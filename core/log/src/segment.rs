//! One segment of a partition: a `.log` file of batches and its two sparse indexes, named
//! by the segment's base offset (20 digits, zero-padded, as Kafka names them).
//!
//! A segment never decodes records on the hot path: it finds batch boundaries by reading
//! 61-byte headers, starting from the nearest index entry.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::error::IoError;
use crate::index::{IndexFile, OffsetEntry, TimeEntry};
use crate::read::FileSlice;
use crate::stamped_write;

/// File name stem of the segment starting at `base`.
pub(crate) fn file_stem(base: u64) -> String {
    format!("{base:020}")
}

/// The base offset encoded in a segment file name, if it is one.
pub(crate) fn parse_log_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    (stem.len() == 20).then(|| stem.parse().ok()).flatten()
}

/// A segment's log file with its indexes and what is known about its contents.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: u64,
    log_path: PathBuf,
    log: Arc<File>,
    /// Bytes of whole, valid batches.
    pub(crate) size: u64,
    /// The offset after the last batch (the base offset when empty).
    pub(crate) next_offset: u64,
    /// Largest record timestamp, or -1 when none.
    pub(crate) max_timestamp: i64,
    offset_of_max_timestamp: u64,
    /// When the segment was created or last written, for age-based roll and retention of
    /// segments without timestamps.
    pub(crate) created_ms: i64,
    pub(crate) last_modified_ms: i64,
    offsets: IndexFile<OffsetEntry>,
    times: IndexFile<TimeEntry>,
    bytes_since_index: u64,
}

/// The result of scanning a segment's log file from the start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ScanOutcome {
    /// Bytes removed from the end of the file (torn or corrupt tail).
    pub(crate) truncated_bytes: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub(crate) stop_reason: Option<String>,
    /// The offset a reader of the dropped headers would have reached, best effort.
    pub(crate) claimed_next_offset: u64,
    /// `(epoch, base_offset)` of each batch whose epoch rose above its predecessor's.
    pub(crate) epoch_starts: Vec<(i32, u64)>,
}

impl Segment {
    /// Creates an empty segment at `base` in `dir`.
    pub(crate) fn create(dir: &Path, base: u64, now_ms: i64) -> Result<Self, IoError> {
        let stem = file_stem(base);
        let log_path = dir.join(format!("{stem}.log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(|e| IoError::new("creating", &log_path, e))?;
        Self::with_fresh_indexes(dir, base, log_path, log, now_ms, now_ms)
    }

    /// A segment over `log` that holds nothing yet as far as it knows, with new, empty
    /// index files.
    fn with_fresh_indexes(
        dir: &Path,
        base: u64,
        log_path: PathBuf,
        log: File,
        created_ms: i64,
        last_modified_ms: i64,
    ) -> Result<Self, IoError> {
        let stem = file_stem(base);
        Ok(Self {
            base_offset: base,
            log: Arc::new(log),
            size: 0,
            next_offset: base,
            max_timestamp: -1,
            offset_of_max_timestamp: base,
            created_ms,
            last_modified_ms,
            offsets: IndexFile::create(&dir.join(format!("{stem}.index")))?,
            times: IndexFile::create(&dir.join(format!("{stem}.timeindex")))?,
            bytes_since_index: 0,
            log_path,
        })
    }

    /// Opens a segment whose files were cleanly written: its log holds exactly `size` valid
    /// bytes ending at `next_offset`. Indexes that are missing or damaged are rebuilt.
    pub(crate) fn open_trusted(
        dir: &Path,
        base: u64,
        next_offset: u64,
        active: bool,
        index_interval: u32,
    ) -> Result<Self, IoError> {
        let stem = file_stem(base);
        let (log_path, log, size, mtime) = open_log(dir, &stem)?;
        let index_path = dir.join(format!("{stem}.index"));
        let time_path = dir.join(format!("{stem}.timeindex"));
        let (offsets, times): (Option<IndexFile<OffsetEntry>>, Option<IndexFile<TimeEntry>>) =
            if active {
                (
                    IndexFile::open_active(&index_path)?,
                    IndexFile::open_active(&time_path)?,
                )
            } else {
                (
                    IndexFile::open_sealed(&index_path)?,
                    IndexFile::open_sealed(&time_path)?,
                )
            };
        let indexes_usable = match (&offsets, &times) {
            (Some(o), Some(_)) => o.last().is_none_or(|e| u64::from(e.position) < size.max(1)),
            _ => false,
        };
        let (Some(offsets), Some(times), true) = (offsets, times, indexes_usable) else {
            tracing::warn!(segment = %log_path.display(), "index missing or damaged; rebuilding");
            let (mut segment, _) = Self::recover(dir, base, index_interval, mtime)?;
            if !active {
                segment.seal()?;
            }
            return Ok(segment);
        };
        let mut segment = Self {
            base_offset: base,
            log_path,
            log: Arc::new(log),
            size,
            next_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base,
            created_ms: mtime,
            last_modified_ms: mtime,
            offsets,
            times,
            bytes_since_index: 0,
        };
        if let Some(last) = segment.times.last() {
            segment.max_timestamp = last.timestamp;
            segment.offset_of_max_timestamp = base + u64::from(last.relative_offset);
        }
        if active {
            // Opened from a clean shutdown, whose close wrote the final time index entry:
            // the largest timestamp is the last entry, and the next index entry is due by
            // position alone, so nothing is read.
            let from = segment.offsets.last().map_or(0, |e| u64::from(e.position));
            segment.bytes_since_index = segment.size - from;
        }
        Ok(segment)
    }

    /// Opens a segment by scanning every batch in its log file, validating it and rebuilding
    /// both indexes; the file is truncated after the last valid batch.
    pub(crate) fn recover(
        dir: &Path,
        base: u64,
        index_interval: u32,
        now_ms: i64,
    ) -> Result<(Self, ScanOutcome), IoError> {
        let stem = file_stem(base);
        let (log_path, log, file_len, mtime) = open_log(dir, &stem)?;
        let mut segment =
            Self::with_fresh_indexes(dir, base, log_path, log, mtime.min(now_ms), mtime)?;
        let mut outcome = ScanOutcome::default();
        let mut buf = Vec::new();
        let mut last_epoch = -1;
        while segment.size < file_len {
            let pos = segment.size;
            match segment.read_valid_batch(pos, file_len, &mut buf) {
                Ok(header) => {
                    if header.leader_epoch > last_epoch {
                        last_epoch = header.leader_epoch;
                        outcome
                            .epoch_starts
                            .push((header.leader_epoch, header.base_offset as u64));
                    }
                    segment.record_batch(pos, &header, index_interval)?;
                    segment.size += header.total_len() as u64;
                }
                Err(reason) => {
                    outcome.stop_reason = Some(reason);
                    break;
                }
            }
        }
        if segment.size < file_len {
            outcome.truncated_bytes = file_len - segment.size;
            outcome.claimed_next_offset = segment.claimed_offsets_after(segment.size, file_len);
            segment
                .log
                .set_len(segment.size)
                .map_err(|e| IoError::new("truncating", &segment.log_path, e))?;
        }
        outcome.claimed_next_offset = outcome.claimed_next_offset.max(segment.next_offset);
        // Age-based roll counts from the first record, as Kafka's does.
        if let Some(first) = segment.first_header()?
            && first.max_timestamp >= 0
        {
            segment.created_ms = first.max_timestamp.min(now_ms);
        }
        Ok((segment, outcome))
    }

    /// Reads and validates the batch at `pos`, or says why it is not a valid batch that
    /// continues this segment.
    fn read_valid_batch(
        &self,
        pos: u64,
        file_len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<BatchHeader, String> {
        let header = self
            .header_at(pos)
            .map_err(|e| format!("reading header: {e}"))?
            .ok_or_else(|| "incomplete batch header".to_string())?;
        let total = header.total_len() as u64;
        if header.batch_length < (HEADER_LEN - batch::LOG_OVERHEAD) as i32 || pos + total > file_len
        {
            return Err(format!(
                "batch length {} runs past the end of the file",
                header.batch_length
            ));
        }
        if header.base_offset < 0 || (header.base_offset as u64) < self.next_offset {
            return Err(format!(
                "batch offset {} does not follow {}",
                header.base_offset, self.next_offset
            ));
        }
        buf.resize(total as usize, 0);
        self.log
            .read_exact_at(buf, pos)
            .map_err(|e| format!("reading batch: {e}"))?;
        batch::validate(buf).map_err(|e| e.to_string())
    }

    /// Best-effort count of the offsets in a dropped tail: follows length fields of the
    /// headers that still parse.
    fn claimed_offsets_after(&self, mut pos: u64, file_len: u64) -> u64 {
        let mut next = self.next_offset;
        while let Ok(Some(header)) = self.header_at(pos) {
            let plausible = header.magic == batch::MAGIC_V2
                && header.batch_length > 0
                && header.last_offset_delta >= 0
                && header.base_offset >= 0
                && (header.base_offset as u64) >= next
                && (header.base_offset as u64) < next + (1 << 31);
            if !plausible {
                if pos == self.size {
                    pos += header.total_len() as u64;
                    if header.batch_length > 0 && pos < file_len {
                        continue; // the corrupt batch itself; what follows may still parse
                    }
                }
                break;
            }
            next = header.next_offset() as u64;
            pos += header.total_len() as u64;
        }
        next
    }

    /// Appends already validated batches (`bytes`, split at `batches`, written with the base
    /// offsets and epochs their headers carry). On a write error the file is cut back to its
    /// previous size; an error from that is returned as well.
    pub(crate) fn append(
        &mut self,
        bytes: &[u8],
        batches: &[(usize, BatchHeader)],
        index_interval: u32,
        now_ms: i64,
    ) -> Result<(), AppendFailure> {
        if let Err(e) = stamped_write::write_all_at(&self.log, bytes, batches, self.size) {
            let write = IoError::new("writing", &self.log_path, e);
            return match self.log.set_len(self.size) {
                Ok(()) => Err(AppendFailure::Clean(write)),
                Err(e) => Err(AppendFailure::Dirty(
                    write,
                    IoError::new("truncating", &self.log_path, e),
                )),
            };
        }
        for (at, header) in batches {
            self.record_batch(self.size + *at as u64, header, index_interval)
                .map_err(AppendFailure::Index)?;
        }
        self.size += bytes.len() as u64;
        self.last_modified_ms = now_ms;
        Ok(())
    }

    /// Updates offsets, timestamps and indexes for a batch written at `pos`.
    fn record_batch(
        &mut self,
        pos: u64,
        header: &BatchHeader,
        index_interval: u32,
    ) -> Result<(), IoError> {
        let relative = (header.base_offset as u64 - self.base_offset) as u32;
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.base_offset as u64;
        }
        if self.bytes_since_index >= u64::from(index_interval)
            || (pos == 0 && self.offsets.len() == 0)
        {
            self.offsets.push(OffsetEntry {
                relative_offset: relative,
                position: pos as u32,
            })?;
            self.push_time_entry()?;
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += header.total_len() as u64;
        self.next_offset = header.next_offset() as u64;
        Ok(())
    }

    /// Records the largest timestamp so far in the time index (done on close, so a clean
    /// open need not scan for it).
    pub(crate) fn push_time_entry(&mut self) -> Result<(), IoError> {
        let newer = self
            .times
            .last()
            .is_none_or(|e| self.max_timestamp > e.timestamp);
        if self.max_timestamp >= 0 && newer {
            self.times.push(TimeEntry {
                timestamp: self.max_timestamp,
                relative_offset: (self.offset_of_max_timestamp - self.base_offset) as u32,
            })?;
        }
        Ok(())
    }

    /// The header of the batch at `pos`, or `None` past the end of the file.
    pub(crate) fn header_at(&self, pos: u64) -> std::io::Result<Option<BatchHeader>> {
        let mut buf = [0u8; HEADER_LEN];
        match self.log.read_exact_at(&mut buf, pos) {
            Ok(()) => Ok(BatchHeader::parse(&buf).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn first_header(&self) -> Result<Option<BatchHeader>, IoError> {
        if self.size == 0 {
            return Ok(None);
        }
        self.header_at(0)
            .map_err(|e| IoError::new("reading", &self.log_path, e))
    }

    /// Recomputes the largest timestamp from the batches after byte `from`.
    fn refresh_max_timestamp(&mut self, from: u64) -> Result<(), IoError> {
        let mut pos = from;
        while pos < self.size {
            let Some(header) = self
                .header_at(pos)
                .map_err(|e| IoError::new("reading", &self.log_path, e))?
            else {
                break;
            };
            if header.max_timestamp > self.max_timestamp {
                self.max_timestamp = header.max_timestamp;
                self.offset_of_max_timestamp = header.base_offset as u64;
            }
            pos += header.total_len() as u64;
        }
        Ok(())
    }

    /// Position and header of the batch holding `offset`, or `None` when the segment ends
    /// before it.
    pub(crate) fn locate(&self, offset: u64) -> Result<Option<(u64, BatchHeader)>, IoError> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let relative = offset.saturating_sub(self.base_offset) as u32;
        let mut pos = self
            .offsets
            .floor(relative, |e| e.relative_offset)
            .map_or(0, |e| u64::from(e.position));
        while pos < self.size {
            let header = self
                .header_at(pos)
                .map_err(|e| IoError::new("reading", &self.log_path, e))?
                .ok_or_else(|| {
                    IoError::new(
                        "reading",
                        &self.log_path,
                        std::io::ErrorKind::UnexpectedEof.into(),
                    )
                })?;
            if header.last_offset() as u64 >= offset {
                return Ok(Some((pos, header)));
            }
            pos += header.total_len() as u64;
        }
        Ok(None)
    }

    /// Whole batches from `start` (a batch boundary) up to about `max_bytes` and never past
    /// `end` (also a boundary); at least one batch when any is there, as Kafka does so that a
    /// batch larger than the fetch size still makes progress.
    pub(crate) fn slice(&self, start: u64, max_bytes: u64, end: u64) -> Result<FileSlice, IoError> {
        let end = end.min(self.size);
        let budget_end = start.saturating_add(max_bytes).min(end);
        // Skip ahead to the last indexed batch that still fits, then walk headers.
        let mut pos = self
            .offsets
            .floor(budget_end.min(u64::from(u32::MAX)) as u32, |e| e.position)
            .map_or(start, |e| u64::from(e.position).max(start));
        loop {
            if pos >= end {
                break;
            }
            let header = self
                .header_at(pos)
                .map_err(|e| IoError::new("reading", &self.log_path, e))?;
            let Some(header) = header else { break };
            let next = pos + header.total_len() as u64;
            if next > budget_end && pos > start {
                break;
            }
            pos = next;
            if pos >= budget_end {
                break;
            }
        }
        Ok(FileSlice::new(
            Arc::clone(&self.log),
            self.log_path.clone(),
            start,
            pos.min(end) - start,
        ))
    }

    /// Calls `f` with the header of every batch from the one holding `offset` to the end of
    /// the segment, reading only headers.
    pub(crate) fn scan_headers(
        &self,
        offset: u64,
        f: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(), IoError> {
        let Some((mut pos, _)) = self.locate(offset.max(self.base_offset))? else {
            return Ok(());
        };
        while pos < self.size {
            let header = self
                .header_at(pos)
                .map_err(|e| IoError::new("reading", &self.log_path, e))?;
            let Some(header) = header else { break };
            f(&header);
            pos += header.total_len() as u64;
        }
        Ok(())
    }

    /// The first offset in this segment whose record timestamp is at least `target`, with
    /// that timestamp (for a compressed batch: its base offset and first timestamp).
    pub(crate) fn offset_for_timestamp(&self, target: i64) -> Result<Option<(u64, i64)>, IoError> {
        if self.max_timestamp < target {
            return Ok(None);
        }
        let start_offset = self
            .times
            .floor(target - 1, |e| e.timestamp)
            .map_or(self.base_offset, |e| {
                self.base_offset + u64::from(e.relative_offset)
            });
        let Some((mut pos, _)) = self.locate(start_offset)? else {
            return Ok(None);
        };
        let io = |e| IoError::new("reading", &self.log_path, e);
        while pos < self.size {
            let Some(header) = self.header_at(pos).map_err(io)? else {
                break;
            };
            if header.max_timestamp >= target {
                let mut batch = vec![0u8; header.total_len()];
                self.log.read_exact_at(&mut batch, pos).map_err(io)?;
                let (offset, timestamp) = batch::first_offset_at_or_after(&batch, target)
                    .unwrap_or((header.base_offset, header.base_timestamp));
                return Ok(Some((offset as u64, timestamp)));
            }
            pos += header.total_len() as u64;
        }
        Ok(None)
    }

    /// Drops every batch from the one holding `offset` on; returns the new next offset.
    pub(crate) fn truncate_to(&mut self, offset: u64) -> Result<u64, IoError> {
        let Some((pos, header)) = self.locate(offset)? else {
            return Ok(self.next_offset);
        };
        self.log
            .set_len(pos)
            .map_err(|e| IoError::new("truncating", &self.log_path, e))?;
        self.size = pos;
        self.next_offset = header.base_offset as u64;
        let keep = |index_len: usize, position_of: &dyn Fn(usize) -> u64| {
            (0..index_len).take_while(|&i| position_of(i) < pos).count()
        };
        let offsets_kept = keep(self.offsets.len(), &|i| {
            u64::from(self.offsets.entry(i).position)
        });
        self.offsets.truncate(offsets_kept)?;
        let times_kept = (0..self.times.len())
            .take_while(|&i| {
                self.base_offset + u64::from(self.times.entry(i).relative_offset) < self.next_offset
            })
            .count();
        self.times.truncate(times_kept)?;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        if let Some(last) = self.times.last() {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = self.base_offset + u64::from(last.relative_offset);
        }
        let from = self.offsets.last().map_or(0, |e| u64::from(e.position));
        self.bytes_since_index = self.size - from;
        self.refresh_max_timestamp(from)?;
        Ok(self.next_offset)
    }

    /// Makes the segment read-only: final time index entry, log and indexes synced.
    pub(crate) fn seal(&mut self) -> Result<(), IoError> {
        self.push_time_entry()?;
        self.sync()?;
        self.offsets.seal()?;
        self.times.seal()
    }

    /// Starts writing the last `len` bytes to disk without waiting (see `writeback`).
    pub(crate) fn start_writeback(&self, len: u64) {
        crate::writeback::start(&self.log, self.size.saturating_sub(len), len);
    }

    /// Syncs the log file's data.
    pub(crate) fn sync(&self) -> Result<(), IoError> {
        self.log
            .sync_data()
            .map_err(|e| IoError::new("syncing", &self.log_path, e))
    }

    /// Syncs the log file and both indexes.
    pub(crate) fn sync_all(&self) -> Result<(), IoError> {
        self.sync()?;
        self.offsets.sync()?;
        self.times.sync()
    }

    /// The log file, shared with readers and the group commit.
    pub(crate) fn log_file(&self) -> (Arc<File>, &Path) {
        (Arc::clone(&self.log), &self.log_path)
    }

    /// Deletes the segment's files.
    pub(crate) fn delete(self) -> Result<(), IoError> {
        for path in [&self.log_path, self.offsets.path(), self.times.path()] {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoError::new("deleting", path, e)),
            }
        }
        Ok(())
    }
}

/// How an append to a segment failed.
#[derive(Debug)]
pub(crate) enum AppendFailure {
    /// The write failed and the file was cut back: nothing changed.
    Clean(IoError),
    /// The write failed and cutting the file back failed too.
    Dirty(IoError, IoError),
    /// The batch is on disk but an index could not be written.
    Index(IoError),
}

fn open_log(dir: &Path, stem: &str) -> Result<(PathBuf, File, u64, i64), IoError> {
    let path = dir.join(format!("{stem}.log"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| IoError::new("opening", &path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| IoError::new("reading metadata of", &path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    Ok((path, file, meta.len(), mtime))
}
