//! Topics: create (with configs), list, describe (partitions, leaders, replicas, ISR and
//! the configs in force), delete, and grow to more partitions.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataResponse,
    TopicName,
};

use super::{Admin, AdminError, ConfigEntry, TopicError, TopicOutcomes, s};
use crate::error::Error;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The name.
    pub name: String,
    /// The partition count; -1 for the broker's `num.partitions`.
    pub partitions: i32,
    /// How many replicas each partition has; -1 for the broker's default.
    pub replication_factor: i16,
    /// Topic-level configs (`retention.ms`, `cleanup.policy`, …).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions of `replication_factor` replicas each.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication_factor,
            configs: Vec::new(),
        }
    }

    /// With the topic config `key` set to `value`.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The node id.
    pub id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: i32,
}

/// The cluster as its metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id, when the brokers report one.
    pub cluster_id: Option<String>,
    /// The active controller's node id, when there is one.
    pub controller: Option<i32>,
    /// The live brokers, by id.
    pub brokers: Vec<BrokerInfo>,
}

/// One partition of a described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: i32,
    /// The leader's node id, `None` while there is no leader.
    pub leader: Option<i32>,
    /// The nodes holding a replica.
    pub replicas: Vec<i32>,
    /// The replicas in sync with the leader.
    pub isr: Vec<i32>,
}

/// A topic: its partitions and the configs in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The name.
    pub name: String,
    /// Whether it is an internal topic.
    pub internal: bool,
    /// Its partitions, by number.
    pub partitions: Vec<PartitionDescription>,
    /// Its configs, overrides and defaults alike.
    pub configs: Vec<ConfigEntry>,
}

pub(super) fn brokers(metadata: &MetadataResponse) -> Vec<BrokerInfo> {
    let mut out: Vec<BrokerInfo> = metadata
        .brokers
        .iter()
        .map(|b| BrokerInfo {
            id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
        })
        .collect();
    out.sort_by_key(|b| b.id);
    out
}

impl Admin {
    /// Creates `topics`; each topic's outcome is reported separately, and
    /// [`TopicError::AlreadyExists`] tells an existing topic from a failure.
    pub async fn create_topics(&self, topics: Vec<NewTopic>) -> Result<TopicOutcomes, AdminError> {
        let connection = self.controller().await?;
        let version = connection.version(ApiKey::CreateTopics)?;
        let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(
                topics
                    .into_iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(TopicName(s(&t.name)))
                            .with_num_partitions(t.partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(s(k))
                                            .with_value(Some(s(v)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let response = connection.call_at(&request, version).await?;
        Ok(in_order(
            names,
            response.topics.into_iter().map(|t| {
                let name = t.name.0.to_string();
                let outcome = TopicError::from_code(
                    &name,
                    t.error_code,
                    t.error_message.map(|m| m.to_string()),
                );
                (name, outcome)
            }),
        ))
    }

    /// The names of every topic, sorted (internal topics included).
    pub async fn list_topics(&self) -> Result<Vec<String>, AdminError> {
        let metadata = self.metadata(None).await?;
        let mut names: Vec<String> = metadata
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Describes `topics`: partitions with leader, replicas and ISR, and the configs in force.
    /// A topic that does not exist fails the whole call with [`TopicError::Unknown`].
    pub async fn describe_topics(
        &self,
        topics: &[String],
    ) -> Result<Vec<TopicDescription>, AdminError> {
        let metadata = self.metadata(Some(topics)).await?;
        let mut out = Vec::new();
        for name in topics {
            let topic = metadata
                .topics
                .iter()
                .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
                .ok_or_else(|| TopicError::Unknown {
                    topic: name.clone(),
                })?;
            if let Some(e) = TopicError::from_code(name, topic.error_code, None) {
                return Err(e.into());
            }
            let mut partitions: Vec<PartitionDescription> = topic
                .partitions
                .iter()
                .map(|p| PartitionDescription {
                    partition: p.partition_index,
                    leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            out.push(TopicDescription {
                name: name.clone(),
                internal: topic.is_internal,
                partitions,
                configs: self.topic_configs(name).await?,
            });
        }
        Ok(out)
    }

    /// Deletes `topics`, each topic's outcome reported separately.
    pub async fn delete_topics(&self, topics: &[String]) -> Result<TopicOutcomes, AdminError> {
        let connection = self.controller().await?;
        let version = connection.version(ApiKey::DeleteTopics)?;
        let mut request = DeleteTopicsRequest::default().with_timeout_ms(self.timeout_ms());
        if version >= 6 {
            request.topics = topics
                .iter()
                .map(|t| DeleteTopicState::default().with_name(Some(TopicName(s(t)))))
                .collect();
        } else {
            request.topic_names = topics.iter().map(|t| TopicName(s(t))).collect();
        }
        let response = connection.call_at(&request, version).await?;
        Ok(in_order(
            topics.to_vec(),
            response.responses.into_iter().filter_map(|r| {
                let name = r.name?.0.to_string();
                let outcome = TopicError::from_code(
                    &name,
                    r.error_code,
                    r.error_message.map(|m| m.to_string()),
                );
                Some((name, outcome))
            }),
        ))
    }

    /// Grows `topic` to `total` partitions (Kafka never shrinks a topic).
    pub async fn create_partitions(&self, topic: &str, total: i32) -> Result<(), AdminError> {
        let connection = self.controller().await?;
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_count(total),
            ]);
        let response = connection.call(&request).await?;
        let result = response
            .results
            .into_iter()
            .find(|r| r.name.0.as_str() == topic)
            .ok_or_else(|| Error::Codec {
                api: "CreatePartitions",
                version: -1,
                reason: format!("no result for topic {topic:?}"),
            })?;
        match TopicError::from_code(
            topic,
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        ) {
            None => Ok(()),
            Some(e) => Err(e.into()),
        }
    }
}

/// Each asked-for name with its outcome, in request order; a name the broker did not answer
/// for is reported as unknown.
fn in_order(
    names: Vec<String>,
    answers: impl Iterator<Item = (String, Option<TopicError>)>,
) -> TopicOutcomes {
    let mut answers: Vec<(String, Option<TopicError>)> = answers.collect();
    names
        .into_iter()
        .map(|name| {
            let outcome = match answers.iter().position(|(n, _)| *n == name) {
                Some(i) => match answers.swap_remove(i).1 {
                    None => Ok(()),
                    Some(e) => Err(e),
                },
                None => Err(TopicError::Unknown {
                    topic: name.clone(),
                }),
            };
            (name, outcome)
        })
        .collect()
}
