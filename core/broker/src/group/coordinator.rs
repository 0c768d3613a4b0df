//! `GroupCoordinator`: the groups of this broker (it is the coordinator of every group) and
//! their committed offsets, behind one lock, with the async edges around the pure state
//! machine.
//!
//! A request the state machine holds (a JoinGroup until the rebalance completes, a SyncGroup
//! until the leader's assignment arrives) gets a oneshot channel keyed by group and member id;
//! the answers the machine queues are routed to those channels after every event. A timer
//! task, started with the first group request, sleeps until the earliest deadline of any
//! group (or until an event wakes it) and ticks the groups that are due. The lock is never
//! held across an await; commits append under it and are answered after the append is
//! durable, outside it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weir_log::{AppendError, PartitionLog, ReadError};

use crate::group::join::{JoinOutcome, JoinRequest};
use crate::group::membership::{GroupDescription, LeavingMember, SyncOutcome, SyncRequest};
use crate::group::offset_record::CommittedOffset;
use crate::group::offsets::{Durable, GroupOffsets, OffsetStore, PartitionId};
use crate::group::results::{Answer, GroupError, JoinResult, SyncResult};
use crate::group::state::{Group, GroupConfig, GroupState};
use crate::group::subscription::CONSUMER_PROTOCOL_TYPE;

/// The longest the timer sleeps before checking that the broker still exists.
const TIMER_IDLE: Duration = Duration::from_secs(5);

/// An answer now, or one the coordinator sends when the group gets there.
#[derive(Debug)]
pub(crate) enum Pending<T> {
    Ready(T),
    Held(oneshot::Receiver<T>),
}

impl<T> Pending<T> {
    /// The answer; `gone` answers a held request whose group was dropped.
    pub(crate) async fn resolve(self, gone: impl FnOnce() -> T) -> T {
        match self {
            Self::Ready(answer) => answer,
            Self::Held(receiver) => receiver.await.unwrap_or_else(|_| gone()),
        }
    }
}

/// Why offsets were not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreOffsetsError {
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("appending to the offsets log: {0}")]
    Append(#[from] AppendError),
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupOverview {
    pub(crate) group_id: String,
    pub(crate) protocol_type: String,
    pub(crate) state: GroupState,
}

/// The groups and committed offsets of the broker.
#[derive(Debug)]
pub(crate) struct GroupCoordinator {
    config: GroupConfig,
    inner: Mutex<Inner>,
    wake: Arc<Notify>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Inner {
    groups: BTreeMap<String, Group>,
    offsets: OffsetStore,
    held_joins: HashMap<(String, String), oneshot::Sender<JoinResult>>,
    held_syncs: HashMap<(String, String), oneshot::Sender<SyncResult>>,
}

impl GroupCoordinator {
    /// Replays the committed offsets from `offsets_log` (partition 0 of `__consumer_offsets`).
    pub(crate) fn open(
        offsets_log: Arc<PartitionLog>,
        config: GroupConfig,
    ) -> Result<Self, ReadError> {
        Ok(Self {
            config,
            inner: Mutex::new(Inner {
                groups: BTreeMap::new(),
                offsets: OffsetStore::open(offsets_log)?,
                held_joins: HashMap::new(),
                held_syncs: HashMap::new(),
            }),
            wake: Arc::new(Notify::new()),
            timer: Mutex::new(None),
        })
    }

    /// Handles a JoinGroup.
    pub(crate) fn join(
        self: &Arc<Self>,
        group_id: &str,
        request: JoinRequest,
    ) -> Pending<JoinResult> {
        self.ensure_timer();
        let mut inner = self.inner.lock();
        if !inner.groups.contains_key(group_id) && !request.member_id.is_empty() {
            return Pending::Ready(JoinResult::error(
                request.member_id,
                GroupError::UnknownMemberId,
            ));
        }
        let config = self.config;
        let group = inner
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, config));
        let outcome = group.join(request, Instant::now());
        let pending = match outcome {
            JoinOutcome::Answered(result) => Pending::Ready(result),
            JoinOutcome::Held { member_id } => {
                let (sender, receiver) = oneshot::channel();
                let key = (group_id.to_string(), member_id.clone());
                if let Some(previous) = inner.held_joins.insert(key, sender) {
                    let _ = previous.send(JoinResult::error(
                        member_id,
                        GroupError::RebalanceInProgress,
                    ));
                }
                Pending::Held(receiver)
            }
        };
        inner.settle(group_id);
        self.wake.notify_one();
        pending
    }

    /// Handles a SyncGroup.
    pub(crate) fn sync(
        self: &Arc<Self>,
        group_id: &str,
        request: SyncRequest,
    ) -> Pending<SyncResult> {
        self.ensure_timer();
        let mut inner = self.inner.lock();
        let Some(group) = inner.groups.get_mut(group_id) else {
            return Pending::Ready(Err(GroupError::UnknownMemberId));
        };
        let pending = match group.sync(request, Instant::now()) {
            SyncOutcome::Answered(result) => Pending::Ready(result),
            SyncOutcome::Held { member_id } => {
                let (sender, receiver) = oneshot::channel();
                let key = (group_id.to_string(), member_id);
                if let Some(previous) = inner.held_syncs.insert(key, sender) {
                    let _ = previous.send(Err(GroupError::RebalanceInProgress));
                }
                Pending::Held(receiver)
            }
        };
        inner.settle(group_id);
        self.wake.notify_one();
        pending
    }

    /// Handles a Heartbeat.
    pub(crate) fn heartbeat(
        self: &Arc<Self>,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        self.ensure_timer();
        let mut inner = self.inner.lock();
        let group = inner
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        // A heartbeat only moves a deadline later: the timer need not wake.
        group.heartbeat(member_id, instance_id, generation_id, Instant::now())
    }

    /// Handles a LeaveGroup: one result per member, or an error for the whole request.
    pub(crate) fn leave(
        self: &Arc<Self>,
        group_id: &str,
        leaving: &[LeavingMember],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        self.ensure_timer();
        let mut inner = self.inner.lock();
        let Some(group) = inner.groups.get_mut(group_id) else {
            return Ok(vec![Err(GroupError::UnknownMemberId); leaving.len()]);
        };
        let result = group.leave(leaving, Instant::now());
        inner.settle(group_id);
        self.wake.notify_one();
        result
    }

    /// Checks the committer's membership and appends `offsets`; the caller answers once
    /// the returned append is durable. A group the coordinator does not know accepts
    /// commits only from clients outside group management (generation -1).
    pub(crate) fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        offsets: Vec<(PartitionId, CommittedOffset)>,
        now_ms: i64,
    ) -> Result<Durable, StoreOffsetsError> {
        let mut inner = self.inner.lock();
        match inner.groups.get_mut(group_id) {
            Some(group) => {
                group.validate_commit(member_id, instance_id, generation_id, Instant::now())?
            }
            None if generation_id < 0 => {}
            None => return Err(GroupError::IllegalGeneration.into()),
        }
        Ok(inner.offsets.commit(group_id, offsets, now_ms)?)
    }

    /// The committed offsets of `group_id` (empty if it has none).
    pub(crate) fn committed(&self, group_id: &str) -> GroupOffsets {
        self.inner
            .lock()
            .offsets
            .group(group_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every group: those with members and those with only committed offsets (`Empty`).
    pub(crate) fn list(&self) -> Vec<GroupOverview> {
        let inner = self.inner.lock();
        let mut overviews: BTreeMap<&str, GroupOverview> = inner
            .offsets
            .groups()
            .map(|id| {
                let overview = GroupOverview {
                    group_id: id.to_string(),
                    protocol_type: String::new(),
                    state: GroupState::Empty,
                };
                (id, overview)
            })
            .collect();
        for (id, group) in &inner.groups {
            overviews.insert(
                id,
                GroupOverview {
                    group_id: id.clone(),
                    protocol_type: group.protocol_type().unwrap_or_default().to_string(),
                    state: group.state(),
                },
            );
        }
        overviews.into_values().collect()
    }

    /// The group as DescribeGroups shows it; `Dead` and empty when it does not exist.
    pub(crate) fn describe(&self, group_id: &str) -> GroupDescription {
        let inner = self.inner.lock();
        if let Some(group) = inner.groups.get(group_id) {
            return group.describe();
        }
        let state = if inner.offsets.has_offsets(group_id) {
            GroupState::Empty
        } else {
            GroupState::Dead
        };
        GroupDescription {
            state,
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        }
    }

    /// Deletes an empty group and its committed offsets.
    pub(crate) fn delete_group(
        &self,
        group_id: &str,
        now_ms: i64,
    ) -> Result<Option<Durable>, StoreOffsetsError> {
        let mut inner = self.inner.lock();
        let has_offsets = inner.offsets.has_offsets(group_id);
        match inner.groups.get_mut(group_id) {
            Some(group) if group.state() != GroupState::Empty => {
                return Err(GroupError::NonEmptyGroup.into());
            }
            Some(group) => group.mark_dead(),
            None if has_offsets => {}
            None => return Err(GroupError::GroupIdNotFound.into()),
        }
        inner.groups.remove(group_id);
        let durable = inner.offsets.delete_group(group_id, now_ms)?;
        tracing::info!(group = group_id, "deleted group");
        Ok(durable)
    }

    /// Deletes committed offsets of `group_id`: every partition of a topic the group still
    /// consumes gets GROUP_SUBSCRIBED_TO_TOPIC; a group with members that is not a consumer
    /// group refuses with NON_EMPTY_GROUP.
    #[allow(clippy::type_complexity)]
    pub(crate) fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[PartitionId],
        now_ms: i64,
    ) -> Result<(Vec<Result<(), GroupError>>, Option<Durable>), StoreOffsetsError> {
        let mut inner = self.inner.lock();
        let subscribed = match inner.groups.get(group_id) {
            None if !inner.offsets.has_offsets(group_id) => {
                return Err(GroupError::GroupIdNotFound.into());
            }
            None => None,
            Some(group) => match group.state() {
                GroupState::Dead => return Err(GroupError::GroupIdNotFound.into()),
                GroupState::Empty => None,
                _ if group.protocol_type() == Some(CONSUMER_PROTOCOL_TYPE) => {
                    Some(group.subscribed_topics())
                }
                _ => return Err(GroupError::NonEmptyGroup.into()),
            },
        };
        let results: Vec<Result<(), GroupError>> = partitions
            .iter()
            .map(|p| match &subscribed {
                // Subscriptions that do not parse count as subscribed to everything.
                Some(None) => Err(GroupError::SubscribedToTopic),
                Some(Some(topics)) if topics.contains(&p.topic) => {
                    Err(GroupError::SubscribedToTopic)
                }
                _ => Ok(()),
            })
            .collect();
        let deletable: Vec<PartitionId> = partitions
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(p, _)| p.clone())
            .collect();
        let durable = inner.offsets.delete(group_id, &deletable, now_ms)?;
        inner.settle(group_id);
        Ok((results, durable))
    }

    /// Forgets every group's committed offsets for a deleted topic, as Kafka does, so a
    /// topic created again under the name starts without them.
    pub(crate) fn forget_topic(
        &self,
        topic: &str,
        now_ms: i64,
    ) -> Result<Option<Durable>, AppendError> {
        let mut inner = self.inner.lock();
        let durable = inner.offsets.delete_topic(topic, now_ms)?;
        let ids: Vec<String> = inner.groups.keys().cloned().collect();
        for id in ids {
            inner.settle(&id);
        }
        Ok(durable)
    }

    /// Ticks every group due at `now`; returns the next deadline of any group.
    fn expire(&self, now: Instant) -> Option<Instant> {
        let mut inner = self.inner.lock();
        let due: Vec<String> = inner
            .groups
            .iter()
            .filter(|(_, g)| g.next_deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            if let Some(group) = inner.groups.get_mut(&id) {
                group.tick(now);
            }
            inner.settle(&id);
        }
        inner.groups.values().filter_map(Group::next_deadline).min()
    }

    /// Starts the timer task unless it runs (it stops with the runtime that ran it).
    fn ensure_timer(self: &Arc<Self>) {
        let mut timer = self.timer.lock();
        if timer.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let coordinator = Arc::downgrade(self);
        let wake = Arc::clone(&self.wake);
        *timer = Some(runtime.spawn(run_timer(coordinator, wake)));
    }
}

impl Inner {
    /// Routes the group's answers to the requests it held, and forgets the group once
    /// nothing ties it to the coordinator (its offsets are kept apart).
    fn settle(&mut self, group_id: &str) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        for answer in group.take_answers() {
            match answer {
                Answer::Join { member_id, result } => {
                    if let Some(held) = self.held_joins.remove(&(group_id.to_string(), member_id)) {
                        let _ = held.send(result);
                    }
                }
                Answer::Sync { member_id, result } => {
                    if let Some(held) = self.held_syncs.remove(&(group_id.to_string(), member_id)) {
                        let _ = held.send(result);
                    }
                }
            }
        }
        if group.is_idle() && !self.offsets.has_offsets(group_id) {
            self.groups.remove(group_id);
        }
    }
}

/// Sleeps until the earliest group deadline, or until an event may have moved it, and
/// ticks the due groups; ends once the coordinator is gone.
async fn run_timer(coordinator: Weak<GroupCoordinator>, wake: Arc<Notify>) {
    loop {
        let next = match coordinator.upgrade() {
            Some(coordinator) => coordinator.expire(Instant::now()),
            None => return,
        };
        let idle = Instant::now() + TIMER_IDLE;
        let until = next.map_or(idle, |n| n.min(idle));
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            () = wake.notified() => {}
        }
    }
}
