//! Consumer groups and the idempotent producer, through librdkafka: two consumers of one
//! group split a topic's partitions between them, a consumer that restarts resumes from the
//! offset its group committed, and `enable.idempotence=true` producers deliver exactly once
//! in order. These need FindCoordinator, JoinGroup/SyncGroup/Heartbeat/LeaveGroup,
//! OffsetCommit/OffsetFetch and InitProducerId.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use support::Broker;
use support::kafka::{self, Record, Recorder, assigned};
use support::wire;

const GROUP_PATIENCE: Duration = Duration::from_secs(30);

const GROUP_APIS: &[ApiKey] = &[
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
];

/// What librdkafka reported, and which group APIs the broker lacks: why a group got nowhere.
fn problems(addr: &str, consumers: &[&BaseConsumer<Recorder>]) -> String {
    let reported: Vec<String> = consumers
        .iter()
        .flat_map(|c| c.context().problems())
        .collect();
    let missing = wire::unadvertised(addr, GROUP_APIS);
    format!("librdkafka said: {reported:#?}\nthe broker does not advertise: {missing:?}")
}

#[test]
fn two_consumers_in_one_group_share_the_partitions() {
    let broker = Broker::start_with("num_partitions = 4", "");
    let addr = broker.addr();
    let topic = support::topic_name("shared");
    let producer = kafka::producer(&addr, &[("acks", "all")]);
    // The topic exists (with 4 partitions) before the consumers subscribe.
    kafka::produce(
        &producer,
        &topic,
        &[Record::unkeyed("first").with_partition(0)],
    );

    let group = support::topic_name("group");
    let one = kafka::group_consumer(&addr, &group);
    let two = kafka::group_consumer(&addr, &group);
    one.subscribe(&[&topic]).unwrap();
    two.subscribe(&[&topic]).unwrap();
    // Poll both until the group has settled: every partition owned by exactly one of them.
    let mut early = Vec::new();
    let deadline = Instant::now() + GROUP_PATIENCE;
    loop {
        for consumer in [&one, &two] {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                early.push(m.unwrap().offset());
            }
        }
        let (a, b) = (assigned(&one), assigned(&two));
        if !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && a.len() + b.len() == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group did not settle within {GROUP_PATIENCE:?}: assignments {a:?} and {b:?}\n\
             {}",
            problems(&addr, &[&one, &two])
        );
    }

    let records: Vec<Record> = (0..400)
        .map(|i| Record::keyed(format!("key-{i}"), format!("value-{i}")))
        .collect();
    kafka::produce(&producer, &topic, &records);
    let (mut by_one, mut by_two) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + GROUP_PATIENCE;
    while early.len() + by_one.len() + by_two.len() < records.len() + 1 {
        assert!(
            Instant::now() < deadline,
            "{} + {} of 400 records consumed\n{}",
            by_one.len(),
            by_two.len(),
            problems(&addr, &[&one, &two])
        );
        for (consumer, got) in [(&one, &mut by_one), (&two, &mut by_two)] {
            if let Some(m) = consumer.poll(Duration::from_millis(50)) {
                let m = m.unwrap();
                got.push((m.partition(), m.payload().unwrap().to_vec()));
            }
        }
    }
    assert!(
        !by_one.is_empty() && !by_two.is_empty(),
        "both consumers got records"
    );
    let (a, b) = (assigned(&one), assigned(&two));
    assert!(
        by_one.iter().all(|(p, _)| a.contains(p)),
        "consumer one read outside {a:?}"
    );
    assert!(
        by_two.iter().all(|(p, _)| b.contains(p)),
        "consumer two read outside {b:?}"
    );
    let mut values: Vec<Vec<u8>> = by_one.into_iter().chain(by_two).map(|(_, v)| v).collect();
    values.retain(|v| v != b"first");
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 400, "every record consumed by one of the two");
}

#[test]
fn a_restarted_consumer_resumes_from_its_committed_offset() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = support::topic_name("resume");
    let group = support::topic_name("resumers");
    let records: Vec<Record> = (0..100).map(|i| Record::unkeyed(format!("r{i}"))).collect();
    kafka::produce(
        &kafka::producer(&addr, &[("acks", "all")]),
        &topic,
        &records,
    );

    {
        let first = kafka::group_consumer(&addr, &group);
        first.subscribe(&[&topic]).unwrap();
        let deadline = Instant::now() + GROUP_PATIENCE;
        let mut read = 0;
        while read < 60 {
            assert!(
                Instant::now() < deadline,
                "the first consumer read {read} of 60 records\n{}",
                problems(&addr, &[&first])
            );
            if let Some(m) = first.poll(Duration::from_millis(100)) {
                let m = m.unwrap();
                assert_eq!(m.offset(), read, "records in order from the earliest");
                read += 1;
                if read == 60 {
                    first.commit_message(&m, CommitMode::Sync).unwrap();
                }
            }
        }
        let committed = first.committed(kafka::PATIENCE).unwrap();
        let offset = committed.find_partition(&topic, 0).unwrap().offset();
        assert_eq!(offset, Offset::Offset(60), "the committed offset");
        first.unsubscribe();
    } // closed: leaves the group

    let second = kafka::group_consumer(&addr, &group);
    second.subscribe(&[&topic]).unwrap();
    let got = kafka::poll_records(&second, 40, GROUP_PATIENCE);
    let offsets: Vec<i64> = got[&0].iter().map(|m| m.offset).collect();
    assert_eq!(
        offsets,
        (60..100).collect::<Vec<_>>(),
        "resumed at the committed offset"
    );

    // A fresh consumer of the same group, told explicitly to start at the committed offset.
    let third = kafka::group_consumer(&addr, &group);
    let mut list = TopicPartitionList::new();
    list.add_partition(&topic, 0);
    let committed = third.committed_offsets(list, kafka::PATIENCE).unwrap();
    assert_eq!(
        committed.find_partition(&topic, 0).unwrap().offset(),
        Offset::Offset(60)
    );
}

#[test]
fn an_idempotent_producer_delivers_each_record_once_in_order() {
    let broker = Broker::start_with("num_partitions = 3", "");
    let addr = broker.addr();
    let topic = support::topic_name("idempotent");
    let producer = kafka::producer(
        &addr,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("max.in.flight.requests.per.connection", "5"),
            ("linger.ms", "2"),
            ("batch.num.messages", "100"),
        ],
    );
    let records: Vec<Record> = (0..3000)
        .map(|i| Record::keyed(format!("key-{}", i % 13), format!("value-{i:05}")))
        .collect();
    let delivered = kafka::produce(&producer, &topic, &records);
    assert_eq!(delivered.len(), records.len());
    let got = kafka::consume_all(&addr, &topic, records.len());
    kafka::assert_contiguous(&got);
    for (partition, msgs) in &got {
        let values: Vec<&Vec<u8>> = msgs.iter().map(|m| &m.value).collect();
        let mut sorted = values.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            values, sorted,
            "partition {partition}: duplicates or out of order"
        );
    }
    assert_eq!(
        kafka::record_count(&addr, &topic),
        records.len(),
        "no duplicates in the log"
    );
}
