//! OffsetFetch: a group's committed offsets, for the partitions asked for (-1 where none was
//! committed) or, when the topics are null, every partition the group committed. v8 asks
//! about several groups at once.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::dispatch::Context;
use crate::group::{CommittedOffset, GroupCoordinator, PartitionId};

/// One partition's answer: its index and committed offset, if any.
type Found = (i32, Option<CommittedOffset>);

pub(crate) fn handle(ctx: &Context, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let groups = &ctx.broker.groups;
    if ctx.version >= 8 {
        let answers = request
            .groups
            .into_iter()
            .map(|group| {
                if !ctx.broker.coordinates(group.group_id.0.as_str()) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(group.group_id)
                        .with_error_code(ResponseError::NotCoordinator.code());
                }
                let wanted = group.topics.map(|topics| {
                    topics
                        .into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let topics = lookup(groups, group.group_id.0.as_str(), wanted)
                    .into_iter()
                    .map(|(name, found)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(topic_name(name))
                            .with_partitions(found.into_iter().map(partitions_v8).collect())
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id)
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(answers);
    }
    if !ctx.broker.coordinates(request.group_id.0.as_str()) {
        return not_coordinator(ctx.version, request);
    }
    let wanted = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let topics = lookup(groups, request.group_id.0.as_str(), wanted)
        .into_iter()
        .map(|(name, found)| {
            let partitions = found
                .into_iter()
                .map(|(index, committed)| {
                    let committed = committed.unwrap_or_else(none_committed);
                    let partition = OffsetFetchResponsePartition::default()
                        .with_partition_index(index)
                        .with_committed_offset(committed.offset)
                        .with_metadata(Some(StrBytes::from_string(committed.metadata)));
                    if ctx.version >= 5 {
                        partition.with_committed_leader_epoch(committed.leader_epoch)
                    } else {
                        partition
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(name))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// NOT_COORDINATOR before v8: the response's error from v2 on, each partition's before.
fn not_coordinator(version: i16, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let code = ResponseError::NotCoordinator.code();
    if version >= 2 {
        return OffsetFetchResponse::default().with_error_code(code);
    }
    let topics = request
        .topics
        .unwrap_or_default()
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .into_iter()
                .map(|index| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(index)
                        .with_committed_offset(-1)
                        .with_error_code(code)
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// The committed offsets of `group` for `wanted` (topic → partitions), or all of them.
fn lookup(
    groups: &GroupCoordinator,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Vec<(String, Vec<Found>)> {
    let committed = groups.committed(group);
    match wanted {
        Some(wanted) => wanted
            .into_iter()
            .map(|(topic, partitions)| {
                let found = partitions
                    .into_iter()
                    .map(|partition| {
                        let id = PartitionId {
                            topic: topic.clone(),
                            partition,
                        };
                        (partition, committed.get(&id).cloned())
                    })
                    .collect();
                (topic, found)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<Found>> = BTreeMap::new();
            for (id, offset) in committed {
                by_topic
                    .entry(id.topic)
                    .or_default()
                    .push((id.partition, Some(offset)));
            }
            by_topic.into_iter().collect()
        }
    }
}

/// What a partition without a committed offset reports.
fn none_committed() -> CommittedOffset {
    CommittedOffset {
        offset: -1,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp_ms: -1,
    }
}

fn partitions_v8((index, committed): Found) -> OffsetFetchResponsePartitions {
    let committed = committed.unwrap_or_else(none_committed);
    OffsetFetchResponsePartitions::default()
        .with_partition_index(index)
        .with_committed_offset(committed.offset)
        .with_committed_leader_epoch(committed.leader_epoch)
        .with_metadata(Some(StrBytes::from_string(committed.metadata)))
}

fn topic_name(name: String) -> TopicName {
    TopicName(StrBytes::from_string(name))
}
