#![allow(clippy::unwrap_used)] // tests fail loudly by design
//! A disk that fills: writes past `RLIMIT_FSIZE` fail as they would on a full disk. The
//! failing append must return an I/O error and leave the log exactly as it was (no partial
//! batch), later appends fail the same way, and everything acknowledged before is intact
//! after a clean close and reopen.

mod common;

use std::process::Command;

use common::*;
use weir_log::LogConfig;

#[test]
fn a_full_disk_fails_the_append_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("full-0");
    let output = Command::new(env!("CARGO_BIN_EXE_weir-log-torture"))
        .arg(&log_dir)
        .args(["--file-size-limit", "40000"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "writer failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let failure = stdout
        .lines()
        .find(|l| l.starts_with("failed "))
        .expect("an append failed");
    assert!(failure.contains("File too large"), "{failure}");
    let end: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("end "))
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let acked: Vec<u64> = stdout
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(acked.len() > 5, "some appends fit before the limit");
    assert_eq!(
        *acked.last().unwrap(),
        end[0],
        "the log ends at the last acknowledged append"
    );

    let log = open(&log_dir, LogConfig::default());
    assert!(log.recovery().clean, "closed cleanly after the failures");
    assert_eq!(log.log_end_offset(), end[0]);
    assert_eq!(log.size_bytes(), end[1]);
    assert!(end[1] <= 40_000);
    let batches = read_all(&log, 0, 1 << 20);
    assert_eq!(batches.last().unwrap().0.next_offset() as u64, end[0]);
}
