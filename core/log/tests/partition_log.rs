#![allow(clippy::unwrap_used)] // tests fail loudly by design
//! Append/read round trips, offsets across segment rolls, index and time lookups at every
//! boundary, reopen (clean and after a crash), truncation, retention and group commit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use weir_log::{
    AppendError, BatchError, FlushMode, FlushPolicy, LogConfig, ManualClock, PartitionLog,
    ReadError,
};

/// A generated batch: record count, value size, base timestamp.
fn batch_spec() -> impl Strategy<Value = (usize, usize, i64)> {
    (1usize..20, 0usize..300, 0i64..10_000)
}

/// Model of what the log must hold: each appended batch as stamped, with its timestamps.
struct Model {
    batches: Vec<Vec<u8>>,
    /// (offset, timestamp) of every record.
    records: Vec<(u64, i64)>,
}

impl Model {
    fn next_offset(&self) -> u64 {
        self.records.len() as u64
    }

    fn append(&mut self, log: &PartitionLog, (count, size, ts): (usize, usize, i64)) {
        let mut bytes = batch(count, size, ts);
        let info = log.append(&bytes, 3).unwrap();
        // What a read returns: the batch as the log stamped it.
        weir_log::batch::set_base_offset(&mut bytes, info.first_offset as i64);
        weir_log::batch::set_leader_epoch(&mut bytes, 3);
        assert_eq!(
            info.first_offset,
            self.next_offset(),
            "offsets are contiguous"
        );
        assert_eq!(info.last_offset, self.next_offset() + count as u64 - 1);
        for i in 0..count {
            self.records.push((self.next_offset(), ts + i as i64));
        }
        self.batches.push(bytes);
    }

    fn truncate(&mut self, keep_batches: usize) -> u64 {
        self.batches.truncate(keep_batches);
        let end: u64 = self
            .batches
            .iter()
            .map(|b| weir_log::batch::validate(b).unwrap().record_count as u64)
            .sum();
        self.records.truncate(end as usize);
        end
    }

    fn check(&self, log: &PartitionLog, max_bytes: u64) {
        assert_eq!(log.log_end_offset(), self.next_offset());
        let all = read_all(log, 0, max_bytes);
        let got: Vec<&Vec<u8>> = all.iter().map(|(_, b)| b).collect();
        let want: Vec<&Vec<u8>> = self.batches.iter().collect();
        assert_eq!(
            got, want,
            "sequential read returns every batch intact, in order"
        );
        // Every offset finds the batch that holds it.
        for &(offset, _) in &self.records {
            let slice = log.read(offset, 1, None).unwrap();
            let (header, _) = &batches_in(&slice.to_vec().unwrap())[0];
            assert!(header.base_offset as u64 <= offset && offset <= header.last_offset() as u64);
        }
        // Time lookups: the earliest offset whose timestamp is at least the target.
        let mut targets: Vec<i64> = self.records.iter().map(|r| r.1).collect();
        targets.extend([-1, 0, 20_000]);
        for t in targets.into_iter().step_by(7) {
            let want = self.records.iter().find(|r| r.1 >= t).copied();
            assert_eq!(log.offset_for_timestamp(t).unwrap(), want, "timestamp {t}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn appends_read_back_across_rolls_reopens_and_truncation(
        segment_bytes in 200u64..6000,
        index_interval in 0u32..3000,
        max_read in 1u64..10_000,
        ops in prop::collection::vec(prop_oneof![
            6 => batch_spec().prop_map(Op::Append),
            1 => Just(Op::ReopenClean),
            1 => Just(Op::ReopenAfterCrash),
            1 => (0.0f64..1.0).prop_map(Op::Truncate),
        ], 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = small_config(segment_bytes, index_interval);
        let mut log = open(dir.path(), config);
        let mut model = Model { batches: Vec::new(), records: Vec::new() };
        for op in ops {
            match op {
                Op::Append(spec) => model.append(&log, spec),
                Op::ReopenClean => {
                    log.close().unwrap();
                    drop(log);
                    log = open(dir.path(), config);
                    prop_assert!(log.recovery().clean);
                }
                Op::ReopenAfterCrash => {
                    drop(log);
                    log = open(dir.path(), config);
                    prop_assert!(!log.recovery().clean);
                    prop_assert_eq!(log.recovery().truncated_bytes, 0);
                }
                Op::Truncate(fraction) => {
                    let keep = (model.batches.len() as f64 * fraction) as usize;
                    let end = model.truncate(keep);
                    prop_assert_eq!(log.truncate_to(end).unwrap(), end);
                }
            }
            model.check(&log, max_read);
        }
        if !model.batches.is_empty() {
            prop_assert!(log.segment_count() >= 1);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append((usize, usize, i64)),
    ReopenClean,
    ReopenAfterCrash,
    Truncate(f64),
}

#[test]
fn offsets_start_at_zero_and_roll_keeps_them_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1024, 100));
    let mut next = 0;
    for i in 0..50 {
        let b = batch(4, 50, i);
        let info = log.append(&b, 0).unwrap();
        assert_eq!(info.first_offset, next);
        next = info.next_offset;
    }
    assert_eq!(log.log_end_offset(), 200);
    assert!(
        log.segment_count() > 5,
        "segments rolled: {}",
        log.segment_count()
    );
    let bases = log.segment_bases();
    assert_eq!(bases[0], 0);
    // Segment files are named by their base offset, 20 digits.
    for base in &bases {
        assert!(dir.path().join(format!("{base:020}.log")).exists());
        assert!(dir.path().join(format!("{base:020}.index")).exists());
        assert!(dir.path().join(format!("{base:020}.timeindex")).exists());
    }
}

#[test]
fn header_scans_visit_every_batch_from_an_offset_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1500, 100));
    for i in 0..30 {
        log.append(&batch(2, 100, i), 0).unwrap();
    }
    assert!(log.segment_count() > 3);
    let mut bases = Vec::new();
    log.scan_headers(13, |h| bases.push(h.base_offset)).unwrap();
    assert_eq!(bases, (12..60).step_by(2).collect::<Vec<i64>>());
}

#[test]
fn reads_respect_the_byte_limit_but_return_at_least_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20, 0));
    let mut sizes = Vec::new();
    for _ in 0..10 {
        let b = batch(10, 100, 0);
        sizes.push(b.len() as u64);
        log.append(&b, 0).unwrap();
    }
    let one = log.read(0, 1, None).unwrap();
    assert_eq!(one.len(), sizes[0]);
    let three = log.read(0, sizes[0] * 3 + 5, None).unwrap();
    assert_eq!(three.len(), sizes[0] * 3);
    // A read from the middle of a batch starts at that batch.
    let mid = log.read(15, 1, None).unwrap();
    assert_eq!(batches_in(&mid.to_vec().unwrap())[0].0.base_offset, 10);
    // The upper bound (high watermark) is never crossed.
    let bounded = log.read(0, u64::MAX, Some(30)).unwrap();
    assert_eq!(batches_in(&bounded.to_vec().unwrap()).len(), 3);
    assert!(log.read(30, 1000, Some(30)).unwrap().is_empty());
    assert!(log.read(100, 1000, None).unwrap().is_empty());
    assert!(matches!(
        log.read(101, 1000, None),
        Err(ReadError::OffsetOutOfRange {
            offset: 101,
            log_start: 0,
            log_end: 100
        })
    ));
}

#[test]
fn invalid_batches_are_rejected_and_leave_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20, 4096));
    log.append(&batch(3, 10, 0), 0).unwrap();
    let size = log.size_bytes();

    let good = batch(3, 10, 0);
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    let mut bad_magic = good.clone();
    bad_magic[16] = 1;
    let truncated = good[..good.len() - 3].to_vec();
    // A good batch followed by a bad one: neither is written.
    let good_then_bad = [good.clone(), bad_crc.clone()].concat();

    assert!(matches!(
        log.append(&bad_crc, 0),
        Err(AppendError::InvalidBatch(BatchError::CrcMismatch { .. }))
    ));
    assert!(matches!(
        log.append(&bad_magic, 0),
        Err(AppendError::InvalidBatch(BatchError::UnsupportedMagic(1)))
    ));
    assert!(matches!(
        log.append(&truncated, 0),
        Err(AppendError::InvalidBatch(BatchError::Truncated { .. }))
    ));
    assert!(matches!(
        log.append(&good_then_bad, 0),
        Err(AppendError::InvalidBatch(BatchError::CrcMismatch { .. }))
    ));
    assert!(matches!(
        log.append(&[], 0),
        Err(AppendError::InvalidBatch(BatchError::Empty))
    ));
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(log.size_bytes(), size);
    let on_disk = std::fs::metadata(dir.path().join(format!("{:020}.log", 0)))
        .unwrap()
        .len();
    assert_eq!(on_disk, size);
}

#[test]
fn oversized_batches_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_batch_bytes: 500,
        ..small_config(1 << 20, 4096)
    };
    let log = open(dir.path(), config);
    assert!(matches!(
        log.append(&batch(10, 100, 0), 0),
        Err(AppendError::InvalidBatch(BatchError::TooLarge {
            limit: 500,
            ..
        }))
    ));
}

#[test]
fn replicated_appends_keep_offsets_and_epochs_and_must_be_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let leader = open(dir.path().join("leader").as_path(), small_config(2048, 0));
    let follower = open(dir.path().join("follower").as_path(), small_config(2048, 0));
    for epoch in [1, 1, 2, 5] {
        leader.append(&batch(5, 100, 0), epoch).unwrap();
    }
    let all: Vec<u8> = read_all(&leader, 0, 1 << 20)
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    let batches = batches_in(&all);
    assert!(matches!(
        follower.append_replicated(&batches[1].1),
        Err(AppendError::OutOfOrder {
            expected: 0,
            got: 5
        })
    ));
    for (_, bytes) in &batches {
        follower.append_replicated(bytes).unwrap();
    }
    assert_eq!(follower.log_end_offset(), 20);
    assert_eq!(follower.latest_epoch(), Some(5));
    assert_eq!(follower.end_offset_for_epoch(1), Some((1, 10)));
    assert_eq!(follower.end_offset_for_epoch(3), Some((2, 15)));
    assert_eq!(follower.end_offset_for_epoch(5), Some((5, 20)));
    assert_eq!(follower.end_offset_for_epoch(0), None);
    // A returning replica truncates to where the new leader's epoch history diverges.
    follower.truncate_to(12).unwrap();
    assert_eq!(
        follower.log_end_offset(),
        10,
        "truncation lands on a batch boundary"
    );
    assert_eq!(follower.latest_epoch(), Some(1));
    assert_eq!(follower.end_offset_for_epoch(5), Some((1, 10)));
}

#[test]
fn fsync_group_commit_shares_syncs_between_concurrent_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush: FlushPolicy {
            mode: FlushMode::Fsync,
            ..FlushPolicy::default()
        },
        ..small_config(1 << 30, 4096)
    };
    let log = Arc::new(open(dir.path(), config));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let info = log.append(&batch(1, 100, 0), 0).unwrap();
                    log.make_durable(info.next_offset).unwrap();
                    assert!(log.synced_offset() >= info.next_offset);
                    assert!(log.is_durable(info.next_offset));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(log.log_end_offset(), 400);
    assert_eq!(log.synced_offset(), 400);
    let info = log.append(&batch(1, 100, 0), 0).unwrap();
    assert!(
        !log.is_durable(info.next_offset),
        "an fsync log's unsynced append"
    );
    let syncs = log.group_commit_syncs();
    assert!(
        syncs < 400,
        "{syncs} fsyncs for 400 appends: group commit did not batch"
    );
}

#[test]
fn page_cache_mode_syncs_on_flush_messages_and_flush_ms() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let config = LogConfig {
        flush: FlushPolicy {
            mode: FlushMode::Os,
            flush_messages: Some(10),
            flush_interval: Some(Duration::from_millis(500)),
        },
        ..small_config(1 << 20, 4096)
    };
    let log = open_with_clock(dir.path(), config, Arc::clone(&clock));
    let info = log.append(&batch(5, 10, 0), 0).unwrap();
    assert!(log.is_durable(info.next_offset), "nothing to sync yet");
    log.make_durable(info.next_offset).unwrap();
    assert_eq!(
        log.synced_offset(),
        0,
        "page cache mode does not sync every append"
    );
    let info = log.append(&batch(5, 10, 0), 0).unwrap();
    assert!(!log.is_durable(info.next_offset), "flush.messages is due");
    log.make_durable(info.next_offset).unwrap();
    assert_eq!(log.synced_offset(), 10, "flush.messages reached");
    log.append(&batch(1, 10, 0), 0).unwrap();
    log.flush_if_due().unwrap();
    assert_eq!(log.synced_offset(), 10);
    clock.advance(500);
    log.flush_if_due().unwrap();
    assert_eq!(log.synced_offset(), 11, "flush.ms reached");
}

#[test]
fn segment_age_rolls_with_an_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let config = LogConfig {
        segment_age: Duration::from_secs(60),
        ..small_config(1 << 30, 4096)
    };
    let log = open_with_clock(dir.path(), config, Arc::clone(&clock));
    log.append(&batch(1, 10, 0), 0).unwrap();
    clock.advance(59_000);
    log.append(&batch(1, 10, 0), 0).unwrap();
    assert_eq!(log.segment_count(), 1);
    clock.advance(1_000);
    log.append(&batch(1, 10, 0), 0).unwrap();
    assert_eq!(log.segment_bases(), vec![0, 2]);
}

#[test]
fn retention_by_time_deletes_old_segments_and_persists_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let now = 10 * DAY.as_millis() as i64;
    let clock = Arc::new(ManualClock::new(now));
    let config = LogConfig {
        retention: Some(DAY),
        ..small_config(1000, 0)
    };
    let log = open_with_clock(dir.path(), config, Arc::clone(&clock));
    // Old records: three days ago; then fresh ones.
    for _ in 0..10 {
        log.append(&batch(2, 200, now - 3 * DAY.as_millis() as i64), 0)
            .unwrap();
    }
    let old_end = log.log_end_offset();
    for _ in 0..10 {
        log.append(&batch(2, 200, now), 0).unwrap();
    }
    let before = log.segment_count();
    let outcome = log.enforce_retention().unwrap();
    assert!(outcome.deleted_segments > 0);
    assert_eq!(log.segment_count(), before - outcome.deleted_segments);
    let start = log.log_start_offset();
    assert!(
        start > 0 && start <= old_end,
        "start {start}, old records end at {old_end}"
    );
    assert!(matches!(
        log.read(0, 100, None),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        read_all(&log, start, 1 << 20)
            .last()
            .unwrap()
            .0
            .next_offset() as u64,
        40
    );
    // Nothing more to delete until the clock moves.
    assert_eq!(log.enforce_retention().unwrap().deleted_segments, 0);
    log.close().unwrap();
    drop(log);
    let log = open_with_clock(dir.path(), config, Arc::clone(&clock));
    assert_eq!(log.log_start_offset(), start);
    // Two days later everything has expired; the log keeps its end offset.
    clock.advance(2 * DAY.as_millis() as i64);
    log.enforce_retention().unwrap();
    assert_eq!(log.log_start_offset(), 40);
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(log.size_bytes(), 0);
    assert_eq!(log.append(&batch(1, 1, now), 0).unwrap().first_offset, 40);
}

#[test]
fn retention_by_size_keeps_the_log_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let config = LogConfig {
        retention_bytes: Some(5000),
        ..small_config(1000, 0)
    };
    let log = open_with_clock(dir.path(), config, clock);
    for _ in 0..50 {
        log.append(&batch(1, 200, 0), 0).unwrap();
    }
    let total = log.size_bytes();
    assert!(total > 10_000);
    let outcome = log.enforce_retention().unwrap();
    assert_eq!(outcome.deleted_bytes, total - log.size_bytes());
    assert!(
        log.size_bytes() <= 5000 + 1000,
        "size {} after retention",
        log.size_bytes()
    );
    assert!(log.size_bytes() > 5000 - 1000);
    assert_eq!(log.log_start_offset(), log.segment_bases()[0]);
}

#[test]
fn a_missing_index_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(2000, 100);
    let log = open(dir.path(), config);
    for i in 0..40 {
        log.append(&batch(3, 100, i), 0).unwrap();
    }
    log.close().unwrap();
    drop(log);
    std::fs::remove_file(dir.path().join(format!("{:020}.index", 0))).unwrap();
    std::fs::write(dir.path().join(format!("{:020}.timeindex", 0)), [1u8; 5]).unwrap();
    let log = open(dir.path(), config);
    assert_eq!(log.log_end_offset(), 120);
    for offset in 0..120 {
        let slice = log.read(offset, 1, None).unwrap();
        let (header, _) = &batches_in(&slice.to_vec().unwrap())[0];
        assert!(header.base_offset as u64 <= offset && offset <= header.last_offset() as u64);
    }
    assert_eq!(log.offset_for_timestamp(5).unwrap(), Some((11, 5)));
}
