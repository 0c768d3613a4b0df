//! Typed settings of one partition log. Parsing them from TOML (with Kafka's names) is the
//! broker's job; this module only says what each knob means and its Kafka default.

use std::time::Duration;

/// How appended bytes reach the disk before an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Every append is followed by `fdatasync` before it is acknowledged; concurrent appends
    /// share one sync (group commit). Nothing acknowledged is lost if the machine dies.
    Fsync,
    /// Appends are acknowledged once they are in the page cache; the disk is synced only on
    /// segment roll, on close, and by `flush_messages` / `flush_interval`. A process crash
    /// loses nothing; a power loss may lose the unsynced tail.
    Os,
}

/// The durability choice for a partition, with Kafka's `flush.messages` and `flush.ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Fsync-per-append (with group commit) or page cache.
    pub mode: FlushMode,
    /// In [`FlushMode::Os`], sync once this many records have been appended since the last
    /// sync (Kafka's `flush.messages`; `None` is Kafka's default, never).
    pub flush_messages: Option<u64>,
    /// In [`FlushMode::Os`], sync when the oldest unsynced append is this old (Kafka's
    /// `flush.ms`; `None` is Kafka's default, never). Checked by the store's maintenance task.
    pub flush_interval: Option<Duration>,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        Self {
            mode: FlushMode::Fsync,
            flush_messages: None,
            flush_interval: None,
        }
    }
}

/// What happens to old records (`cleanup.policy`): deleted by age and size, compacted to
/// the newest record per key, or both. Kafka's default is delete only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Retention by `retention.ms` / `retention.bytes` deletes whole segments.
    pub delete: bool,
    /// Compaction keeps only the newest record of each key in sealed segments.
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        Self {
            delete: true,
            compact: false,
        }
    }
}

/// Settings of one partition log; `Default` gives Kafka's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment once the active one would exceed this size (`segment.bytes`,
    /// default 1 GiB).
    pub segment_bytes: u64,
    /// Roll to a new segment once the active one is this old (`segment.ms`, default 7 days).
    pub segment_age: Duration,
    /// Delete segments whose newest record is older than this (`retention.ms`, default
    /// 168 hours); `None` keeps data forever (Kafka's `-1`).
    pub retention: Option<Duration>,
    /// Delete the oldest segments while the log is larger than this (`retention.bytes`,
    /// default unlimited).
    pub retention_bytes: Option<u64>,
    /// Bytes of log between two entries of the sparse offset index (`index.interval.bytes`,
    /// default 4096).
    pub index_interval_bytes: u32,
    /// The largest batch an append accepts (`max.message.bytes`, default 1 MiB + overhead).
    pub max_batch_bytes: u32,
    /// When appends are synced to disk.
    pub flush: FlushPolicy,
    /// Delete, compact, or both.
    pub cleanup: CleanupPolicy,
    /// How long compaction keeps a tombstone (a null value) after its record's timestamp,
    /// so consumers that are behind still see the delete (`delete.retention.ms`, default
    /// 1 day).
    pub delete_retention: Duration,
    /// Compact once the not-yet-compacted sealed bytes are at least this share of all sealed
    /// bytes, in thousandths (`min.cleanable.dirty.ratio`, default 0.5 → 500).
    pub min_cleanable_dirty_permille: u16,
}

/// Kafka's `segment.bytes` default.
pub const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;
/// Kafka's `segment.ms` default (7 days).
pub const DEFAULT_SEGMENT_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Kafka's `retention.ms` default (168 hours).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(168 * 3600);
/// Kafka's `index.interval.bytes` default.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;
/// Kafka's `delete.retention.ms` default (1 day).
pub const DEFAULT_DELETE_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Kafka's `message.max.bytes` default (1 MiB plus record-batch overhead).
pub const DEFAULT_MAX_BATCH_BYTES: u32 = 1_048_588;

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_age: DEFAULT_SEGMENT_AGE,
            retention: Some(DEFAULT_RETENTION),
            retention_bytes: None,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            flush: FlushPolicy::default(),
            cleanup: CleanupPolicy::default(),
            delete_retention: DEFAULT_DELETE_RETENTION,
            min_cleanable_dirty_permille: 500,
        }
    }
}
