//! Shared helpers for the partition log tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use weir_log::batch::{self, BatchHeader};
use weir_log::testing::BatchBuilder;
use weir_log::{Clock, FlushMode, FlushPolicy, LogConfig, ManualClock, PartitionLog, SystemClock};

/// A small-segment config so tests cross segment boundaries quickly.
pub fn small_config(segment_bytes: u64, index_interval: u32) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: index_interval,
        retention: None,
        flush: FlushPolicy {
            mode: FlushMode::Os,
            ..FlushPolicy::default()
        },
        ..LogConfig::default()
    }
}

pub fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config, Arc::new(SystemClock)).unwrap()
}

pub fn open_with_clock(dir: &Path, config: LogConfig, clock: Arc<ManualClock>) -> PartitionLog {
    PartitionLog::open(dir, config, clock as Arc<dyn Clock>).unwrap()
}

/// A batch of `records` records of `value_len` bytes with timestamps from `ts`.
pub fn batch(records: usize, value_len: usize, ts: i64) -> Vec<u8> {
    BatchBuilder::new()
        .base_timestamp(ts)
        .timestamp_step(1)
        .records(records, value_len)
        .build()
}

/// Every batch in `bytes`, validated.
pub fn batches_in(bytes: &[u8]) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = batch::validate(&bytes[at..]).expect("valid batch in read result");
        out.push((header, bytes[at..at + header.total_len()].to_vec()));
        at += header.total_len();
    }
    out
}

/// Reads the whole log from `from` in `max_bytes` steps.
pub fn read_all(log: &PartitionLog, from: u64, max_bytes: u64) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let slice = log.read(offset, max_bytes, None).unwrap();
        if slice.is_empty() {
            break;
        }
        let batches = batches_in(&slice.to_vec().unwrap());
        offset = batches.last().unwrap().0.next_offset() as u64;
        out.extend(batches);
    }
    out
}

pub const DAY: Duration = Duration::from_secs(24 * 3600);
