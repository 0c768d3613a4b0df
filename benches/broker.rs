//! The broker over loopback with librdkafka clients, release build (`cargo bench --bench
//! broker`): producer throughput for 100 B and 1 KiB records into 1 and 8 partitions
//! (`acks=1`, `linger.ms=5`, large batches), a consumer reading a 1 GiB backlog from offset
//! 0, end-to-end latency at a fixed 30 MB/s with fsync and with page-cache flushing, the
//! broker's peak RSS, and `dd conv=fdatasync` on the same disk in the same run for the ratio.
//!
//! MB is 10^6 bytes, counting record values only. `WEIR_BENCH_QUICK=1` runs a tenth of the
//! volume, for trying the bench out; `WEIR_BENCH_ONLY=throughput,backlog,latency` picks
//! parts. `WEIR_BENCH_TANSU=/path/to/tansu` also runs the producer throughput against Tansu
//! (in-memory storage, its own loopback port) in the same run and prints the two side by side.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{produce, producer};
use support::Broker;

const MB: f64 = 1e6;

fn create_topic(addr: &str, topic: &str, partitions: i32) {
    support::wire::create_topic(addr, topic, partitions);
}

/// The record sizes, record counts and partition counts of the throughput runs.
const THROUGHPUT_RUNS: [(usize, u64, i32); 4] = [
    (100, 3_000_000, 1),
    (100, 3_000_000, 8),
    (1024, 1_000_000, 1),
    (1024, 1_000_000, 8),
];

/// Producer throughput against the broker at `addr`, one run per `THROUGHPUT_RUNS` entry:
/// records a second for each.
///
/// `dd` runs in `dd_dir` right before each run, so that each ratio compares the broker with
/// the disk in the same state: on a VM the same `dd` reads from a few hundred MB/s to over
/// 2 GB/s depending on whether the page cache can reuse memory just freed (see the README).
fn throughput(addr: &str, scale: u64, dd_dir: &Path) -> Vec<f64> {
    println!("| record | partitions | records | msgs/s | MB/s | dd just before | of dd |");
    println!("|---|---|---|---|---|---|---|");
    let mut rates = Vec::new();
    for (size, count, partitions) in THROUGHPUT_RUNS {
        let topic = format!("produce-{size}-{partitions}");
        create_topic(addr, &topic, partitions);
        let producer = producer(addr, "5", "1");
        let count = count / scale;
        let dd = common::dd(dd_dir);
        let seconds = produce(&producer, &topic, partitions, count, size);
        let mb_s = (count * size as u64) as f64 / MB / seconds;
        println!(
            "| {size} B | {partitions} | {count} | {:.0} | {mb_s:.1} | {dd:.0} MB/s | {:.0}% |",
            count as f64 / seconds,
            100.0 * mb_s / dd
        );
        rates.push(count as f64 / seconds);
    }
    rates
}

/// Tansu (`WEIR_BENCH_TANSU=/path/to/tansu`) with its in-memory storage on a loopback port.
struct Tansu {
    child: std::process::Child,
    addr: String,
    version: String,
}

impl Tansu {
    fn start(binary: &std::ffi::OsStr) -> Self {
        let version = Command::new(binary)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .expect("running tansu --version");
        let addr = format!("127.0.0.1:{}", support::free_port());
        let url = format!("tcp://{addr}");
        let child = Command::new(binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting tansu");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Tansu {
            child,
            addr,
            version,
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn throughput_phase(broker: &Broker, scale: u64) {
    println!("\n## producer throughput (acks=1, linger.ms=5, batches up to 1 MB / 10000 records)");
    let dd_dir = broker.data_dir();
    let weir = throughput(&broker.addr(), scale, &dd_dir);
    let Some(binary) = std::env::var_os("WEIR_BENCH_TANSU") else {
        return;
    };
    let tansu = Tansu::start(&binary);
    println!(
        "\n## the same against {} (`tansu broker --storage-engine memory://tansu/`, in memory)",
        tansu.version
    );
    let theirs = throughput(&tansu.addr, scale, &dd_dir);
    let rss = support::peak_rss_kib(tansu.child.id()).unwrap_or(0);
    println!("tansu peak RSS: {:.1} MiB (VmHWM)", rss as f64 / 1024.0);
    let version = tansu.version.clone();
    drop(tansu);
    println!("\n## weir (fsync to disk) vs {version} (in memory), msgs/s, same run");
    println!("| record | partitions | weir | tansu | weir / tansu |");
    println!("|---|---|---|---|---|");
    for (((size, _, partitions), w), t) in THROUGHPUT_RUNS.iter().zip(weir).zip(theirs) {
        println!(
            "| {size} B | {partitions} | {w:.0} | {t:.0} | {:.2}x |",
            w / t
        );
    }
}

fn backlog(broker: &Broker, scale: u64) {
    let topic = "backlog";
    create_topic(&broker.addr(), topic, 1);
    let size = 1024usize;
    let count = (1u64 << 30) / size as u64 / scale;
    let fill = produce(&producer(&broker.addr(), "5", "1"), topic, 1, count, size);
    let read = common::rdkafka_read(&broker.addr(), topic, 1, count, size);
    let (first, seconds) = (read.first, read.total.as_secs_f64());
    // librdkafka's consumer delivers its first record ~0.5 s after `assign` (its start-up, not
    // the broker's reads): the rate is measured from the first record, the wait shown apart.
    let streaming = seconds - first.as_secs_f64();
    let bytes = (count * size as u64) as f64;
    println!(
        "\n## consumer: {:.0} MiB backlog of 1 KiB records from offset 0, one partition\n\
         {:.0} MB/s, {:.0} msgs/s from the first record on; first record {:.0} ms after \
         assign, {seconds:.2} s in all (backlog filled at {:.0} MB/s)",
        bytes / (1 << 20) as f64,
        bytes / MB / streaming,
        count as f64 / streaming,
        first.as_secs_f64() * 1e3,
        bytes / MB / fill
    );
}

/// One row of the latency table: 1 KiB records at 30 MB/s through `broker`.
fn latency(broker: &Broker, label: &str, linger_ms: &str, seconds: u64) {
    let topic = format!("latency-{label}-{linger_ms}");
    create_topic(&broker.addr(), &topic, 1);
    // Measure this run's own writes, not the writeback of the gigabytes the throughput and
    // backlog phases left dirty (as the client bench does).
    common::settle_disk();
    let run = common::rdkafka_latency(&broker.addr(), &topic, linger_ms, seconds);
    println!("| {label} | {linger_ms} | {run} |");
}

fn main() {
    if common::only_listing() {
        return;
    }
    let scale = common::scale();
    println!(
        "# weir broker over loopback (librdkafka {})",
        rdkafka::util::get_rdkafka_version().1
    );
    println!("machine: {}", common::machine());

    let fsync = Broker::start_with("num_partitions = 8\nlog_flush = \"fsync\"", "");
    println!(
        "data: {} (fsync: log_flush = \"fsync\", the default)",
        fsync.data_dir().display()
    );
    let dd_before = common::dd(&fsync.data_dir());
    println!("dd bs=1M count=1024 conv=fdatasync, same disk: {dd_before:.0} MB/s");
    let only = std::env::var("WEIR_BENCH_ONLY").unwrap_or_default();
    let run = |phase: &str| only.is_empty() || only.split(',').any(|p| p == phase);
    if run("throughput") {
        throughput_phase(&fsync, scale);
    }
    if run("backlog") {
        backlog(&fsync, scale);
    }

    let mut page_cache = Broker::start_with("num_partitions = 8\nlog_flush = \"os\"", "");
    let seconds = 10 / scale.min(5) + 1;
    println!(
        "\n## end-to-end latency, 1 KiB records at 30 MB/s for {seconds} s, acks=1, one partition"
    );
    println!("| broker | linger.ms | MB/s | p50 ms | p99 ms | p99.9 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for linger in ["0", "5"] {
        if run("latency") {
            latency(&fsync, "fsync", linger, seconds);
            latency(&page_cache, "os", linger, seconds);
        }
    }

    let dd_after = common::dd(&fsync.data_dir());
    println!("\ndd conv=fdatasync again at the end: {dd_after:.0} MB/s");
    for (label, broker) in [("fsync", &fsync), ("os", &page_cache)] {
        let rss = broker.pid().and_then(support::peak_rss_kib).unwrap_or(0);
        println!(
            "broker peak RSS ({label}): {:.1} MiB (VmHWM)",
            rss as f64 / 1024.0
        );
    }
    page_cache.stop();
    drop(page_cache);
    drop(fsync);
}
