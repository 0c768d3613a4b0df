//! `ClusterState`: what the metadata log says once applied — the brokers and whether they
//! are fenced, and every topic's partitions with their replicas, leader, ISR and epochs.
//! Applying a [`ClusterCommand`] is a pure function of the state and the command, so every
//! node that applies the same log reaches the same state; leader elections happen here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::command::{ClusterCommand, CommandOutcome, Refusal};
use super::{preferred_leaders, reassignment};

/// No leader: every in-sync replica is fenced.
pub(crate) const NO_LEADER: i32 = -1;

/// How many slots consumer groups hash into, each with one coordinator (Kafka's default
/// `offsets.topic.num.partitions`): the metadata stays this small however many groups come
/// and go, and moving a dead coordinator's groups is one change per slot.
pub(crate) const COORDINATOR_SLOTS: u32 = 50;

/// The coordinator slot of consumer group `group`, as Kafka picks a group's
/// `__consumer_offsets` partition: `Utils.abs(groupId.hashCode()) % slots`, Java's
/// `String.hashCode` over UTF-16 code units and an absolute value that maps `i32::MIN` to 0.
pub(crate) fn coordinator_slot(group: &str) -> u32 {
    let hash = group.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    hash.checked_abs().unwrap_or(0).unsigned_abs() % COORDINATOR_SLOTS
}

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BrokerInfo {
    pub(crate) host: String,
    pub(crate) port: i32,
    /// Fenced brokers missed their heartbeats: they lead nothing and are out of every ISR.
    pub(crate) fenced: bool,
    /// Stopping gracefully: not elected, not let back into an ISR, until it registers again.
    #[serde(default)]
    pub(crate) shutting_down: bool,
    /// Which run of the broker process registered: a heartbeat from another run (a restart)
    /// registers it again, one from the same run (sent just before it began shutting down)
    /// does not.
    #[serde(default)]
    pub(crate) incarnation: u64,
}

/// One partition's replication state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartitionState {
    pub(crate) replicas: Vec<i32>,
    pub(crate) leader: i32,
    /// Bumped on every leader change; stamped on the batches the leader appends.
    pub(crate) leader_epoch: i32,
    pub(crate) isr: Vec<i32>,
    /// Bumped on every change of this partition (leader or ISR), so stale ISR updates fail.
    pub(crate) partition_epoch: i32,
    /// While a reassignment runs: the replicas being added (catching up) and removed.
    #[serde(default)]
    pub(crate) adding: Vec<i32>,
    #[serde(default)]
    pub(crate) removing: Vec<i32>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TopicState {
    pub(crate) id: Uuid,
    pub(crate) partitions: Vec<PartitionState>,
    /// Kafka-named config overrides (`retention.ms` = `1000`).
    pub(crate) configs: Vec<(String, String)>,
}

/// The applied cluster metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClusterState {
    /// The cluster's id, fixed by the first broker registration.
    pub(crate) cluster_id: String,
    pub(crate) brokers: BTreeMap<i32, BrokerInfo>,
    pub(crate) topics: BTreeMap<String, TopicState>,
    /// The broker coordinating each slot of consumer groups (see [`coordinator_slot`]).
    #[serde(default)]
    pub(crate) coordinator_slots: BTreeMap<u32, i32>,
}

impl ClusterState {
    /// Applies one committed command.
    pub(crate) fn apply(&mut self, command: &ClusterCommand) -> CommandOutcome {
        match command {
            ClusterCommand::RegisterBroker {
                id,
                host,
                port,
                cluster_id,
                incarnation,
            } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = cluster_id.clone();
                }
                self.brokers.insert(
                    *id,
                    BrokerInfo {
                        host: host.clone(),
                        port: *port,
                        fenced: false,
                        shutting_down: false,
                        incarnation: *incarnation,
                    },
                );
                self.elect_for_returning(*id);
                Ok(())
            }
            ClusterCommand::AssignCoordinatorSlot {
                slot,
                broker,
                replacing,
            } => {
                if *slot >= COORDINATOR_SLOTS {
                    return Err(Refusal::InvalidAssignment(format!(
                        "no coordinator slot {slot}"
                    )));
                }
                let live = self.live_brokers();
                if !live.contains(broker) {
                    return Err(Refusal::UnknownBroker(*broker));
                }
                // Based on an outdated view: the slot moved meanwhile, or its coordinator is
                // back (a lagging broker still saw it fenced).
                if self.coordinator_slots.get(slot) != replacing.as_ref()
                    || replacing.is_some_and(|old| live.contains(&old))
                {
                    return Err(Refusal::StaleCoordinator(*slot));
                }
                self.coordinator_slots.insert(*slot, *broker);
                Ok(())
            }
            ClusterCommand::FenceBroker { id } => {
                let Some(broker) = self.brokers.get_mut(id) else {
                    return Err(Refusal::UnknownBroker(*id));
                };
                broker.fenced = true;
                self.move_away_from(*id);
                Ok(())
            }
            ClusterCommand::ShutDownBroker { id } => {
                let Some(broker) = self.brokers.get_mut(id) else {
                    return Err(Refusal::UnknownBroker(*id));
                };
                if !broker.fenced {
                    broker.shutting_down = true;
                    self.hand_over_from(*id);
                }
                Ok(())
            }
            ClusterCommand::CreateTopic {
                name,
                id,
                partitions,
                replication_factor,
                configs,
            } => {
                if self.topics.contains_key(name) {
                    return Err(Refusal::TopicExists(name.clone()));
                }
                let states = self.assign(name, 0, *partitions, *replication_factor)?;
                self.topics.insert(
                    name.clone(),
                    TopicState {
                        id: *id,
                        partitions: states,
                        configs: configs.clone(),
                    },
                );
                Ok(())
            }
            ClusterCommand::DeleteTopic { name } => self
                .topics
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| Refusal::UnknownTopic(name.clone())),
            ClusterCommand::CreatePartitions { name, count } => {
                let Some(topic) = self.topics.get(name) else {
                    return Err(Refusal::UnknownTopic(name.clone()));
                };
                let current = topic.partitions.len() as u32;
                if *count <= current {
                    return Err(Refusal::PartitionCount(*count));
                }
                let factor = topic
                    .partitions
                    .first()
                    .map_or(1, PartitionState::replication_factor)
                    as u16;
                let added = self.assign(name, current, *count - current, factor)?;
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.partitions.extend(added);
                }
                Ok(())
            }
            ClusterCommand::AlterConfigs { name, configs } => {
                let Some(topic) = self.topics.get_mut(name) else {
                    return Err(Refusal::UnknownTopic(name.clone()));
                };
                topic.configs = configs.clone();
                Ok(())
            }
            ClusterCommand::AlterIsr {
                topic,
                partition,
                leader,
                partition_epoch,
                isr,
            } => {
                let state = self
                    .topics
                    .get_mut(topic)
                    .and_then(|t| t.partitions.get_mut(*partition as usize))
                    .ok_or_else(|| Refusal::UnknownTopic(topic.clone()))?;
                if state.leader != *leader || state.partition_epoch != *partition_epoch {
                    return Err(Refusal::StaleIsr);
                }
                let fenced = |r: &i32| {
                    self.brokers
                        .get(r)
                        .is_none_or(|b| b.fenced || b.shutting_down)
                };
                let joining_fenced = isr.iter().any(|r| !state.isr.contains(r) && fenced(r));
                if !isr.contains(leader)
                    || isr.iter().any(|r| !state.replicas.contains(r))
                    || joining_fenced
                {
                    return Err(Refusal::InvalidIsr);
                }
                state.isr = isr.clone();
                state.partition_epoch += 1;
                let live = self.live_brokers();
                if let Some(state) = self.partition_mut(topic, *partition)
                    && reassignment::complete_if_in_sync(state, &live)
                {
                    tracing::info!(%topic, partition, replicas = ?state.replicas, "reassignment completed");
                }
                Ok(())
            }
            ClusterCommand::ElectPreferredLeaders { brokers } => {
                let moved = preferred_leaders::elect(self, brokers);
                if moved > 0 {
                    tracing::info!(
                        ?brokers,
                        partitions = moved,
                        "leadership back to preferred replicas"
                    );
                }
                Ok(())
            }
            ClusterCommand::Barrier { .. } => Ok(()),
            ClusterCommand::ReassignPartition {
                topic,
                partition,
                target,
                allow_factor_change,
            } => {
                let live = self.live_brokers();
                let Some(state) = self.partition_mut(topic, *partition) else {
                    return Err(if self.topics.contains_key(topic) {
                        Refusal::UnknownPartition {
                            topic: topic.clone(),
                            partition: *partition,
                        }
                    } else {
                        Refusal::UnknownTopic(topic.clone())
                    });
                };
                match target {
                    None => reassignment::cancel(state, &live),
                    Some(target) => {
                        let from = state.replication_factor();
                        if !allow_factor_change && target.len() != from {
                            return Err(Refusal::FactorChange {
                                from,
                                to: target.len(),
                            });
                        }
                        reassignment::start(state, target, &live)
                    }
                }
            }
        }
    }

    /// One partition's state, to change it.
    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionState> {
        self.topics
            .get_mut(topic)?
            .partitions
            .get_mut(usize::try_from(partition).ok()?)
    }

    /// Brokers that may lead and join ISRs: neither fenced nor stopping, by id.
    pub(crate) fn live_brokers(&self) -> Vec<i32> {
        self.brokers_where(|b| !b.fenced && !b.shutting_down)
    }

    /// Unfenced brokers, stopping ones included (they are fenced when their session ends).
    pub(crate) fn unfenced_brokers(&self) -> Vec<i32> {
        self.brokers_where(|b| !b.fenced)
    }

    /// The broker coordinating consumer group `group`, if its slot has one.
    pub(crate) fn group_coordinator(&self, group: &str) -> Option<i32> {
        self.coordinator_slots
            .get(&coordinator_slot(group))
            .copied()
    }

    /// The live broker to coordinate a slot that has no live coordinator: the one that
    /// coordinates the fewest slots (the lowest id among equals), so groups spread.
    pub(crate) fn coordinator_candidate(&self) -> Option<i32> {
        let mut load: BTreeMap<i32, usize> =
            self.live_brokers().into_iter().map(|id| (id, 0)).collect();
        for broker in self.coordinator_slots.values() {
            if let Some(count) = load.get_mut(broker) {
                *count += 1;
            }
        }
        load.into_iter()
            .min_by_key(|&(id, count)| (count, id))
            .map(|(id, _)| id)
    }

    /// Whether a heartbeat from broker `id` at `host:port`, run `incarnation`, finds it
    /// registered as it is: if not (never registered, fenced, moved, or restarted), the
    /// controller registers it again. A heartbeat its run sent just before it began a
    /// controlled shutdown is current, so it does not undo the shutdown.
    pub(crate) fn is_registered_as(
        &self,
        id: i32,
        host: &str,
        port: i32,
        incarnation: u64,
    ) -> bool {
        self.brokers.get(&id).is_some_and(|b| {
            !b.fenced && b.host == host && b.port == port && b.incarnation == incarnation
        })
    }

    fn brokers_where(&self, keep: impl Fn(&BrokerInfo) -> bool) -> Vec<i32> {
        self.brokers
            .iter()
            .filter(|(_, b)| keep(b))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Replicas for `count` new partitions from `first` on, spread round robin over the
    /// live brokers starting at a topic-dependent broker, so leaders spread too.
    fn assign(
        &self,
        name: &str,
        first: u32,
        count: u32,
        factor: u16,
    ) -> Result<Vec<PartitionState>, Refusal> {
        let live = self.live_brokers();
        if factor == 0 || usize::from(factor) > live.len() {
            return Err(Refusal::ReplicationFactor {
                requested: factor,
                live: live.len(),
            });
        }
        let start = name
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31) + b as usize);
        Ok((first..first + count)
            .map(|index| {
                let replicas: Vec<i32> = (0..usize::from(factor))
                    .map(|r| live[(start + index as usize + r) % live.len()])
                    .collect();
                PartitionState {
                    leader: replicas[0],
                    leader_epoch: 0,
                    isr: replicas.clone(),
                    replicas,
                    partition_epoch: 0,
                    adding: Vec::new(),
                    removing: Vec::new(),
                }
            })
            .collect())
    }

    /// A fenced broker leaves every ISR it can (never emptying one: the last member keeps
    /// the claim to the committed data) and hands leadership to a live ISR member; with no
    /// live ISR member, to any live replica only if the topic allows unclean election.
    fn move_away_from(&mut self, fenced: i32) {
        let live = self.live_brokers();
        for topic in self.topics.values_mut() {
            let unclean = topic.unclean_election();
            for p in &mut topic.partitions {
                let mut changed = false;
                if p.isr.len() > 1 && p.isr.contains(&fenced) {
                    p.isr.retain(|r| *r != fenced);
                    changed = true;
                }
                if p.leader == fenced {
                    p.leader = p
                        .isr
                        .iter()
                        .copied()
                        .find(|r| live.contains(r))
                        .unwrap_or(NO_LEADER);
                    p.leader_epoch += 1;
                    changed = true;
                }
                if p.leader == NO_LEADER && unclean && p.elect_unclean(&live) {
                    changed = true;
                }
                if changed {
                    p.partition_epoch += 1;
                }
            }
        }
    }

    /// Whether `id`, live, is in an ISR with another live broker: something a controlled
    /// shutdown would hand over.
    pub(crate) fn shares_an_isr(&self, id: i32) -> bool {
        let live = self.live_brokers();
        live.contains(&id)
            && self
                .topics
                .values()
                .flat_map(|t| &t.partitions)
                .any(|p| p.isr.contains(&id) && p.isr.iter().any(|r| *r != id && live.contains(r)))
    }

    /// Controlled shutdown of `id`: leadership to another live ISR member where there is one
    /// (the partition is left alone where there is not), and out of every ISR it shares.
    fn hand_over_from(&mut self, id: i32) {
        let live = self.live_brokers();
        for p in self.topics.values_mut().flat_map(|t| &mut t.partitions) {
            if !p.isr.contains(&id) {
                continue;
            }
            let successor = p.isr.iter().copied().find(|r| *r != id && live.contains(r));
            if p.leader == id {
                let Some(successor) = successor else {
                    continue;
                };
                p.leader = successor;
                p.leader_epoch += 1;
            } else if p.isr.len() == 1 {
                continue;
            }
            p.isr.retain(|r| *r != id);
            p.partition_epoch += 1;
        }
    }

    /// A broker that registers again leads the partitions that had no live leader and whose
    /// ISR it is in (it holds everything they committed).
    fn elect_for_returning(&mut self, id: i32) {
        for topic in self.topics.values_mut() {
            let unclean = topic.unclean_election();
            for p in &mut topic.partitions {
                if p.leader == NO_LEADER && p.isr.contains(&id) {
                    p.leader = id;
                    p.leader_epoch += 1;
                    p.partition_epoch += 1;
                } else if p.leader == NO_LEADER && unclean {
                    p.elect_unclean(&[id]);
                }
            }
        }
    }
}

impl TopicState {
    /// Whether `unclean.leader.election.enable` is on: a replica outside the ISR may lead
    /// when no ISR member is alive, losing what only the ISR had (Kafka's default: no).
    fn unclean_election(&self) -> bool {
        self.configs
            .iter()
            .any(|(key, value)| key == "unclean.leader.election.enable" && value == "true")
    }
}

impl PartitionState {
    /// Makes the first live replica (of `live`) the leader and sole ISR member, in a new
    /// epoch: the others truncate to its history when they return. Whether it found one.
    fn elect_unclean(&mut self, live: &[i32]) -> bool {
        let Some(chosen) = self.replicas.iter().copied().find(|r| live.contains(r)) else {
            return false;
        };
        tracing::warn!(
            leader = chosen,
            isr = ?self.isr,
            "unclean leader election: a replica outside the ISR leads; records only the ISR had are lost"
        );
        self.leader = chosen;
        self.isr = vec![chosen];
        self.leader_epoch += 1;
        self.partition_epoch += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn register(state: &mut ClusterState, id: i32) {
        state
            .apply(&ClusterCommand::RegisterBroker {
                id,
                host: "127.0.0.1".into(),
                port: 9000 + id,
                cluster_id: "c".into(),
                incarnation: 1,
            })
            .unwrap();
    }

    fn three_brokers_one_topic() -> ClusterState {
        let mut state = ClusterState::default();
        for id in 1..=3 {
            register(&mut state, id);
        }
        state
            .apply(&ClusterCommand::CreateTopic {
                name: "t".into(),
                id: Uuid::new_v4(),
                partitions: 6,
                replication_factor: 3,
                configs: Vec::new(),
            })
            .unwrap();
        state
    }

    /// What the leader of partition 0 of `t` proposes to make its ISR `isr`.
    fn isr_change_of_t0(state: &ClusterState, isr: Vec<i32>) -> ClusterCommand {
        let p = &state.topics["t"].partitions[0];
        ClusterCommand::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader: p.leader,
            partition_epoch: p.partition_epoch,
            isr,
        }
    }

    /// Topic `u`: one partition on all three brokers, unclean election as given.
    fn add_topic_u(state: &mut ClusterState, unclean: bool) {
        state
            .apply(&ClusterCommand::CreateTopic {
                name: "u".into(),
                id: Uuid::new_v4(),
                partitions: 1,
                replication_factor: 3,
                configs: vec![("unclean.leader.election.enable".into(), unclean.to_string())],
            })
            .unwrap();
    }

    #[test]
    fn assignment_spreads_leaders_over_live_brokers() {
        let state = three_brokers_one_topic();
        let topic = &state.topics["t"];
        let leaders: Vec<i32> = topic.partitions.iter().map(|p| p.leader).collect();
        for id in 1..=3 {
            assert_eq!(leaders.iter().filter(|l| **l == id).count(), 2);
        }
        for p in &topic.partitions {
            assert_eq!(p.isr, p.replicas);
            let mut sorted = p.replicas.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![1, 2, 3]);
        }
    }

    #[test]
    fn replication_factor_above_live_brokers_is_refused() {
        let mut state = ClusterState::default();
        register(&mut state, 1);
        let refused = state.apply(&ClusterCommand::CreateTopic {
            name: "t".into(),
            id: Uuid::new_v4(),
            partitions: 1,
            replication_factor: 2,
            configs: Vec::new(),
        });
        assert!(matches!(refused, Err(Refusal::ReplicationFactor { .. })));
    }

    #[test]
    fn fencing_moves_leadership_to_the_isr_and_bumps_epochs() {
        let mut state = three_brokers_one_topic();
        state.apply(&ClusterCommand::FenceBroker { id: 1 }).unwrap();
        for p in &state.topics["t"].partitions {
            assert_ne!(p.leader, 1);
            assert!(!p.isr.contains(&1));
            assert!(p.isr.contains(&p.leader));
        }
        let moved: Vec<_> = state.topics["t"]
            .partitions
            .iter()
            .filter(|p| p.leader_epoch == 1)
            .collect();
        assert_eq!(moved.len(), 2);
    }

    #[test]
    fn last_isr_member_keeps_its_claim_and_leads_again_on_return() {
        let mut state = three_brokers_one_topic();
        for id in 1..=3 {
            state.apply(&ClusterCommand::FenceBroker { id }).unwrap();
        }
        let p = state.topics["t"].partitions[0].clone();
        assert_eq!(p.leader, NO_LEADER);
        assert_eq!(p.isr.len(), 1);
        let last = p.isr[0];
        register(&mut state, last);
        assert_eq!(state.topics["t"].partitions[0].leader, last);
    }

    #[test]
    fn without_a_live_isr_member_only_an_unclean_topic_elects_another_replica() {
        for unclean in [false, true] {
            let mut state = three_brokers_one_topic();
            add_topic_u(&mut state, unclean);
            let p = state.topics["u"].partitions[0].clone();
            // The ISR shrinks to the leader alone, then the leader dies.
            state
                .apply(&ClusterCommand::AlterIsr {
                    topic: "u".into(),
                    partition: 0,
                    leader: p.leader,
                    partition_epoch: p.partition_epoch,
                    isr: vec![p.leader],
                })
                .unwrap();
            state
                .apply(&ClusterCommand::FenceBroker { id: p.leader })
                .unwrap();
            let after = &state.topics["u"].partitions[0];
            if unclean {
                assert!(after.leader >= 0 && after.leader != p.leader, "{after:?}");
                assert_eq!(after.isr, vec![after.leader]);
                assert!(after.leader_epoch > p.leader_epoch);
            } else {
                assert_eq!(after.leader, NO_LEADER, "{after:?}");
                assert_eq!(after.isr, vec![p.leader]);
            }
        }
    }

    #[test]
    fn a_fenced_broker_cannot_rejoin_the_isr() {
        let mut state = three_brokers_one_topic();
        state.apply(&ClusterCommand::FenceBroker { id: 3 }).unwrap();
        let rejoin = isr_change_of_t0(&state, vec![1, 2, 3]);
        assert_eq!(state.apply(&rejoin), Err(Refusal::InvalidIsr));
    }

    #[test]
    fn stale_isr_changes_are_refused() {
        let mut state = three_brokers_one_topic();
        let p = state.topics["t"].partitions[0].clone();
        let shrink = ClusterCommand::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader: p.leader,
            partition_epoch: p.partition_epoch,
            isr: vec![p.leader],
        };
        state.apply(&shrink).unwrap();
        assert_eq!(state.apply(&shrink), Err(Refusal::StaleIsr));
        assert_eq!(state.topics["t"].partitions[0].isr, vec![p.leader]);
    }

    #[test]
    fn a_reassignment_completes_when_the_leader_reports_the_new_replica_in_sync() {
        let mut state = three_brokers_one_topic();
        register(&mut state, 4);
        let p = state.topics["t"].partitions[0].clone();
        let target = vec![p.replicas[0], p.replicas[1], 4];
        state
            .apply(&ClusterCommand::ReassignPartition {
                topic: "t".into(),
                partition: 0,
                target: Some(target.clone()),
                allow_factor_change: false,
            })
            .unwrap();
        let moving = state.topics["t"].partitions[0].clone();
        assert_eq!(moving.adding, vec![4]);
        assert_eq!(moving.removing, vec![p.replicas[2]]);
        // Persisted in the metadata (and its snapshots) as any partition state.
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<ClusterState>(&json).unwrap(), state);

        let mut isr = moving.isr.clone();
        isr.push(4);
        state
            .apply(&ClusterCommand::AlterIsr {
                topic: "t".into(),
                partition: 0,
                leader: moving.leader,
                partition_epoch: moving.partition_epoch,
                isr,
            })
            .unwrap();
        let done = &state.topics["t"].partitions[0];
        assert_eq!(done.replicas, target);
        assert_eq!(done.isr, target);
        assert!(done.adding.is_empty() && done.removing.is_empty());
    }

    #[test]
    fn reassignments_of_unknown_partitions_or_to_other_counts_are_refused() {
        let mut state = three_brokers_one_topic();
        let reassign = |topic: &str, partition: i32, target: Option<Vec<i32>>| {
            ClusterCommand::ReassignPartition {
                topic: topic.into(),
                partition,
                target,
                allow_factor_change: false,
            }
        };
        assert_eq!(
            state.apply(&reassign("nope", 0, Some(vec![1]))),
            Err(Refusal::UnknownTopic("nope".into()))
        );
        assert!(matches!(
            state.apply(&reassign("t", 6, Some(vec![1]))),
            Err(Refusal::UnknownPartition { .. })
        ));
        assert_eq!(
            state.apply(&reassign("t", 0, Some(vec![1, 2]))),
            Err(Refusal::FactorChange { from: 3, to: 2 })
        );
        assert_eq!(
            state.apply(&reassign("t", 0, None)),
            Err(Refusal::NoReassignment)
        );
    }

    /// Broker 1 fenced and back: it leads nothing until it is in sync again, then the
    /// partitions it prefers go back to it in a new epoch, and no others move.
    #[test]
    fn a_returning_broker_gets_back_what_it_prefers_once_in_sync() {
        use super::preferred_leaders::{elect, imbalanced_brokers};
        let mut state = three_brokers_one_topic();
        state.apply(&ClusterCommand::FenceBroker { id: 1 }).unwrap();
        assert!(imbalanced_brokers(&state, 10).is_empty(), "1 is fenced");
        register(&mut state, 1);
        assert!(
            imbalanced_brokers(&state, 10).is_empty(),
            "1 is not in sync"
        );
        for index in 0..6 {
            let p = state.topics["t"].partitions[index].clone();
            state
                .apply(&ClusterCommand::AlterIsr {
                    topic: "t".into(),
                    partition: index as i32,
                    leader: p.leader,
                    partition_epoch: p.partition_epoch,
                    isr: p.replicas.clone(),
                })
                .unwrap();
        }
        assert_eq!(imbalanced_brokers(&state, 10), vec![1]);
        let before = state.topics["t"].partitions.clone();
        state
            .apply(&ClusterCommand::ElectPreferredLeaders { brokers: vec![1] })
            .unwrap();
        for (was, now) in before.iter().zip(&state.topics["t"].partitions) {
            assert_eq!(now.leader, now.replicas[0], "{now:?}");
            let moved = was.leader != now.leader;
            assert_eq!(moved, now.replicas[0] == 1, "{was:?} -> {now:?}");
            assert_eq!(now.leader_epoch, was.leader_epoch + i32::from(moved));
        }
        assert!(imbalanced_brokers(&state, 10).is_empty());
        assert_eq!(elect(&mut state, &[1, 2, 3]), 0, "nothing left to move");
    }

    /// A broker is imbalanced only beyond the percentage, and a partition being reassigned
    /// or whose preferred replica is out of the ISR does not count.
    #[test]
    fn the_imbalance_threshold_counts_only_partitions_that_can_move_back() {
        use super::preferred_leaders::imbalanced_brokers;
        let mut state = three_brokers_one_topic();
        let prefers_1: Vec<usize> = (0..6)
            .filter(|i| state.topics["t"].partitions[*i].replicas[0] == 1)
            .collect();
        assert_eq!(prefers_1.len(), 2);
        let partitions = &mut state.topics.get_mut("t").unwrap().partitions;
        let first = &mut partitions[prefers_1[0]];
        first.leader = first.replicas[1];
        // One of two led elsewhere: 50%.
        assert_eq!(imbalanced_brokers(&state, 49), vec![1]);
        assert!(imbalanced_brokers(&state, 50).is_empty());
        let partitions = &mut state.topics.get_mut("t").unwrap().partitions;
        partitions[prefers_1[0]].adding = vec![4];
        assert!(imbalanced_brokers(&state, 0).is_empty(), "being reassigned");
        let first = &mut state.topics.get_mut("t").unwrap().partitions[prefers_1[0]];
        first.adding.clear();
        first.isr.retain(|r| *r != 1);
        assert!(
            imbalanced_brokers(&state, 0).is_empty(),
            "1 is out of the ISR"
        );
    }

    /// Controlled shutdown: leadership to a live ISR member and out of every shared ISR; a
    /// partition the broker alone holds stays with it (no unclean election) until its session
    /// ends; no way back into an ISR until it registers again.
    #[test]
    fn a_broker_shutting_down_hands_over_and_stays_out_until_it_registers() {
        let mut state = three_brokers_one_topic();
        add_topic_u(&mut state, true);
        let alone = &mut state.topics.get_mut("u").unwrap().partitions[0];
        alone.leader = 1;
        alone.isr = vec![1];
        state
            .apply(&ClusterCommand::ShutDownBroker { id: 1 })
            .unwrap();
        for p in &state.topics["t"].partitions {
            assert_ne!(p.leader, 1, "{p:?}");
            assert!(!p.isr.contains(&1) && p.isr.contains(&p.leader), "{p:?}");
        }
        let alone = &state.topics["u"].partitions[0];
        assert_eq!(
            (alone.leader, alone.isr.clone()),
            (1, vec![1]),
            "no unclean election"
        );
        assert_eq!(state.live_brokers(), vec![2, 3]);
        assert_eq!(
            state.unfenced_brokers(),
            vec![1, 2, 3],
            "fenced when its session ends"
        );
        assert!(!state.shares_an_isr(1) && state.shares_an_isr(2));
        let rejoin = isr_change_of_t0(&state, vec![1, 2, 3]);
        assert_eq!(state.apply(&rejoin), Err(Refusal::InvalidIsr));
        register(&mut state, 1);
        assert_eq!(state.apply(&rejoin), Ok(()), "back after registering again");

        // Heartbeats: one its run sent before stopping does not register it again (that
        // would clear the shutdown); one from a restart, or after fencing or a move, does.
        let mut state = three_brokers_one_topic();
        state
            .apply(&ClusterCommand::ShutDownBroker { id: 1 })
            .unwrap();
        assert!(
            state.is_registered_as(1, "127.0.0.1", 9001, 1),
            "late heartbeat"
        );
        assert!(
            !state.is_registered_as(1, "127.0.0.1", 9001, 2),
            "restarted"
        );
        assert!(!state.is_registered_as(1, "127.0.0.1", 9100, 1), "moved");
        assert!(
            !state.is_registered_as(4, "127.0.0.1", 9004, 1),
            "never registered"
        );
        state.apply(&ClusterCommand::FenceBroker { id: 1 }).unwrap();
        assert!(!state.is_registered_as(1, "127.0.0.1", 9001, 1), "fenced");

        // Never registered again: fenced at the end of its session, as after a crash.
        let mut state = three_brokers_one_topic();
        state
            .apply(&ClusterCommand::ShutDownBroker { id: 2 })
            .unwrap();
        state.apply(&ClusterCommand::FenceBroker { id: 2 }).unwrap();
        assert!(state.brokers[&2].fenced);
        assert!(state.topics["t"].partitions.iter().all(|p| p.leader != 2));
    }

    /// Groups hash into slots as Kafka hashes them into `__consumer_offsets` partitions.
    #[test]
    fn a_group_hashes_to_its_slot_as_kafka_picks_its_offsets_partition() {
        // Java: "hello".hashCode() == 99162322; "polygenelubricants".hashCode() == i32::MIN.
        assert_eq!(coordinator_slot("hello"), 99_162_322 % 50);
        assert_eq!(coordinator_slot("polygenelubricants"), 0);
        // "my-group".hashCode() == -1906497762: Kafka's Utils.abs, not a sign mask.
        assert_eq!(coordinator_slot("my-group"), 12, "a negative hash");
        assert_eq!(coordinator_slot("groupé"), 6);
        // U+1F600 is the surrogate pair D83D DE00: 0xD83D * 31 + 0xDE00 = 1_772_899.
        assert_eq!(
            coordinator_slot("\u{1F600}"),
            1_772_899 % 50,
            "UTF-16 code units"
        );
    }

    /// A slot gets one coordinator, spread by load over live brokers; a proposal based on
    /// an outdated view is refused, and a slot whose coordinator is down moves, but not
    /// while that coordinator is live again.
    #[test]
    fn coordinator_slots_are_assigned_once_spread_and_moved_off_dead_brokers() {
        let mut state = three_brokers_one_topic();
        let assign = |slot, broker, replacing| ClusterCommand::AssignCoordinatorSlot {
            slot,
            broker,
            replacing,
        };
        let a = coordinator_slot("a");
        assert_eq!(state.coordinator_candidate(), Some(1));
        state.apply(&assign(a, 1, None)).unwrap();
        assert_eq!(
            state.apply(&assign(a, 2, None)),
            Err(Refusal::StaleCoordinator(a)),
            "a second first assignment loses"
        );
        assert_eq!(state.group_coordinator("a"), Some(1));
        assert_eq!(state.coordinator_candidate(), Some(2), "the least loaded");
        state.apply(&assign(7, 2, None)).unwrap();
        assert_eq!(state.coordinator_candidate(), Some(3));
        assert_eq!(
            state.apply(&assign(a, 3, Some(1))),
            Err(Refusal::StaleCoordinator(a)),
            "a live coordinator keeps its slot"
        );
        assert_eq!(
            state.apply(&assign(COORDINATOR_SLOTS, 3, None)),
            Err(Refusal::InvalidAssignment("no coordinator slot 50".into())),
        );

        state.apply(&ClusterCommand::FenceBroker { id: 1 }).unwrap();
        assert_eq!(
            state.apply(&assign(9, 1, None)),
            Err(Refusal::UnknownBroker(1)),
            "only live brokers coordinate"
        );
        assert_eq!(state.coordinator_candidate(), Some(3));
        state.apply(&assign(a, 3, Some(1))).unwrap();
        assert_eq!(state.group_coordinator("a"), Some(3));
        register(&mut state, 1);
        assert_eq!(
            state.group_coordinator("a"),
            Some(3),
            "no move back on return"
        );
    }
}
