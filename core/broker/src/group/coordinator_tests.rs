//! The coordinator on a real `Broker` in a temporary directory: held requests, the timer,
//! and committed offsets that survive a restart.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::broker::Broker;
use crate::config::{BrokerConfig, TopicOverrides};
use crate::group::join::JoinRequest;
use crate::group::member::{MemberInfo, Protocol};
use crate::group::membership::{LeavingMember, SyncRequest};
use crate::group::offset_record::CommittedOffset;
use crate::group::offsets::PartitionId;
use crate::group::results::{GroupError, JoinResult, SyncResult};
use crate::group::{GroupCoordinator, Pending};

const SESSION: Duration = Duration::from_millis(500);

fn open(dir: &std::path::Path) -> Arc<Broker> {
    let text = format!(
        "[broker]\nlog_dirs = [\"{}\"]\ngroup_initial_rebalance_delay_ms = 0\n\
         group_min_session_timeout_ms = 100\n",
        dir.join("data").display()
    );
    let source = weir_config::Source::new(dir.join("weir.toml"), text);
    Broker::open(BrokerConfig::parse(&source).unwrap()).unwrap()
}

fn with_topics(dir: &std::path::Path) -> Arc<Broker> {
    let broker = open(dir);
    for name in ["events", "other"] {
        broker
            .topics
            .create(name, 2, TopicOverrides::default(), false)
            .unwrap();
    }
    broker
}

fn partition(topic: &str, partition: i32) -> PartitionId {
    PartitionId {
        topic: topic.into(),
        partition,
    }
}

fn offset(offset: i64, metadata: &str) -> CommittedOffset {
    CommittedOffset {
        offset,
        leader_epoch: 2,
        metadata: metadata.into(),
        commit_timestamp_ms: 1_000,
    }
}

async fn commit(
    groups: &GroupCoordinator,
    group: &str,
    offsets: Vec<(PartitionId, CommittedOffset)>,
) {
    let durable = groups.commit(group, "", None, -1, offsets, 1_000).unwrap();
    durable.wait().await.unwrap();
}

/// Consumer-protocol metadata subscribing to `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let subscription = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.to_string()))
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    subscription.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

fn join_request(member_id: &str, new_id: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.into(),
        instance_id: None,
        protocol_type: "consumer".into(),
        info: MemberInfo {
            client_id: "test".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: SESSION,
            rebalance_timeout: Duration::from_secs(2),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: subscription(&["events"]),
            }],
        },
        require_known_member_id: false,
        supports_skip_assignment: false,
        new_member_id: new_id.into(),
    }
}

fn sync_request(member_id: &str, generation: i32, assignments: &[&str]) -> SyncRequest {
    SyncRequest {
        member_id: member_id.into(),
        instance_id: None,
        generation_id: generation,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|m| (m.to_string(), Bytes::from(format!("for {m}"))))
            .collect(),
    }
}

async fn joined(pending: Pending<JoinResult>) -> JoinResult {
    pending
        .resolve(|| panic!("the held join was dropped"))
        .await
}

async fn synced(pending: Pending<SyncResult>) -> SyncResult {
    pending
        .resolve(|| panic!("the held sync was dropped"))
        .await
}

/// `m1` alone, stable at generation 1.
async fn stable_m1(groups: &Arc<GroupCoordinator>) {
    let first = joined(groups.join("g", join_request("", "m1"))).await;
    assert_eq!((first.generation_id, first.leader.as_str()), (1, "m1"));
    synced(groups.sync("g", sync_request("m1", 1, &["m1"])))
        .await
        .unwrap();
}

#[tokio::test]
async fn committed_offsets_and_deletions_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = with_topics(dir.path());
    let groups = &broker.groups;
    commit(
        groups,
        "a",
        vec![
            (partition("events", 0), offset(5, "x")),
            (partition("events", 1), offset(7, "")),
        ],
    )
    .await;
    commit(
        groups,
        "a",
        vec![(partition("events", 0), offset(9, "later"))],
    )
    .await;
    commit(groups, "b", vec![(partition("other", 0), offset(1, ""))]).await;
    commit(groups, "c", vec![(partition("other", 1), offset(3, ""))]).await;
    broker.close().unwrap();
    drop(broker);

    let broker = open(dir.path());
    let groups = &broker.groups;
    let a = groups.committed("a");
    assert_eq!(a.get(&partition("events", 0)), Some(&offset(9, "later")));
    assert_eq!(a.get(&partition("events", 1)), Some(&offset(7, "")));
    assert_eq!(groups.committed("b").len(), 1);
    let (results, durable) = groups
        .delete_offsets("a", &[partition("events", 1)], 2_000)
        .unwrap();
    assert_eq!(results, vec![Ok(())]);
    durable.unwrap().wait().await.unwrap();
    groups
        .delete_group("b", 2_000)
        .unwrap()
        .unwrap()
        .wait()
        .await
        .unwrap();
    // No clean shutdown this time: what was answered is on disk.
    drop(broker);

    let broker = open(dir.path());
    let groups = &broker.groups;
    assert_eq!(groups.committed("a").len(), 1);
    assert!(groups.committed("b").is_empty());
    let listed: Vec<String> = groups.list().into_iter().map(|g| g.group_id).collect();
    assert_eq!(listed, vec!["a".to_string(), "c".to_string()]);
    assert!(matches!(
        groups.delete_group("b", 0),
        Err(crate::group::StoreOffsetsError::Group(
            GroupError::GroupIdNotFound
        ))
    ));
    broker.close().unwrap();
}

#[tokio::test]
async fn a_joining_member_is_held_until_the_others_rejoin() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    let groups = &broker.groups;
    stable_m1(groups).await;

    let mut second = pin!(joined(groups.join("g", join_request("", "m2"))));
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut second)
            .await
            .is_err(),
        "m2 waits for m1 to rejoin"
    );
    assert_eq!(
        groups.heartbeat("g", "m1", None, 1),
        Err(GroupError::RebalanceInProgress)
    );
    let leader = joined(groups.join("g", join_request("m1", "unused"))).await;
    let follower = second.await;
    assert_eq!((leader.generation_id, follower.generation_id), (2, 2));
    assert_eq!(leader.members.len(), 2);
    assert_eq!(follower.leader, "m1");

    let mut follower_sync = pin!(synced(groups.sync("g", sync_request("m2", 2, &[]))));
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut follower_sync)
            .await
            .is_err(),
        "the follower waits for the leader's assignment"
    );
    let own = synced(groups.sync("g", sync_request("m1", 2, &["m1", "m2"]))).await;
    assert_eq!(own.unwrap().assignment, Bytes::from("for m1"));
    assert_eq!(
        follower_sync.await.unwrap().assignment,
        Bytes::from("for m2")
    );
    broker.close().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_timer_expires_sessions_and_ends_rebalances() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path());
    let groups = &broker.groups;
    stable_m1(groups).await;
    let second = joined(groups.join("g", join_request("", "m2")));
    let leader = joined(groups.join("g", join_request("m1", "unused"))).await;
    second.await;
    synced(groups.sync("g", sync_request("m1", 2, &[])))
        .await
        .unwrap();
    synced(groups.sync("g", sync_request("m2", 2, &[])))
        .await
        .unwrap();
    assert_eq!(leader.generation_id, 2);

    // m1 rejoins; m2 stays silent: its session ends and the rebalance completes without it.
    let rejoined = joined(groups.join("g", join_request("m1", "unused"))).await;
    assert_eq!(rejoined.generation_id, 3);
    assert_eq!(rejoined.members.len(), 1, "m2 was removed");
    synced(groups.sync("g", sync_request("m1", 3, &[])))
        .await
        .unwrap();

    // Now m1 goes silent too: the timer expires it and the group is forgotten.
    tokio::time::sleep(SESSION * 2).await;
    assert_eq!(
        groups.heartbeat("g", "m1", None, 3),
        Err(GroupError::UnknownMemberId)
    );
    assert!(groups.list().is_empty());
    broker.close().unwrap();
}

#[tokio::test]
async fn commits_are_checked_against_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let broker = with_topics(dir.path());
    let groups = &broker.groups;
    let refused = |result: Result<_, crate::group::StoreOffsetsError>| match result {
        Err(crate::group::StoreOffsetsError::Group(e)) => Some(e),
        Err(other) => panic!("{other}"),
        Ok(_) => None,
    };
    let commit_as = |member: &str, generation: i32| {
        let offsets = vec![(partition("events", 0), offset(1, ""))];
        groups.commit("g", member, None, generation, offsets, 0)
    };
    assert_eq!(
        refused(commit_as("m1", 3)),
        Some(GroupError::IllegalGeneration)
    );
    stable_m1(groups).await;
    assert_eq!(refused(commit_as("m1", 1)), None);
    assert_eq!(
        refused(commit_as("m1", 2)),
        Some(GroupError::IllegalGeneration)
    );
    assert_eq!(
        refused(commit_as("", -1)),
        Some(GroupError::UnknownMemberId)
    );
    assert!(matches!(
        groups.delete_group("g", 0),
        Err(crate::group::StoreOffsetsError::Group(
            GroupError::NonEmptyGroup
        ))
    ));
    broker.close().unwrap();
}

#[tokio::test]
async fn offsets_of_subscribed_topics_stay_and_deleted_topics_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let broker = with_topics(dir.path());
    let groups = &broker.groups;
    commit(
        groups,
        "g",
        vec![
            (partition("events", 0), offset(4, "")),
            (partition("other", 0), offset(6, "")),
        ],
    )
    .await;
    stable_m1(groups).await;
    let (results, durable) = groups
        .delete_offsets("g", &[partition("events", 0), partition("other", 0)], 0)
        .unwrap();
    assert_eq!(results, vec![Err(GroupError::SubscribedToTopic), Ok(())]);
    durable.unwrap().wait().await.unwrap();
    assert_eq!(groups.committed("g").len(), 1);

    groups
        .leave(
            "g",
            &[LeavingMember {
                member_id: "m1".into(),
                instance_id: None,
            }],
        )
        .unwrap();
    groups.forget_topic("events", 0).unwrap();
    assert!(groups.committed("g").is_empty());
    assert!(groups.list().is_empty(), "nothing is left of the group");
    broker.close().unwrap();
}
