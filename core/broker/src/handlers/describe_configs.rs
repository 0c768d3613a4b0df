//! DescribeConfigs: a topic's configs in force (its overrides, else the broker's defaults)
//! with where each comes from, and the broker's own static settings.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::dispatch::Context;
use crate::handlers::code;

/// Kafka's resource types.
pub(crate) const TOPIC: i8 = 2;
pub(crate) const BROKER: i8 = 4;
/// Kafka's config sources.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

pub(crate) fn handle(ctx: &Context, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let entries = match resource.resource_type {
                TOPIC => match topic_configs(&ctx.broker, &resource.resource_name) {
                    Some(entries) => entries,
                    None => {
                        return result
                            .with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    }
                },
                BROKER => broker_configs(&ctx.broker),
                _ => return result.with_error_code(code(ResponseError::InvalidRequest)),
            };
            let wanted = resource.configuration_keys.as_ref();
            let configs = entries
                .into_iter()
                .filter(|(name, ..)| {
                    wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == *name))
                })
                .map(|(name, value, source, read_only)| {
                    let mut config = DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str(name))
                        .with_value(Some(StrBytes::from_string(value)))
                        .with_read_only(read_only)
                        .with_config_source(source);
                    if ctx.version >= 3 {
                        config.config_type = config_type(name);
                    }
                    config
                })
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

type Entry = (&'static str, String, i8, bool);

fn topic_configs(broker: &Broker, name: &str) -> Option<Vec<Entry>> {
    let topic = broker.topics.get(name)?;
    let set: Vec<(&'static str, String)> = topic.overrides.kafka_entries();
    let defaults = crate::config::TopicOverrides::defaults(
        broker.topics.base_config(),
        broker.config.min_insync_replicas(),
    );
    let entries: Vec<Entry> = defaults
        .kafka_entries()
        .into_iter()
        .map(
            |(name, default)| match set.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => (name, value.clone(), DYNAMIC_TOPIC_CONFIG, false),
                None => (name, default, DEFAULT_CONFIG, false),
            },
        )
        .collect();
    Some(entries)
}

fn broker_configs(broker: &Broker) -> Vec<Entry> {
    let config = &broker.config;
    let dirs: Vec<String> = config
        .log_dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    let log = config.log_config();
    let statik = |name, value: String| (name, value, STATIC_BROKER_CONFIG, true);
    vec![
        statik("broker.id", config.node_id().to_string()),
        statik("log.dirs", dirs.join(",")),
        statik("num.partitions", config.num_partitions().to_string()),
        statik(
            "auto.create.topics.enable",
            config.auto_create_topics().to_string(),
        ),
        statik("log.segment.bytes", log.segment_bytes.to_string()),
        statik(
            "log.retention.ms",
            log.retention
                .map_or(-1, |d| d.as_millis() as i64)
                .to_string(),
        ),
        statik(
            "log.retention.bytes",
            log.retention_bytes.map_or(-1, |b| b as i64).to_string(),
        ),
        statik("message.max.bytes", log.max_batch_bytes.to_string()),
        statik(
            "min.insync.replicas",
            config.min_insync_replicas().to_string(),
        ),
        statik(
            "socket.request.max.bytes",
            config.socket_request_max_bytes().to_string(),
        ),
    ]
}

/// Kafka's config types: 1 boolean, 2 string, 3 int, 5 long.
fn config_type(name: &str) -> i8 {
    match name {
        "unclean.leader.election.enable" | "auto.create.topics.enable" => 1,
        "flush" | "acks" | "cleanup.policy" | "log.dirs" => 2,
        "segment.bytes"
        | "index.interval.bytes"
        | "max.message.bytes"
        | "min.insync.replicas"
        | "num.partitions"
        | "broker.id"
        | "log.segment.bytes"
        | "message.max.bytes"
        | "socket.request.max.bytes" => 3,
        _ => 5,
    }
}
