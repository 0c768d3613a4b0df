//! Turns the applied cluster metadata into this broker's partitions and roles: creates the
//! logs of topics it holds, drops those of deleted topics, makes it leader, follower or
//! offline for each partition, and keeps one follower loop per followed partition (a new
//! leader or epoch restarts it). A copy of a partition this broker is not a replica of is
//! deleted (it was reassigned away, or created with the topic); one it becomes a replica of
//! is created empty and filled by its follower loop.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::follower::{self, Assignment};
use super::{LeaderTerm, Role};
use crate::broker::Broker;
use crate::cluster::state::{ClusterState, NO_LEADER};
use crate::config::TopicOverrides;
use crate::group::OFFSETS_TOPIC;

/// The running follower loops, by topic and partition.
#[derive(Debug, Default)]
pub(crate) struct FollowerLoops {
    running: HashMap<(String, i32), (Assignment, JoinHandle<()>)>,
}

impl FollowerLoops {
    fn ensure(&mut self, broker: &Arc<Broker>, assignment: Assignment) {
        let key = (assignment.topic.clone(), assignment.partition);
        if self
            .running
            .get(&key)
            .is_some_and(|(current, _)| *current == assignment)
        {
            return;
        }
        self.stop(&key);
        let task = tokio::spawn(follower::run(Arc::clone(broker), assignment.clone()));
        self.running.insert(key, (assignment, task));
    }

    fn stop(&mut self, key: &(String, i32)) {
        if let Some((_, task)) = self.running.remove(key) {
            task.abort();
        }
    }

    /// Stops every loop (shutdown).
    pub(crate) fn stop_all(&mut self) {
        for (_, (_, task)) in self.running.drain() {
            task.abort();
        }
    }
}

impl Drop for FollowerLoops {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Brings this broker's partitions in line with `state`. Topic logs are removed only for
/// deletions seen here (in `previous` and gone from `state`): a broker that starts before
/// its metadata log is replayed must not take the empty state for "no topics". Copies of
/// partitions not assigned here are deleted only with `drop_copies` (caught up).
pub(crate) fn apply(
    broker: &Arc<Broker>,
    previous: &ClusterState,
    state: &ClusterState,
    loops: &mut FollowerLoops,
    drop_copies: bool,
) {
    let me = broker.config.node_id();
    for local in broker.topics.list() {
        let deleted = previous
            .topics
            .get(&local.name)
            .is_some_and(|t| t.id == local.id)
            && state
                .topics
                .get(&local.name)
                .is_none_or(|t| t.id != local.id);
        if local.name != OFFSETS_TOPIC && deleted {
            for p in &local.partitions {
                loops.stop(&(local.name.clone(), p.index));
            }
            if let Err(e) = broker.topics.delete(&local.name) {
                tracing::warn!(topic = %local.name, error = %e, "removing a deleted topic's logs");
            }
        }
    }
    for (name, topic_state) in &state.topics {
        let mut overrides = TopicOverrides::default();
        for (key, value) in &topic_state.configs {
            if let Err(e) = overrides.set_kafka(key, Some(value)) {
                tracing::warn!(topic = %name, config = %key, error = %e, "ignoring a topic config from the metadata log");
            }
        }
        let mut topic = match broker.topics.ensure(
            name,
            topic_state.id,
            topic_state.partitions.len() as u32,
            overrides,
        ) {
            Ok(topic) => topic,
            Err(e) => {
                tracing::error!(topic = %name, error = %e, "cannot open a topic's logs");
                continue;
            }
        };
        for (index, p) in topic_state.partitions.iter().enumerate() {
            let key = (name.clone(), index as i32);
            if !p.replicas.contains(&me) {
                // Not (or no longer) a replica here: no follower, no copy on disk.
                loops.stop(&key);
                if let Some(partition) = topic.partition(index as i32) {
                    partition.replica.set_role(Role::Offline, &partition.log);
                }
                if drop_copies && let Err(e) = broker.topics.drop_copy(name, index as i32) {
                    tracing::warn!(topic = %name, partition = index, error = %e, "deleting the copy of a partition reassigned away");
                }
                continue;
            }
            if !broker.topics.holds_copy(name, index as i32) {
                match broker.topics.restore_copy(name, index as i32) {
                    Ok(restored) => topic = restored,
                    Err(e) => {
                        tracing::error!(topic = %name, partition = index, error = %e, "cannot create the copy of a partition assigned here");
                        continue;
                    }
                }
            }
            let Some(partition) = topic.partition(index as i32) else {
                continue;
            };
            let role = if p.leader == me {
                Role::Leader(LeaderTerm {
                    node: me,
                    epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                })
            } else if p.leader != NO_LEADER {
                Role::Follower {
                    leader: p.leader,
                    epoch: p.leader_epoch,
                }
            } else {
                Role::Offline
            };
            if let Role::Follower { leader, epoch } = &role {
                loops.ensure(
                    broker,
                    Assignment {
                        topic: name.clone(),
                        partition: index as i32,
                        leader: *leader,
                        epoch: *epoch,
                    },
                );
            } else {
                loops.stop(&key);
            }
            let was = partition.replica.role();
            if was != role {
                tracing::info!(topic = %name, partition = index, ?role, "partition role");
            }
            partition.replica.set_role(role, &partition.log);
        }
    }
    broker.signal_append();
}
