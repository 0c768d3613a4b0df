//! Growing topics and their configs through librdkafka's AdminClient: CreatePartitions,
//! DescribeConfigs and AlterConfigs, their errors, and that what was changed survives a
//! restart. (Describe/AlterConfigs errors are read on the wire: rust-rdkafka 0.39 drops
//! per-resource errors.)

#![allow(clippy::unwrap_used)]

mod support;

use rdkafka::admin::{
    AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::consumer::Consumer;
use rdkafka::error::RDKafkaErrorCode;
use support::Broker;
use support::kafka::{self, Record};
use support::wire;

/// Kafka's config resource type for a topic, and the error codes expected here.
const TOPIC_RESOURCE: i8 = 2;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(kafka::PATIENCE))
}

async fn create(addr: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut spec = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        spec = spec.set(key, value);
    }
    let results = kafka::admin(addr)
        .create_topics([&spec], &options())
        .await
        .unwrap();
    assert_eq!(results, vec![Ok(topic.to_string())]);
}

async fn grow(addr: &str, topic: &str, total: usize) -> Result<String, (String, RDKafkaErrorCode)> {
    let mut results = kafka::admin(addr)
        .create_partitions([&NewPartitions::new(topic, total)], &options())
        .await
        .expect("the CreatePartitions request itself");
    results.remove(0)
}

/// The topic's config `name` as DescribeConfigs reports it.
async fn config(addr: &str, topic: &str, name: &str) -> Result<Option<String>, RDKafkaErrorCode> {
    let mut results = kafka::admin(addr)
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options())
        .await
        .expect("the DescribeConfigs request itself");
    let resource = results.remove(0)?;
    Ok(resource.get(name).and_then(|entry| entry.value.clone()))
}

/// AlterConfigs through librdkafka. rust-rdkafka 0.39 reports every resource of an
/// AlterConfigs result as a success, whatever its error code: errors are checked with
/// [`alter_error_code`] on the wire instead.
async fn alter(addr: &str, topic: &str, entries: &[(&str, &str)]) {
    let mut change = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (key, value) in entries {
        change = change.set(key, value);
    }
    let results = kafka::admin(addr)
        .alter_configs([&change], &options())
        .await
        .expect("the AlterConfigs request itself");
    assert_eq!(results.len(), 1);
}

/// The error code of an AlterConfigs v1 request setting one config of `topic`.
fn alter_error_code(addr: &str, topic: &str, name: &'static str, value: &'static str) -> i16 {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey};
    use kafka_protocol::protocol::StrBytes;
    let request = AlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str(name))
                    .with_value(Some(StrBytes::from_static_str(value))),
            ]),
    ]);
    let response: AlterConfigsResponse =
        wire::call(&mut wire::connect(addr), ApiKey::AlterConfigs, 1, &request);
    response.responses[0].error_code
}

/// The error code of a DescribeConfigs v1 request for `topic` (rust-rdkafka drops it too).
fn describe_error_code(addr: &str, topic: &str) -> i16 {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
    use kafka_protocol::protocol::StrBytes;
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(topic.to_string())),
    ]);
    let response: DescribeConfigsResponse = wire::call(
        &mut wire::connect(addr),
        ApiKey::DescribeConfigs,
        1,
        &request,
    );
    response.results[0].error_code
}

fn partitions(addr: &str, topic: &str) -> i32 {
    kafka::partition_count(kafka::consumer(addr, &[]).client(), topic)
}

#[tokio::test]
async fn create_partitions_grows_a_topic_and_keeps_its_data() {
    let mut broker = Broker::start();
    let addr = broker.addr();
    let topic = support::topic_name("grow");
    create(&addr, &topic, 2, &[]).await;
    let producer = kafka::producer(&addr, &[("acks", "all")]);
    let before: Vec<Record> = (0..100)
        .map(|i| Record::unkeyed(format!("before-{i}")).with_partition(i % 2))
        .collect();
    kafka::produce(&producer, &topic, &before);
    drop(producer);

    assert_eq!(grow(&addr, &topic, 5).await, Ok(topic.clone()));
    assert_eq!(partitions(&addr, &topic), 5);
    let producer = kafka::producer(&addr, &[("acks", "all")]);
    let delivered = kafka::produce(
        &producer,
        &topic,
        &[Record::unkeyed("new").with_partition(4)],
    );
    assert_eq!((delivered[0].partition, delivered[0].offset), (4, 0));
    drop(producer);

    // Shrinking, or asking for the count it has, is refused; so is an unknown topic.
    assert_eq!(
        grow(&addr, &topic, 3).await,
        Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))
    );
    assert_eq!(
        grow(&addr, &topic, 5).await,
        Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))
    );
    assert_eq!(
        grow(&addr, "no-such-topic", 5).await,
        Err((
            "no-such-topic".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))
    );

    broker.stop();
    broker.restart();
    assert_eq!(
        partitions(&addr, &topic),
        5,
        "partition count after a restart"
    );
    let got = kafka::consume_all(&addr, &topic, before.len() + 1);
    kafka::assert_contiguous(&got);
    assert_eq!(got[&0].len() + got[&1].len(), before.len());
}

#[tokio::test]
async fn describe_and_alter_topic_configs() {
    let mut broker = Broker::start_with("", "[topics.orders]\nretention_ms = \"30d\"");
    let addr = broker.addr();
    let topic = support::topic_name("configs");
    create(&addr, &topic, 1, &[("retention.ms", "3600000")]).await;
    assert_eq!(
        config(&addr, &topic, "retention.ms").await,
        Ok(Some("3600000".into()))
    );

    alter(&addr, &topic, &[("retention.ms", "60000")]).await;
    assert_eq!(
        config(&addr, &topic, "retention.ms").await,
        Ok(Some("60000".into()))
    );
    alter(&addr, &topic, &[("retention.ms", "soon")]).await;
    assert_eq!(
        config(&addr, &topic, "retention.ms").await,
        Ok(Some("60000".into())),
        "a bad value changes nothing"
    );
    assert_eq!(
        alter_error_code(&addr, &topic, "retention.ms", "soon"),
        INVALID_CONFIG
    );
    assert_eq!(
        alter_error_code(&addr, "no-such-topic", "retention.ms", "1000"),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        describe_error_code(&addr, "no-such-topic"),
        UNKNOWN_TOPIC_OR_PARTITION
    );

    // A topic configured in the broker's TOML reports its settings.
    create(&addr, "orders", 1, &[]).await;
    assert_eq!(
        config(&addr, "orders", "retention.ms").await,
        Ok(Some((30 * 24 * 3600 * 1000u64).to_string()))
    );

    broker.stop();
    broker.restart();
    assert_eq!(
        config(&addr, &topic, "retention.ms").await,
        Ok(Some("60000".into())),
        "an altered config after a restart"
    );
}
