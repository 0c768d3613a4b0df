//! `weir-log`: weir's storage engine. A partition is a directory of segments holding Kafka
//! `RecordBatch` v2 bytes exactly as producers sent them (plus the base offset and leader
//! epoch the log assigns, both outside the CRC), with sparse offset and time indexes,
//! group-committed fsync or page-cache durability, crash recovery that truncates a torn tail,
//! retention by time and size, and placement across several log directories.
//!
//! No networking lives here; the broker (`weir-broker`) drives these types.
//!
//! | module | owns |
//! |---|---|
//! | [`batch`] | the v2 batch header: validation (CRC32C), offset and epoch stamping |
//! | [`records`] | the records inside plain batches: decoding, rebuilding with a subset |
//! | `segment`, `index` | one segment's files and its sparse indexes |
//! | [`PartitionLog`] | append, read, sync, truncate, retention and recovery of a partition |
//! | `retention` | which segments retention deletes (a pure decision) |
//! | `compaction` | `cleanup.policy = compact`: newest record per key, segment swap |
//! | `epoch` | the leader-epoch history used for replica truncation |
//! | `checkpoint` | small durable files written atomically |
//! | [`LogStore`] | all partitions across `log.dirs`, and the maintenance thread |

pub mod batch;
mod checkpoint;
mod clock;
mod compaction;
mod config;
mod epoch;
mod error;
mod index;
mod partition;
mod read;
pub mod records;
mod retention;
mod segment;
mod stamped_write;
mod store;
pub mod testing;
mod topic;
mod writeback;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    CleanupPolicy, DEFAULT_DELETE_RETENTION, DEFAULT_INDEX_INTERVAL_BYTES, DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_RETENTION, DEFAULT_SEGMENT_AGE, DEFAULT_SEGMENT_BYTES, FlushMode, FlushPolicy,
    LogConfig,
};
pub use error::{
    AppendError, BatchError, FlushError, IoError, MaintenanceError, OpenError, ReadError,
    StoreError,
};
pub use partition::{
    AppendInfo, CompactionOutcome, PartitionLog, RecoveryReport, RetentionOutcome,
};
pub use read::FileSlice;
pub use store::{LogStore, MaintenanceTask};
pub use topic::{TopicPartition, validate_topic_name};
