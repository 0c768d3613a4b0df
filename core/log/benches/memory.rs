//! Resident memory of a partition log holding 10 GiB (`WEIR_BENCH_LOG_GIB` to change): builds
//! the log once (kept under the bench directory for later runs), then a fresh process opens
//! it, reads it all from offset 0, looks up 100,000 random offsets and timestamps, and reports
//! its peak resident set. Fails when the peak exceeds 64 MiB, the target.
//!
//! `cargo bench -p weir-log --bench memory`

#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng, rngs::StdRng};
use weir_log::testing::BatchBuilder;
use weir_log::{FlushMode, FlushPolicy, LogConfig, PartitionLog, SystemClock};

const LIMIT_MIB: u64 = 64;

fn config() -> LogConfig {
    LogConfig {
        retention: None,
        flush: FlushPolicy {
            mode: FlushMode::Os,
            ..FlushPolicy::default()
        },
        ..LogConfig::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        measure(Path::new(&args[i + 1]));
        return;
    }
    let gib: u64 = std::env::var("WEIR_BENCH_LOG_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let base = std::env::var_os("WEIR_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let dir = base.join(format!("memory-{gib}GiB-0"));
    build(&dir, gib << 30);
    let status = Command::new(std::env::current_exe().expect("own path"))
        .arg("--measure")
        .arg(&dir)
        .status()
        .expect("measuring process");
    std::process::exit(status.code().unwrap_or(1));
}

fn build(dir: &Path, bytes: u64) {
    let log = PartitionLog::open(dir, config(), Arc::new(SystemClock)).expect("open");
    if log.size_bytes() >= bytes {
        println!("reusing {} ({} bytes)", dir.display(), log.size_bytes());
        log.close().expect("close");
        return;
    }
    let start = Instant::now();
    let batch = BatchBuilder::new()
        .base_timestamp(1)
        .timestamp_step(1)
        .records(1000, 1024)
        .build();
    while log.size_bytes() < bytes {
        log.append(&batch, 0).expect("append");
    }
    log.close().expect("close");
    println!(
        "built {} bytes in {:.1?}",
        log.size_bytes(),
        start.elapsed()
    );
}

fn measure(dir: &Path) {
    let before = status_kib("VmRSS");
    let opened = Instant::now();
    let log = PartitionLog::open(dir, config(), Arc::new(SystemClock)).expect("open");
    let open_time = opened.elapsed();
    let after_open = status_kib("VmRSS");

    let read_start = Instant::now();
    let mut buf = vec![0u8; 2 << 20];
    let total = weir_log::testing::read_to_end(&log, 0, 1 << 20, &mut buf).expect("read");
    let read_time = read_start.elapsed();
    let after_read = status_kib("VmRSS");

    let mut rng = StdRng::seed_from_u64(7);
    let end = log.log_end_offset();
    for _ in 0..100_000 {
        let target = rng.gen_range(0..end);
        let slice = log.read(target, 1, None).expect("lookup");
        assert!(!slice.is_empty());
        log.offset_for_timestamp(rng.gen_range(0..1000))
            .expect("time lookup");
    }
    let after_lookups = status_kib("VmRSS");
    let peak = status_kib("VmHWM");
    println!(
        "log of {total} bytes in {} segments: opened in {open_time:.1?} (clean: {}), read in {read_time:.1?} ({:.2} GB/s)",
        log.segment_count(),
        log.recovery().clean,
        total as f64 / read_time.as_secs_f64() / 1e9,
    );
    println!(
        "resident KiB: start {before}, after open {after_open}, after full read {after_read}, after 100k lookups {after_lookups}, peak {peak} (limit {} KiB)",
        LIMIT_MIB * 1024
    );
    log.close().expect("close");
    if peak > LIMIT_MIB * 1024 {
        eprintln!("FAIL: peak resident memory {peak} KiB exceeds {LIMIT_MIB} MiB");
        std::process::exit(1);
    }
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field in /proc/self/status")
}
