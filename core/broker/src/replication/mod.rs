//! Data replication, Kafka's ISR model. Each partition a broker holds has a
//! [`ReplicaState`]: its role (leader, follower, or the only copy on a single node), the high
//! watermark consumers read up to, and — on the leader — each follower's progress.
//!
//! | module | owns |
//! |---|---|
//! | `isr` | follower progress, the high watermark rule, ISR shrink and expand |
//! | `peer` | a follower's Kafka-protocol connection to its leader |
//! | `follower` | the fetch loop that copies a leader's batches, truncating on divergence |
//! | `roles` | turning the applied cluster metadata into roles and follower loops |
//!
//! Locking: `role` and `followers` are separate locks, never held together across an
//! await, and `role` is never taken while `followers` is held (`set_role` takes them the
//! other way round); `proposed` is taken only inside `followers`, which also covers
//! computing and publishing the high watermark, so an ISR expansion is decided against the
//! watermark as published. The high watermark is a `watch` so `acks=all` produces can wait
//! for it.

pub(crate) mod follower;
pub(crate) mod isr;
pub(crate) mod peer;
pub(crate) mod roles;

#[cfg(test)]
mod replica_state_tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use weir_log::PartitionLog;

use isr::FollowerProgress;

/// What this broker is for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// A single-node broker: the only copy, whose high watermark is its log end.
    Standalone,
    /// In a cluster, not (or not yet) a replica of this partition here.
    Offline,
    /// The leader in `epoch`, with the ISR as the metadata log last committed it.
    Leader(LeaderTerm),
    /// A follower of `leader` in `epoch`.
    Follower { leader: i32, epoch: i32 },
}

/// A leader's term: its epoch and the partition state it leads under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaderTerm {
    pub(crate) node: i32,
    pub(crate) epoch: i32,
    pub(crate) partition_epoch: i32,
    pub(crate) replicas: Vec<i32>,
    pub(crate) isr: Vec<i32>,
}

/// An ISR this leader proposed that the metadata has not applied yet. Until it is (the
/// partition epoch moves on), the high watermark also counts the replicas it adds — Kafka's
/// "maximal ISR" — so a replica never joins the ISR lacking a record acknowledged while the
/// change was on its way: it may lead next (a reassignment hands it leadership at once).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProposedIsr {
    partition_epoch: i32,
    isr: Vec<i32>,
}

/// One partition's replication state on this broker.
#[derive(Debug)]
pub(crate) struct ReplicaState {
    role: RwLock<Role>,
    high_watermark: watch::Sender<u64>,
    followers: Mutex<BTreeMap<i32, FollowerProgress>>,
    proposed: Mutex<Option<ProposedIsr>>,
}

impl ReplicaState {
    pub(crate) fn standalone() -> Self {
        Self::with_role(Role::Standalone)
    }

    pub(crate) fn offline() -> Self {
        Self::with_role(Role::Offline)
    }

    fn with_role(role: Role) -> Self {
        Self {
            role: RwLock::new(role),
            high_watermark: watch::Sender::new(0),
            followers: Mutex::new(BTreeMap::new()),
            proposed: Mutex::new(None),
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.role.read().clone()
    }

    /// The leader term, when this broker leads the partition.
    pub(crate) fn leader_term(&self) -> Option<LeaderTerm> {
        match &*self.role.read() {
            Role::Leader(term) => Some(term.clone()),
            _ => None,
        }
    }

    /// Whether producers and consumers may use this copy (it leads, or it is the only one).
    pub(crate) fn serves_clients(&self) -> bool {
        matches!(&*self.role.read(), Role::Standalone | Role::Leader(_))
    }

    /// The offset consumers read up to.
    pub(crate) fn high_watermark(&self, log: &PartitionLog) -> u64 {
        match &*self.role.read() {
            Role::Standalone => log.log_end_offset(),
            _ => (*self.high_watermark.borrow()).min(log.log_end_offset()),
        }
    }

    /// Changes the role. A new leader term starts every follower with a full lag window;
    /// an ISR change within the same term keeps what the leader knows of them.
    pub(crate) fn set_role(&self, role: Role, log: &PartitionLog) {
        let mut current = self.role.write();
        if *current == role {
            return;
        }
        if let Role::Leader(term) = &role {
            let same_term = matches!(&*current, Role::Leader(old) if old.epoch == term.epoch);
            if !same_term {
                let now = Instant::now();
                let mut followers = self.followers.lock();
                followers.clear();
                for r in term.replicas.iter().filter(|r| **r != term.node) {
                    followers.insert(*r, FollowerProgress::new(now));
                }
            }
        }
        let was_leader = matches!(&*current, Role::Leader(_));
        *current = role;
        drop(current);
        if was_leader {
            // Wake `acks=all` produces waiting in the old term: they answer NOT_LEADER now
            // rather than at their timeout (a reassignment moves leaders of live brokers).
            self.high_watermark.send_modify(|_| {});
        }
        self.advance_high_watermark(log);
    }

    /// A follower fetched from `offset`; returns whether the high watermark moved.
    pub(crate) fn follower_fetched(&self, follower: i32, offset: u64, log: &PartitionLog) -> bool {
        let now = Instant::now();
        self.followers
            .lock()
            .entry(follower)
            .or_insert_with(|| FollowerProgress::new(now))
            .fetched(offset, log.log_end_offset(), now);
        self.advance_high_watermark(log)
    }

    /// Recomputes the leader's high watermark from the ISR; never moves it back. Returns
    /// whether it moved.
    pub(crate) fn advance_high_watermark(&self, log: &PartitionLog) -> bool {
        let Some(term) = self.leader_term() else {
            return false;
        };
        let followers = self.followers.lock();
        let counted = self.counted_isr(&term);
        let hw = isr::high_watermark(term.node, log.log_end_offset(), &counted, &followers);
        let moved = self.high_watermark.send_if_modified(|current| {
            if hw > *current {
                *current = hw;
                true
            } else {
                false
            }
        });
        drop(followers);
        moved
    }

    /// The replicas the high watermark waits for: the ISR, and those a pending expansion
    /// of it adds. Called with `followers` held.
    fn counted_isr(&self, term: &LeaderTerm) -> Vec<i32> {
        let mut counted = term.isr.clone();
        if let Some(proposed) = &*self.proposed.lock()
            && proposed.partition_epoch == term.partition_epoch
        {
            counted.extend(proposed.isr.iter().filter(|r| !term.isr.contains(r)));
        }
        counted
    }

    /// A follower learned the leader's high watermark.
    pub(crate) fn set_follower_high_watermark(&self, hw: u64) {
        self.high_watermark.send_if_modified(|current| {
            let changed = *current != hw;
            *current = hw;
            changed
        });
    }

    /// The ISR the leader should propose now, if it should change. Only `joinable` brokers
    /// (the metadata's live ones: not fenced, not shutting down) are proposed to join: the
    /// metadata would refuse another, and the watermark would wait for it meanwhile.
    pub(crate) fn proposed_isr(
        &self,
        lag_max: Duration,
        log: &PartitionLog,
        joinable: &[i32],
    ) -> Option<(LeaderTerm, Vec<i32>)> {
        let term = self.leader_term()?;
        let followers = self.followers.lock();
        // A leader's watermark, read without `role` (not to be taken under `followers`).
        let hw = (*self.high_watermark.borrow()).min(log.log_end_offset());
        let mut proposed = isr::proposed_isr(
            term.node,
            &term.replicas,
            &term.isr,
            hw,
            &followers,
            lag_max,
            Instant::now(),
        )?;
        proposed.retain(|r| term.isr.contains(r) || joinable.contains(r));
        if proposed.len() == term.isr.len() && proposed.iter().all(|r| term.isr.contains(r)) {
            return None;
        }
        // From now on the watermark waits for the replicas joining too (and for any an
        // earlier proposal in this partition epoch added: it may still be committed).
        let mut pending = self.proposed.lock();
        let mut counted = match pending.take() {
            Some(earlier) if earlier.partition_epoch == term.partition_epoch => earlier.isr,
            _ => Vec::new(),
        };
        for r in &proposed {
            if !counted.contains(r) {
                counted.push(*r);
            }
        }
        *pending = Some(ProposedIsr {
            partition_epoch: term.partition_epoch,
            isr: counted,
        });
        drop(pending);
        drop(followers);
        Some((term, proposed))
    }

    /// The metadata refused the ISR this leader proposed: the high watermark stops waiting
    /// for the replicas it would have added.
    pub(crate) fn withdraw_proposed_isr(&self) {
        let _followers = self.followers.lock();
        *self.proposed.lock() = None;
    }

    /// Waits until the high watermark reaches `offset` while this broker still leads in
    /// `epoch`, or `deadline` passes. A deposed leader's batch may be truncated by the new
    /// leader, so only the same term's watermark counts.
    pub(crate) async fn wait_committed(
        &self,
        offset: u64,
        epoch: i32,
        deadline: tokio::time::Instant,
    ) -> Committed {
        let mut hw = self.high_watermark.subscribe();
        let deposed = || self.leader_term().is_none_or(|term| term.epoch != epoch);
        let reached =
            tokio::time::timeout_at(deadline, hw.wait_for(|hw| *hw >= offset || deposed())).await;
        match self.leader_term() {
            Some(term) if term.epoch == epoch => match reached {
                Ok(Ok(_)) => Committed::Yes {
                    isr: term.isr.len(),
                },
                _ => Committed::TimedOut,
            },
            _ => Committed::NoLongerLeader,
        }
    }
}

/// How waiting for a batch to reach the ISR ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Committed {
    /// Every ISR member has it; the ISR had `isr` members then.
    Yes { isr: usize },
    /// The deadline passed first.
    TimedOut,
    /// Leadership moved: the batch may not survive.
    NoLongerLeader,
}
