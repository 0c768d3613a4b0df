//! Every group API at every supported version through the dispatcher: one member per group
//! (so nothing waits), each response decoded with the client codec.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{exchange, topic, versions};
use crate::broker::Broker;
use crate::config::{BrokerConfig, TopicOverrides};

fn broker(dir: &std::path::Path) -> Arc<Broker> {
    let text = format!(
        "[broker]\nlog_dirs = [\"{}\"]\nadvertised_listeners = [\"localhost:9093\"]\n\
         group_initial_rebalance_delay_ms = 0\n",
        dir.join("data").display()
    );
    let source = weir_config::Source::new(dir.join("weir.toml"), text);
    Broker::open(BrokerConfig::parse(&source).unwrap()).unwrap()
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn group(s: &str) -> GroupId {
    GroupId(text(s))
}

/// Joins `group_id` alone with JoinGroup `version` (rejoining after MEMBER_ID_REQUIRED);
/// returns the member id and generation.
async fn join(broker: &Arc<Broker>, group_id: &str, version: i16) -> (StrBytes, i32) {
    let mut request = JoinGroupRequest::default()
        .with_group_id(group(group_id))
        .with_session_timeout_ms(10_000)
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(Bytes::from_static(b"subscription")),
        ]);
    if version >= 1 {
        request.rebalance_timeout_ms = 10_000;
    }
    let mut response: JoinGroupResponse =
        exchange(broker, ApiKey::JoinGroup, version, &request).await;
    if version >= 4 {
        assert_eq!(
            response.error_code,
            ResponseError::MemberIdRequired.code(),
            "v{version}"
        );
        request.member_id = response.member_id.clone();
        response = exchange(broker, ApiKey::JoinGroup, version, &request).await;
    }
    assert_eq!(response.error_code, 0, "JoinGroup v{version}");
    assert_eq!(response.generation_id, 1, "v{version}");
    assert_eq!(response.leader, response.member_id, "v{version}");
    assert_eq!(response.members.len(), 1, "v{version}");
    assert_eq!(
        response.protocol_name.as_deref(),
        Some("range"),
        "v{version}"
    );
    (response.member_id, response.generation_id)
}

/// Joins and syncs `group_id` alone; returns the member id.
async fn stable(broker: &Arc<Broker>, group_id: &str, sync_version: i16) -> StrBytes {
    let (member_id, generation) = join(broker, group_id, 5).await;
    let mut request = SyncGroupRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id(generation)
        .with_member_id(member_id.clone())
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(member_id.clone())
                .with_assignment(Bytes::from_static(b"everything")),
        ]);
    if sync_version >= 5 {
        request.protocol_type = Some(text("consumer"));
        request.protocol_name = Some(text("range"));
    }
    let response: SyncGroupResponse =
        exchange(broker, ApiKey::SyncGroup, sync_version, &request).await;
    assert_eq!(response.error_code, 0, "SyncGroup v{sync_version}");
    assert_eq!(&response.assignment[..], b"everything");
    member_id
}

#[tokio::test]
async fn every_group_api_version_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    broker
        .topics
        .create("events", 2, TopicOverrides::default(), false)
        .unwrap();

    for version in versions(ApiKey::FindCoordinator) {
        for key_type in [0i8, 1] {
            let mut request = FindCoordinatorRequest::default();
            if version >= 4 {
                request.coordinator_keys = vec![text("g")];
            } else {
                request.key = text("g");
            }
            if version >= 1 {
                request.key_type = key_type;
            } else if key_type == 1 {
                continue;
            }
            let response: FindCoordinatorResponse =
                exchange(&broker, ApiKey::FindCoordinator, version, &request).await;
            let (error, port) = match response.coordinators.first() {
                Some(c) => (c.error_code, c.port),
                None => (response.error_code, response.port),
            };
            if key_type == 0 {
                assert_eq!((error, port), (0, 9093), "v{version}");
            } else {
                assert_eq!(error, ResponseError::CoordinatorNotAvailable.code());
            }
        }
    }

    for version in versions(ApiKey::JoinGroup) {
        join(&broker, &format!("joined-{version}"), version).await;
    }

    let mut members = Vec::new();
    for version in versions(ApiKey::SyncGroup) {
        let group_id = format!("stable-{version}");
        members.push((group_id.clone(), stable(&broker, &group_id, version).await));
    }

    for version in versions(ApiKey::Heartbeat) {
        let (group_id, member_id) = &members[0];
        let request = HeartbeatRequest::default()
            .with_group_id(group(group_id))
            .with_generation_id(1)
            .with_member_id(member_id.clone());
        let response: HeartbeatResponse =
            exchange(&broker, ApiKey::Heartbeat, version, &request).await;
        assert_eq!(response.error_code, 0, "v{version}");
    }

    for version in versions(ApiKey::OffsetCommit) {
        let partition = |index: i32| {
            let mut p = offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(index)
                .with_committed_offset(10 + i64::from(version))
                .with_committed_metadata(Some(text("meta")));
            if version >= 6 {
                p.committed_leader_epoch = 3;
            }
            p
        };
        let request = OffsetCommitRequest::default()
            .with_group_id(group("committer"))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic("events"))
                    .with_partitions(vec![partition(0), partition(7)]),
            ]);
        let response: OffsetCommitResponse =
            exchange(&broker, ApiKey::OffsetCommit, version, &request).await;
        let errors: Vec<i16> = response.topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect();
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(errors, vec![0, unknown], "v{version}");
    }

    for version in versions(ApiKey::OffsetFetch) {
        let wanted = Some(vec![(topic("events"), vec![0, 1])]);
        let everything = None;
        for topics in [wanted, everything] {
            if version < 2 && topics.is_none() {
                continue;
            }
            let all = topics.is_none();
            let mut request = OffsetFetchRequest::default();
            if version >= 8 {
                request.groups = vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(group("committer"))
                        .with_topics(topics.map(|t| {
                            t.into_iter()
                                .map(|(name, partitions)| {
                                    offset_fetch_request::OffsetFetchRequestTopics::default()
                                        .with_name(name)
                                        .with_partition_indexes(partitions)
                                })
                                .collect()
                        })),
                ];
            } else {
                request.group_id = group("committer");
                request.topics = topics.map(|t| {
                    t.into_iter()
                        .map(|(name, partitions)| {
                            offset_fetch_request::OffsetFetchRequestTopic::default()
                                .with_name(name)
                                .with_partition_indexes(partitions)
                        })
                        .collect()
                });
            }
            let response: OffsetFetchResponse =
                exchange(&broker, ApiKey::OffsetFetch, version, &request).await;
            let offsets: Vec<(i32, i64)> = if version >= 8 {
                response.groups[0].topics[0]
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset))
                    .collect()
            } else {
                response.topics[0]
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset))
                    .collect()
            };
            let expected = if all {
                vec![(0, 18)]
            } else {
                vec![(0, 18), (1, -1)]
            };
            assert_eq!(offsets, expected, "v{version} all={all}");
        }
    }

    for version in versions(ApiKey::ListGroups) {
        let mut request = ListGroupsRequest::default();
        if version >= 4 {
            request.states_filter = vec![text("stable")];
        }
        let response: ListGroupsResponse =
            exchange(&broker, ApiKey::ListGroups, version, &request).await;
        let listed: Vec<&str> = response
            .groups
            .iter()
            .map(|g| g.group_id.as_str())
            .collect();
        assert!(listed.contains(&"stable-0"), "v{version}: {listed:?}");
        assert_eq!(listed.contains(&"committer"), version < 4, "v{version}");
    }

    for version in versions(ApiKey::DescribeGroups) {
        let request =
            DescribeGroupsRequest::default().with_groups(vec![group("stable-0"), group("nobody")]);
        let response: DescribeGroupsResponse =
            exchange(&broker, ApiKey::DescribeGroups, version, &request).await;
        let stable = &response.groups[0];
        assert_eq!(stable.group_state.as_str(), "Stable", "v{version}");
        assert_eq!(stable.protocol_data.as_str(), "range");
        assert_eq!(stable.members.len(), 1);
        assert_eq!(stable.members[0].client_id.as_str(), "wire-test");
        assert_eq!(stable.members[0].client_host.as_str(), "/127.0.0.1");
        assert_eq!(&stable.members[0].member_assignment[..], b"everything");
        assert_eq!(response.groups[1].group_state.as_str(), "Dead");
    }

    for (version, (group_id, member_id)) in versions(ApiKey::LeaveGroup).zip(&members) {
        let mut request = LeaveGroupRequest::default().with_group_id(group(group_id));
        if version >= 3 {
            request.members = vec![
                leave_group_request::MemberIdentity::default().with_member_id(member_id.clone()),
            ];
        } else {
            request.member_id = member_id.clone();
        }
        let response: LeaveGroupResponse =
            exchange(&broker, ApiKey::LeaveGroup, version, &request).await;
        assert_eq!(response.error_code, 0, "v{version}");
        assert!(response.members.iter().all(|m| m.error_code == 0));
    }

    for version in versions(ApiKey::OffsetDelete) {
        let request = OffsetDeleteRequest::default()
            .with_group_id(group("committer"))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic("events"))
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(0),
                    ]),
            ]);
        let response: OffsetDeleteResponse =
            exchange(&broker, ApiKey::OffsetDelete, version, &request).await;
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(response.topics[0].partitions[0].error_code, 0);
    }

    for version in versions(ApiKey::DeleteGroups) {
        let doomed = format!("doomed-{version}");
        let offset = crate::group::CommittedOffset {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
        };
        let partition = crate::group::PartitionId {
            topic: "events".into(),
            partition: 1,
        };
        let durable = broker
            .groups
            .commit(&doomed, "", None, -1, vec![(partition, offset)], 0)
            .unwrap();
        durable.wait().await.unwrap();
        let request = DeleteGroupsRequest::default().with_groups_names(vec![
            group(&doomed),
            group("nobody"),
            group(&format!("joined-{version}")),
        ]);
        let response: DeleteGroupsResponse =
            exchange(&broker, ApiKey::DeleteGroups, version, &request).await;
        let errors: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        let expected = vec![
            0,
            ResponseError::GroupIdNotFound.code(),
            ResponseError::NonEmptyGroup.code(),
        ];
        assert_eq!(errors, expected, "v{version}");
    }
    broker.close().unwrap();
}
