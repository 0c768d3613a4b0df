//! Horizontal scaling, release build (`cargo bench --bench scaling`): producer throughput
//! (1 KiB records, `acks=all`, replication factor 3, 12 partitions) against three `weir
//! broker` processes, then against four after the fourth joined and `weir cluster rebalance`
//! spread the replicas and leaders onto it, in the same run on the same topic. On one
//! machine the brokers share its cores, so this shows the cost of the move and of a fourth
//! process, not the gain of a fourth machine.
//!
//! `WEIR_BENCH_QUICK=1` sends a tenth of the records.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::time::Instant;

use common::{produce, producer};
use support::cluster::{Cluster, PATIENT_TIMEOUTS, create_topic};

const PARTITIONS: i32 = 12;
const RECORD: usize = 1024;
const RECORDS: u64 = 300_000;

/// Sends the load and prints one table row; returns records a second.
fn measure(cluster: &Cluster, topic: &str, brokers: usize, count: u64) -> f64 {
    let producer = producer(&cluster.bootstrap(), "5", "all");
    let seconds = produce(&producer, topic, PARTITIONS, count, RECORD);
    let rate = count as f64 / seconds;
    println!(
        "| {brokers} | {count} | {rate:.0} | {:.1} |",
        rate * RECORD as f64 / 1e6
    );
    rate
}

fn main() {
    if common::only_listing() {
        return;
    }
    let count = RECORDS / common::scale();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut cluster = Cluster::start_with_timeouts(3, PATIENT_TIMEOUTS, "");
    let topic = "scaling-bench";
    runtime.block_on(create_topic(
        &cluster,
        topic,
        PARTITIONS,
        3,
        &[("min.insync.replicas", "2")],
    ));
    println!("# producer throughput, 1 KiB records, acks=all, RF 3, {PARTITIONS} partitions");
    println!("| brokers | records | msgs/s | MB/s |");
    println!("|---|---|---|---|");
    // Connections, metadata and the first segments: not part of either figure.
    produce(
        &producer(&cluster.bootstrap(), "5", "all"),
        topic,
        PARTITIONS,
        count / 10,
        RECORD,
    );
    let three = measure(&cluster, topic, 3, count);

    cluster.add_broker();
    cluster.wait_for_brokers(4);
    let started = Instant::now();
    let rebalance = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["cluster", "rebalance", "--wait", "--timeout", "60s"])
        .args(["--bootstrap", &cluster.node(1).addr()])
        .output()
        .unwrap();
    assert!(
        rebalance.status.success(),
        "rebalance failed: {}",
        String::from_utf8_lossy(&rebalance.stderr)
    );
    let moved = started.elapsed();
    let four = measure(&cluster, topic, 4, count);
    println!(
        "\nrebalance onto the 4th broker ({} MB in the topic): {:.1} s; 4 vs 3 brokers: {:.2}x",
        count * RECORD as u64 / 1_000_000,
        moved.as_secs_f64(),
        four / three
    );
}
