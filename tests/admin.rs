//! Topic administration through librdkafka's AdminClient: create and delete, and the errors a
//! client gets for an existing topic, a bad name, a replication factor the cluster cannot
//! have, a bad partition count or config, and an unknown topic.

#![allow(clippy::unwrap_used)]

mod support;

use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use support::Broker;
use support::kafka::{self, Record};
use support::wire;

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(kafka::PATIENCE))
}

/// Creates one topic and returns the broker's verdict on it.
async fn create(addr: &str, topic: NewTopic<'_>) -> Result<String, (String, RDKafkaErrorCode)> {
    create_with(addr, topic, options()).await
}

async fn create_with(
    addr: &str,
    topic: NewTopic<'_>,
    options: AdminOptions,
) -> Result<String, (String, RDKafkaErrorCode)> {
    let mut results = kafka::admin(addr)
        .create_topics([&topic], &options)
        .await
        .expect("the CreateTopics request itself");
    assert_eq!(results.len(), 1);
    results.remove(0)
}

async fn delete(addr: &str, topic: &str) -> Result<String, (String, RDKafkaErrorCode)> {
    let mut results = kafka::admin(addr)
        .delete_topics(&[topic], &options())
        .await
        .expect("the DeleteTopics request itself");
    assert_eq!(results.len(), 1);
    results.remove(0)
}

#[tokio::test]
async fn create_use_and_delete_a_topic() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = support::topic_name("admin");
    let created = create(&addr, NewTopic::new(&topic, 5, TopicReplication::Fixed(1))).await;
    assert_eq!(created, Ok(topic.clone()));
    assert!(wire::topic_names(&addr).contains(&topic));

    let producer = kafka::producer(&addr, &[("acks", "all")]);
    let records: Vec<Record> = (0..50)
        .map(|i| Record::keyed(format!("k{i}"), format!("v{i}")))
        .collect();
    kafka::produce(&producer, &topic, &records);
    let got = kafka::consume_all(&addr, &topic, records.len());
    assert!(got.keys().all(|p| (0..5).contains(p)), "{:?}", got.keys());
    drop(producer);

    assert_eq!(delete(&addr, &topic).await, Ok(topic.clone()));
    assert!(
        !wire::topic_names(&addr).contains(&topic),
        "{topic} still listed after DeleteTopics"
    );
    // The name is free again, and the new topic starts empty.
    let created = create(&addr, NewTopic::new(&topic, 2, TopicReplication::Fixed(1))).await;
    assert_eq!(created, Ok(topic.clone()));
    let producer = kafka::producer(&addr, &[("acks", "1")]);
    let delivered = kafka::produce(
        &producer,
        &topic,
        &[Record::unkeyed("again").with_partition(0)],
    );
    assert_eq!(
        delivered[0].offset, 0,
        "a recreated topic starts at offset 0"
    );
}

#[tokio::test]
async fn default_partitions_and_replication_with_minus_one() {
    let broker = Broker::start_with("num_partitions = 3", "");
    let topic = support::topic_name("defaults");
    let created = create(
        &broker.addr(),
        NewTopic::new(&topic, -1, TopicReplication::Fixed(-1)),
    )
    .await;
    assert_eq!(created, Ok(topic.clone()));
    let consumer = kafka::consumer(&broker.addr(), &[]);
    use rdkafka::consumer::Consumer;
    assert_eq!(kafka::partition_count(consumer.client(), &topic), 3);
}

#[tokio::test]
async fn creating_an_existing_topic_fails() {
    let broker = Broker::start();
    let topic = support::topic_name("twice");
    let spec = NewTopic::new(&topic, 1, TopicReplication::Fixed(1));
    assert_eq!(create(&broker.addr(), spec).await, Ok(topic.clone()));
    let spec = NewTopic::new(&topic, 3, TopicReplication::Fixed(1));
    assert_eq!(
        create(&broker.addr(), spec).await,
        Err((topic.clone(), RDKafkaErrorCode::TopicAlreadyExists))
    );
}

#[tokio::test]
async fn bad_topic_names_are_refused() {
    let broker = Broker::start();
    let too_long = "x".repeat(250);
    for name in [
        "bad/name",
        "..",
        ".",
        "spaces are bad",
        "ünïcode",
        too_long.as_str(),
    ] {
        let spec = NewTopic::new(name, 1, TopicReplication::Fixed(1));
        assert_eq!(
            create(&broker.addr(), spec).await,
            Err((name.to_string(), RDKafkaErrorCode::InvalidTopic)),
            "topic name {name:?}"
        );
    }
    assert!(wire::topic_names(&broker.addr()).is_empty());
}

#[tokio::test]
async fn replication_factor_3_on_one_broker_is_refused() {
    let broker = Broker::start();
    let topic = support::topic_name("rf3");
    let spec = NewTopic::new(&topic, 1, TopicReplication::Fixed(3));
    assert_eq!(
        create(&broker.addr(), spec).await,
        Err((topic.clone(), RDKafkaErrorCode::InvalidReplicationFactor))
    );
    assert!(!wire::topic_names(&broker.addr()).contains(&topic));
}

#[tokio::test]
async fn bad_partition_count_and_config_are_refused() {
    let broker = Broker::start();
    let topic = support::topic_name("bad-spec");
    let spec = NewTopic::new(&topic, 0, TopicReplication::Fixed(1));
    assert_eq!(
        create(&broker.addr(), spec).await,
        Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))
    );
    let spec = NewTopic::new(&topic, 1, TopicReplication::Fixed(1)).set("retention.ms", "soon");
    assert_eq!(
        create(&broker.addr(), spec).await,
        Err((topic.clone(), RDKafkaErrorCode::InvalidConfig))
    );
    let spec = NewTopic::new(&topic, 1, TopicReplication::Fixed(1)).set("retention.ms", "60000");
    assert_eq!(create(&broker.addr(), spec).await, Ok(topic.clone()));
}

#[tokio::test]
async fn validate_only_creates_nothing() {
    let broker = Broker::start();
    let topic = support::topic_name("dry-run");
    let spec = NewTopic::new(&topic, 2, TopicReplication::Fixed(1));
    let verdict = create_with(&broker.addr(), spec, options().validate_only(true)).await;
    assert_eq!(verdict, Ok(topic.clone()));
    assert!(!wire::topic_names(&broker.addr()).contains(&topic));
}

#[tokio::test]
async fn deleting_an_unknown_topic_fails() {
    let broker = Broker::start();
    assert_eq!(
        delete(&broker.addr(), "no-such-topic").await,
        Err((
            "no-such-topic".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))
    );
}
