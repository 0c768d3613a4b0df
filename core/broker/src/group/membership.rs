//! The member requests other than JoinGroup on the group state machine: SyncGroup (the
//! leader's assignment goes to every member), Heartbeat, LeaveGroup, the membership check an
//! OffsetCommit needs, and what DescribeGroups and OffsetDelete read.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use tokio::time::Instant;

use crate::group::results::{Answer, Assignment, GroupError, SyncResult};
use crate::group::state::{Group, GroupState};
use crate::group::subscription;

/// A SyncGroup, as the state machine needs it.
#[derive(Debug, Clone)]
pub(crate) struct SyncRequest {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) generation_id: i32,
    /// v5+: checked against the group's when present.
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    /// The leader's assignment per member id (empty from followers).
    pub(crate) assignments: Vec<(String, Bytes)>,
}

/// What becomes of a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncOutcome {
    Answered(SyncResult),
    /// Held until the leader's assignment arrives: an [`Answer::Sync`] for this member id.
    Held {
        member_id: String,
    },
}

/// A member named in a LeaveGroup: by member id, or (static, v3+) by instance id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeavingMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberDescription {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) metadata: Bytes,
    pub(crate) assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupDescription {
    pub(crate) state: GroupState,
    pub(crate) protocol_type: String,
    /// The selected protocol, once the group is stable.
    pub(crate) protocol: String,
    pub(crate) members: Vec<MemberDescription>,
}

impl Group {
    /// Handles a SyncGroup at `now`.
    pub(crate) fn sync(&mut self, request: SyncRequest, now: Instant) -> SyncOutcome {
        let refuse = |error| SyncOutcome::Answered(Err(error));
        let id = request.member_id.as_str();
        if self.state == GroupState::Dead {
            return refuse(GroupError::CoordinatorNotAvailable);
        }
        if self.is_fenced(id, request.instance_id.as_deref()) {
            return refuse(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(id) {
            return refuse(GroupError::UnknownMemberId);
        }
        if request.generation_id != self.generation {
            return refuse(GroupError::IllegalGeneration);
        }
        let mismatch =
            |asked: &Option<String>, group: &Option<String>| asked.is_some() && asked != group;
        if mismatch(&request.protocol_type, &self.protocol_type)
            || mismatch(&request.protocol_name, &self.protocol_name)
        {
            return refuse(GroupError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => refuse(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => refuse(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                self.synced(id);
                if let Some(member) = self.members.get_mut(id) {
                    member.awaiting_sync = true;
                }
                if self.leader.as_deref() == Some(id) {
                    self.install_assignment(request.assignments, now);
                }
                SyncOutcome::Held {
                    member_id: request.member_id,
                }
            }
            GroupState::Stable => {
                self.synced(id);
                let assignment = self.members.get_mut(id).map(|member| {
                    member.heartbeat(now);
                    member.assignment.clone()
                });
                SyncOutcome::Answered(Ok(self.assignment_of(assignment.unwrap_or_default())))
            }
        }
    }

    fn synced(&mut self, id: &str) {
        self.pending_sync.remove(id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
    }

    fn assignment_of(&self, assignment: Bytes) -> Assignment {
        Assignment {
            assignment,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
        }
    }

    /// The leader's assignment: stored for every member (empty for those it left out), sent
    /// to every held SyncGroup, and the group is stable.
    fn install_assignment(&mut self, assignments: Vec<(String, Bytes)>, now: Instant) {
        let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
        self.state = GroupState::Stable;
        tracing::info!(group = %self.id, generation = self.generation, "assignment received from the leader; group is stable");
        let (protocol_type, protocol_name) =
            (self.protocol_type.clone(), self.protocol_name.clone());
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.id).unwrap_or_default();
            if std::mem::take(&mut member.awaiting_sync) {
                member.heartbeat(now);
                self.answers.push(Answer::Sync {
                    member_id: member.id.clone(),
                    result: Ok(Assignment {
                        assignment: member.assignment.clone(),
                        protocol_type: protocol_type.clone(),
                        protocol_name: protocol_name.clone(),
                    }),
                });
            }
        }
    }

    /// Handles a Heartbeat at `now`: NONE while stable (or while the leader assigns),
    /// REBALANCE_IN_PROGRESS while members must rejoin.
    pub(crate) fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if self.is_fenced(member_id, instance_id) {
            return Err(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation_id != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.heartbeat(now);
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => Ok(()),
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
        }
    }

    /// Handles a LeaveGroup at `now`: one result per leaving member. The group error is
    /// for the whole request.
    pub(crate) fn leave(
        &mut self,
        leaving: &[LeavingMember],
        now: Instant,
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        Ok(leaving.iter().map(|m| self.leave_one(m, now)).collect())
    }

    fn leave_one(&mut self, leaving: &LeavingMember, now: Instant) -> Result<(), GroupError> {
        let id = leaving.member_id.as_str();
        let instance = leaving.instance_id.as_deref();
        if !id.is_empty() && self.is_fenced(id, instance) {
            return Err(GroupError::FencedInstanceId);
        }
        if self.pending_members.remove(id).is_some() {
            self.maybe_complete_join(now);
            return Ok(());
        }
        let target = instance
            .and_then(|i| self.static_members.get(i))
            .cloned()
            .or_else(|| self.members.contains_key(id).then(|| id.to_string()))
            .ok_or(GroupError::UnknownMemberId)?;
        tracing::info!(group = %self.id, member = %target, "member leaves");
        self.remove_member(&target, now);
        Ok(())
    }

    /// Whether an OffsetCommit from this member (or, with generation -1 and no member, from a
    /// client that manages its own assignment) may store offsets now.
    pub(crate) fn validate_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || instance_id.is_some() {
            if self.is_fenced(member_id, instance_id) {
                return Err(GroupError::FencedInstanceId);
            }
            if !self.members.contains_key(member_id) {
                return Err(GroupError::UnknownMemberId);
            }
            if generation_id != self.generation {
                return Err(GroupError::IllegalGeneration);
            }
        } else if self.state != GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.heartbeat(now);
        }
        Ok(())
    }

    /// The group as DescribeGroups shows it: member metadata and assignments only once
    /// stable, as Kafka does.
    pub(crate) fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = self
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.info.client_id.clone(),
                client_host: m.info.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        GroupDescription {
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }

    /// The topics the members of a consumer group subscribe to; `None` when the group is not a
    /// consumer group or a subscription does not parse (treat every topic as subscribed).
    pub(crate) fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(subscription::CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            topics.extend(subscription::topics(&member.metadata(protocol))?);
        }
        Some(topics)
    }
}
