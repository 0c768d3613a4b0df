//! Valid request frames (without their size prefix) of every API weir serves, at old and
//! new versions: the material the fuzz test's mutations start from. They name one topic
//! ([`TOPIC`], created with data before the run) and one group, so that a mutation can reach
//! a handler's interesting paths, not only its "unknown topic" answer.

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use weir_log::testing::BatchBuilder;

use crate::support::wire;

/// The topic the seeds produce to, fetch from and commit offsets of.
pub(crate) const TOPIC: &str = "fuzz";
const GROUP: &str = "fuzz-group";
/// Kafka's config resource type for a topic.
const TOPIC_RESOURCE: i8 = 2;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn group() -> GroupId {
    GroupId(StrBytes::from_static_str(GROUP))
}

fn text(s: &'static str) -> StrBytes {
    StrBytes::from_static_str(s)
}

/// Frames of `request` at each of `versions`, size prefix removed.
fn at<R: Encodable>(seeds: &mut Vec<Vec<u8>>, api: ApiKey, versions: &[i16], request: &R) {
    for (i, &version) in versions.iter().enumerate() {
        let frame = wire::frame(api, version, 100 * api as i32 + i as i32, request);
        seeds.push(frame[4..].to_vec());
    }
}

/// Every seed frame.
pub(crate) fn all() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    data_apis(&mut seeds);
    admin_apis(&mut seeds);
    group_apis(&mut seeds);
    seeds
}

fn data_apis(seeds: &mut Vec<Vec<u8>>) {
    at(
        seeds,
        ApiKey::ApiVersions,
        &[0, 1, 2, 3],
        &ApiVersionsRequest::default(),
    );
    let metadata = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(TOPIC))),
        ]))
        .with_allow_auto_topic_creation(true);
    at(seeds, ApiKey::Metadata, &[0, 4, 9, 12], &metadata);
    let batch = BatchBuilder::new()
        .record(Some(b"key"), b"value")
        .records(3, 20)
        .build();
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(TOPIC))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(batch))),
                ]),
        ]);
    at(seeds, ApiKey::Produce, &[3, 8, 9, 11], &produce);
    let fetch = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(20)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(TOPIC))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    at(seeds, ApiKey::Fetch, &[4, 11, 12], &fetch);
    let list_offsets = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(name(TOPIC))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ]),
        ]);
    at(seeds, ApiKey::ListOffsets, &[1, 6], &list_offsets);
    let init_producer = InitProducerIdRequest::default()
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    at(seeds, ApiKey::InitProducerId, &[0, 2, 4], &init_producer);
}

/// Admin requests are `validate_only` where they can be: a mutation has to flip that flag as
/// well as inflate a count before the broker creates thousands of partitions.
fn admin_apis(seeds: &mut Vec<Vec<u8>>) {
    let create = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_timeout_ms(1000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name("fuzz-created"))
                .with_num_partitions(2)
                .with_replication_factor(1),
        ]);
    at(seeds, ApiKey::CreateTopics, &[2, 5, 7], &create);
    let delete = DeleteTopicsRequest::default()
        .with_timeout_ms(1000)
        .with_topic_names(vec![name("fuzz-no-such-topic")]);
    at(seeds, ApiKey::DeleteTopics, &[1, 5], &delete);
    let create_partitions = CreatePartitionsRequest::default()
        .with_validate_only(true)
        .with_timeout_ms(1000)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(name(TOPIC))
                .with_count(3),
        ]);
    at(seeds, ApiKey::CreatePartitions, &[0, 3], &create_partitions);
    let describe_configs = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(text(TOPIC))
            .with_configuration_keys(Some(vec![text("retention.ms")])),
    ]);
    at(seeds, ApiKey::DescribeConfigs, &[1, 4], &describe_configs);
    let alter_configs = AlterConfigsRequest::default()
        .with_validate_only(true)
        .with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(text(TOPIC))
                .with_configs(vec![
                    alter_configs_request::AlterableConfig::default()
                        .with_name(text("retention.ms"))
                        .with_value(Some(text("60000"))),
                ]),
        ]);
    at(seeds, ApiKey::AlterConfigs, &[0, 2], &alter_configs);
    let incremental = IncrementalAlterConfigsRequest::default()
        .with_validate_only(true)
        .with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(text(TOPIC))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(text("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(text("60000"))),
                ]),
        ]);
    at(
        seeds,
        ApiKey::IncrementalAlterConfigs,
        &[0, 1],
        &incremental,
    );
}

fn group_apis(seeds: &mut Vec<Vec<u8>>) {
    let find = FindCoordinatorRequest::default().with_key(text(GROUP));
    at(seeds, ApiKey::FindCoordinator, &[0, 3], &find);
    let find_batched = FindCoordinatorRequest::default().with_coordinator_keys(vec![text(GROUP)]);
    at(seeds, ApiKey::FindCoordinator, &[4], &find_batched);
    let join = JoinGroupRequest::default()
        .with_group_id(group())
        .with_session_timeout_ms(6000)
        .with_rebalance_timeout_ms(6000)
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(Bytes::from_static(&[
                    0, 1, 0, 0, 0, 1, 0, 4, b'f', b'u', b'z', b'z',
                ])),
        ]);
    at(seeds, ApiKey::JoinGroup, &[1, 4, 9], &join);
    let sync = SyncGroupRequest::default()
        .with_group_id(group())
        .with_generation_id(1)
        .with_member_id(text("member-1"))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(text("member-1"))
                .with_assignment(Bytes::from_static(&[0, 1, 0, 0, 0, 0])),
        ]);
    at(seeds, ApiKey::SyncGroup, &[0, 5], &sync);
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(group())
        .with_generation_id(1)
        .with_member_id(text("member-1"));
    at(seeds, ApiKey::Heartbeat, &[0, 4], &heartbeat);
    let leave = LeaveGroupRequest::default()
        .with_group_id(group())
        .with_member_id(text("member-1"));
    at(seeds, ApiKey::LeaveGroup, &[0], &leave);
    let leave_batched = LeaveGroupRequest::default()
        .with_group_id(group())
        .with_members(vec![
            MemberIdentity::default().with_member_id(text("member-1")),
        ]);
    at(seeds, ApiKey::LeaveGroup, &[5], &leave_batched);
    let commit = OffsetCommitRequest::default()
        .with_group_id(group())
        .with_generation_id_or_member_epoch(-1)
        .with_retention_time_ms(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name(TOPIC))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)
                        .with_committed_metadata(Some(text("m"))),
                ]),
        ]);
    at(seeds, ApiKey::OffsetCommit, &[2, 8], &commit);
    let fetch_offsets = OffsetFetchRequest::default()
        .with_group_id(group())
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(name(TOPIC))
                .with_partition_indexes(vec![0, 1]),
        ]));
    at(seeds, ApiKey::OffsetFetch, &[1, 7], &fetch_offsets);
    let fetch_offsets_v8 = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(group())
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(name(TOPIC))
                    .with_partition_indexes(vec![0]),
            ])),
    ]);
    at(seeds, ApiKey::OffsetFetch, &[8], &fetch_offsets_v8);
    at(
        seeds,
        ApiKey::ListGroups,
        &[0, 4],
        &ListGroupsRequest::default(),
    );
    let describe = DescribeGroupsRequest::default().with_groups(vec![group()]);
    at(seeds, ApiKey::DescribeGroups, &[0, 5], &describe);
    let delete =
        DeleteGroupsRequest::default().with_groups_names(vec![GroupId(text("fuzz-no-such-group"))]);
    at(seeds, ApiKey::DeleteGroups, &[0, 2], &delete);
    let offset_delete = OffsetDeleteRequest::default()
        .with_group_id(group())
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(name(TOPIC))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ]);
    at(seeds, ApiKey::OffsetDelete, &[0], &offset_delete);
}
