//! SyncGroup, Heartbeat, LeaveGroup, static members, commit checks and DescribeGroups on
//! the group state machine.

use super::*;

#[test]
fn followers_sync_waits_for_the_leaders_assignment() {
    let now = Instant::now();
    let mut group = Group::new("g", config(secs(1)));
    group.join(first_join("m1", &["range"]), now);
    group.join(first_join("m2", &["range"]), now);
    finish_initial_delay(&mut group, now);
    join_answers(&mut group);
    let outcome = group.sync(sync("m2", 1, &[]), now);
    assert_eq!(
        outcome,
        SyncOutcome::Held {
            member_id: "m2".into()
        }
    );
    assert!(group.take_answers().is_empty(), "the leader has not synced");
    assert_eq!(group.heartbeat("m2", None, 1, now), Ok(()));
    // The leader's assignment names an unknown member and leaves nobody out.
    group.sync(
        sync("m1", 1, &[("m2", "p1"), ("ghost", "x"), ("m1", "p0")]),
        now,
    );
    let mut answers = sync_answers(&mut group);
    answers.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        answers,
        vec![
            ("m1".into(), assignment("p0")),
            ("m2".into(), assignment("p1"))
        ]
    );
    assert_eq!(group.state(), GroupState::Stable);
    let again = group.sync(sync("m2", 1, &[]), now);
    assert_eq!(
        again,
        SyncOutcome::Answered(Ok(Assignment {
            assignment: Bytes::from("p1"),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
        }))
    );
}

#[test]
fn unknown_members_and_stale_generations_are_refused() {
    let now = Instant::now();
    let mut group = stable(&["m1", "m2"], now);
    assert_eq!(
        group.heartbeat("nobody", None, 1, now),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        group.heartbeat("m1", None, 0, now),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        group.sync(sync("m2", 7, &[]), now),
        SyncOutcome::Answered(Err(GroupError::IllegalGeneration))
    );
    assert_eq!(
        group.sync(sync("nobody", 1, &[]), now),
        SyncOutcome::Answered(Err(GroupError::UnknownMemberId))
    );
    let JoinOutcome::Answered(result) = group.join(rejoin("nobody", &["range"]), now) else {
        panic!("expected an error");
    };
    assert_eq!(result.error, Some(GroupError::UnknownMemberId));
    let mut bad_timeout = rejoin("m1", &["range"]);
    bad_timeout.info.session_timeout = Duration::from_millis(10);
    let JoinOutcome::Answered(result) = group.join(bad_timeout, now) else {
        panic!("expected an error");
    };
    assert_eq!(result.error, Some(GroupError::InvalidSessionTimeout));
    assert_eq!(group.state(), GroupState::Stable);
}

#[test]
fn leaving_rebalances_the_rest_and_the_last_leave_empties_the_group() {
    let now = Instant::now();
    let mut group = stable(&["m1", "m2"], now);
    let leave = |id: &str| LeavingMember {
        member_id: id.into(),
        instance_id: None,
    };
    assert_eq!(
        group.leave(&[leave("m2"), leave("ghost")], now),
        Ok(vec![Ok(()), Err(GroupError::UnknownMemberId)])
    );
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(group.join(rejoin("m1", &["range"]), now), held("m1"));
    assert_eq!(join_answers(&mut group)[0].1.members.len(), 1);
    group.sync(sync("m1", 2, &[]), now);
    group.take_answers();
    assert_eq!(group.leave(&[leave("m1")], now), Ok(vec![Ok(())]));
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.generation(), 3);
    assert!(group.is_idle());
}

#[test]
fn a_removed_member_gets_its_held_requests_answered() {
    let now = Instant::now();
    let mut group = stable(&["m1", "m2"], now);
    assert_eq!(group.join(rejoin("m1", &["range"]), now), held("m1"));
    let leaving = LeavingMember {
        member_id: "m1".into(),
        instance_id: None,
    };
    assert_eq!(group.leave(&[leaving], now), Ok(vec![Ok(())]));
    let answers = join_answers(&mut group);
    assert_eq!(answers[0].0, "m1");
    assert_eq!(answers[0].1.error, Some(GroupError::UnknownMemberId));
}

#[test]
fn a_rebalance_sends_members_waiting_for_their_assignment_back_to_join() {
    let now = Instant::now();
    let mut group = Group::new("g", config(secs(1)));
    group.join(first_join("m1", &["range"]), now);
    group.join(first_join("m2", &["range"]), now);
    finish_initial_delay(&mut group, now);
    join_answers(&mut group);
    group.sync(sync("m2", 1, &[]), now);
    assert_eq!(group.join(first_join("m3", &["range"]), now), held("m3"));
    assert_eq!(
        sync_answers(&mut group),
        vec![("m2".into(), Err(GroupError::RebalanceInProgress))]
    );
    assert_eq!(
        group.sync(sync("m1", 1, &[]), now),
        SyncOutcome::Answered(Err(GroupError::RebalanceInProgress))
    );
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let now = Instant::now();
    let mut group = Group::new("g", config(secs(1)));
    group.join(first_join("m1", &["range"]), now);
    group.join(first_join("m2", &["range"]), now);
    finish_initial_delay(&mut group, now);
    join_answers(&mut group);
    group.sync(sync("m2", 1, &[]), now + secs(2));
    // Heartbeats keep the leader's session alive, but it never sends its SyncGroup.
    for s in (5..30).step_by(5) {
        let _ = group.heartbeat("m1", None, 1, now + secs(s));
    }
    group.tick(now + secs(2) + REBALANCE);
    assert!(group.member("m1").is_none());
    assert_eq!(
        sync_answers(&mut group),
        vec![("m2".into(), Err(GroupError::RebalanceInProgress))]
    );
    assert_eq!(group.state(), GroupState::PreparingRebalance);
}

#[test]
fn a_restarted_static_member_takes_its_place_back_without_a_rebalance() {
    let now = Instant::now();
    let mut group = Group::new("g", config(secs(1)));
    group.join(static_join("i1", "s1-a", &["range"]), now);
    group.join(first_join("m2", &["range"]), now);
    finish_initial_delay(&mut group, now);
    join_answers(&mut group);
    group.sync(sync("m2", 1, &[]), now);
    group.sync(sync("s1-a", 1, &[("s1-a", "A"), ("m2", "B")]), now);
    group.take_answers();
    assert_eq!(group.leader(), Some("s1-a"));

    let JoinOutcome::Answered(result) = group.join(static_join("i1", "s1-b", &["range"]), now)
    else {
        panic!("a static member rejoins without a rebalance");
    };
    assert_eq!(result.error, None);
    assert_eq!(result.member_id, "s1-b");
    assert_eq!(result.generation_id, 1);
    assert_eq!(
        result.leader, "s1-a",
        "the old leader id keeps it from assigning"
    );
    assert!(result.members.is_empty());
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.leader(), Some("s1-b"));
    let SyncOutcome::Answered(Ok(kept)) = group.sync(sync("s1-b", 1, &[]), now) else {
        panic!("the assignment is kept");
    };
    assert_eq!(kept.assignment, Bytes::from("A"));
    assert_eq!(
        group.heartbeat("s1-a", Some("i1"), 1, now),
        Err(GroupError::FencedInstanceId)
    );
    let mut old = rejoin("s1-a", &["range"]);
    old.instance_id = Some("i1".into());
    let JoinOutcome::Answered(fenced) = group.join(old, now) else {
        panic!("the old member id is fenced");
    };
    assert_eq!(fenced.error, Some(GroupError::FencedInstanceId));

    // A v9 leader learns it leads but must not assign.
    let request = JoinRequest {
        supports_skip_assignment: true,
        ..static_join("i1", "s1-c", &["range"])
    };
    let JoinOutcome::Answered(result) = group.join(request, now) else {
        panic!("no rebalance");
    };
    assert!(result.skip_assignment);
    assert_eq!(result.leader, "s1-c");
    assert_eq!(result.members.len(), 2);
}

#[test]
fn a_static_member_with_new_protocols_triggers_a_rebalance() {
    let now = Instant::now();
    let mut group = Group::new("g", config(secs(1)));
    group.join(static_join("i1", "s1-a", &["range"]), now);
    finish_initial_delay(&mut group, now);
    join_answers(&mut group);
    group.sync(sync("s1-a", 1, &[]), now);
    group.take_answers();
    let outcome = group.join(static_join("i1", "s1-b", &["roundrobin"]), now);
    assert_eq!(outcome, held("s1-b"));
    let answers = join_answers(&mut group);
    assert_eq!(answers[0].0, "s1-b");
    assert_eq!(answers[0].1.generation_id, 2);
    assert_eq!(answers[0].1.protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn offset_commits_need_the_current_generation_of_a_known_member() {
    let now = Instant::now();
    let mut empty = Group::new("g", config(secs(0)));
    assert_eq!(empty.validate_commit("", None, -1, now), Ok(()));
    let mut group = stable(&["m1", "m2"], now);
    assert_eq!(group.validate_commit("m1", None, 1, now), Ok(()));
    assert_eq!(
        group.validate_commit("m1", None, 0, now),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        group.validate_commit("ghost", None, 1, now),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        group.validate_commit("", None, -1, now),
        Err(GroupError::UnknownMemberId),
        "a group with members only takes commits from its members"
    );
    group.join(rejoin("m1", &["range"]), now);
    assert_eq!(
        group.validate_commit("m2", None, 1, now),
        Ok(()),
        "commits are still allowed while preparing a rebalance"
    );
    group.join(rejoin("m2", &["range"]), now);
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    assert_eq!(
        group.validate_commit("m2", None, 2, now),
        Err(GroupError::RebalanceInProgress)
    );
}

#[test]
fn describe_shows_metadata_and_assignments_once_stable() {
    let now = Instant::now();
    let mut group = stable(&["m1", "m2"], now);
    let description = group.describe();
    assert_eq!(description.state, GroupState::Stable);
    assert_eq!(description.protocol_type, "consumer");
    assert_eq!(description.protocol, "range");
    assert_eq!(description.members[1].assignment, Bytes::from("m2"));
    assert_eq!(description.members[1].metadata, Bytes::from("m2:range"));
    group.join(rejoin("m1", &["range"]), now);
    let description = group.describe();
    assert_eq!(description.state, GroupState::PreparingRebalance);
    assert_eq!(description.protocol, "");
    assert!(description.members.iter().all(|m| m.metadata.is_empty()));
}
