//! Topic configs: the ones in force (DescribeConfigs) and changes to single keys
//! (IncrementalAlterConfigs: set or delete, leaving every other override as it is).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};

use super::{Admin, AdminError, KafkaCode, TopicError, s};

/// Kafka's resource type for topics.
const TOPIC: i8 = 2;
/// IncrementalAlterConfigs' operations.
const SET: i8 = 0;
const DELETE: i8 = 1;

/// Where a config's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic itself.
    Topic,
    /// A broker setting (static or dynamic) the topic inherits.
    Broker,
    /// Kafka's default.
    Default,
    /// A source this client does not know (Kafka's `config_source` number).
    Unknown(i8),
}

impl ConfigSource {
    fn from_wire(source: i8) -> Self {
        match source {
            1 => Self::Topic,
            2..=4 => Self::Broker,
            5 => Self::Default,
            other => Self::Unknown(other),
        }
    }
}

/// One config of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key (`retention.ms`).
    pub name: String,
    /// The value; `None` for a sensitive value or one with no setting.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it can be changed.
    pub read_only: bool,
    /// Whether the value is hidden.
    pub sensitive: bool,
}

/// A change to one topic config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Sets `name` to `value`.
    Set {
        /// The key.
        name: String,
        /// The new value.
        value: String,
    },
    /// Removes the topic's override of `name`: the broker default applies again.
    Delete {
        /// The key.
        name: String,
    },
}

impl ConfigChange {
    /// Sets `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::Set {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Deletes the override of `name`.
    pub fn delete(name: impl Into<String>) -> Self {
        Self::Delete { name: name.into() }
    }
}

fn config_error(resource: &str, code: i16, message: Option<String>) -> Result<(), AdminError> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(ResponseError::UnknownTopicOrPartition) => Err(TopicError::Unknown {
            topic: resource.to_string(),
        }
        .into()),
        Some(error) => Err(AdminError::Config {
            resource: resource.to_string(),
            code: KafkaCode(error),
            message,
        }),
    }
}

impl Admin {
    /// The configs in force for `topic`, sorted by name.
    pub async fn topic_configs(&self, topic: &str) -> Result<Vec<ConfigEntry>, AdminError> {
        let connection = self.cluster.any().await?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s(topic))
                .with_configuration_keys(None),
        ]);
        let response = connection.call(&request).await?;
        let mut out = Vec::new();
        for result in response.results {
            config_error(
                topic,
                result.error_code,
                result.error_message.map(|m| m.to_string()),
            )?;
            out.extend(result.configs.into_iter().map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: ConfigSource::from_wire(c.config_source),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
            }));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Applies `changes` to `topic`'s configs; other overrides stay as they are.
    pub async fn alter_topic_configs(
        &self,
        topic: &str,
        changes: Vec<ConfigChange>,
    ) -> Result<(), AdminError> {
        let connection = self.controller().await?;
        let configs = changes
            .into_iter()
            .map(|change| match change {
                ConfigChange::Set { name, value } => AlterableConfig::default()
                    .with_name(s(&name))
                    .with_config_operation(SET)
                    .with_value(Some(s(&value))),
                ConfigChange::Delete { name } => AlterableConfig::default()
                    .with_name(s(&name))
                    .with_config_operation(DELETE)
                    .with_value(None),
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s(topic))
                .with_configs(configs),
        ]);
        let response = connection.call(&request).await?;
        for r in response.responses {
            config_error(topic, r.error_code, r.error_message.map(|m| m.to_string()))?;
        }
        Ok(())
    }
}
