//! Partition reassignments (KIP-455): move partitions to new replica lists, cancel a move,
//! and list the moves in progress. The cluster adds the new replicas, lets them catch up,
//! then removes the old ones; the request returns once the move is accepted, not done.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, TopicName,
};

use super::error::detail;
use super::{Admin, AdminError, KafkaCode, s};

/// A partition to move, or whose move to cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The target replicas, the first the preferred leader; `None` cancels the move in
    /// progress.
    pub replicas: Option<Vec<i32>>,
}

impl Reassignment {
    /// Moves `topic`/`partition` to `replicas`.
    pub fn to(topic: impl Into<String>, partition: i32, replicas: Vec<i32>) -> Self {
        Self {
            topic: topic.into(),
            partition,
            replicas: Some(replicas),
        }
    }

    /// Cancels the move of `topic`/`partition` in progress.
    pub fn cancel(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
            replicas: None,
        }
    }
}

/// The broker refused one partition's reassignment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{topic}-{partition}: {code}{}", detail(message))]
pub struct PartitionRefusal {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The Kafka error code (`INVALID_REPLICA_ASSIGNMENT`, `UNKNOWN_TOPIC_OR_PARTITION`,
    /// `NO_REASSIGNMENT_IN_PROGRESS`, …).
    pub code: KafkaCode,
    /// The broker's explanation, when it gave one.
    pub message: Option<String>,
}

/// A partition being moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Its replicas now: the target, then those being removed.
    pub replicas: Vec<i32>,
    /// The replicas being added (catching up).
    pub adding: Vec<i32>,
    /// The replicas that leave once the added ones are in sync.
    pub removing: Vec<i32>,
}

impl Admin {
    /// Starts (or cancels) the given reassignments; each partition's outcome is reported
    /// separately, in request order.
    pub async fn alter_partition_reassignments(
        &self,
        moves: &[Reassignment],
    ) -> Result<Vec<(Reassignment, Result<(), PartitionRefusal>)>, AdminError> {
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for m in moves {
            let partition = ReassignablePartition::default()
                .with_partition_index(m.partition)
                .with_replicas(
                    m.replicas
                        .as_ref()
                        .map(|r| r.iter().map(|id| BrokerId(*id)).collect()),
                );
            match topics.iter_mut().find(|t| t.name.0.as_str() == m.topic) {
                Some(topic) => topic.partitions.push(partition),
                None => topics.push(
                    ReassignableTopic::default()
                        .with_name(TopicName(s(&m.topic)))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_allow_replication_factor_change(true)
            .with_topics(topics);
        let response = self.controller().await?.call(&request).await?;
        let whole = ResponseError::try_from_code(response.error_code);
        Ok(moves
            .iter()
            .map(|m| {
                let answer = response
                    .responses
                    .iter()
                    .find(|t| t.name.0.as_str() == m.topic)
                    .and_then(|t| {
                        t.partitions
                            .iter()
                            .find(|p| p.partition_index == m.partition)
                    });
                let (code, message) = match (whole, answer) {
                    (Some(error), _) => (
                        Some(error),
                        response.error_message.as_ref().map(|m| m.to_string()),
                    ),
                    (None, Some(p)) => (
                        ResponseError::try_from_code(p.error_code),
                        p.error_message.as_ref().map(|m| m.to_string()),
                    ),
                    (None, None) => (
                        Some(ResponseError::UnknownTopicOrPartition),
                        Some("the broker did not answer for this partition".into()),
                    ),
                };
                let outcome = match code {
                    None => Ok(()),
                    Some(error) => Err(PartitionRefusal {
                        topic: m.topic.clone(),
                        partition: m.partition,
                        code: KafkaCode(error),
                        message,
                    }),
                };
                (m.clone(), outcome)
            })
            .collect())
    }

    /// The reassignments in progress, by topic and partition.
    pub async fn list_partition_reassignments(
        &self,
    ) -> Result<Vec<PartitionReassignment>, AdminError> {
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(None);
        let response = self.controller().await?.call(&request).await?;
        if let Some(error) = ResponseError::try_from_code(response.error_code) {
            return Err(AdminError::Partition {
                topic: "*".into(),
                partition: -1,
                code: KafkaCode(error),
            });
        }
        let ids = |ids: &[BrokerId]| ids.iter().map(|b| b.0).collect::<Vec<_>>();
        let mut out: Vec<PartitionReassignment> = response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| PartitionReassignment {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    replicas: ids(&p.replicas),
                    adding: ids(&p.adding_replicas),
                    removing: ids(&p.removing_replicas),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }
}
