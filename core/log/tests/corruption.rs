#![allow(clippy::unwrap_used)] // tests fail loudly by design
//! Damage on disk: a byte flipped in the middle of a segment is found by recovery, the log is
//! cut at the last good batch, and the report (also logged as a warning) says how many bytes
//! and which offsets were dropped; a torn header at the tail is cut and never served.

mod common;

use std::io::Write;

use common::*;

fn fill(dir: &std::path::Path, batches: usize) -> Vec<u64> {
    let log = open(dir, small_config(1 << 20, 512));
    let mut sizes = Vec::new();
    for i in 0..batches {
        let b = batch(10, 90, i as i64);
        sizes.push(b.len() as u64);
        log.append(&b, 0).unwrap();
    }
    drop(log); // no close: the next open recovers
    sizes
}

#[test]
fn a_flipped_byte_mid_segment_truncates_at_the_last_good_batch() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = fill(dir.path(), 20);
    let batch_len = sizes[0];
    let path = dir.path().join(format!("{:020}.log", 0));
    let file_len = std::fs::metadata(&path).unwrap().len();
    // Flip a byte inside batch 8 (offsets 80..90), in its records.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(batch_len * 8 + 100) as usize] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();

    let _logs = tracing_subscriber::fmt().with_test_writer().try_init();
    let log = open(dir.path(), small_config(1 << 20, 512));
    let report = log.recovery();
    assert!(!report.clean);
    assert_eq!(
        log.log_end_offset(),
        80,
        "cut at the start of the corrupt batch"
    );
    assert_eq!(report.truncated_bytes, file_len - batch_len * 8);
    assert_eq!(
        report.dropped_offsets,
        Some(80..200),
        "headers after the damage still tell"
    );
    assert!(
        report.reason.as_deref().unwrap().contains("checksum"),
        "{report:?}"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), batch_len * 8);
    assert_eq!(read_all(&log, 0, 1 << 20).len(), 8);
    // The log goes on from the cut.
    assert_eq!(log.append(&batch(1, 1, 0), 0).unwrap().first_offset, 80);
}

#[test]
fn a_torn_header_at_the_tail_is_cut_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = fill(dir.path(), 5);
    let path = dir.path().join(format!("{:020}.log", 0));
    // Half a header of a sixth batch.
    let mut torn = batch(10, 90, 0);
    torn.truncate(30);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&torn)
        .unwrap();
    let log = open(dir.path(), small_config(1 << 20, 512));
    assert_eq!(log.recovery().truncated_bytes, 30);
    assert_eq!(log.log_end_offset(), 50);
    assert_eq!(log.size_bytes(), sizes.iter().sum::<u64>());
    assert!(log.read(50, 1 << 20, None).unwrap().is_empty());
}

#[test]
fn corruption_in_an_earlier_segment_drops_the_segments_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(2000, 512);
    let log = open(dir.path(), config);
    for i in 0..30 {
        log.append(&batch(10, 90, i), 0).unwrap();
    }
    let bases = log.segment_bases();
    assert!(bases.len() > 3);
    drop(log);
    // Forget the recovery point so recovery scans from the first segment, as after a crash
    // that happened before any roll was checkpointed.
    std::fs::remove_file(dir.path().join("recovery-point")).unwrap();
    let second = dir.path().join(format!("{:020}.log", bases[1]));
    let mut bytes = std::fs::read(&second).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&second, bytes).unwrap();

    let log = open(dir.path(), config);
    let end = log.log_end_offset();
    assert!(
        end >= bases[1] && end < bases[2],
        "cut inside the damaged segment: {end}"
    );
    assert_eq!(log.segment_bases(), bases[..2].to_vec());
    assert_eq!(log.recovery().dropped_offsets.as_ref().unwrap().start, end);
    assert!(!dir.path().join(format!("{:020}.log", bases[2])).exists());
}
