//! Every supported API at every supported version: a request goes through the dispatcher
//! and the response decodes with the client-side codec, correlation id intact. A field a
//! handler sets that a version cannot carry fails here, not on a user's connection.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use weir_log::testing::BatchBuilder;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::dispatch::{self, Reply, SUPPORTED};

mod groups;
mod reassignments;

fn broker(dir: &std::path::Path) -> Arc<Broker> {
    let text = format!(
        "[broker]\nlog_dirs = [\"{}\"]\n",
        dir.join("data").display()
    );
    let source = weir_config::Source::new(dir.join("weir.toml"), text);
    Broker::open(BrokerConfig::parse(&source).unwrap()).unwrap()
}

fn frame<R: Encodable>(api: ApiKey, version: i16, correlation_id: i32, request: &R) -> Bytes {
    let mut buf = BytesMut::new();
    let mut header = RequestHeader::default();
    header.request_api_key = api as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str("wire-test"));
    header
        .encode(&mut buf, api.request_header_version(version))
        .unwrap();
    request.encode(&mut buf, version).unwrap();
    buf.freeze()
}

async fn exchange<Req: Encodable, Resp: Decodable + HeaderVersion>(
    broker: &Arc<Broker>,
    api: ApiKey,
    version: i16,
    request: &Req,
) -> Resp {
    let correlation_id = 1000 + i32::from(version);
    let reply = dispatch::dispatch(
        broker,
        "/127.0.0.1",
        frame(api, version, correlation_id, request),
    )
    .await
    .unwrap();
    let mut bytes = match reply {
        Reply::Ready(bytes) => bytes,
        Reply::Later(pending) => pending.await,
        Reply::None => panic!("{api:?} v{version}: no reply"),
    };
    assert!(
        !bytes.is_empty(),
        "{api:?} v{version}: response failed to encode"
    );
    let len = i32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(len, bytes.len() - 4, "{api:?} v{version}: frame length");
    let mut body = bytes.split_off(4).freeze();
    let header = ResponseHeader::decode(&mut body, Resp::header_version(version)).unwrap();
    assert_eq!(header.correlation_id, correlation_id, "{api:?} v{version}");
    let response =
        Resp::decode(&mut body, version).unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
    assert!(
        body.is_empty(),
        "{api:?} v{version}: {} trailing bytes",
        body.len()
    );
    response
}

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn versions(api: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (_, min, max) = SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == api)
        .copied()
        .unwrap();
    min..=max
}

#[tokio::test]
async fn every_supported_version_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    for version in versions(ApiKey::ApiVersions) {
        let response: ApiVersionsResponse = exchange(
            &broker,
            ApiKey::ApiVersions,
            version,
            &ApiVersionsRequest::default(),
        )
        .await;
        assert_eq!(response.error_code, 0);
        assert_eq!(response.api_keys.len(), SUPPORTED.len());
    }
    for version in versions(ApiKey::CreateTopics) {
        let request = CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic(&format!("created-{version}")))
                .with_num_partitions(2)
                .with_replication_factor(1),
        ]);
        let response: CreateTopicsResponse =
            exchange(&broker, ApiKey::CreateTopics, version, &request).await;
        assert_eq!(
            response.topics[0].error_code, 0,
            "v{version}: {:?}",
            response.topics[0].error_message
        );
    }
    for version in versions(ApiKey::Metadata) {
        let mut request = MetadataRequest::default();
        if version >= 1 {
            request.topics = Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic("events"))),
            ]);
        }
        let response: MetadataResponse =
            exchange(&broker, ApiKey::Metadata, version, &request).await;
        assert_eq!(response.brokers.len(), 1);
        assert!(
            response.topics.iter().all(|t| t.error_code == 0),
            "v{version}: {:?}",
            response.topics
        );
    }
    let batch = Bytes::from(
        BatchBuilder::new()
            .base_timestamp(5000)
            .records(3, 10)
            .build(),
    );
    for version in versions(ApiKey::Produce) {
        let request = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(topic("events"))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch.clone())),
                    ]),
            ]);
        let response: ProduceResponse = exchange(&broker, ApiKey::Produce, version, &request).await;
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0, "v{version}");
        assert_eq!(
            partition.base_offset,
            i64::from(version - 3) * 3,
            "v{version}"
        );
    }
    for version in versions(ApiKey::Fetch) {
        let request = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![
                fetch_request::FetchTopic::default()
                    .with_topic(topic("events"))
                    .with_partitions(vec![
                        fetch_request::FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(3)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let response: FetchResponse = exchange(&broker, ApiKey::Fetch, version, &request).await;
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0, "v{version}");
        assert_eq!(partition.high_watermark, 27, "v{version}");
        let records = partition.records.as_ref().unwrap();
        assert_eq!(
            &records[8..12],
            &batch[8..12],
            "v{version}: a whole batch comes back"
        );
    }
    for version in versions(ApiKey::ListOffsets) {
        let request = ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic("events"))
                .with_partitions(
                    [-2i64, -1, 5000]
                        .iter()
                        .map(|&ts| {
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_partition_index(0)
                                .with_timestamp(ts)
                        })
                        .collect(),
                ),
        ]);
        let response: ListOffsetsResponse =
            exchange(&broker, ApiKey::ListOffsets, version, &request).await;
        let offsets: Vec<i64> = response.topics[0]
            .partitions
            .iter()
            .map(|p| p.offset)
            .collect();
        assert_eq!(offsets, vec![0, 27, 0], "v{version}");
    }
    for version in versions(ApiKey::DeleteTopics) {
        let name = topic(&format!("created-{}", version + 1));
        let mut request = DeleteTopicsRequest::default();
        if version >= 6 {
            request.topics =
                vec![delete_topics_request::DeleteTopicState::default().with_name(Some(name))];
        } else {
            request.topic_names = vec![name];
        }
        let response: DeleteTopicsResponse =
            exchange(&broker, ApiKey::DeleteTopics, version, &request).await;
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
    }
    broker.close().unwrap();
}

#[tokio::test]
async fn an_api_versions_request_from_the_future_gets_a_v0_answer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&(ApiKey::ApiVersions as i16).to_be_bytes());
    buf.extend_from_slice(&99i16.to_be_bytes());
    buf.extend_from_slice(&7i32.to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0]); // whatever a future header holds
    let Reply::Ready(mut bytes) = dispatch::dispatch(&broker, "/127.0.0.1", buf.freeze())
        .await
        .unwrap()
    else {
        panic!("expected an immediate answer");
    };
    let mut body = bytes.split_off(4).freeze();
    let header = ResponseHeader::decode(&mut body, 0).unwrap();
    assert_eq!(header.correlation_id, 7);
    let response = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert_eq!(
        response.error_code,
        kafka_protocol::ResponseError::UnsupportedVersion.code()
    );
    assert!(
        response
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::ApiVersions as i16 && k.max_version == 3)
    );
}

fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, records: usize) -> Bytes {
    let mut bytes = BatchBuilder::new().records(records, 8).build();
    bytes[43..51].copy_from_slice(&producer_id.to_be_bytes());
    bytes[51..53].copy_from_slice(&epoch.to_be_bytes());
    bytes[53..57].copy_from_slice(&sequence.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(bytes)
}

async fn produce(broker: &Arc<Broker>, topic_name: &str, batch: Bytes) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(topic(topic_name))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    let response: ProduceResponse = exchange(broker, ApiKey::Produce, 9, &request).await;
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

#[tokio::test]
async fn idempotent_producers_are_deduplicated_and_sequenced_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let mut ids = Vec::new();
    for version in versions(ApiKey::InitProducerId) {
        let response: InitProducerIdResponse = exchange(
            &broker,
            ApiKey::InitProducerId,
            version,
            &InitProducerIdRequest::default()
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await;
        assert_eq!(response.error_code, 0);
        assert_eq!(response.producer_epoch, 0);
        ids.push(response.producer_id.0);
    }
    ids.dedup();
    assert_eq!(
        ids.len(),
        versions(ApiKey::InitProducerId).count(),
        "every id is fresh"
    );
    let pid = ids[0];
    let bumped: InitProducerIdResponse = exchange(
        &broker,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(0),
    )
    .await;
    assert_eq!((bumped.producer_id.0, bumped.producer_epoch), (pid, 1));

    assert_eq!(
        produce(&broker, "idem", idempotent_batch(pid, 1, 0, 3)).await,
        (0, 0)
    );
    assert_eq!(
        produce(&broker, "idem", idempotent_batch(pid, 1, 3, 2)).await,
        (0, 3)
    );
    // A retry gets the original offset and appends nothing.
    assert_eq!(
        produce(&broker, "idem", idempotent_batch(pid, 1, 0, 3)).await,
        (0, 0)
    );
    let out_of_order = kafka_protocol::ResponseError::OutOfOrderSequenceNumber.code();
    assert_eq!(
        produce(&broker, "idem", idempotent_batch(pid, 1, 9, 1))
            .await
            .0,
        out_of_order
    );
    let fenced = kafka_protocol::ResponseError::InvalidProducerEpoch.code();
    assert_eq!(
        produce(&broker, "idem", idempotent_batch(pid, 0, 5, 1))
            .await
            .0,
        fenced
    );
    broker.close().unwrap();
    drop(broker);

    let broker = self::broker(dir.path());
    assert_eq!(
        produce(&broker, "idem", idempotent_batch(pid, 1, 3, 2)).await,
        (0, 3),
        "remembered across restart"
    );
    assert_eq!(
        produce(&broker, "idem", idempotent_batch(pid, 1, 5, 1)).await,
        (0, 5)
    );
    let fresh: InitProducerIdResponse = exchange(
        &broker,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
    .await;
    assert!(
        !ids.contains(&fresh.producer_id.0),
        "ids are never reissued after restart"
    );
    broker.close().unwrap();
}

#[tokio::test]
async fn partitions_and_configs_are_administered_at_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let mut partitions = 1;
    for version in versions(ApiKey::CreatePartitions) {
        partitions += 1;
        if version == 0 {
            let _: MetadataResponse = exchange(
                &broker,
                ApiKey::Metadata,
                12,
                &MetadataRequest::default()
                    .with_allow_auto_topic_creation(true)
                    .with_topics(Some(vec![
                        metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(topic("grow"))),
                    ])),
            )
            .await;
        }
        let request = CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic("grow"))
                .with_count(partitions),
        ]);
        let response: CreatePartitionsResponse =
            exchange(&broker, ApiKey::CreatePartitions, version, &request).await;
        assert_eq!(
            response.results[0].error_code, 0,
            "v{version}: {:?}",
            response.results[0].error_message
        );
        assert_eq!(
            broker.topics.get("grow").unwrap().partitions.len(),
            partitions as usize
        );
    }
    let shrink = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(topic("grow"))
            .with_count(1),
    ]);
    let response: CreatePartitionsResponse =
        exchange(&broker, ApiKey::CreatePartitions, 3, &shrink).await;
    assert_eq!(
        response.results[0].error_code,
        kafka_protocol::ResponseError::InvalidPartitions.code()
    );

    for version in versions(ApiKey::IncrementalAlterConfigs) {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("grow"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(StrBytes::from_string(format!(
                            "{}",
                            60_000 + i32::from(version)
                        )))),
                ]),
        ]);
        let response: IncrementalAlterConfigsResponse =
            exchange(&broker, ApiKey::IncrementalAlterConfigs, version, &request).await;
        assert_eq!(
            response.responses[0].error_code, 0,
            "v{version}: {:?}",
            response.responses[0].error_message
        );
    }
    let retention = broker.topics.get("grow").unwrap().partitions[0]
        .log
        .config()
        .retention;
    assert_eq!(retention, Some(std::time::Duration::from_millis(60_001)));

    for version in versions(ApiKey::AlterConfigs) {
        let request = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("grow"))
                .with_configs(vec![
                    alter_configs_request::AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("segment.bytes"))
                        .with_value(Some(StrBytes::from_static_str("1048576"))),
                ]),
        ]);
        let response: AlterConfigsResponse =
            exchange(&broker, ApiKey::AlterConfigs, version, &request).await;
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
    }
    let bad = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("grow"))
            .with_configs(vec![
                alter_configs_request::AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("segment.bytes"))
                    .with_value(Some(StrBytes::from_static_str("tiny"))),
            ]),
    ]);
    let response: AlterConfigsResponse = exchange(&broker, ApiKey::AlterConfigs, 2, &bad).await;
    assert_eq!(
        response.responses[0].error_code,
        kafka_protocol::ResponseError::InvalidConfig.code()
    );

    for version in versions(ApiKey::DescribeConfigs) {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("grow"))
                .with_configuration_keys(None),
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_static_str("0"))
                .with_configuration_keys(None),
        ]);
        let response: DescribeConfigsResponse =
            exchange(&broker, ApiKey::DescribeConfigs, version, &request).await;
        let topic_configs = &response.results[0].configs;
        let segment = topic_configs
            .iter()
            .find(|c| c.name.as_str() == "segment.bytes")
            .unwrap();
        assert_eq!(segment.value.as_deref(), Some("1048576"), "v{version}");
        assert_eq!(segment.config_source, 1, "an override");
        // AlterConfigs replaced every override, so retention is back to the default.
        let retention = topic_configs
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .unwrap();
        assert_eq!(retention.value.as_deref(), Some("604800000"));
        assert!(
            response.results[1]
                .configs
                .iter()
                .any(|c| c.name.as_str() == "log.dirs")
        );
    }
    broker.close().unwrap();
    drop(broker);
    let broker = self::broker(dir.path());
    let topic = broker.topics.get("grow").unwrap();
    assert_eq!(
        topic.partitions.len(),
        partitions as usize,
        "partition count survives restart"
    );
    assert_eq!(
        topic.overrides.segment_bytes,
        Some(1_048_576),
        "configs survive restart"
    );
    broker.close().unwrap();
}

#[tokio::test]
async fn huge_array_counts_in_tiny_frames_are_refused_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    // Metadata v0: header (key, version, correlation id, client id -1), then a topic array
    // that claims i32::MAX entries in a 14-byte frame.
    let mut frame = Vec::new();
    frame.extend_from_slice(&(ApiKey::Metadata as i16).to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&1i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame.extend_from_slice(&i32::MAX.to_be_bytes());
    let outcome = dispatch::dispatch(&broker, "/127.0.0.1", Bytes::from(frame)).await;
    assert!(outcome.is_err(), "a truncated request is refused");
    broker.close().unwrap();
}
