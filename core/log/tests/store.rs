#![allow(clippy::unwrap_used)] // tests fail loudly by design
//! `LogStore`: placement across several log directories, rediscovery on restart, directory
//! locks, deletion, and the periodic retention check.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use weir_log::{Clock, LogConfig, LogStore, ManualClock, StoreError, SystemClock, TopicPartition};

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition).unwrap()
}

#[test]
fn new_partitions_go_to_the_emptiest_dir_and_are_found_again_on_restart() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    ];
    let config = small_config(1 << 20, 4096);
    {
        let store = LogStore::open(&dirs, config, Arc::new(SystemClock)).unwrap();
        for p in 0..6 {
            let log = store.create(&tp("orders", p), config).unwrap();
            log.append(&batch(p as usize + 1, 10, 0), 0).unwrap();
        }
        for dir in &dirs {
            let count = std::fs::read_dir(dir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().is_dir())
                .count();
            assert_eq!(count, 2, "{} holds {count} partitions", dir.display());
        }
        assert!(matches!(
            store.create(&tp("orders", 0), config),
            Err(StoreError::AlreadyExists(_))
        ));
        store.close().unwrap();
    }
    let store = LogStore::open(&dirs, config, Arc::new(SystemClock)).unwrap();
    let found = store.partitions();
    assert_eq!(found.len(), 6);
    for (tp, log) in found {
        assert_eq!(log.log_end_offset(), u64::from(tp.partition) + 1);
        assert!(log.recovery().clean);
        assert!(store.dir_of(&tp).unwrap().starts_with(root.path()));
    }
}

#[test]
fn a_locked_log_dir_cannot_be_opened_twice() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().join("data")];
    let _first = LogStore::open(&dirs, LogConfig::default(), Arc::new(SystemClock)).unwrap();
    let second = LogStore::open(&dirs, LogConfig::default(), Arc::new(SystemClock));
    let err = second.unwrap_err().to_string();
    assert!(err.contains("another process"), "{err}");
}

#[test]
fn the_same_partition_in_two_dirs_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().join("a"), root.path().join("b")];
    for dir in &dirs {
        std::fs::create_dir_all(dir.join("t-0")).unwrap();
    }
    let err = LogStore::open(&dirs, LogConfig::default(), Arc::new(SystemClock)).unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err}");
}

#[test]
fn deleting_a_partition_removes_its_files() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().join("a")];
    let store = LogStore::open(&dirs, LogConfig::default(), Arc::new(SystemClock)).unwrap();
    let log = store.create(&tp("gone", 0), LogConfig::default()).unwrap();
    let path = log.dir().to_path_buf();
    drop(log);
    assert!(store.delete(&tp("gone", 0)).unwrap());
    assert!(!path.exists());
    assert!(store.partition(&tp("gone", 0)).is_none());
    assert!(!store.delete(&tp("gone", 0)).unwrap());
}

#[test]
fn the_maintenance_thread_runs_retention_periodically() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().join("a")];
    let clock = Arc::new(ManualClock::new(100 * DAY.as_millis() as i64));
    let config = LogConfig {
        retention: Some(DAY),
        ..small_config(1000, 0)
    };
    let store =
        Arc::new(LogStore::open(&dirs, config, Arc::clone(&clock) as Arc<dyn Clock>).unwrap());
    let log = store.create(&tp("t", 0), config).unwrap();
    for _ in 0..20 {
        log.append(&batch(1, 300, clock.now_ms()), 0).unwrap();
    }
    let task = store.start_maintenance(Duration::from_millis(20));
    clock.advance(2 * DAY.as_millis() as i64);
    // Waiting for an event, not timing it: generous bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.log_start_offset() < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(task);
    assert_eq!(
        log.log_start_offset(),
        20,
        "retention ran and removed every expired segment"
    );
}
