//! Produce with librdkafka at each `acks` setting, keyed and unkeyed, and read everything back
//! with an assign-and-seek consumer: every record arrives once, offsets are contiguous from 0
//! in each partition, each partition keeps the order records were sent in, and one key always
//! lands in one partition. Also the topic-level `acks` floor from the broker's TOML.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, HashMap};

use rdkafka::producer::Producer;

use support::Broker;
use support::kafka::{self, Msg, Record};

/// `keyed` and `unkeyed` records, interleaved; each value says its kind and sequence number.
fn mixed_records(label: &str, count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| {
            if i % 2 == 0 {
                Record::keyed(format!("key-{}", i % 17), format!("{label}-keyed-{i:06}"))
            } else {
                Record::unkeyed(format!("{label}-unkeyed-{i:06}"))
            }
        })
        .collect()
}

/// The kind and sequence number a value carries.
fn sequence(value: &[u8]) -> (String, usize) {
    let text = std::str::from_utf8(value).unwrap();
    let (kind, n) = text.rsplit_once('-').unwrap();
    (kind.to_string(), n.parse().unwrap())
}

/// Checks what came back against what was sent: same records, each partition in send order,
/// offsets contiguous, keys sticky to a partition, delivery reports matching the log.
fn check_round_trip(sent: &[Record], delivered: &[Msg], got: &BTreeMap<i32, Vec<Msg>>) {
    kafka::assert_contiguous(got);
    let total: usize = got.values().map(Vec::len).sum();
    assert_eq!(total, sent.len(), "records consumed");
    let mut seen: Vec<(Option<Vec<u8>>, Vec<u8>)> = got
        .values()
        .flatten()
        .map(|m| (m.key.clone(), m.value.clone()))
        .collect();
    let mut expected: Vec<(Option<Vec<u8>>, Vec<u8>)> = sent
        .iter()
        .map(|r| (r.key.clone(), r.value.clone()))
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(
        seen, expected,
        "the records consumed are not the records sent"
    );
    for (partition, records) in got {
        let mut last: HashMap<String, usize> = HashMap::new();
        for m in records {
            let (kind, n) = sequence(&m.value);
            if let Some(before) = last.insert(kind.clone(), n) {
                assert!(
                    before < n,
                    "partition {partition}: {kind} record {n} comes after {before}"
                );
            }
        }
    }
    let mut partition_of_key: HashMap<&[u8], i32> = HashMap::new();
    for (partition, records) in got {
        for key in records.iter().filter_map(|m| m.key.as_deref()) {
            let first = *partition_of_key.entry(key).or_insert(*partition);
            assert_eq!(first, *partition, "key {key:?} is in two partitions");
        }
    }
    // Where the producer was told an offset, the record is there.
    for report in delivered.iter().filter(|d| d.offset >= 0) {
        let stored = &got[&report.partition][report.offset as usize];
        assert_eq!(
            (&stored.key, &stored.value),
            (&report.key, &report.value),
            "delivery report {}/{} does not match the log",
            report.partition,
            report.offset
        );
    }
}

fn round_trip(acks: &str) {
    let broker = Broker::start_with("num_partitions = 3", "");
    let topic = support::topic_name(&format!("acks-{acks}"));
    let sent = mixed_records(&format!("acks{acks}"), 600);
    let producer = kafka::producer(
        &broker.addr(),
        &[
            ("acks", acks),
            ("linger.ms", "5"),
            ("batch.num.messages", "50"),
        ],
    );
    let delivered = kafka::produce(&producer, &topic, &sent);
    assert_eq!(delivered.len(), sent.len(), "delivery reports");
    if acks != "0" {
        assert!(
            delivered.iter().all(|d| d.offset >= 0),
            "acks={acks}: a delivery report without an offset"
        );
    }
    assert_eq!(
        kafka::partition_count(producer.client(), &topic),
        3,
        "auto-created with num_partitions"
    );
    let got = kafka::consume_all(&broker.addr(), &topic, sent.len());
    check_round_trip(&sent, &delivered, &got);
    assert!(
        got.values().filter(|records| !records.is_empty()).count() >= 2,
        "17 keys should spread over more than one of 3 partitions: {:?}",
        got.iter().map(|(p, r)| (p, r.len())).collect::<Vec<_>>()
    );
}

#[test]
fn acks_0_keyed_and_unkeyed_come_back_in_order() {
    round_trip("0");
}

#[test]
fn acks_1_keyed_and_unkeyed_come_back_in_order() {
    round_trip("1");
}

#[test]
fn acks_all_keyed_and_unkeyed_come_back_in_order() {
    round_trip("all");
}

#[test]
fn records_sent_to_explicit_partitions_stay_there() {
    let broker = Broker::start_with("num_partitions = 4", "");
    let topic = support::topic_name("explicit");
    let sent: Vec<Record> = (0..200)
        .map(|i| Record {
            key: None,
            value: format!("p{}-{i:06}", i % 4).into_bytes(),
            partition: Some(i % 4),
        })
        .collect();
    let producer = kafka::producer(&broker.addr(), &[("acks", "all")]);
    let delivered = kafka::produce(&producer, &topic, &sent);
    let got = kafka::consume_all(&broker.addr(), &topic, sent.len());
    check_round_trip(&sent, &delivered, &got);
    for (partition, records) in &got {
        assert_eq!(records.len(), 50, "partition {partition}");
        for m in records {
            assert!(m.value.starts_with(format!("p{partition}-").as_bytes()));
        }
    }
}

#[test]
fn large_records_round_trip() {
    let broker = Broker::start();
    let topic = support::topic_name("large");
    // Values of 1,000,000 bytes: one record per batch, under the broker's default
    // message.max.bytes (1048588) but over librdkafka's own default, which is raised to match.
    let sent: Vec<Record> = (0..8u8)
        .map(|i| Record::keyed(vec![i], vec![i; 1_000_000]))
        .collect();
    let producer = kafka::producer(
        &broker.addr(),
        &[("acks", "1"), ("message.max.bytes", "1048588")],
    );
    kafka::produce(&producer, &topic, &sent);
    let got = kafka::consume_all(&broker.addr(), &topic, sent.len());
    let values: Vec<&Vec<u8>> = got[&0].iter().map(|m| &m.value).collect();
    let expected: Vec<&Vec<u8>> = sent.iter().map(|r| &r.value).collect();
    assert!(values == expected, "large values differ");
}

#[test]
fn topic_acks_floor_of_all_still_accepts_acks_1_producers() {
    let broker = Broker::start_with("", "[topics.strict-orders]\nacks = \"all\"\npartitions = 2");
    let sent = mixed_records("floor", 200);
    for acks in ["1", "all"] {
        let producer = kafka::producer(&broker.addr(), &[("acks", acks)]);
        let delivered = kafka::produce(&producer, "strict-orders", &sent);
        assert_eq!(delivered.len(), sent.len(), "acks={acks}");
        assert!(delivered.iter().all(|d| d.offset >= 0), "acks={acks}");
    }
    let got = kafka::consume_all(&broker.addr(), "strict-orders", 2 * sent.len());
    kafka::assert_contiguous(&got);
    assert_eq!(got.len(), 2, "the topic's 2 partitions");
}
