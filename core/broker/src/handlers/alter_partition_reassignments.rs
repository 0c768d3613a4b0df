//! AlterPartitionReassignments (KIP-455): each named partition gets a target replica list,
//! or `null` to cancel its reassignment in progress. In a cluster every change is committed
//! to the metadata log, where it is checked (known partition, no duplicate, live brokers, the
//! replica count kept unless v1 allows a change) and the controller then adds, catches up and
//! removes replicas; the answer comes once this broker applied it, not once data moved. A
//! single broker has nowhere to move replicas: only its own id is a valid target.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::cluster::command::ClusterCommand;
use crate::dispatch::{Context, Reply, encode_response};
use crate::handlers::cluster_topics::commit;
use crate::handlers::code;

pub(crate) fn handle(ctx: Context, request: AlterPartitionReassignmentsRequest) -> Reply {
    Reply::Later(Box::pin(async move {
        let broker = &ctx.broker;
        // v0 has no such flag: Kafka lets those requests change the replica count.
        let allow_factor_change = ctx.version == 0 || request.allow_replication_factor_change;
        let mut responses = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let name = topic.name.0.to_string();
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for wanted in topic.partitions {
                let target: Option<Vec<i32>> = wanted
                    .replicas
                    .map(|replicas| replicas.iter().map(|b| b.0).collect());
                let outcome = if broker.cluster().is_some() {
                    let command = ClusterCommand::ReassignPartition {
                        topic: name.clone(),
                        partition: wanted.partition_index,
                        target,
                        allow_factor_change,
                    };
                    commit(broker, command).await
                } else {
                    standalone(broker, &name, wanted.partition_index, target.as_deref())
                };
                let result = ReassignablePartitionResponse::default()
                    .with_partition_index(wanted.partition_index);
                partitions.push(match outcome {
                    Ok(()) => result,
                    Err((error, message)) => result
                        .with_error_code(code(error))
                        .with_error_message(Some(StrBytes::from_string(message))),
                });
            }
            responses.push(
                ReassignableTopicResponse::default()
                    .with_name(topic.name)
                    .with_partitions(partitions),
            );
        }
        let response = AlterPartitionReassignmentsResponse::default()
            .with_allow_replication_factor_change(allow_factor_change)
            .with_responses(responses);
        encode_response(ctx.correlation_id, ctx.version, &response)
    }))
}

/// On a single broker: the partition must exist, and the only target is this broker.
fn standalone(
    broker: &Broker,
    topic: &str,
    partition: i32,
    target: Option<&[i32]>,
) -> Result<(), (ResponseError, String)> {
    let exists = broker
        .topics
        .get(topic)
        .is_some_and(|t| t.partition(partition).is_some());
    if !exists {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("{topic}-{partition} does not exist"),
        ));
    }
    let me = broker.config.node_id();
    match target {
        None => Err((
            ResponseError::NoReassignmentInProgress,
            "no reassignment is in progress for this partition".into(),
        )),
        Some([only]) if *only == me => Ok(()),
        Some(_) => Err((
            ResponseError::InvalidReplicaAssignment,
            format!("a single broker: the only replica can be broker {me}"),
        )),
    }
}
