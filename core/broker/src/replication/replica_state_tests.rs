//! `ReplicaState` on a real log: the high watermark waits for a replica a pending ISR
//! expansion adds (it may lead as soon as the change applies), and stops waiting once the
//! metadata refused the change.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use weir_log::testing::BatchBuilder;
use weir_log::{LogConfig, PartitionLog, SystemClock};

use super::{LeaderTerm, ReplicaState, Role};

const LAG_MAX: Duration = Duration::from_secs(10);

fn leading(isr: &[i32]) -> Role {
    Role::Leader(LeaderTerm {
        node: 1,
        epoch: 0,
        partition_epoch: 0,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
    })
}

fn append(log: &PartitionLog, records: usize) {
    let batch = BatchBuilder::new().records(records, 8).build();
    log.append(&batch, 0).unwrap();
}

/// Broker 1 leads with ISR [1, 2] and ten records; broker 3, out of the ISR, caught up.
fn leading_with_3_caught_up() -> (tempfile::TempDir, PartitionLog, ReplicaState) {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), Arc::new(SystemClock)).unwrap();
    let replica = ReplicaState::offline();
    replica.set_role(leading(&[1, 2]), &log);
    append(&log, 10);
    replica.follower_fetched(2, 10, &log);
    replica.follower_fetched(3, 10, &log);
    (dir, log, replica)
}

#[test]
fn a_proposed_replica_holds_the_watermark_until_the_proposal_is_refused() {
    // Broker 3 caught up with the watermark: it is proposed back.
    let (_dir, log, replica) = leading_with_3_caught_up();
    assert_eq!(replica.high_watermark(&log), 10);
    let (_, proposed) = replica.proposed_isr(LAG_MAX, &log, &[1, 2, 3]).unwrap();
    assert_eq!(proposed, [1, 2, 3]);

    append(&log, 5);
    replica.follower_fetched(2, 15, &log);
    assert_eq!(
        replica.high_watermark(&log),
        10,
        "broker 3 may lead once the change applies: the watermark waits for it"
    );
    replica.follower_fetched(3, 15, &log);
    assert_eq!(replica.high_watermark(&log), 15);

    // Refused: broker 3 no longer holds the watermark back.
    replica.withdraw_proposed_isr();
    append(&log, 5);
    replica.follower_fetched(2, 20, &log);
    assert_eq!(replica.high_watermark(&log), 20);
}

#[test]
fn a_replica_not_heard_from_in_the_term_is_not_proposed() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), Arc::new(SystemClock)).unwrap();
    let replica = ReplicaState::offline();
    // A new leader with nothing appended (watermark 0): broker 3 never fetched.
    replica.set_role(leading(&[1, 2]), &log);
    replica.follower_fetched(2, 0, &log);
    assert_eq!(replica.proposed_isr(LAG_MAX, &log, &[1, 2, 3]), None);
}

#[test]
fn a_replica_the_metadata_would_refuse_is_not_proposed() {
    // Broker 3 caught up, but it is shutting down (not live in the metadata).
    let (_dir, log, replica) = leading_with_3_caught_up();
    assert_eq!(replica.proposed_isr(LAG_MAX, &log, &[1, 2]), None);
    append(&log, 5);
    replica.follower_fetched(2, 15, &log);
    assert_eq!(
        replica.high_watermark(&log),
        15,
        "the watermark does not wait for it"
    );
}
