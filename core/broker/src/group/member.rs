//! A member of a classic group: who it is, the protocols it supports in its order of
//! preference, its timeouts and assignment, and whether the coordinator is holding a
//! JoinGroup or SyncGroup of it, which keeps it alive without heartbeats.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// How long a new member's first JoinGroup may be held before the member is dropped: it has
/// no heartbeat yet, and a client that gave up would otherwise stay in the rebalance.
pub(crate) const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// One protocol a member supports (for consumers, an assignor such as `range`) and the
/// member's metadata for it, which the coordinator passes to the leader unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Protocol {
    pub(crate) name: String,
    pub(crate) metadata: Bytes,
}

/// What a JoinGroup says about the member sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberInfo {
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocols: Vec<Protocol>,
}

/// A member of a group.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    /// `group.instance.id` of a static member.
    pub(crate) instance_id: Option<String>,
    pub(crate) info: MemberInfo,
    /// What the leader assigned it in the current generation.
    pub(crate) assignment: Bytes,
    /// A JoinGroup of this member is held until the rebalance completes.
    pub(crate) awaiting_join: bool,
    /// A SyncGroup of this member is held until the leader's assignment arrives.
    pub(crate) awaiting_sync: bool,
    /// Joined during the current rebalance, never answered yet.
    pub(crate) is_new: bool,
    /// When the member expires without a heartbeat (or, while new, without its join
    /// completing).
    pub(crate) deadline: Instant,
}

impl Member {
    /// A member that just joined; its first JoinGroup is held.
    pub(crate) fn new(
        id: String,
        instance_id: Option<String>,
        info: MemberInfo,
        now: Instant,
    ) -> Self {
        Self {
            id,
            instance_id,
            info,
            assignment: Bytes::new(),
            awaiting_join: true,
            awaiting_sync: false,
            is_new: true,
            deadline: now + NEW_MEMBER_JOIN_TIMEOUT,
        }
    }

    /// Whether it supports the protocol `name`.
    pub(crate) fn supports(&self, name: &str) -> bool {
        self.info.protocols.iter().any(|p| p.name == name)
    }

    /// Its metadata for protocol `name` (empty if it does not support it).
    pub(crate) fn metadata(&self, name: &str) -> Bytes {
        self.info
            .protocols
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// The first of its protocols, in its order of preference, that is among `candidates`.
    pub(crate) fn vote<'a>(&self, candidates: &[&'a str]) -> Option<&'a str> {
        self.info
            .protocols
            .iter()
            .find_map(|p| candidates.iter().find(|c| **c == p.name).copied())
    }

    /// Whether a rejoin with `protocols` changes nothing.
    pub(crate) fn matches(&self, protocols: &[Protocol]) -> bool {
        self.info.protocols == protocols
    }

    /// Counts a heartbeat (or any request that proves the member alive) at `now`.
    pub(crate) fn heartbeat(&mut self, now: Instant) {
        self.deadline = now + self.info.session_timeout;
    }

    /// When the member expires, if nothing keeps it alive meanwhile. A member whose join or
    /// sync is held cannot heartbeat, so it does not expire then (except a new member whose
    /// first join waits too long).
    pub(crate) fn expiry(&self) -> Option<Instant> {
        if self.awaiting_join {
            self.is_new.then_some(self.deadline)
        } else if self.awaiting_sync {
            None
        } else {
            Some(self.deadline)
        }
    }
}
