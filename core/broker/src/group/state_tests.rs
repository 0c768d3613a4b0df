//! The group state machine without sockets or timers: events in, answers and states out, at
//! explicit times. Joins and rebalances here; the other member requests in `members`.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::group::join::{JoinOutcome, JoinRequest};
use crate::group::member::{MemberInfo, Protocol};
use crate::group::membership::{LeavingMember, SyncOutcome, SyncRequest};
use crate::group::results::{Answer, Assignment, GroupError, JoinResult};
use crate::group::state::{Group, GroupConfig, GroupState};

mod members;

const SESSION: Duration = Duration::from_secs(10);
const REBALANCE: Duration = Duration::from_secs(30);

fn config(initial_delay: Duration) -> GroupConfig {
    GroupConfig {
        min_session_timeout: Duration::from_secs(1),
        max_session_timeout: Duration::from_secs(3600),
        initial_rebalance_delay: initial_delay,
    }
}

fn group() -> Group {
    Group::new("g", config(Duration::ZERO))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn protocols(names: &[&str], owner: &str) -> Vec<Protocol> {
    names
        .iter()
        .map(|name| Protocol {
            name: name.to_string(),
            metadata: Bytes::from(format!("{owner}:{name}")),
        })
        .collect()
}

/// A first JoinGroup (no member id) of a consumer that will be called `id`.
fn first_join(id: &str, names: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: String::new(),
        instance_id: None,
        protocol_type: "consumer".into(),
        info: MemberInfo {
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: SESSION,
            rebalance_timeout: REBALANCE,
            protocols: protocols(names, id),
        },
        require_known_member_id: false,
        supports_skip_assignment: false,
        new_member_id: id.into(),
    }
}

/// A JoinGroup of the known member `id`.
fn rejoin(id: &str, names: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: id.into(),
        ..first_join(id, names)
    }
}

fn static_join(instance: &str, new_id: &str, names: &[&str]) -> JoinRequest {
    JoinRequest {
        instance_id: Some(instance.into()),
        ..first_join(new_id, names)
    }
}

fn sync(id: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        member_id: id.into(),
        instance_id: None,
        generation_id: generation,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
    }
}

fn held(id: &str) -> JoinOutcome {
    JoinOutcome::Held {
        member_id: id.into(),
    }
}

fn join_answers(group: &mut Group) -> Vec<(String, JoinResult)> {
    group
        .take_answers()
        .into_iter()
        .map(|a| match a {
            Answer::Join { member_id, result } => (member_id, result),
            other => panic!("expected a join answer, got {other:?}"),
        })
        .collect()
}

fn sync_answers(group: &mut Group) -> Vec<(String, Result<Bytes, GroupError>)> {
    group
        .take_answers()
        .into_iter()
        .map(|a| match a {
            Answer::Sync { member_id, result } => (member_id, result.map(|a| a.assignment)),
            other => panic!("expected a sync answer, got {other:?}"),
        })
        .collect()
}

fn assignment(text: &str) -> Result<Bytes, GroupError> {
    Ok(Bytes::from(text.to_string()))
}

/// Runs out an initial delay of 1 s that a second member extended once.
fn finish_initial_delay(group: &mut Group, now: Instant) {
    group.tick(now + secs(1));
    group.tick(now + secs(2));
}

/// A stable group of `ids` (the first is the leader) at generation 1, each assigned its id.
fn stable(ids: &[&str], now: Instant) -> Group {
    let mut group = Group::new("g", config(secs(1)));
    for id in ids {
        assert_eq!(group.join(first_join(id, &["range"]), now), held(id));
    }
    finish_initial_delay(&mut group, now);
    let answers = join_answers(&mut group);
    assert_eq!(answers.len(), ids.len());
    let assignments: Vec<(&str, &str)> = ids.iter().map(|id| (*id, *id)).collect();
    for id in ids.iter().skip(1) {
        let outcome = group.sync(sync(id, 1, &[]), now + secs(1));
        assert_eq!(
            outcome,
            SyncOutcome::Held {
                member_id: id.to_string()
            }
        );
    }
    group.sync(sync(ids[0], 1, &assignments), now + secs(1));
    assert_eq!(sync_answers(&mut group).len(), ids.len());
    assert_eq!(group.state(), GroupState::Stable);
    group
}

#[test]
fn a_single_member_joins_leads_and_gets_its_own_assignment() {
    let now = Instant::now();
    let mut group = group();
    assert_eq!(group.join(first_join("m1", &["range"]), now), held("m1"));
    let answers = join_answers(&mut group);
    assert_eq!(answers.len(), 1);
    let (id, result) = &answers[0];
    assert_eq!(id, "m1");
    assert_eq!(result.error, None);
    assert_eq!(result.generation_id, 1);
    assert_eq!(result.leader, "m1");
    assert_eq!(result.member_id, "m1");
    assert_eq!(result.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(result.protocol_name.as_deref(), Some("range"));
    assert_eq!(result.members.len(), 1);
    assert_eq!(result.members[0].metadata, Bytes::from("m1:range"));
    assert_eq!(group.state(), GroupState::CompletingRebalance);

    let outcome = group.sync(sync("m1", 1, &[("m1", "all of it")]), now);
    assert_eq!(
        outcome,
        SyncOutcome::Held {
            member_id: "m1".into()
        }
    );
    assert_eq!(
        sync_answers(&mut group),
        vec![("m1".into(), assignment("all of it"))]
    );
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.heartbeat("m1", None, 1, now), Ok(()));
}

#[test]
fn the_initial_delay_waits_for_more_members_and_extends_while_they_arrive() {
    let t0 = Instant::now();
    let mut group = Group::new("g", config(secs(3)));
    assert_eq!(group.join(first_join("m1", &["range"]), t0), held("m1"));
    group.tick(t0 + secs(1));
    assert!(group.take_answers().is_empty());
    assert_eq!(
        group.join(first_join("m2", &["range"]), t0 + secs(2)),
        held("m2")
    );
    assert_eq!(group.next_deadline(), Some(t0 + secs(3)));
    group.tick(t0 + secs(3));
    assert!(
        group.take_answers().is_empty(),
        "a member arrived: wait again"
    );
    assert_eq!(group.next_deadline(), Some(t0 + secs(6)));
    group.tick(t0 + secs(6));
    let answers = join_answers(&mut group);
    assert_eq!(answers.len(), 2);
    assert!(
        answers
            .iter()
            .all(|(_, r)| r.generation_id == 1 && r.leader == "m1")
    );
    let leader = &answers.iter().find(|(id, _)| id == "m1").unwrap().1;
    let follower = &answers.iter().find(|(id, _)| id == "m2").unwrap().1;
    assert_eq!(leader.members.len(), 2);
    assert!(follower.members.is_empty());
}

#[test]
fn a_new_member_makes_everyone_rejoin_and_the_leader_sees_all_metadata() {
    let now = Instant::now();
    let mut group = stable(&["m1"], now);
    assert_eq!(group.join(first_join("m2", &["range"]), now), held("m2"));
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(
        group.heartbeat("m1", None, 1, now),
        Err(GroupError::RebalanceInProgress)
    );
    assert!(group.take_answers().is_empty(), "m1 has not rejoined yet");
    assert_eq!(group.join(rejoin("m1", &["range"]), now), held("m1"));
    let answers = join_answers(&mut group);
    assert_eq!(answers.len(), 2);
    for (id, result) in &answers {
        assert_eq!(result.generation_id, 2, "{id}");
        assert_eq!(result.leader, "m1", "{id}");
    }
    let leader = &answers.iter().find(|(id, _)| id == "m1").unwrap().1;
    let metadata: Vec<_> = leader.members.iter().map(|m| m.metadata.clone()).collect();
    assert_eq!(
        metadata,
        vec![Bytes::from("m1:range"), Bytes::from("m2:range")]
    );
}

#[test]
fn a_first_join_from_v4_gets_a_member_id_to_rejoin_with() {
    let now = Instant::now();
    let mut group = group();
    let request = JoinRequest {
        require_known_member_id: true,
        ..first_join("m1", &["range"])
    };
    let JoinOutcome::Answered(result) = group.join(request, now) else {
        panic!("expected MEMBER_ID_REQUIRED");
    };
    assert_eq!(result.error, Some(GroupError::MemberIdRequired));
    assert_eq!(result.member_id, "m1");
    assert_eq!(group.state(), GroupState::Empty);
    assert!(!group.is_idle(), "the handed-out id is pending");
    assert_eq!(group.join(rejoin("m1", &["range"]), now), held("m1"));
    assert_eq!(join_answers(&mut group)[0].1.generation_id, 1);

    // A pending id that never comes back expires after the session timeout.
    let mut other = JoinRequest {
        require_known_member_id: true,
        ..first_join("m2", &["range"])
    };
    other.new_member_id = "m2".into();
    let mut empty = Group::new("h", config(Duration::ZERO));
    empty.join(other, now);
    assert_eq!(empty.next_deadline(), Some(now + SESSION));
    empty.tick(now + SESSION);
    assert!(empty.is_idle());
}

#[test]
fn members_must_share_a_protocol_and_the_protocol_type() {
    let now = Instant::now();
    let mut group = stable(&["m1"], now);
    let refused = |outcome: JoinOutcome| match outcome {
        JoinOutcome::Answered(r) => r.error,
        JoinOutcome::Held { .. } => None,
    };
    assert_eq!(
        refused(group.join(first_join("m2", &["roundrobin"]), now)),
        Some(GroupError::InconsistentGroupProtocol)
    );
    let mut connect = first_join("m3", &["range"]);
    connect.protocol_type = "connect".into();
    assert_eq!(
        refused(group.join(connect, now)),
        Some(GroupError::InconsistentGroupProtocol)
    );
    assert_eq!(
        refused(Group::new("e", config(secs(0))).join(first_join("m4", &[]), now)),
        Some(GroupError::InconsistentGroupProtocol)
    );
    // The only member may change its protocols.
    assert_eq!(group.join(rejoin("m1", &["roundrobin"]), now), held("m1"));
    assert_eq!(
        join_answers(&mut group)[0].1.protocol_name.as_deref(),
        Some("roundrobin")
    );
}

#[test]
fn the_protocol_most_members_prefer_wins_and_ties_follow_the_leader() {
    let now = Instant::now();
    let elect = |members: &[(&str, &[&str])]| {
        let mut group = Group::new("g", config(secs(1)));
        for (id, names) in members {
            group.join(first_join(id, names), now);
        }
        finish_initial_delay(&mut group, now);
        join_answers(&mut group)[0].1.protocol_name.clone().unwrap()
    };
    let votes = [
        ("m1", &["range", "roundrobin"][..]),
        ("m2", &["roundrobin", "range"][..]),
        ("m3", &["roundrobin", "range"][..]),
    ];
    assert_eq!(elect(&votes), "roundrobin");
    assert_eq!(
        elect(&votes[..2]),
        "range",
        "a tie goes to the leader's choice"
    );
    let partial = [("m1", &["sticky", "range"][..]), ("m2", &["range"][..])];
    assert_eq!(
        elect(&partial),
        "range",
        "only protocols every member supports"
    );
}

#[test]
fn an_expired_session_removes_the_member_and_the_rest_rebalance() {
    let t0 = Instant::now();
    let mut group = stable(&["m1", "m2"], t0);
    assert_eq!(group.leader(), Some("m1"));
    let later = t0 + secs(8);
    assert_eq!(group.heartbeat("m2", None, 1, later), Ok(()));
    assert_eq!(group.next_deadline(), Some(t0 + secs(1) + SESSION));
    group.tick(t0 + secs(1) + SESSION);
    assert!(group.member("m1").is_none());
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(group.leader(), Some("m2"));
    assert_eq!(
        group.heartbeat("m2", None, 1, later + secs(3)),
        Err(GroupError::RebalanceInProgress)
    );
    assert_eq!(
        group.join(rejoin("m2", &["range"]), later + secs(3)),
        held("m2")
    );
    let answers = join_answers(&mut group);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].1.generation_id, 2);
    assert_eq!(answers[0].1.leader, "m2");
    assert_eq!(answers[0].1.members.len(), 1);
}

#[test]
fn members_that_do_not_rejoin_in_time_are_dropped() {
    let t0 = Instant::now();
    let mut group = stable(&["m1", "m2"], t0);
    // The leader rejoining starts a rebalance; m2 keeps heartbeating but never rejoins.
    assert_eq!(
        group.join(rejoin("m1", &["range"]), t0 + secs(2)),
        held("m1")
    );
    for s in (4..30).step_by(4) {
        let _ = group.heartbeat("m2", None, 1, t0 + secs(s));
        group.tick(t0 + secs(s));
    }
    assert!(group.take_answers().is_empty());
    group.tick(t0 + secs(2) + REBALANCE);
    let answers = join_answers(&mut group);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].1.members.len(), 1, "m2 was dropped");
    assert!(group.member("m2").is_none());
    assert_eq!(group.generation(), 2);
}

#[test]
fn a_member_that_missed_its_join_response_gets_the_same_generation() {
    let now = Instant::now();
    let mut group = Group::new("g", config(secs(1)));
    group.join(first_join("m1", &["range"]), now);
    group.join(first_join("m2", &["range"]), now);
    finish_initial_delay(&mut group, now);
    join_answers(&mut group);
    let JoinOutcome::Answered(again) = group.join(rejoin("m2", &["range"]), now) else {
        panic!("expected the current generation");
    };
    assert_eq!(again.generation_id, 1);
    assert_eq!(again.leader, "m1");
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    // Once stable, a follower rejoining unchanged does not rebalance either.
    group.sync(sync("m1", 1, &[]), now);
    group.take_answers();
    assert!(matches!(
        group.join(rejoin("m2", &["range"]), now),
        JoinOutcome::Answered(_)
    ));
    assert_eq!(group.state(), GroupState::Stable);
}
