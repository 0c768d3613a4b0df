//! AlterPartitionReassignments and ListPartitionReassignments at every supported version on
//! a single broker: the only valid target is the broker itself, and the error codes are
//! Kafka's (the cluster's own checks are in `cluster::reassignment` and `tests/scaling.rs`).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::*;

use super::{broker, exchange, topic, versions};
use crate::config::TopicOverrides;

/// A topic, a partition, its target replicas (`None` cancels) and the expected error.
type Case = (&'static str, i32, Option<Vec<i32>>, Option<ResponseError>);

#[tokio::test]
async fn reassignments_answer_with_kafkas_codes_at_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    broker
        .topics
        .create("moving", 1, TopicOverrides::default(), false)
        .unwrap();
    let me = broker.config.node_id();
    // The broker itself as the target: nothing to move, no error.
    let cases: [Case; 5] = [
        ("moving", 0, Some(vec![me]), None),
        (
            "moving",
            0,
            Some(vec![me, me + 1]),
            Some(ResponseError::InvalidReplicaAssignment),
        ),
        (
            "moving",
            0,
            None,
            Some(ResponseError::NoReassignmentInProgress),
        ),
        (
            "moving",
            3,
            Some(vec![me]),
            Some(ResponseError::UnknownTopicOrPartition),
        ),
        (
            "absent",
            0,
            Some(vec![me]),
            Some(ResponseError::UnknownTopicOrPartition),
        ),
    ];
    for version in versions(ApiKey::AlterPartitionReassignments) {
        let topics = cases
            .iter()
            .map(|(name, partition, replicas, _)| {
                ReassignableTopic::default()
                    .with_name(topic(name))
                    .with_partitions(vec![
                        ReassignablePartition::default()
                            .with_partition_index(*partition)
                            .with_replicas(
                                replicas
                                    .as_ref()
                                    .map(|r| r.iter().map(|id| BrokerId(*id)).collect()),
                            ),
                    ])
            })
            .collect();
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(topics);
        let response: AlterPartitionReassignmentsResponse = exchange(
            &broker,
            ApiKey::AlterPartitionReassignments,
            version,
            &request,
        )
        .await;
        assert_eq!(response.error_code, 0, "v{version}");
        let codes: Vec<i16> = response
            .responses
            .iter()
            .map(|t| t.partitions[0].error_code)
            .collect();
        let expected: Vec<i16> = cases
            .iter()
            .map(|(_, _, _, e)| e.as_ref().map_or(0, ResponseError::code))
            .collect();
        assert_eq!(codes, expected, "v{version}");
    }
    for version in versions(ApiKey::ListPartitionReassignments) {
        let response: ListPartitionReassignmentsResponse = exchange(
            &broker,
            ApiKey::ListPartitionReassignments,
            version,
            &ListPartitionReassignmentsRequest::default().with_timeout_ms(1000),
        )
        .await;
        assert_eq!(response.error_code, 0, "v{version}");
        assert!(response.topics.is_empty(), "v{version}");
    }
    broker.close().unwrap();
}
