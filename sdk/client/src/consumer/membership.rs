//! Group membership for `subscribe`: the eager rebalance protocol the `range` and
//! `roundrobin` assignors use. A rebalance revokes everything (auto-committing first when
//! enabled, then telling the listener), joins, lets the leader compute the assignment,
//! syncs, and starts a heartbeat task. The task only heartbeats; when the coordinator says
//! a rebalance is under way (or forgot us), it raises a signal that wakes `poll`, which
//! rejoins. Leaving happens on `close`, `unsubscribe` or drop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kafka_protocol::ResponseError;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};

use super::assignor::assign;
use super::config::AssignmentStrategy;
use super::coordinator::{Coordinator, coordinator_moved};
use super::listener::RebalanceListener;
use super::{Consumer, Position};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// This member's identity in the group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) generation: i32,
}

/// What the heartbeat task tells `poll`.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    rejoin: AtomicBool,
    forget_member: AtomicBool,
    pub(crate) notify: Notify,
}

impl Signal {
    fn raise(&self, forget_member: bool) {
        self.forget_member.fetch_or(forget_member, Ordering::SeqCst);
        self.rejoin.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

/// Aborts the heartbeat task when dropped.
#[derive(Debug)]
struct Heartbeat(JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A consumer's group: coordinator, identity, subscription and heartbeat.
pub(crate) struct GroupState {
    pub(crate) coordinator: Arc<Coordinator>,
    pub(crate) member: Arc<Mutex<Member>>,
    pub(crate) signal: Arc<Signal>,
    pub(crate) subscription: Vec<String>,
    pub(crate) listener: Option<Box<dyn RebalanceListener>>,
    pub(crate) joined: bool,
    pub(crate) last_auto_commit: Instant,
    heartbeat: Option<Heartbeat>,
    /// As the leader: each subscribed topic's partition count the assignment was made
    /// with (0 for a topic that did not exist), and when it was last compared.
    snapshot: Option<(BTreeMap<String, i32>, Instant)>,
}

impl GroupState {
    pub(crate) fn new(coordinator: Coordinator) -> Self {
        Self {
            coordinator: Arc::new(coordinator),
            member: Arc::new(Mutex::new(Member {
                id: String::new(),
                generation: -1,
            })),
            signal: Arc::default(),
            subscription: Vec::new(),
            listener: None,
            joined: false,
            last_auto_commit: Instant::now(),
            heartbeat: None,
            snapshot: None,
        }
    }

    /// Whether the consumer is managed by the group (subscribed).
    pub(crate) fn subscribed(&self) -> bool {
        !self.subscription.is_empty()
    }

    /// The generation and member id commits carry: the group's when subscribed, -1 and
    /// none for a consumer that only commits.
    pub(crate) fn commit_identity(&self) -> (i32, String) {
        if self.subscribed() {
            let m = self.member.lock();
            (m.generation, m.id.clone())
        } else {
            (-1, String::new())
        }
    }
}

fn protocol_names(strategy: AssignmentStrategy) -> Vec<&'static str> {
    match strategy {
        AssignmentStrategy::Range => vec!["range", "roundrobin"],
        AssignmentStrategy::RoundRobin => vec!["roundrobin", "range"],
    }
}

impl Consumer {
    fn group_mut(&mut self) -> Result<&mut GroupState> {
        self.group.as_mut().ok_or(Error::NoGroup)
    }

    /// Joins the group (`group_id`) and reads the partitions of `topics` it assigns to this
    /// member, replacing any manual assignment.
    pub fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        let mut topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        topics.sort();
        topics.dedup();
        if topics.is_empty() {
            return Err(Error::Config("subscribe needs at least one topic"));
        }
        let group = self.group_mut()?;
        if group.subscription != topics {
            group.subscription = topics;
            group.signal.raise(false);
        }
        Ok(())
    }

    /// As [`Self::subscribe`], telling `listener` about revoked and assigned partitions.
    pub fn subscribe_with_listener<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
        listener: impl RebalanceListener + 'static,
    ) -> Result<()> {
        self.group_mut()?.listener = Some(Box::new(listener));
        self.subscribe(topics)
    }

    /// The subscribed topics.
    pub fn subscription(&self) -> Vec<String> {
        self.group
            .as_ref()
            .map(|g| g.subscription.clone())
            .unwrap_or_default()
    }

    /// Leaves the group and drops the assignment.
    pub async fn unsubscribe(&mut self) -> Result<()> {
        self.revoke_all().await;
        self.leave().await;
        if let Some(group) = &mut self.group {
            group.subscription.clear();
        }
        Ok(())
    }

    /// Rejoins when subscribed and not (or no longer) a member in good standing.
    /// A rejoin that fails retriably is retried until `deadline` (the caller's poll), then
    /// reported; the next poll resumes it. A JoinGroup under way is not cut short: it waits
    /// for the other members, so a poll may outlast its timeout while a rebalance completes.
    pub(crate) async fn maintain_group(&mut self, deadline: Instant) -> Result<()> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        if !group.subscribed() {
            return Ok(());
        }
        if group.joined && !group.signal.rejoin.load(Ordering::SeqCst) {
            self.check_metadata().await;
            return Ok(());
        }
        self.rebalance(deadline).await
    }

    /// As the leader, every `metadata_max_age`: rejoins when a subscribed topic's partition
    /// count changed since the assignment (a topic appeared or grew).
    async fn check_metadata(&mut self) {
        let max_age = self.config.metadata_max_age;
        let Some((snapshot, checked)) = self.group.as_mut().and_then(|g| g.snapshot.as_mut())
        else {
            return;
        };
        if checked.elapsed() < max_age {
            return;
        }
        *checked = Instant::now();
        let topics: Vec<String> = snapshot.keys().cloned().collect();
        let snapshot = snapshot.clone();
        if let Err(e) = self.cluster.refresh(&topics).await {
            tracing::debug!(error = %e, "metadata refresh failed");
            return;
        }
        if partition_counts(&self.cluster, topics) != snapshot
            && let Some(group) = &self.group
        {
            tracing::info!("subscribed topics changed; rebalancing");
            group.signal.raise(false);
        }
    }

    /// Revokes every assigned partition: auto-commit, then the listener.
    async fn revoke_all(&mut self) {
        let Some(group) = &mut self.group else {
            return;
        };
        if !group.joined {
            return;
        }
        group.joined = false;
        group.heartbeat = None;
        let revoked = self.assignment();
        if self.config.enable_auto_commit
            && let Err(e) = self.commit_sync().await
        {
            tracing::warn!(error = %e, "committing before a rebalance failed");
        }
        self.call_listener(&revoked, true).await;
        self.assign(Vec::new());
    }

    pub(crate) async fn call_listener(&mut self, partitions: &[TopicPartition], revoked: bool) {
        let Some(mut listener) = self.group.as_mut().and_then(|g| g.listener.take()) else {
            return;
        };
        if revoked {
            listener.on_partitions_revoked(self, partitions).await;
        } else {
            listener.on_partitions_assigned(self, partitions).await;
        }
        if let Some(group) = &mut self.group {
            group.listener = Some(listener);
        }
    }

    async fn rebalance(&mut self, deadline: Instant) -> Result<()> {
        self.revoke_all().await;
        let (assigned, snapshot) = loop {
            match self.join_and_sync().await {
                Ok(done) => break done,
                Err(e) if Instant::now() < deadline && retry_join(&e) => {
                    tracing::debug!(error = %e, "joining the group again");
                    if let Error::Broker {
                        error: ResponseError::UnknownMemberId | ResponseError::IllegalGeneration,
                        ..
                    } = e
                        && let Some(group) = &self.group
                    {
                        group.member.lock().id.clear();
                    }
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                Err(e) => return Err(e),
            }
        };
        let interval = self.config.heartbeat_interval;
        let session = self.config.session_timeout;
        let group = self.group_mut()?;
        group.snapshot = snapshot.map(|s| (s, Instant::now()));
        group.joined = true;
        group.signal.rejoin.store(false, Ordering::SeqCst);
        let member = group.member.lock().clone();
        group.heartbeat = Some(start_heartbeat(
            Arc::clone(&group.coordinator),
            member,
            interval,
            session,
            Arc::clone(&group.signal),
        ));
        tracing::info!(partitions = ?assigned, "assigned by the group");
        self.assign(assigned.iter().cloned());
        self.call_listener(&assigned, false).await;
        Ok(())
    }

    /// Joins and syncs: this member's partitions, and, as the leader, the partition counts
    /// the assignment was made with.
    async fn join_and_sync(
        &mut self,
    ) -> Result<(Vec<TopicPartition>, Option<BTreeMap<String, i32>>)> {
        let config = Arc::clone(&self.config);
        let group = self.group.as_ref().ok_or(Error::NoGroup)?;
        let coordinator = Arc::clone(&group.coordinator);
        if group.signal.forget_member.swap(false, Ordering::SeqCst) {
            group.member.lock().id.clear();
        }
        let member_id = group.member.lock().id.clone();
        let subscription = group.subscription.clone();
        let joined = coordinator
            .join(
                &member_id,
                &subscription,
                &protocol_names(config.assignment_strategy),
                config.session_timeout,
                config.max_poll_interval,
            )
            .await?;
        {
            let mut member = group.member.lock();
            member.id = joined.member_id.clone();
            member.generation = joined.generation;
        }
        let mut snapshot = None;
        let assignments = if joined.leader {
            let strategy = if joined.protocol == "roundrobin" {
                AssignmentStrategy::RoundRobin
            } else {
                AssignmentStrategy::Range
            };
            let mut topics: Vec<String> = joined.members.values().flatten().cloned().collect();
            topics.sort();
            topics.dedup();
            self.cluster.refresh(&topics).await?;
            let counts = partition_counts(&self.cluster, topics);
            let partitions: BTreeMap<String, i32> = counts
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(t, n)| (t.clone(), *n))
                .collect();
            snapshot = Some(counts);
            assign(strategy, &joined.members, &partitions)
        } else {
            BTreeMap::new()
        };
        let assigned = coordinator
            .sync(
                joined.generation,
                &joined.member_id,
                &joined.protocol,
                &assignments,
                config.max_poll_interval,
            )
            .await?;
        Ok((assigned, snapshot))
    }

    /// Sends LeaveGroup (when configured) and forgets the membership.
    pub(crate) async fn leave(&mut self) {
        let leave = self.config.leave_group_on_close;
        let Some(group) = &mut self.group else {
            return;
        };
        group.heartbeat = None;
        group.joined = false;
        let member = std::mem::take(&mut *group.member.lock());
        if leave
            && !member.id.is_empty()
            && let Err(e) = group.coordinator.leave(&member.id).await
        {
            tracing::debug!(error = %e, "LeaveGroup failed");
        }
    }

    /// Positions from the committed offsets for partitions that have none.
    pub(crate) async fn fetch_committed_positions(&mut self) -> Result<()> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let unknown: Vec<TopicPartition> = self
            .assignment
            .iter()
            .filter(|(_, s)| s.position == Position::Unknown)
            .map(|(tp, _)| tp.clone())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let committed = group.coordinator.committed(&unknown).await?;
        for (tp, offset) in committed {
            if let (Some(offset), Some(state)) = (offset, self.assignment.get_mut(&tp))
                && state.position == Position::Unknown
            {
                state.position = Position::At(offset);
            }
        }
        Ok(())
    }
}

/// Each topic's partition count as the cluster metadata has it (0 when unknown).
fn partition_counts(cluster: &Cluster, topics: Vec<String>) -> BTreeMap<String, i32> {
    topics
        .into_iter()
        .map(|t| {
            let n = cluster.topic(&t).map_or(0, |i| i.partitions.len() as i32);
            (t, n)
        })
        .collect()
}

/// Errors after which joining again may work.
pub(crate) fn retry_join(error: &Error) -> bool {
    coordinator_moved(error)
        || matches!(
            error,
            Error::Broker {
                error: ResponseError::UnknownMemberId
                    | ResponseError::IllegalGeneration
                    | ResponseError::RebalanceInProgress
                    | ResponseError::UnknownTopicOrPartition,
                ..
            }
        )
        || error.is_retriable()
}

fn start_heartbeat(
    coordinator: Arc<Coordinator>,
    member: Member,
    interval: Duration,
    session: Duration,
    signal: Arc<Signal>,
) -> Heartbeat {
    Heartbeat(tokio::spawn(async move {
        let mut last_ok = Instant::now();
        loop {
            tokio::time::sleep(interval).await;
            match coordinator.heartbeat(member.generation, &member.id).await {
                Ok(()) => last_ok = Instant::now(),
                Err(Error::Broker {
                    error: ResponseError::RebalanceInProgress,
                    ..
                }) => {
                    signal.raise(false);
                    return;
                }
                Err(Error::Broker {
                    error:
                        ResponseError::UnknownMemberId
                        | ResponseError::IllegalGeneration
                        | ResponseError::FencedInstanceId,
                    ..
                }) => {
                    signal.raise(true);
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "heartbeat failed");
                    if last_ok.elapsed() > session {
                        // The coordinator has surely dropped us by now.
                        signal.raise(true);
                        return;
                    }
                }
            }
        }
    }))
}
