//! What replication costs, release build (`cargo bench --bench replication`): producer
//! throughput (1 KiB records, 12 partitions) against three `weir broker` processes on this
//! machine, into a topic with replication factor 3 and `acks=all` (two in-sync replicas
//! required), next to a topic with replication factor 1 and `acks=1`, in the same run, the
//! two loads alternating twice so a drift of the machine hits both. Also replication factor
//! 3 with `acks=1`, to tell the cost of copying from the cost of waiting for the copies.
//!
//! Once with `log_flush = "fsync"` (weir's default: a follower acknowledges only what is on
//! its disk, so `acks=all` waits for three fsyncs) and once with `"os"` (Kafka's default:
//! replicas in page cache).
//!
//! `WEIR_BENCH_QUICK=1` sends a tenth of the records.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use common::{produce, producer};
use support::cluster::{Cluster, PATIENT_TIMEOUTS, create_topic};

const PARTITIONS: i32 = 12;
const RECORD: usize = 1024;
const RECORDS: u64 = 300_000;

/// One load: a topic and the producer's acks.
struct Load {
    topic: &'static str,
    replication: i32,
    acks: &'static str,
}

const LOADS: [Load; 3] = [
    Load {
        topic: "rf1-acks1",
        replication: 1,
        acks: "1",
    },
    Load {
        topic: "rf3-acksall",
        replication: 3,
        acks: "all",
    },
    Load {
        topic: "rf3-acks1",
        replication: 3,
        acks: "1",
    },
];

fn main() {
    if common::only_listing() {
        return;
    }
    let count = RECORDS / common::scale();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for flush in ["fsync", "os"] {
        let cluster =
            Cluster::start_with_timeouts(3, PATIENT_TIMEOUTS, &format!("log_flush = \"{flush}\""));
        run(&runtime, &cluster, flush, count);
    }
}

/// Every load twice against `cluster`, and the ratios.
fn run(runtime: &tokio::runtime::Runtime, cluster: &Cluster, flush: &str, count: u64) {
    for load in &LOADS {
        runtime.block_on(create_topic(
            cluster,
            load.topic,
            PARTITIONS,
            load.replication,
            if load.replication == 3 {
                &[("min.insync.replicas", "2")]
            } else {
                &[]
            },
        ));
        // Connections, metadata and the first segments: not part of any figure.
        produce(
            &producer(&cluster.bootstrap(), "5", load.acks),
            load.topic,
            PARTITIONS,
            count / 10,
            RECORD,
        );
    }
    println!(
        "# log_flush = \"{flush}\": producer throughput, 3 brokers, 1 KiB records, \
         {PARTITIONS} partitions, linger 5 ms"
    );
    println!("| round | replication | acks | records | msgs/s | MB/s |");
    println!("|---|---|---|---|---|---|");
    let mut rates = [0.0f64; 3];
    for round in 1..=2 {
        for (load, rate) in LOADS.iter().zip(&mut rates) {
            let producer = producer(&cluster.bootstrap(), "5", load.acks);
            let seconds = produce(&producer, load.topic, PARTITIONS, count, RECORD);
            let this = count as f64 / seconds;
            *rate += this / 2.0;
            println!(
                "| {round} | {} | {} | {count} | {this:.0} | {:.1} |",
                load.replication,
                load.acks,
                this * RECORD as f64 / 1e6
            );
        }
    }
    println!(
        "\nmean of the two rounds ({flush}): RF 3 acks=all is {:.0}% of RF 1 acks=1 \
         (target >= 50%); RF 3 acks=1 is {:.0}%\n",
        rates[1] / rates[0] * 100.0,
        rates[2] / rates[0] * 100.0
    );
}
