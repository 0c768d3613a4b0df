//! AlterConfigs (replace a topic's overrides with the given set) and IncrementalAlterConfigs
//! (set or delete single configs). Broker settings are static: changing them is refused.
//! In a cluster a topic's new overrides are committed to the metadata log through the
//! controller, and the answer waits for that.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, alter_configs_response, incremental_alter_configs_response,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

use crate::broker::Broker;
use crate::cluster::command::ClusterCommand;
use crate::config::TopicOverrides;
use crate::dispatch::{Context, Reply, encode_response};
use crate::handlers::create_topics::error_code;
use crate::handlers::describe_configs::{BROKER, TOPIC};

const SET: i8 = 0;
const DELETE: i8 = 1;

pub(crate) fn handle(ctx: Context, request: AlterConfigsRequest) -> Reply {
    let mut deferred = Vec::new();
    let responses = request
        .resources
        .into_iter()
        .enumerate()
        .map(|(i, resource)| {
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
            )
            .and_then(|change| apply(&ctx.broker, change, i, &mut deferred));
            let (code, message) = split(outcome);
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    let response = AlterConfigsResponse::default().with_responses(responses);
    answer(ctx, response, deferred, |r, i, (code, message)| {
        r.responses[i].error_code = code;
        r.responses[i].error_message = message;
    })
}

pub(crate) fn handle_incremental(ctx: Context, request: IncrementalAlterConfigsRequest) -> Reply {
    let mut deferred = Vec::new();
    let responses = request
        .resources
        .into_iter()
        .enumerate()
        .map(|(i, resource)| {
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
            )
            .and_then(|change| apply(&ctx.broker, change, i, &mut deferred));
            let (code, message) = split(outcome);
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    let response = IncrementalAlterConfigsResponse::default().with_responses(responses);
    answer(ctx, response, deferred, |r, i, (code, message)| {
        r.responses[i].error_code = code;
        r.responses[i].error_message = message;
    })
}

type Failure = (ResponseError, String);

/// A topic's new overrides, waiting to be committed through the controller; `index` is the
/// resource's place in the response.
struct Deferred {
    index: usize,
    topic: String,
    overrides: TopicOverrides,
}

/// Applies a change: at once on a single broker, later through the controller in a cluster.
fn apply(
    broker: &Broker,
    change: Option<(String, TopicOverrides)>,
    index: usize,
    deferred: &mut Vec<Deferred>,
) -> Result<(), Failure> {
    let Some((topic, overrides)) = change else {
        return Ok(());
    };
    if broker.cluster().is_some() {
        deferred.push(Deferred {
            index,
            topic,
            overrides,
        });
        return Ok(());
    }
    broker
        .topics
        .set_overrides(&topic, overrides)
        .map_err(|e| (error_code(&e), e.to_string()))
}

/// The response now, or once the deferred changes are committed (their failures patched in
/// by `set_error`).
fn answer<R>(
    ctx: Context,
    mut response: R,
    deferred: Vec<Deferred>,
    set_error: fn(&mut R, usize, (i16, Option<StrBytes>)),
) -> Reply
where
    R: Encodable + HeaderVersion + Send + 'static,
{
    if deferred.is_empty() {
        return ctx.ready(&response);
    }
    Reply::Later(Box::pin(async move {
        for change in deferred {
            let configs = change
                .overrides
                .kafka_entries()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            let command = ClusterCommand::AlterConfigs {
                name: change.topic,
                configs,
            };
            let outcome = match ctx.broker.cluster() {
                Some(node) => match node.controller.propose(command).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(refusal)) => {
                        Err((ResponseError::UnknownTopicOrPartition, refusal.to_string()))
                    }
                    Err(e) => Err((ResponseError::RequestTimedOut, e.to_string())),
                },
                None => Err((ResponseError::InvalidRequest, "not in a cluster".into())),
            };
            if outcome.is_err() {
                set_error(&mut response, change.index, split(outcome));
            }
        }
        encode_response(ctx.correlation_id, ctx.version, &response)
    }))
}

/// Computes a topic's new overrides from its current ones; `None` when only validating.
fn alter(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&TopicOverrides) -> Result<TopicOverrides, Failure>,
) -> Result<Option<(String, TopicOverrides)>, Failure> {
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
        return Ok(None);
    }
    Ok(Some((name.to_string(), overrides)))
}

fn split(outcome: Result<(), Failure>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((error, message)) => (error.code(), Some(StrBytes::from_string(message))),
    }
}
