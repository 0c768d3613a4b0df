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
