//! CreateTopics: creates each topic with its partition count and configs, or says why not
//! (name, existing topic, config, replication factor); `validate_only` checks without
//! creating.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::config::TopicOverrides;
use crate::dispatch::Context;
use crate::handlers::code;
use crate::topics::TopicError;

/// Kafka's config source for a dynamic topic config.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;

pub(crate) fn handle(ctx: &Context, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let broker = &ctx.broker;
    let topics = request
        .topics
        .into_iter()
        .map(|wanted| {
            let result = CreatableTopicResult::default()
                .with_name(wanted.name.clone())
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            let fail = |error: ResponseError, message: String| {
                result
                    .clone()
                    .with_error_code(code(error))
                    .with_error_message(Some(StrBytes::from_string(message)))
            };
            let name = wanted.name.0.to_string();
            let replication = i32::from(wanted.replication_factor);
            if replication != -1 && replication != 1 {
                return fail(
                    ResponseError::InvalidReplicationFactor,
                    TopicError::InvalidReplicationFactor(replication).to_string(),
                );
            }
            let mut overrides = broker.config.topic(&name).copied().unwrap_or_default();
            for config in &wanted.configs {
                if let Err(e) = overrides.set_kafka(&config.name, config.value.as_deref()) {
                    return fail(ResponseError::InvalidConfig, e.to_string());
                }
            }
            let partitions = match (wanted.num_partitions, wanted.assignments.len()) {
                (-1, 0) => overrides
                    .partitions
                    .unwrap_or(broker.config.num_partitions()),
                (-1, assigned) => assigned as u32,
                (n, _) if n > 0 => n as u32,
                (n, _) => {
                    return fail(
                        ResponseError::InvalidPartitions,
                        format!("partition count {n} must be positive"),
                    );
                }
            };
            match broker
                .topics
                .create(&name, partitions, overrides, request.validate_only)
            {
                Ok(topic) => result
                    .with_topic_id(topic.id)
                    .with_num_partitions(partitions as i32)
                    .with_replication_factor(1)
                    .with_configs(Some(configs(&topic.overrides))),
                Err(e) => fail(error_code(&e), e.to_string()),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn configs(overrides: &TopicOverrides) -> Vec<CreatableTopicConfigs> {
    overrides
        .kafka_entries()
        .into_iter()
        .map(|(name, value)| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(name))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(DYNAMIC_TOPIC_CONFIG)
        })
        .collect()
}

pub(crate) fn error_code(error: &TopicError) -> ResponseError {
    match error {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::Storage(_) | TopicError::Metadata(_) => ResponseError::KafkaStorageError,
    }
}
