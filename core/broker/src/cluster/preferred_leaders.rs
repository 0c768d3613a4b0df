//! Preferred leaders, Kafka's `auto.leader.rebalance.enable`: a partition's first replica is
//! the leader it was created with, and the spread of leadership over the brokers rests on
//! partitions being led by it. A broker that fails and returns leads nothing of what it led:
//! the replicas that took over keep it. The controller checks every
//! `leader_imbalance_check_interval_seconds` and, for each broker with more than
//! `leader_imbalance_per_broker_percentage` of the partitions it prefers led elsewhere, hands
//! those back where it is live and in the ISR. That is a clean election: an ISR member holds
//! every committed record. Partitions being reassigned are left to their reassignment.

use std::collections::BTreeMap;

use super::state::{ClusterState, PartitionState};

/// Brokers with more than `percentage` percent of the partitions they prefer to lead led by
/// another replica while they could lead them.
pub(crate) fn imbalanced_brokers(state: &ClusterState, percentage: u32) -> Vec<i32> {
    let live = state.live_brokers();
    // Per preferred broker: the partitions it prefers, and those it could take back.
    let mut counts: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    for p in state.topics.values().flat_map(|t| &t.partitions) {
        let Some(&preferred) = p.replicas.first() else {
            continue;
        };
        let (prefers, movable) = counts.entry(preferred).or_default();
        *prefers += 1;
        if can_move_back(p, &live) {
            *movable += 1;
        }
    }
    counts
        .into_iter()
        .filter(|(_, (prefers, movable))| *movable * 100 > *prefers * u64::from(percentage))
        .map(|(id, _)| id)
        .collect()
}

/// Hands each partition `brokers` prefer back to its preferred replica where it can take
/// it, in a new leader epoch; how many moved.
pub(crate) fn elect(state: &mut ClusterState, brokers: &[i32]) -> usize {
    let live = state.live_brokers();
    let mut moved = 0;
    for p in state.topics.values_mut().flat_map(|t| &mut t.partitions) {
        let Some(&preferred) = p.replicas.first() else {
            continue;
        };
        if brokers.contains(&preferred) && can_move_back(p, &live) {
            p.leader = preferred;
            p.leader_epoch += 1;
            p.partition_epoch += 1;
            moved += 1;
        }
    }
    moved
}

/// Whether `p`'s preferred replica does not lead it but could: live, in the ISR, and no
/// reassignment running.
fn can_move_back(p: &PartitionState, live: &[i32]) -> bool {
    let Some(preferred) = p.replicas.first() else {
        return false;
    };
    p.leader != *preferred
        && p.isr.contains(preferred)
        && live.contains(preferred)
        && p.adding.is_empty()
        && p.removing.is_empty()
}
