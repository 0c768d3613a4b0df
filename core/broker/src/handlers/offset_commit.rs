//! OffsetCommit: stores a group's consumed positions. Each committed partition becomes a
//! record in `__consumer_offsets`, and the answer waits until it is durable. Partitions of
//! unknown topics and oversized metadata are refused one by one; the group's membership
//! check (member id, generation) applies to the whole request.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::dispatch::{Context, Reply, encode_response};
use crate::group::{CommittedOffset, PartitionId};
use crate::handlers::group_codes::{not_durable_code, now_ms, store_code};

/// Kafka's `offset.metadata.max.bytes`.
const MAX_METADATA_BYTES: usize = 4096;

pub(crate) fn handle(ctx: Context, request: OffsetCommitRequest) -> Reply {
    let broker = &ctx.broker;
    let now = now_ms();
    let mut topics = Vec::with_capacity(request.topics.len());
    // (topic index, partition index) of each partition that goes to the group.
    let mut accepted = Vec::new();
    let mut offsets = Vec::new();
    for (t, topic) in request.topics.into_iter().enumerate() {
        let known = broker.topics.get(topic.name.0.as_str());
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for (p, partition) in topic.partitions.into_iter().enumerate() {
            let index = partition.partition_index;
            let metadata = partition.committed_metadata.map(|m| m.to_string());
            let error = if known.as_ref().and_then(|k| k.partition(index)).is_none() {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if metadata
                .as_ref()
                .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
            {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                None
            };
            if error.is_none() {
                accepted.push((t, p));
                offsets.push((
                    PartitionId {
                        topic: topic.name.0.to_string(),
                        partition: index,
                    },
                    CommittedOffset {
                        offset: partition.committed_offset,
                        leader_epoch: if ctx.version >= 6 {
                            partition.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: metadata.unwrap_or_default(),
                        commit_timestamp_ms: now,
                    },
                ));
            }
            partitions.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(index)
                    .with_error_code(error.map_or(0, |e| e.code())),
            );
        }
        topics.push(
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    let (correlation_id, version) = (ctx.correlation_id, ctx.version);
    let answer = move |topics| {
        let response = OffsetCommitResponse::default().with_topics(topics);
        encode_response(correlation_id, version, &response)
    };
    if offsets.is_empty() {
        return Reply::Ready(answer(topics));
    }
    if !broker.coordinates(request.group_id.0.as_str()) {
        set_all(&mut topics, &accepted, ResponseError::NotCoordinator.code());
        return Reply::Ready(answer(topics));
    }
    let committed = broker.groups.commit(
        request.group_id.0.as_str(),
        request.member_id.as_str(),
        request.group_instance_id.as_deref(),
        request.generation_id_or_member_epoch,
        offsets,
        now,
    );
    match committed {
        Err(error) => {
            set_all(&mut topics, &accepted, store_code(&error));
            Reply::Ready(answer(topics))
        }
        Ok(durable) => Reply::Later(Box::pin(async move {
            if let Err(error) = durable.wait().await {
                set_all(&mut topics, &accepted, not_durable_code(&error));
            }
            answer(topics)
        })),
    }
}

/// Sets the error of every partition that went to the group.
fn set_all(topics: &mut [OffsetCommitResponseTopic], accepted: &[(usize, usize)], code: i16) {
    for &(t, p) in accepted {
        topics[t].partitions[p].error_code = code;
    }
}
