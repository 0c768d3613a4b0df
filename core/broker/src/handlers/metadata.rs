//! Metadata: the brokers, the cluster id and controller, and each requested topic's
//! partitions with their leader and replicas; topics are auto-created here when the broker
//! and the request allow it.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::dispatch::Context;
use crate::handlers::code;
use crate::topics::Topic;

/// Kafka's "operations not requested" marker for authorized-operations fields.
pub(super) const NOT_REQUESTED: i32 = i32::MIN;

pub(crate) fn handle(ctx: &Context, request: MetadataRequest) -> MetadataResponse {
    let broker = &ctx.broker;
    if let Some(node) = broker.cluster() {
        return super::metadata_cluster::handle(ctx, request, node);
    }
    let node = BrokerId(broker.config.node_id());
    // v0: an empty list means every topic; v1+: null means every topic, empty means none.
    let wanted: Option<Vec<_>> = match request.topics {
        None => None,
        Some(topics) if topics.is_empty() && ctx.version == 0 => None,
        Some(topics) => Some(topics),
    };
    let auto_create = (ctx.version < 4 || request.allow_auto_topic_creation)
        && broker.config.auto_create_topics();
    let topics = match wanted {
        None => broker
            .topics
            .list()
            .iter()
            .filter(|t| !t.internal)
            .map(|t| describe(t, node, ctx.version))
            .collect(),
        Some(requested) => requested
            .iter()
            .map(|t| {
                let name = t.name.as_ref().map(|n| n.0.to_string());
                let found = match &name {
                    Some(name) => crate::produce_path::topic_for(broker, name, auto_create),
                    None => broker
                        .topics
                        .by_id(t.topic_id)
                        .ok_or(ResponseError::UnknownTopicId),
                };
                match found {
                    Ok(topic) => describe(&topic, node, ctx.version),
                    Err(error) => MetadataResponseTopic::default()
                        .with_error_code(code(error))
                        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
                        .with_topic_id(t.topic_id)
                        .with_topic_authorized_operations(NOT_REQUESTED),
                }
            })
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(node)
                .with_host(StrBytes::from_string(broker.advertised_host.clone()))
                .with_port(broker.advertised_port),
        ])
        .with_cluster_id(Some(StrBytes::from_string(
            broker.topics.cluster_id().to_string(),
        )))
        .with_controller_id(node)
        .with_topics(topics)
        .with_cluster_authorized_operations(NOT_REQUESTED)
}

fn describe(topic: &Topic, node: BrokerId, version: i16) -> MetadataResponseTopic {
    let leader_epoch = if version >= 7 { 0 } else { -1 };
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(node)
                .with_leader_epoch(leader_epoch)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
        .with_topic_authorized_operations(NOT_REQUESTED)
}
