//! Errors, one enum per operation, each holding only the failures that operation can have.

use std::io;
use std::path::PathBuf;

/// Why a batch was rejected before anything was written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the header or the length field promise.
    #[error("batch truncated: needs {needed} bytes, only {available} present")]
    Truncated {
        /// Bytes the batch claims to need.
        needed: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// The length field is negative or smaller than a header.
    #[error("batch length field {0} is invalid")]
    InvalidLength(i32),
    /// Not a v2 `RecordBatch`.
    #[error("unsupported batch format (magic byte {0}; only v2 is stored)")]
    UnsupportedMagic(i8),
    /// The CRC32C over the batch does not match the stored one.
    #[error("batch checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// `lastOffsetDelta` is negative.
    #[error("batch last offset delta {0} is negative")]
    InvalidOffsetDelta(i32),
    /// `lastOffsetDelta + 1` differs from the record count, so offsets would not be
    /// contiguous.
    #[error("batch holds {count} records but its last offset delta is {last_offset_delta}")]
    RecordCountMismatch {
        /// Records in the batch.
        count: i32,
        /// Its last offset delta.
        last_offset_delta: i32,
    },
    /// An append with no batch in it.
    #[error("no record batch in the request")]
    Empty,
    /// Records were asked of a compressed, transactional or control batch.
    #[error("the batch is compressed, transactional or a control batch (attributes {0:#06x})")]
    NotPlain(i16),
    /// A record inside the batch does not decode.
    #[error("record {index} of the batch is truncated or malformed")]
    MalformedRecord {
        /// Position of the record in the batch.
        index: i32,
    },
    /// A batch over the partition's `max.message.bytes`.
    #[error("batch of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the batch.
        size: usize,
        /// The configured limit.
        limit: u32,
    },
}

/// Why an append failed. The log is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The batch is malformed.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// A replicated batch does not start at the log end offset.
    #[error("replicated batch starts at offset {got}, but the log ends at {expected}")]
    OutOfOrder {
        /// The log end offset.
        expected: u64,
        /// The batch's base offset.
        got: i64,
    },
    /// Writing failed (a full disk, say); the partial write was removed.
    #[error("writing to {path}: {source}")]
    Io {
        /// The segment file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// An earlier sync or write failed in a way that may have lost data; the log refuses
    /// writes until it is reopened (and recovered).
    #[error("log {0} refuses writes after an earlier I/O failure; restart to recover it")]
    Poisoned(PathBuf),
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The offset is below the log start or beyond the log end.
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: u64,
        /// The first offset the log holds.
        log_start: u64,
        /// The offset the next append will get.
        log_end: u64,
    },
    /// Reading the segment failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The segment file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Why a sync to disk failed.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// `fdatasync` failed; the log is now poisoned.
    #[error("syncing {path}: {source}")]
    Io {
        /// The file being synced.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The log refuses further work after an earlier failure.
    #[error("log {0} refuses writes after an earlier I/O failure; restart to recover it")]
    Poisoned(PathBuf),
}

/// A failed filesystem operation on one path, for opening, rolling, truncating, deleting.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct IoError {
    /// What was being done ("opening", "renaming", …).
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

impl IoError {
    /// An error for `action` on `path`.
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Why opening (and recovering) a partition log failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A file could not be read, written or created.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A checkpoint file is unreadable.
    #[error("checkpoint {path} is malformed: {reason}")]
    BadCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory name is not `<topic>-<partition>`.
    #[error("{0} is not a partition directory (expected <topic>-<partition>)")]
    NotAPartitionDir(PathBuf),
}

/// Why a maintenance operation (roll, truncate, retention, close) failed.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The log refuses further work after an earlier failure.
    #[error("log {0} refuses writes after an earlier I/O failure; restart to recover it")]
    Poisoned(PathBuf),
    /// A sync failed.
    #[error(transparent)]
    Flush(#[from] FlushError),
}

/// Why a [`crate::LogStore`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A partition log failed to open.
    #[error("opening partition log: {0}")]
    Open(#[from] OpenError),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Closing a partition failed.
    #[error(transparent)]
    Maintenance(#[from] MaintenanceError),
    /// Topic names follow Kafka's rules.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The partition already exists.
    #[error("partition {0} already exists")]
    AlreadyExists(String),
    /// The same partition was found in two log directories.
    #[error("partition {name} is in two log directories: {first} and {second}")]
    Duplicate {
        /// The partition.
        name: String,
        /// One directory.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// No log directory is configured.
    #[error("no log directory configured")]
    NoLogDirs,
}
