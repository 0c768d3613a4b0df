//! Metadata in a cluster: the live brokers, the Raft leader as controller, and each topic's
//! partitions with their real leader, leader epoch, replicas, ISR and offline replicas, all
//! from the applied metadata log. Unknown topics are auto-created through the controller.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::metadata::NOT_REQUESTED;
use crate::cluster::node::ClusterNode;
use crate::cluster::state::{ClusterState, NO_LEADER, TopicState};
use crate::dispatch::Context;
use crate::handlers::cluster_topics::auto_create;
use crate::handlers::code;

pub(super) fn handle(
    ctx: &Context,
    request: MetadataRequest,
    node: &ClusterNode,
) -> MetadataResponse {
    let broker = &ctx.broker;
    let state = node.controller.state();
    let wanted: Option<Vec<_>> = match request.topics {
        None => None,
        Some(topics) if topics.is_empty() && ctx.version == 0 => None,
        Some(topics) => Some(topics),
    };
    let auto_create_allowed = (ctx.version < 4 || request.allow_auto_topic_creation)
        && broker.config.auto_create_topics();
    let topics = match wanted {
        None => state
            .topics
            .iter()
            .filter(|(name, _)| !name.starts_with("__"))
            .map(|(name, t)| describe(&state, name, t, ctx.version))
            .collect(),
        Some(requested) => requested
            .iter()
            .map(|t| {
                let name = t.name.as_ref().map(|n| n.0.to_string());
                let found = match &name {
                    Some(name) => match state.topics.get(name) {
                        Some(topic) => Ok((name.clone(), topic)),
                        None if auto_create_allowed => Err(auto_create(broker, name)),
                        None => Err(ResponseError::UnknownTopicOrPartition),
                    },
                    None => state
                        .topics
                        .iter()
                        .find(|(_, topic)| topic.id == t.topic_id)
                        .map(|(name, topic)| (name.clone(), topic))
                        .ok_or(ResponseError::UnknownTopicId),
                };
                match found {
                    Ok((name, topic)) => describe(&state, &name, topic, ctx.version),
                    Err(error) => MetadataResponseTopic::default()
                        .with_error_code(code(error))
                        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
                        .with_topic_id(t.topic_id)
                        .with_topic_authorized_operations(NOT_REQUESTED),
                }
            })
            .collect(),
    };
    let brokers = state
        .brokers
        .iter()
        .filter(|(_, b)| !b.fenced)
        .map(|(id, b)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(*id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port)
        })
        .collect();
    let controller = node
        .controller
        .leader()
        .and_then(|id| i32::try_from(id).ok())
        .unwrap_or(-1);
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(
            if state.cluster_id.is_empty() {
                broker.topics.cluster_id().to_string()
            } else {
                state.cluster_id.clone()
            },
        )))
        .with_controller_id(BrokerId(controller))
        .with_topics(topics)
        .with_cluster_authorized_operations(NOT_REQUESTED)
}

fn describe(
    state: &ClusterState,
    name: &str,
    topic: &TopicState,
    version: i16,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let offline: Vec<BrokerId> = p
                .replicas
                .iter()
                .filter(|r| state.brokers.get(r).is_none_or(|b| b.fenced))
                .map(|r| BrokerId(*r))
                .collect();
            let error = if p.leader == NO_LEADER {
                code(ResponseError::LeaderNotAvailable)
            } else {
                0
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(if version >= 7 { p.leader_epoch } else { -1 })
                .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect())
                .with_offline_replicas(offline)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
        .with_topic_id(topic.id)
        .with_is_internal(name.starts_with("__"))
        .with_partitions(partitions)
        .with_topic_authorized_operations(NOT_REQUESTED)
}
