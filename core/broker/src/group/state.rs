//! The classic group protocol as a pure state machine: one [`Group`] per group id, driven by
//! events (a JoinGroup, a SyncGroup, a heartbeat, a leave, the clock) that each take the
//! current time. It never blocks and owns no sockets or timers: a request it cannot answer
//! yet is marked as held, and the answers it produces later (when a rebalance completes, when
//! the leader's assignment arrives, when a held member is removed) are queued as [`Answer`]s
//! that the coordinator drains and routes to the held requests. [`Group::next_deadline`] says
//! when [`Group::tick`] must run next.
//!
//! States, as in Kafka: `Empty` (no members) → `PreparingRebalance` (collecting JoinGroups
//! until every known member rejoined or the rebalance timeout passed) → `CompletingRebalance`
//! (joins answered, the leader computes the assignment) → `Stable` (the leader's SyncGroup
//! delivered every assignment); any membership change sends a non-empty group back to
//! `PreparingRebalance`. `Dead` is a deleted group.
//!
//! JoinGroup handling lives in `join`, the other member requests in `membership`; what the
//! machine answers is in `results`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::group::member::Member;
use crate::group::results::{Answer, GroupError, JoinResult, JoinedMember};

/// The coordinator settings every group follows (Kafka's `group.*` broker settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupConfig {
    /// The shortest session timeout a member may ask for.
    pub(crate) min_session_timeout: Duration,
    /// The longest session timeout a member may ask for.
    pub(crate) max_session_timeout: Duration,
    /// How long the first rebalance of an empty group waits for more members to join.
    pub(crate) initial_rebalance_delay: Duration,
}

/// Where a group is in the rebalance protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka reports (ListGroups, DescribeGroups).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

/// The timer of a rebalance being prepared.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rebalance {
    pub(super) deadline: Instant,
    /// Set during the initial delay of an empty group's rebalance.
    pub(super) initial: Option<InitialDelay>,
}

/// Kafka's `group.initial.rebalance.delay.ms`: the first rebalance of an empty group waits
/// the delay, and again (within the rebalance timeout) while new members keep arriving.
#[derive(Debug, Clone, Copy)]
pub(super) struct InitialDelay {
    pub(super) remaining: Duration,
    pub(super) new_member_added: bool,
}

/// One consumer group's membership and rebalance state.
#[derive(Debug)]
pub(crate) struct Group {
    pub(super) id: String,
    pub(super) config: GroupConfig,
    pub(super) state: GroupState,
    pub(super) generation: i32,
    pub(super) protocol_type: Option<String>,
    pub(super) protocol_name: Option<String>,
    pub(super) leader: Option<String>,
    pub(super) members: BTreeMap<String, Member>,
    /// `group.instance.id` → member id of the static members.
    pub(super) static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, each until its deadline.
    pub(super) pending_members: BTreeMap<String, Instant>,
    pub(super) rebalance: Option<Rebalance>,
    /// Members that must send SyncGroup for the current generation by `sync_deadline`.
    pub(super) pending_sync: BTreeSet<String>,
    pub(super) sync_deadline: Option<Instant>,
    pub(super) answers: Vec<Answer>,
}

impl Group {
    /// A new, empty group.
    pub(crate) fn new(id: impl Into<String>, config: GroupConfig) -> Self {
        Self {
            id: id.into(),
            config,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            rebalance: None,
            pending_sync: BTreeSet::new(),
            sync_deadline: None,
            answers: Vec::new(),
        }
    }

    pub(crate) fn state(&self) -> GroupState {
        self.state
    }

    #[cfg(test)]
    pub(crate) fn generation(&self) -> i32 {
        self.generation
    }

    #[cfg(test)]
    pub(crate) fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub(crate) fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    #[cfg(test)]
    pub(crate) fn member(&self, id: &str) -> Option<&Member> {
        self.members.get(id)
    }

    /// Whether nothing ties the group to the coordinator any more: no members, no member id
    /// handed out. (Its committed offsets, kept elsewhere, may still exist.)
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, GroupState::Empty | GroupState::Dead)
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    /// Marks the group deleted.
    pub(crate) fn mark_dead(&mut self) {
        self.state = GroupState::Dead;
    }

    /// The answers to held requests produced since the last call.
    pub(crate) fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    /// When [`tick`](Self::tick) must run next, if anything is timed.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let rebalance = self
            .rebalance
            .filter(|_| self.state == GroupState::PreparingRebalance)
            .map(|r| r.deadline);
        let sync = self.sync_deadline.filter(|_| !self.pending_sync.is_empty());
        self.pending_members
            .values()
            .copied()
            .chain(self.members.values().filter_map(Member::expiry))
            .chain(rebalance)
            .chain(sync)
            .min()
    }

    /// Applies every timeout due at `now`: pending member ids and sessions expire, members
    /// that never sent SyncGroup are removed, a rebalance whose wait is over completes.
    pub(crate) fn tick(&mut self, now: Instant) {
        let before = self.pending_members.len();
        self.pending_members.retain(|_, deadline| *deadline > now);
        if self.pending_members.len() != before {
            self.maybe_complete_join(now);
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.expiry().is_some_and(|d| d <= now))
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired; removing it");
            self.remove_member(&id, now);
        }
        if self.sync_deadline.is_some_and(|d| d <= now) {
            self.sync_deadline = None;
            for id in std::mem::take(&mut self.pending_sync) {
                tracing::info!(group = %self.id, member = %id, "member did not sync in time; removing it");
                self.remove_member(&id, now);
            }
        }
        let due = self.rebalance.filter(|r| r.deadline <= now);
        if let (GroupState::PreparingRebalance, Some(rebalance)) = (self.state, due) {
            self.on_rebalance_deadline(rebalance, now);
        }
    }

    fn on_rebalance_deadline(&mut self, rebalance: Rebalance, now: Instant) {
        if let Some(initial) = rebalance.initial
            && initial.new_member_added
            && !initial.remaining.is_zero()
        {
            let delay = self.config.initial_rebalance_delay.min(initial.remaining);
            self.rebalance = Some(Rebalance {
                deadline: now + delay,
                initial: Some(InitialDelay {
                    remaining: initial.remaining - delay,
                    new_member_added: false,
                }),
            });
            return;
        }
        self.complete_join(now);
    }

    /// The rebalance timeout of the group: the longest any member asked for.
    pub(super) fn rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.info.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    /// Starts a rebalance if the group is not already preparing one.
    pub(super) fn maybe_prepare_rebalance(&mut self, now: Instant) {
        if matches!(
            self.state,
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(now);
        }
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for the assignment must rejoin instead.
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                if std::mem::take(&mut member.awaiting_sync) {
                    self.answers.push(Answer::Sync {
                        member_id: member.id.clone(),
                        result: Err(GroupError::RebalanceInProgress),
                    });
                }
            }
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let timeout = self.rebalance_timeout();
        let delay = self.config.initial_rebalance_delay;
        self.rebalance = Some(if self.state == GroupState::Empty {
            Rebalance {
                deadline: now + delay,
                initial: Some(InitialDelay {
                    remaining: timeout.saturating_sub(delay),
                    new_member_added: false,
                }),
            }
        } else {
            Rebalance {
                deadline: now + timeout,
                initial: None,
            }
        });
        tracing::info!(group = %self.id, generation = self.generation, from = self.state.name(), "preparing to rebalance");
        self.state = GroupState::PreparingRebalance;
        // Nobody left to wait for (the last member left): complete at once.
        self.maybe_complete_join(now);
    }

    /// Completes the join phase early once every member rejoined and no member id handed
    /// out is still expected (never during the initial delay, which always runs its course).
    pub(super) fn maybe_complete_join(&mut self, now: Instant) {
        let Some(rebalance) = self.rebalance else {
            return;
        };
        let all_joined =
            self.members.values().all(|m| m.awaiting_join) && self.pending_members.is_empty();
        if self.state == GroupState::PreparingRebalance && rebalance.initial.is_none() && all_joined
        {
            self.complete_join(now);
        }
    }

    /// Ends the join phase: dynamic members that did not rejoin are removed, a leader that
    /// did not rejoin is replaced, and the next generation starts.
    fn complete_join(&mut self, now: Instant) {
        let missing: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in missing {
            tracing::info!(group = %self.id, member = %id, "member did not rejoin in time; removing it");
            self.detach(&id);
        }
        if !self.elect_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined are left: give them another
            // rebalance timeout (their sessions expire meanwhile if they are gone).
            self.rebalance = Some(Rebalance {
                deadline: now + self.rebalance_timeout(),
                initial: None,
            });
            return;
        }
        self.rebalance = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.state = GroupState::Empty;
            tracing::info!(group = %self.id, generation = self.generation, "group is empty");
            return;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline = Some(now + self.rebalance_timeout());
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(), protocol = ?self.protocol_name, "rebalance joined; awaiting the leader's assignment");
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.current_join_result(&id);
            if let Some(member) = self.members.get_mut(&id) {
                if std::mem::take(&mut member.awaiting_join) {
                    self.answers.push(Answer::Join {
                        member_id: id,
                        result,
                    });
                }
                member.is_new = false;
                member.heartbeat(now);
            }
        }
    }

    /// Keeps the leader if it rejoined, else makes any rejoined member the leader; false when
    /// no member rejoined.
    fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = &self.leader else {
            return false;
        };
        if self.members.get(leader).is_some_and(|m| m.awaiting_join) {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join) {
            Some(joined) => {
                self.leader = Some(joined.id.clone());
                true
            }
            None => false,
        }
    }

    /// The protocol of the next generation: among those every member supports, the one most
    /// members prefer (each votes for its first supported choice); ties go to the leader's
    /// order of preference.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let leader = self.leader.as_ref().and_then(|l| self.members.get(l))?;
        let candidates: Vec<&str> = leader
            .info
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for member in self.members.values() {
            if let Some(choice) = member.vote(&candidates)
                && let Some(i) = candidates.iter().position(|c| *c == choice)
            {
                votes[i] += 1;
            }
        }
        (0..candidates.len())
            .max_by(|&a, &b| votes[a].cmp(&votes[b]).then(b.cmp(&a)))
            .map(|i| candidates[i].to_string())
    }

    /// The current generation as `member_id` learns it from a JoinGroup response.
    pub(super) fn current_join_result(&self, member_id: &str) -> JoinResult {
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinResult {
            error: None,
            member_id: member_id.to_string(),
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            members: if is_leader {
                self.joined_members()
            } else {
                Vec::new()
            },
        }
    }

    /// Every member with its metadata for the selected protocol, as the leader gets them.
    pub(super) fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    /// Whether `member_id` is not the member that `instance_id` currently belongs to.
    pub(super) fn is_fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        instance_id
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|owner| owner != member_id)
    }

    /// Removes a member, answering its held requests with UNKNOWN_MEMBER_ID, and rebalances
    /// the rest.
    pub(super) fn remove_member(&mut self, id: &str, now: Instant) {
        let Some(member) = self.detach(id) else {
            return;
        };
        if member.awaiting_join {
            self.answers.push(Answer::Join {
                member_id: id.to_string(),
                result: JoinResult::error("", GroupError::UnknownMemberId),
            });
        }
        if member.awaiting_sync {
            self.answers.push(Answer::Sync {
                member_id: id.to_string(),
                result: Err(GroupError::UnknownMemberId),
            });
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now),
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Takes a member out of every index; the leader passes to another member.
    fn detach(&mut self, id: &str) -> Option<Member> {
        let member = self.members.remove(id)?;
        if let Some(instance) = &member.instance_id
            && self.static_members.get(instance).is_some_and(|m| m == id)
        {
            self.static_members.remove(instance);
        }
        self.pending_sync.remove(id);
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
        Some(member)
    }
}
