#![allow(missing_docs)]
//! Partition log throughput: appends of 100 B and 1 KiB records in batches of 1, 100 and
//! 1000, in page-cache mode and with fsync group commit (one writer, and four writers sharing
//! syncs), next to `dd` writing the same bytes in the same run; and a sequential read of a
//! 1 GiB log from the page cache.
//!
//! `cargo bench -p weir-log --bench log`; set `WEIR_BENCH_DIR` to bench another disk.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weir_log::testing::BatchBuilder;
use weir_log::{FlushMode, FlushPolicy, LogConfig, PartitionLog, SystemClock};

const RECORD_SIZES: [usize; 2] = [100, 1024];
const BATCH_SIZES: [usize; 3] = [1, 100, 1000];

fn bench_dir() -> PathBuf {
    let base = std::env::var_os("WEIR_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).expect("bench directory");
    base
}

fn config(mode: FlushMode) -> LogConfig {
    LogConfig {
        retention: None,
        flush: FlushPolicy {
            mode,
            ..FlushPolicy::default()
        },
        ..LogConfig::default()
    }
}

/// Times `iters` appends of `batch` split over `writers` threads, each append made durable
/// per the mode, into a fresh log.
fn time_appends(batch: &[u8], mode: FlushMode, writers: u64, iters: u64) -> Duration {
    let dir = tempfile::tempdir_in(bench_dir()).expect("temp dir");
    let log = Arc::new(
        PartitionLog::open(dir.path(), config(mode), Arc::new(SystemClock)).expect("open"),
    );
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let log = Arc::clone(&log);
            let batch = batch.to_vec();
            let n = iters / writers + u64::from(w < iters % writers);
            std::thread::spawn(move || {
                for _ in 0..n {
                    let info = log.append(&batch, 0).expect("append");
                    log.make_durable(info.next_offset).expect("durable");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let elapsed = start.elapsed();
    drop(log);
    elapsed
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(10);
    for record in RECORD_SIZES {
        for count in BATCH_SIZES {
            let batch = BatchBuilder::new().records(count, record).build();
            group.throughput(Throughput::Elements(count as u64));
            for (name, mode, writers) in [
                ("os", FlushMode::Os, 1),
                ("fsync", FlushMode::Fsync, 1),
                ("fsync-4-writers", FlushMode::Fsync, 4),
            ] {
                let id = BenchmarkId::new(name, format!("{record}B-x{count}"));
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| time_appends(&batch, mode, writers, iters))
                });
            }
        }
    }
    group.finish();
}

/// `dd bs=1M` of `iters` MiB into a fresh file, optionally with `conv=fdatasync`.
fn time_dd(iters: u64, fdatasync: bool) -> Duration {
    let dir = tempfile::tempdir_in(bench_dir()).expect("temp dir");
    let mut cmd = Command::new("dd");
    cmd.arg("if=/dev/zero")
        .arg(format!("of={}", dir.path().join("dd").display()))
        .arg("bs=1M")
        .arg(format!("count={iters}"))
        .arg("status=none");
    if fdatasync {
        cmd.arg("conv=fdatasync");
    }
    let start = Instant::now();
    let status = cmd.status().expect("running dd");
    assert!(status.success(), "dd failed");
    start.elapsed()
}

/// 1 KiB records in 1000-record batches against `dd` in the same run (bytes/s both).
fn against_dd(c: &mut Criterion) {
    let mut group = c.benchmark_group("append-vs-dd");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(10);
    let batch = BatchBuilder::new().records(1000, 1024).build();
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("weir-os-1KiBx1000", |b| {
        b.iter_custom(|iters| time_appends(&batch, FlushMode::Os, 1, iters))
    });
    for writers in [4, 8] {
        group.bench_function(format!("weir-fsync-{writers}-writers-1KiBx1000"), |b| {
            b.iter_custom(|iters| time_appends(&batch, FlushMode::Fsync, writers, iters))
        });
    }
    group.throughput(Throughput::Bytes(1 << 20));
    group.bench_function("dd-bs1M-buffered", |b| {
        b.iter_custom(|iters| time_dd(iters, false))
    });
    group.bench_function("dd-bs1M-fdatasync", |b| {
        b.iter_custom(|iters| time_dd(iters, true))
    });
    group.finish();
}

/// Sequential read of a 1 GiB log from offset 0 in 1 MiB fetches, from the page cache.
fn reads(c: &mut Criterion) {
    let dir = bench_dir().join("read-1GiB");
    let config = config(FlushMode::Os);
    let log = {
        let log = PartitionLog::open(&dir, config, Arc::new(SystemClock)).expect("open");
        let batch = BatchBuilder::new().records(1000, 1024).build();
        while log.size_bytes() < 1 << 30 {
            log.append(&batch, 0).expect("append");
        }
        log
    };
    let total = log.size_bytes();
    let mut buf = vec![0u8; 2 << 20];
    let mut group = c.benchmark_group("read");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(total));
    group.bench_function("1GiB-from-start-1MiB-fetches", |b| {
        b.iter(|| {
            let bytes = weir_log::testing::read_to_end(&log, 0, 1 << 20, &mut buf).expect("read");
            assert_eq!(bytes, total);
        })
    });
    group.finish();
    log.close().expect("close");
}

criterion_group!(benches, against_dd, appends, reads);
criterion_main!(benches);
