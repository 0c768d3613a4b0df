//! Restarts: records produced before a graceful stop (SIGTERM) are all there after a restart,
//! and the logs were closed cleanly; after a SIGKILL in the middle of an `acks=1` stream, every
//! record the broker acknowledged is there, at the offset it was acknowledged with.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::Producer;
use support::Broker;
use support::kafka::{self, Record};

fn records(label: &str, count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| Record::keyed(format!("key-{}", i % 31), format!("{label}-{i:07}")))
        .collect()
}

fn partition_dirs(broker: &Broker, topic: &str) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(broker.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(topic))
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|p| p.parse::<u32>().is_ok())
        })
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn sigterm_then_restart_keeps_every_record() {
    let mut broker = Broker::start_with("num_partitions = 3", "");
    let topic = support::topic_name("graceful");
    let first = records("before", 3000);
    let producer = kafka::producer(&broker.addr(), &[("acks", "all"), ("linger.ms", "5")]);
    let delivered = kafka::produce(&producer, &topic, &first);
    drop(producer);

    broker.stop();
    let dirs = partition_dirs(&broker, &topic);
    assert_eq!(dirs.len(), 3, "partition directories: {dirs:?}");
    for dir in &dirs {
        assert!(
            dir.join("clean-shutdown").exists(),
            "{} has no clean-shutdown marker after SIGTERM",
            dir.display()
        );
    }
    broker.restart();

    let got = kafka::consume_all(&broker.addr(), &topic, first.len());
    kafka::assert_contiguous(&got);
    for report in &delivered {
        let stored = &got[&report.partition][report.offset as usize];
        assert_eq!((&stored.key, &stored.value), (&report.key, &report.value));
    }
    // Appends go on where the log left off.
    let before: Vec<usize> = (0..3).map(|p| got.get(&p).map_or(0, Vec::len)).collect();
    let producer = kafka::producer(&broker.addr(), &[("acks", "all")]);
    let after = kafka::produce(&producer, &topic, &records("after", 300));
    for report in &after {
        assert!(
            report.offset as usize >= before[report.partition as usize],
            "offset {} of partition {} was handed out before the restart",
            report.offset,
            report.partition
        );
    }
    let got = kafka::consume_all(&broker.addr(), &topic, first.len() + after.len());
    kafka::assert_contiguous(&got);
}

/// Streams `acks=1` records in a thread, kills the broker with SIGKILL once some are
/// acknowledged, restarts it, and checks that every acknowledged record is in the log.
fn sigkill_keeps_acknowledged(flush: &str) {
    let mut broker =
        Broker::start_with(&format!("num_partitions = 2\nlog_flush = \"{flush}\""), "");
    let topic = support::topic_name(&format!("kill-{flush}"));
    let producer = Arc::new(kafka::producer(
        &broker.addr(),
        &[
            ("acks", "1"),
            ("linger.ms", "2"),
            ("batch.num.messages", "200"),
            ("message.timeout.ms", "4000"),
            ("retries", "0"),
        ],
    ));
    let sent = records("kill", 200_000);
    let streaming = {
        let producer = Arc::clone(&producer);
        let topic = topic.clone();
        std::thread::spawn(move || kafka::produce_allowing_failures(&producer, &topic, &sent))
    };
    let deadline = Instant::now() + kafka::PATIENCE;
    while producer.context().delivered_count() < 5000 {
        assert!(
            Instant::now() < deadline,
            "only {} deliveries in {:?}: {:#?}",
            producer.context().delivered_count(),
            kafka::PATIENCE,
            producer.context().problems()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    broker.kill();
    let (delivered, failed) = streaming.join().unwrap();
    assert!(
        !failed.is_empty(),
        "all 200000 records were acknowledged before the kill: the test killed too late"
    );
    drop(producer);
    for dir in partition_dirs(&broker, &topic) {
        assert!(
            !dir.join("clean-shutdown").exists(),
            "{}: marker after SIGKILL",
            dir.display()
        );
    }

    broker.restart();
    let count = kafka::record_count(&broker.addr(), &topic);
    assert!(
        count >= delivered.len(),
        "{count} records in the log, {} acknowledged",
        delivered.len()
    );
    let got = kafka::consume_all(&broker.addr(), &topic, count);
    kafka::assert_contiguous(&got);
    for report in &delivered {
        let stored = got
            .get(&report.partition)
            .and_then(|records| records.get(report.offset as usize))
            .unwrap_or_else(|| {
                panic!(
                    "acknowledged record {}/{} is gone after SIGKILL",
                    report.partition, report.offset
                )
            });
        assert_eq!(
            (&stored.key, &stored.value),
            (&report.key, &report.value),
            "record {}/{}",
            report.partition,
            report.offset
        );
    }
    eprintln!(
        "{flush}: {} acknowledged, {} failed at the kill, {count} in the log after restart",
        delivered.len(),
        failed.len()
    );
    // The restarted broker takes new records after the recovered ones.
    let producer = kafka::producer(&broker.addr(), &[("acks", "1")]);
    kafka::produce(&producer, &topic, &records("after", 100));
    assert_eq!(kafka::record_count(&broker.addr(), &topic), count + 100);
}

#[test]
fn sigkill_with_acks_1_keeps_every_acknowledged_record_fsync() {
    sigkill_keeps_acknowledged("fsync");
}

#[test]
fn sigkill_with_acks_1_keeps_every_acknowledged_record_page_cache() {
    sigkill_keeps_acknowledged("os");
}
