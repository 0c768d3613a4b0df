//! Log compaction through a running broker: a `cleanup.policy = compact` topic created with
//! librdkafka's AdminClient ends up holding the newest value of each key, read back by
//! librdkafka across the gaps compaction leaves; and `__consumer_offsets`, compacted by
//! default, stops growing with every commit while the newest commit survives a restart.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{CommitMode, Consumer};
use support::Broker;
use support::kafka::{self, Msg, Record};

/// Everything in partition 0 of `topic` from its start to its high watermark.
fn read_everything(addr: &str, topic: &str) -> Vec<Msg> {
    let consumer = kafka::consumer(addr, &[]);
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, kafka::PATIENCE)
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + kafka::PATIENCE;
    while got.last().is_none_or(|m: &Msg| m.offset < high - 1) {
        assert!(
            Instant::now() < deadline,
            "read {} records, high watermark {high}",
            got.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            got.push(Msg {
                partition: 0,
                offset: rdkafka::message::Message::offset(&message),
                key: rdkafka::message::Message::key(&message).map(<[u8]>::to_vec),
                value: rdkafka::message::Message::payload(&message)
                    .unwrap_or_default()
                    .to_vec(),
            });
        }
    }
    got
}

#[tokio::test]
async fn a_compacted_topic_keeps_the_newest_value_of_each_key() {
    let broker = Broker::start_with("log_retention_check_interval_ms = \"200ms\"", "");
    let addr = broker.addr();
    let topic = support::topic_name("compacted");
    let spec = NewTopic::new(&topic, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "1024");
    let created = kafka::admin(&addr)
        .create_topics([&spec], &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(created, vec![Ok(topic.clone())]);

    let producer = kafka::producer(&addr, &[("linger.ms", "0"), ("acks", "all")]);
    let mut newest = HashMap::new();
    let mut produced = 0;
    for round in 0..25 {
        let records: Vec<Record> = (0..8)
            .map(|key| {
                let value = format!("key{key}-round{round:02}-{}", "x".repeat(40));
                newest.insert(format!("key{key}"), value.clone());
                Record::keyed(format!("key{key}"), value)
            })
            .collect();
        produced += records.len();
        kafka::produce(&producer, &topic, &records);
    }

    // The maintenance thread compacts within a few passes.
    let deadline = Instant::now() + Duration::from_secs(30);
    let messages = loop {
        let messages = read_everything(&addr, &topic);
        if messages.len() < produced / 2 {
            break messages;
        }
        assert!(
            Instant::now() < deadline,
            "still {} of {produced} records after 30 s: compaction did not run",
            messages.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    };

    let mut last_seen: HashMap<String, String> = HashMap::new();
    let mut previous_offset = -1;
    for message in &messages {
        assert!(
            message.offset > previous_offset,
            "offsets increase across gaps"
        );
        previous_offset = message.offset;
        let key = String::from_utf8(message.key.clone().unwrap()).unwrap();
        let value = String::from_utf8(message.value.clone()).unwrap();
        if let Some(before) = last_seen.get(&key) {
            assert!(before < &value, "{key}: {before} then {value}: order kept");
        }
        last_seen.insert(key, value);
    }
    assert_eq!(last_seen, newest, "every key's newest value survives");
    broker.assert_clean_log();
}

#[tokio::test]
async fn consumer_offsets_are_compacted_and_the_newest_commit_survives_a_restart() {
    let mut broker = Broker::start_with(
        "log_retention_check_interval_ms = \"200ms\"",
        "[topics.__consumer_offsets]\nsegment_bytes = 1024",
    );
    let addr = broker.addr();
    let topic = support::topic_name("committed");
    kafka::produce(
        &kafka::producer(&addr, &[]),
        &topic,
        &[Record::unkeyed("one")],
    );
    let group = support::topic_name("group");
    let consumer = kafka::group_consumer(&addr, &group);
    let commits = 300;
    for offset in 1..=commits {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&topic, 0, Offset::Offset(offset))
            .unwrap();
        consumer.commit(&list, CommitMode::Sync).unwrap();
    }
    drop(consumer);

    let offsets_dir = broker.data_dir().join("__consumer_offsets-0");
    let log_bytes = || -> u64 {
        std::fs::read_dir(&offsets_dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut smallest = u64::MAX;
    let mut first = None;
    loop {
        let bytes = log_bytes();
        let first = *first.get_or_insert(bytes);
        smallest = smallest.min(bytes);
        // 300 commits of one partition compact to a handful of batches.
        if smallest * 4 < first.max(commits as u64 * 100) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "__consumer_offsets still holds {bytes} bytes after 30 s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    broker.stop();
    broker.restart();
    let consumer = kafka::group_consumer(&addr, &group);
    let mut list = TopicPartitionList::new();
    list.add_partition(&topic, 0);
    let committed = consumer.committed_offsets(list, kafka::PATIENCE).unwrap();
    assert_eq!(
        committed.find_partition(&topic, 0).unwrap().offset(),
        Offset::Offset(commits),
        "the newest commit survives compaction and a restart"
    );
    broker.assert_clean_log();
}
