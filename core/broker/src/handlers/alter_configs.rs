//! AlterConfigs (replace a topic's overrides with the given set) and IncrementalAlterConfigs
//! (set or delete single configs). Broker settings are static: changing them is refused.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, alter_configs_response, incremental_alter_configs_response,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::config::TopicOverrides;
use crate::dispatch::Context;
use crate::handlers::create_topics::error_code;
use crate::handlers::describe_configs::{BROKER, TOPIC};

const SET: i8 = 0;
const DELETE: i8 = 1;

pub(crate) fn handle(ctx: &Context, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let outcome = alter(
                &ctx.broker,
                resource.resource_type,
                &resource.resource_name,
                request.validate_only,
                |_| {
                    let mut overrides = TopicOverrides::default();
                    for config in &resource.configs {
                        overrides
                            .set_kafka(&config.name, config.value.as_deref())
                            .map_err(|e| (ResponseError::InvalidConfig, e.to_string()))?;
                    }
                    Ok(overrides)
                },
            );
            let (code, message) = split(outcome);
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

pub(crate) fn handle_incremental(
    ctx: &Context,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let outcome = alter(
                &ctx.broker,
                resource.resource_type,
                &resource.resource_name,
                request.validate_only,
                |current| {
                    let mut overrides = *current;
                    for config in &resource.configs {
                        let value = match config.config_operation {
                            SET => config.value.as_deref(),
                            DELETE => None,
                            _ => {
                                return Err((
                                    ResponseError::InvalidConfig,
                                    format!(
                                        "{} is not a list config; only SET and DELETE apply",
                                        config.name.as_str()
                                    ),
                                ));
                            }
                        };
                        overrides
                            .set_kafka(&config.name, value)
                            .map_err(|e| (ResponseError::InvalidConfig, e.to_string()))?;
                    }
                    Ok(overrides)
                },
            );
            let (code, message) = split(outcome);
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

type Failure = (ResponseError, String);

/// Computes a topic's new overrides from its current ones and applies them (unless only
/// validating).
fn alter(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&TopicOverrides) -> Result<TopicOverrides, Failure>,
) -> Result<(), Failure> {
    match resource_type {
        TOPIC => {}
        BROKER => {
            return Err((
                ResponseError::InvalidRequest,
                "broker settings are static; edit the broker's TOML file".into(),
            ));
        }
        other => {
            return Err((
                ResponseError::InvalidRequest,
                format!("resource type {other} has no configs"),
            ));
        }
    }
    let topic = broker.topics.get(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("topic {name} does not exist"),
        )
    })?;
    let mut overrides = change(&topic.overrides)?;
    // Creation-time settings are not configs; keep them.
    overrides.partitions = topic.overrides.partitions;
    overrides.replication_factor = topic.overrides.replication_factor;
    if validate_only {
        return Ok(());
    }
    if broker.cluster().is_some() {
        // A local change would be overwritten by the metadata log; committing config
        // changes through the controller is not built yet, so say so instead.
        return Err((
            ResponseError::InvalidRequest,
            "changing topic configs in a cluster is not supported yet; set them when \
             creating the topic"
                .into(),
        ));
    }
    broker
        .topics
        .set_overrides(name, overrides)
        .map_err(|e| (error_code(&e), e.to_string()))
}

fn split(outcome: Result<(), Failure>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((error, message)) => (error.code(), Some(StrBytes::from_string(message))),
    }
}
