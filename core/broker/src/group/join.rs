//! JoinGroup on the group state machine: new members (with MEMBER_ID_REQUIRED from v4),
//! known members rejoining, and static members (`group.instance.id`) taking over their old
//! member id without a rebalance when nothing changed.

use tokio::time::Instant;

use crate::group::member::{Member, MemberInfo};
use crate::group::results::{Answer, GroupError, JoinResult};
use crate::group::state::{Group, GroupState};

/// A JoinGroup, as the state machine needs it.
#[derive(Debug, Clone)]
pub(crate) struct JoinRequest {
    /// Empty on a member's first join.
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) protocol_type: String,
    pub(crate) info: MemberInfo,
    /// v4+: a first join of a dynamic member only gets a member id to rejoin with.
    pub(crate) require_known_member_id: bool,
    /// v9+: the client understands `skip_assignment`.
    pub(crate) supports_skip_assignment: bool,
    /// The id the member gets if it is new (the coordinator makes it unique).
    pub(crate) new_member_id: String,
}

/// What becomes of a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinOutcome {
    /// Answered now.
    Answered(JoinResult),
    /// Held: the answer comes as an [`Answer::Join`] for this member id.
    Held { member_id: String },
}

impl Group {
    /// Handles a JoinGroup at `now`.
    pub(crate) fn join(&mut self, request: JoinRequest, now: Instant) -> JoinOutcome {
        let outcome = self.admit(request, now);
        // This join may be the last one the rebalance waited for, or start a rebalance whose
        // initial delay is zero.
        self.maybe_complete_join(now);
        self.tick(now);
        outcome
    }

    fn admit(&mut self, request: JoinRequest, now: Instant) -> JoinOutcome {
        let refuse = |error| JoinOutcome::Answered(JoinResult::error(&request.member_id, error));
        let timeout = request.info.session_timeout;
        if timeout < self.config.min_session_timeout || timeout > self.config.max_session_timeout {
            return refuse(GroupError::InvalidSessionTimeout);
        }
        if self.state == GroupState::Dead {
            return refuse(GroupError::CoordinatorNotAvailable);
        }
        if !self.supports_protocols(&request) {
            return refuse(GroupError::InconsistentGroupProtocol);
        }
        if request.member_id.is_empty() {
            self.join_unknown(request, now)
        } else {
            self.join_known(request, now)
        }
    }

    /// Whether the member's protocols fit the group: any type and protocols for the first
    /// member, else the group's type and at least one protocol every other member supports.
    fn supports_protocols(&self, request: &JoinRequest) -> bool {
        // A static member rejoining under a new id replaces its old self.
        let replaced = request
            .instance_id
            .as_ref()
            .and_then(|i| self.static_members.get(i));
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| m.id != request.member_id && Some(&m.id) != replaced)
            .collect();
        let protocols = &request.info.protocols;
        if others.is_empty() {
            return !request.protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(request.protocol_type.as_str())
            && protocols
                .iter()
                .any(|p| others.iter().all(|m| m.supports(&p.name)))
    }

    fn join_unknown(&mut self, request: JoinRequest, now: Instant) -> JoinOutcome {
        let new_id = request.new_member_id.clone();
        if let Some(instance) = &request.instance_id {
            if let Some(old_id) = self.static_members.get(instance).cloned() {
                return self.replace_static_member(&old_id, request, now);
            }
            return self.add_member(new_id, request, now);
        }
        if request.require_known_member_id {
            let deadline = now + request.info.session_timeout;
            self.pending_members.insert(new_id.clone(), deadline);
            return JoinOutcome::Answered(JoinResult::error(new_id, GroupError::MemberIdRequired));
        }
        self.add_member(new_id, request, now)
    }

    fn join_known(&mut self, request: JoinRequest, now: Instant) -> JoinOutcome {
        let id = request.member_id.clone();
        if self.pending_members.contains_key(&id) {
            return self.add_member(id, request, now);
        }
        let refuse = |error| JoinOutcome::Answered(JoinResult::error(&id, error));
        let instance = request.instance_id.as_deref();
        if self.is_fenced(&id, instance) {
            return refuse(GroupError::FencedInstanceId);
        }
        let unknown_instance = instance.is_some_and(|i| !self.static_members.contains_key(i));
        let Some(member) = self.members.get(&id).filter(|_| !unknown_instance) else {
            return refuse(GroupError::UnknownMemberId);
        };
        let unchanged = member.matches(&request.info.protocols);
        let is_leader = self.leader.as_deref() == Some(id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.rejoin_and_rebalance(request, now),
            // It missed its JoinGroup response (or, stable, just wants the generation
            // again): the same generation, no rebalance.
            GroupState::CompletingRebalance if unchanged => self.answer_current(&id, now),
            GroupState::Stable if unchanged && !is_leader => self.answer_current(&id, now),
            // A changed member, or the leader asking for a new assignment.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.rejoin_and_rebalance(request, now)
            }
            GroupState::Empty | GroupState::Dead => refuse(GroupError::UnknownMemberId),
        }
    }

    fn answer_current(&mut self, id: &str, now: Instant) -> JoinOutcome {
        if let Some(member) = self.members.get_mut(id) {
            member.heartbeat(now);
        }
        JoinOutcome::Answered(self.current_join_result(id))
    }

    fn add_member(&mut self, id: String, request: JoinRequest, now: Instant) -> JoinOutcome {
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if self.state == GroupState::PreparingRebalance
            && self.generation == 0
            && let Some(initial) = self.rebalance.as_mut().and_then(|r| r.initial.as_mut())
        {
            initial.new_member_added = true;
        }
        match &request.instance_id {
            Some(instance) => {
                self.static_members.insert(instance.clone(), id.clone());
            }
            None => {
                self.pending_members.remove(&id);
            }
        }
        tracing::info!(group = %self.id, member = %id, instance = ?request.instance_id, "member joins");
        let member = Member::new(id.clone(), request.instance_id, request.info, now);
        self.members.insert(id.clone(), member);
        self.maybe_prepare_rebalance(now);
        JoinOutcome::Held { member_id: id }
    }

    fn rejoin_and_rebalance(&mut self, request: JoinRequest, now: Instant) -> JoinOutcome {
        let id = request.member_id;
        if let Some(member) = self.members.get_mut(&id) {
            member.info = request.info;
            member.awaiting_join = true;
        }
        self.maybe_prepare_rebalance(now);
        JoinOutcome::Held { member_id: id }
    }

    /// A static member rejoined without its member id (it restarted): it takes over the old
    /// member's place under a new id, and the old id is fenced. A stable group whose protocol
    /// would not change keeps its generation and assignment; otherwise the group rebalances.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        request: JoinRequest,
        now: Instant,
    ) -> JoinOutcome {
        let new_id = request.new_member_id.clone();
        let Some(mut member) = self.members.remove(old_id) else {
            return JoinOutcome::Answered(JoinResult::error("", GroupError::UnknownMemberId));
        };
        if std::mem::take(&mut member.awaiting_join) {
            self.answers.push(Answer::Join {
                member_id: old_id.to_string(),
                result: JoinResult::error(old_id, GroupError::FencedInstanceId),
            });
        }
        if std::mem::take(&mut member.awaiting_sync) {
            self.answers.push(Answer::Sync {
                member_id: old_id.to_string(),
                result: Err(GroupError::FencedInstanceId),
            });
        }
        tracing::info!(group = %self.id, old = %old_id, new = %new_id, instance = ?request.instance_id, "static member rejoins under a new member id");
        let old_leader = self.leader.clone().unwrap_or_default();
        let was_leader = old_leader == old_id;
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        if let Some(instance) = &request.instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        member.id = new_id.clone();
        member.info = request.info;
        member.heartbeat(now);
        self.members.insert(new_id.clone(), member);
        if self.state == GroupState::Stable && self.select_protocol() == self.protocol_name {
            let skip = was_leader && request.supports_skip_assignment;
            let mut result = self.current_join_result(&new_id);
            if !skip {
                // An old leader id keeps a leader that restarted from assigning: a stable
                // group would not pass its new assignment on.
                result.leader = old_leader;
                result.members.clear();
            }
            result.skip_assignment = skip;
            return JoinOutcome::Answered(result);
        }
        if let Some(member) = self.members.get_mut(&new_id) {
            member.awaiting_join = true;
        }
        // In CompletingRebalance the leader may be assigning to the old id: start over.
        self.maybe_prepare_rebalance(now);
        JoinOutcome::Held { member_id: new_id }
    }
}
