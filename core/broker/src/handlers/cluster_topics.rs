//! CreateTopics, DeleteTopics and CreatePartitions in a cluster: each change is committed to
//! the metadata log through the controller (the Raft leader assigns replicas over the live
//! brokers), and answered once this broker has applied it. Topic auto-creation proposes the
//! topic and answers LEADER_NOT_AVAILABLE meanwhile, as Kafka does; clients retry.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::broker::Broker;
use crate::cluster::command::{ClusterCommand, Refusal};
use crate::config::TopicOverrides;
use crate::dispatch::{Context, Reply, encode_response};
use crate::handlers::code;
use crate::handlers::group_codes::now_ms;

/// Commits `command`; the Kafka error and message when it did not take effect.
pub(crate) async fn commit(
    broker: &Broker,
    command: ClusterCommand,
) -> Result<(), (ResponseError, String)> {
    let Some(node) = broker.cluster() else {
        return Err((ResponseError::NotController, "not in a cluster".into()));
    };
    match node.controller.propose(command).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refusal)) => Err((refusal_code(&refusal), refusal.to_string())),
        Err(e) => Err((ResponseError::RequestTimedOut, e.to_string())),
    }
}

pub(crate) fn refusal_code(refusal: &Refusal) -> ResponseError {
    match refusal {
        Refusal::TopicExists(_) => ResponseError::TopicAlreadyExists,
        Refusal::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        Refusal::PartitionCount(_) => ResponseError::InvalidPartitions,
        Refusal::ReplicationFactor { .. } | Refusal::FactorChange { .. } => {
            ResponseError::InvalidReplicationFactor
        }
        Refusal::UnknownPartition { .. } => ResponseError::UnknownTopicOrPartition,
        Refusal::InvalidAssignment(_) => ResponseError::InvalidReplicaAssignment,
        Refusal::NoReassignment => ResponseError::NoReassignmentInProgress,
        Refusal::StaleCoordinator(_) => ResponseError::CoordinatorNotAvailable,
        Refusal::UnknownBroker(_) | Refusal::StaleIsr | Refusal::InvalidIsr => {
            ResponseError::InvalidRequest
        }
    }
}

/// A topic to create: its new id, partitions and replication factor.
struct NewTopic {
    id: Uuid,
    partitions: u32,
    replication_factor: u16,
}

/// The command that creates `name` with the broker's defaults and its TOML overrides.
fn create_command(
    broker: &Broker,
    name: &str,
    partitions: Option<u32>,
    replication_factor: Option<u16>,
    overrides: &TopicOverrides,
) -> (NewTopic, ClusterCommand) {
    let topic = NewTopic {
        id: Uuid::new_v4(),
        partitions: partitions
            .or(overrides.partitions)
            .unwrap_or(broker.config.num_partitions()),
        replication_factor: replication_factor
            .or(overrides.replication_factor)
            .unwrap_or(broker.config.default_replication_factor()),
    };
    let command = ClusterCommand::CreateTopic {
        name: name.to_string(),
        id: topic.id,
        partitions: topic.partitions,
        replication_factor: topic.replication_factor,
        configs: overrides
            .kafka_entries()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    };
    (topic, command)
}

/// Proposes an auto-created topic in the background.
pub(crate) fn auto_create(broker: &Arc<Broker>, name: &str) -> ResponseError {
    if weir_log::validate_topic_name(name).is_err() {
        return ResponseError::InvalidTopicException;
    }
    let overrides = broker.config.topic(name).copied().unwrap_or_default();
    let (_, command) = create_command(broker, name, None, None, &overrides);
    let broker = Arc::clone(broker);
    let topic = name.to_string();
    tokio::spawn(async move {
        match commit(&broker, command).await {
            Ok(()) => tracing::info!(%topic, "auto-created topic"),
            Err((ResponseError::TopicAlreadyExists, _)) => {}
            Err((_, message)) => tracing::warn!(%topic, %message, "auto-creating a topic failed"),
        }
    });
    ResponseError::LeaderNotAvailable
}

pub(crate) fn create_topics(ctx: Context, request: CreateTopicsRequest) -> Reply {
    Reply::Later(Box::pin(async move {
        let broker = &ctx.broker;
        let mut results = Vec::with_capacity(request.topics.len());
        for wanted in request.topics {
            let result = CreatableTopicResult::default()
                .with_name(wanted.name.clone())
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            let name = wanted.name.0.to_string();
            let outcome = async {
                weir_log::validate_topic_name(&name)
                    .map_err(|e| (ResponseError::InvalidTopicException, e.to_string()))?;
                let mut overrides = broker.config.topic(&name).copied().unwrap_or_default();
                for config in &wanted.configs {
                    overrides
                        .set_kafka(&config.name, config.value.as_deref())
                        .map_err(|e| (ResponseError::InvalidConfig, e.to_string()))?;
                }
                let partitions = match wanted.num_partitions {
                    -1 => None,
                    n if n > 0 => Some(n as u32),
                    n => {
                        return Err((
                            ResponseError::InvalidPartitions,
                            format!("partition count {n} must be positive"),
                        ));
                    }
                };
                let factor = match wanted.replication_factor {
                    -1 => None,
                    n if n > 0 => Some(n as u16),
                    n => {
                        return Err((
                            ResponseError::InvalidReplicationFactor,
                            format!("replication factor {n} must be positive"),
                        ));
                    }
                };
                let (topic, command) =
                    create_command(broker, &name, partitions, factor, &overrides);
                let (id, partitions, factor) =
                    (topic.id, topic.partitions, topic.replication_factor);
                if request.validate_only {
                    let live = broker
                        .cluster()
                        .map_or(0, |n| n.controller.state().live_brokers().len());
                    if usize::from(factor) > live {
                        return Err((
                            ResponseError::InvalidReplicationFactor,
                            Refusal::ReplicationFactor {
                                requested: factor,
                                live,
                            }
                            .to_string(),
                        ));
                    }
                } else {
                    commit(broker, command).await?;
                }
                Ok((id, partitions, factor))
            }
            .await;
            results.push(match outcome {
                Ok((id, partitions, factor)) => result
                    .with_topic_id(id)
                    .with_num_partitions(partitions as i32)
                    .with_replication_factor(factor as i16),
                Err((error, message)) => result
                    .with_error_code(code(error))
                    .with_error_message(Some(StrBytes::from_string(message))),
            });
        }
        let response = CreateTopicsResponse::default().with_topics(results);
        encode_response(ctx.correlation_id, ctx.version, &response)
    }))
}

pub(crate) fn delete_topics(ctx: Context, request: DeleteTopicsRequest) -> Reply {
    Reply::Later(Box::pin(async move {
        let broker = &ctx.broker;
        let state = broker.cluster().map(|n| n.controller.state());
        let mut wanted: Vec<(Option<String>, Uuid)> = request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect();
        wanted.extend(
            request
                .topics
                .iter()
                .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)),
        );
        let mut responses = Vec::with_capacity(wanted.len());
        for (name, id) in wanted {
            let name = name.or_else(|| {
                state.as_ref().and_then(|s| {
                    s.topics
                        .iter()
                        .find(|(_, t)| t.id == id)
                        .map(|(n, _)| n.clone())
                })
            });
            let result = DeletableTopicResult::default()
                .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
                .with_topic_id(id);
            let outcome = match name {
                None => Err((ResponseError::UnknownTopicId, String::new())),
                Some(name) if name.starts_with("__") => Err((
                    ResponseError::InvalidTopicException,
                    "internal topic".into(),
                )),
                Some(name) => {
                    let done =
                        commit(broker, ClusterCommand::DeleteTopic { name: name.clone() }).await;
                    if done.is_ok()
                        && let Err(error) = broker.groups.forget_topic(&name, now_ms())
                    {
                        tracing::error!(topic = name, %error, "forgetting the committed offsets of a deleted topic failed");
                    }
                    done
                }
            };
            responses.push(match outcome {
                Ok(()) => result,
                Err((error, _)) => result.with_error_code(code(error)),
            });
        }
        let response = DeleteTopicsResponse::default().with_responses(responses);
        encode_response(ctx.correlation_id, ctx.version, &response)
    }))
}

pub(crate) fn create_partitions(ctx: Context, request: CreatePartitionsRequest) -> Reply {
    Reply::Later(Box::pin(async move {
        let broker = &ctx.broker;
        let mut results = Vec::with_capacity(request.topics.len());
        for wanted in request.topics {
            let result = CreatePartitionsTopicResult::default().with_name(wanted.name.clone());
            let name = wanted.name.0.to_string();
            let outcome = if wanted.assignments.is_some() {
                Err((
                    ResponseError::InvalidReplicaAssignment,
                    "explicit replica assignments are not supported; the controller assigns"
                        .to_string(),
                ))
            } else if wanted.count <= 0 {
                Err((
                    ResponseError::InvalidPartitions,
                    format!("partition count {} must be positive", wanted.count),
                ))
            } else if request.validate_only {
                Ok(())
            } else {
                commit(
                    broker,
                    ClusterCommand::CreatePartitions {
                        name,
                        count: wanted.count as u32,
                    },
                )
                .await
            };
            results.push(match outcome {
                Ok(()) => result,
                Err((error, message)) => result
                    .with_error_code(code(error))
                    .with_error_message(Some(StrBytes::from_string(message))),
            });
        }
        let response = CreatePartitionsResponse::default().with_results(results);
        encode_response(ctx.correlation_id, ctx.version, &response)
    }))
}
