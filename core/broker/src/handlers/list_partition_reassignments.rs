//! ListPartitionReassignments (KIP-455): the reassignments in progress — for every partition
//! asked about (all when the request names none) that is moving, its replicas and which of
//! them are being added and removed, from the applied metadata. A single broker never has
//! one.

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::state::TopicState;
use crate::dispatch::Context;

pub(crate) fn handle(
    ctx: &Context,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let Some(node) = ctx.broker.cluster() else {
        return ListPartitionReassignmentsResponse::default();
    };
    let state = node.controller.state();
    let topics = match request.topics {
        None => state
            .topics
            .iter()
            .filter_map(|(name, topic)| ongoing(name, topic, None))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|t| {
                let name = t.name.0.as_str();
                let topic = state.topics.get(name)?;
                ongoing(name, topic, Some(&t.partition_indexes))
            })
            .collect(),
    };
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

/// The partitions of `topic` (those in `only`, when given) with a reassignment in progress.
fn ongoing(
    name: &str,
    topic: &TopicState,
    only: Option<&[i32]>,
) -> Option<OngoingTopicReassignment> {
    let ids = |ids: &[i32]| ids.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
    let partitions: Vec<OngoingPartitionReassignment> = topic
        .partitions
        .iter()
        .enumerate()
        .filter(|(index, p)| {
            p.reassigning() && only.is_none_or(|only| only.contains(&(*index as i32)))
        })
        .map(|(index, p)| {
            OngoingPartitionReassignment::default()
                .with_partition_index(index as i32)
                .with_replicas(ids(&p.replicas))
                .with_adding_replicas(ids(&p.adding))
                .with_removing_replicas(ids(&p.removing))
        })
        .collect();
    (!partitions.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_partitions(partitions)
    })
}
