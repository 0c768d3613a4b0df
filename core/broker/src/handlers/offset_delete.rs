//! OffsetDelete: removes committed offsets of some partitions of a group (tombstones in
//! `__consumer_offsets`, answered once durable). Offsets of a topic the group's members
//! still subscribe to stay (GROUP_SUBSCRIBED_TO_TOPIC).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::dispatch::{Context, Reply, encode_response};
use crate::group::PartitionId;
use crate::handlers::group_codes::{group_code, not_durable_code, now_ms, store_code};

pub(crate) fn handle(ctx: Context, request: OffsetDeleteRequest) -> Reply {
    let broker = &ctx.broker;
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut asked = Vec::new();
    let mut positions = Vec::new();
    for (t, topic) in request.topics.into_iter().enumerate() {
        let known = broker.topics.get(topic.name.0.as_str());
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for (p, partition) in topic.partitions.into_iter().enumerate() {
            let index = partition.partition_index;
            let mut response = OffsetDeleteResponsePartition::default().with_partition_index(index);
            if known.as_ref().and_then(|k| k.partition(index)).is_some() {
                asked.push(PartitionId {
                    topic: topic.name.0.to_string(),
                    partition: index,
                });
                positions.push((t, p));
            } else {
                response.error_code = ResponseError::UnknownTopicOrPartition.code();
            }
            partitions.push(response);
        }
        topics.push(
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    let (correlation_id, version) = (ctx.correlation_id, ctx.version);
    let answer =
        move |response: OffsetDeleteResponse| encode_response(correlation_id, version, &response);
    if !broker.coordinates(request.group_id.0.as_str()) {
        let response =
            OffsetDeleteResponse::default().with_error_code(ResponseError::NotCoordinator.code());
        return Reply::Ready(answer(response));
    }
    let outcome = broker
        .groups
        .delete_offsets(request.group_id.0.as_str(), &asked, now_ms());
    let (results, durable) = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            let response = OffsetDeleteResponse::default().with_error_code(store_code(&error));
            return Reply::Ready(answer(response));
        }
    };
    for (&(t, p), result) in positions.iter().zip(results) {
        if let Err(error) = result {
            topics[t].partitions[p].error_code = group_code(error);
        }
    }
    let Some(durable) = durable else {
        return Reply::Ready(answer(OffsetDeleteResponse::default().with_topics(topics)));
    };
    Reply::Later(Box::pin(async move {
        if let Err(error) = durable.wait().await {
            let code = not_durable_code(&error);
            for &(t, p) in &positions {
                let partition = &mut topics[t].partitions[p];
                if partition.error_code == 0 {
                    partition.error_code = code;
                }
            }
        }
        answer(OffsetDeleteResponse::default().with_topics(topics))
    }))
}
