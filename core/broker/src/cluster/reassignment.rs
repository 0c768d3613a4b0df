//! Partition reassignment as Kafka has it (KIP-455): a partition gets a target replica set;
//! the replicas it lacks are added first (they fetch from the leader like any follower) and
//! the ones it no longer wants leave only once every target replica is in the ISR. While a
//! reassignment runs, `replicas` is the target followed by the replicas being removed, and
//! `adding`/`removing` say which are which, so the original set can be restored on cancel.
//! Pure functions of a [`PartitionState`]; the state machine calls them when it applies a
//! reassignment and after every ISR change.

use super::command::Refusal;
use super::state::{NO_LEADER, PartitionState};

impl PartitionState {
    /// Whether a reassignment is in progress.
    pub(crate) fn reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// The replicas the partition had before the reassignment in progress (its replicas
    /// when none is).
    pub(crate) fn original_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.adding.contains(r))
            .collect()
    }

    /// The replicas the partition will have once the reassignment in progress completes.
    pub(crate) fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.removing.contains(r))
            .collect()
    }

    /// How many replicas the partition is meant to have.
    pub(crate) fn replication_factor(&self) -> usize {
        self.target_replicas().len()
    }
}

/// Why a target replica set cannot be used, before anything changes.
pub(crate) fn check_target(target: &[i32], live: &[i32]) -> Result<(), Refusal> {
    if target.is_empty() {
        return Err(Refusal::InvalidAssignment(
            "the replica list is empty".into(),
        ));
    }
    for (i, r) in target.iter().enumerate() {
        if target[..i].contains(r) {
            return Err(Refusal::InvalidAssignment(format!(
                "broker {r} is listed twice"
            )));
        }
        if !live.contains(r) {
            return Err(Refusal::InvalidAssignment(format!(
                "broker {r} is not a live broker of the cluster"
            )));
        }
    }
    Ok(())
}

/// Starts moving `p` to `target` (replacing a reassignment in progress; the original
/// replicas stay the ones from before the first). Completes at once when no replica has to
/// be added and the target is already in sync.
pub(crate) fn start(p: &mut PartitionState, target: &[i32], live: &[i32]) -> Result<(), Refusal> {
    check_target(target, live)?;
    if !p.reassigning() && p.replicas == target {
        return Ok(());
    }
    let original = p.original_replicas();
    let removing: Vec<i32> = original
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    let replicas: Vec<i32> = target.iter().chain(&removing).copied().collect();
    let isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| replicas.contains(r))
        .collect();
    if isr.is_empty() {
        return Err(Refusal::InvalidAssignment(
            "no in-sync replica would remain".into(),
        ));
    }
    p.adding = target
        .iter()
        .copied()
        .filter(|r| !original.contains(r))
        .collect();
    p.removing = removing;
    p.replicas = replicas;
    p.isr = isr;
    if !p.replicas.contains(&p.leader) {
        elect(p, live, None);
    }
    p.partition_epoch += 1;
    complete_if_in_sync(p, live);
    Ok(())
}

/// Cancels the reassignment in progress: back to the original replicas.
pub(crate) fn cancel(p: &mut PartitionState, live: &[i32]) -> Result<(), Refusal> {
    if !p.reassigning() {
        return Err(Refusal::NoReassignment);
    }
    let original = p.original_replicas();
    let isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| original.contains(r))
        .collect();
    if isr.is_empty() {
        return Err(Refusal::InvalidAssignment(
            "no original replica is in sync; cancelling would lose the partition".into(),
        ));
    }
    p.replicas = original;
    p.isr = isr;
    p.adding.clear();
    p.removing.clear();
    if !p.replicas.contains(&p.leader) {
        elect(p, live, None);
    }
    p.partition_epoch += 1;
    Ok(())
}

/// Finishes the reassignment once every target replica is in the ISR: the removed replicas
/// go, and the first target replica leads (Kafka's preferred leader) when it is live.
/// Returns whether it finished.
pub(crate) fn complete_if_in_sync(p: &mut PartitionState, live: &[i32]) -> bool {
    if !p.reassigning() {
        return false;
    }
    let target = p.target_replicas();
    if !target.iter().all(|r| p.isr.contains(r)) {
        return false;
    }
    p.isr = target.clone();
    p.replicas = target;
    p.adding.clear();
    p.removing.clear();
    let preferred = p.replicas[0];
    elect(p, live, Some(preferred));
    p.partition_epoch += 1;
    true
}

/// Moves leadership to `preferred` when it is a live ISR member, else keeps a leader that is
/// still a live ISR member, else takes the first live ISR member; bumps the leader epoch when
/// the leader changes.
fn elect(p: &mut PartitionState, live: &[i32], preferred: Option<i32>) {
    let eligible = |r: &i32| p.isr.contains(r) && live.contains(r);
    let leader = preferred
        .filter(eligible)
        .or_else(|| Some(p.leader).filter(eligible))
        .or_else(|| p.isr.iter().copied().find(eligible))
        .unwrap_or(NO_LEADER);
    if leader != p.leader {
        p.leader = leader;
        p.leader_epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn partition(replicas: &[i32]) -> PartitionState {
        PartitionState {
            replicas: replicas.to_vec(),
            leader: replicas[0],
            leader_epoch: 0,
            isr: replicas.to_vec(),
            partition_epoch: 0,
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    const LIVE: &[i32] = &[1, 2, 3, 4];

    #[test]
    fn new_replicas_are_added_before_old_ones_leave() {
        let mut p = partition(&[1, 2, 3]);
        start(&mut p, &[1, 2, 4], LIVE).unwrap();
        assert_eq!(p.replicas, vec![1, 2, 4, 3]);
        assert_eq!(p.adding, vec![4]);
        assert_eq!(p.removing, vec![3]);
        assert_eq!(p.isr, vec![1, 2, 3], "3 stays in sync until 4 caught up");
        assert_eq!(p.original_replicas(), vec![1, 2, 3]);
        assert_eq!(p.target_replicas(), vec![1, 2, 4]);

        p.isr.push(4);
        assert!(complete_if_in_sync(&mut p, LIVE));
        assert_eq!(p.replicas, vec![1, 2, 4]);
        assert_eq!(p.isr, vec![1, 2, 4]);
        assert!(!p.reassigning());
        assert_eq!((p.leader, p.leader_epoch), (1, 0), "the leader stayed");
    }

    #[test]
    fn a_leaving_leader_hands_over_to_the_preferred_replica() {
        let mut p = partition(&[3, 1, 2]);
        start(&mut p, &[4, 1, 2], LIVE).unwrap();
        assert_eq!(p.leader, 3, "the old leader leads while 4 catches up");
        p.isr.push(4);
        assert!(complete_if_in_sync(&mut p, LIVE));
        assert_eq!((p.leader, p.leader_epoch), (4, 1));
        assert!(!p.isr.contains(&3));
    }

    #[test]
    fn shrinking_or_reordering_completes_at_once() {
        let mut p = partition(&[1, 2, 3]);
        start(&mut p, &[2, 1], LIVE).unwrap();
        assert_eq!(p.replicas, vec![2, 1]);
        assert_eq!((p.leader, p.leader_epoch), (2, 1));
        assert!(!p.reassigning());
    }

    #[test]
    fn cancelling_restores_the_original_replicas() {
        let mut p = partition(&[1, 2, 3]);
        start(&mut p, &[1, 4, 2], LIVE).unwrap();
        cancel(&mut p, LIVE).unwrap();
        assert_eq!(p.replicas, vec![1, 2, 3]);
        assert_eq!(p.isr, vec![1, 2, 3]);
        assert_eq!(cancel(&mut p, LIVE), Err(Refusal::NoReassignment));
    }

    #[test]
    fn a_new_target_replaces_the_one_in_progress() {
        let mut p = partition(&[1, 2, 3]);
        start(&mut p, &[1, 2, 4], LIVE).unwrap();
        start(&mut p, &[1, 3, 4], LIVE).unwrap();
        assert_eq!(p.original_replicas(), vec![1, 3, 2]);
        assert_eq!(p.adding, vec![4]);
        assert_eq!(p.removing, vec![2]);
    }

    #[test]
    fn bad_targets_are_refused_with_the_reason() {
        let mut p = partition(&[1, 2, 3]);
        let before = p.clone();
        for target in [&[][..], &[1, 1, 2], &[1, 2, 9]] {
            assert!(matches!(
                start(&mut p, target, LIVE),
                Err(Refusal::InvalidAssignment(_))
            ));
        }
        assert_eq!(p, before, "a refused target changes nothing");
    }
}
