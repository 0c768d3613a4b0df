//! `Liveness`: the Raft leader's record of broker heartbeats (kept in memory, not in the
//! log) and which brokers' sessions expired. A new leader knows nothing of the heartbeats
//! its predecessor received, so each term starts by giving every broker a full session to
//! be heard — except the previous leader itself. This node heard that one's AppendEntries
//! until it went silent (that silence is what elected a new leader), so its session runs
//! from then: a controller that dies is fenced one session after it died, as any other
//! broker, not a Raft election plus a session later.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// The last AppendEntries this node received: from which leader, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaderContact {
    pub(crate) leader: i32,
    pub(crate) at: Instant,
}

/// Heartbeats seen by the Raft leader in its current term.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    term: Option<u64>,
    since: Option<Instant>,
    last_seen: HashMap<i32, Instant>,
}

impl Liveness {
    /// The term these records belong to.
    pub(crate) fn term(&self) -> Option<u64> {
        self.term
    }

    /// Forgets everything: this node does not lead.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// This node leads `term` from `now`. `previous` is the last leader heard from; its
    /// session counts from that contact, but it gets at least `grace` from now to be heard:
    /// a contact from long ago (this node was cut off meanwhile) says nothing of it now.
    pub(crate) fn start_term(
        &mut self,
        term: u64,
        now: Instant,
        previous: Option<LeaderContact>,
        session: Duration,
        grace: Duration,
    ) {
        self.term = Some(term);
        self.since = Some(now);
        self.last_seen.clear();
        if let Some(contact) = previous {
            let floor = now.checked_sub(session.saturating_sub(grace));
            let seen = floor.map_or(contact.at, |floor| contact.at.max(floor));
            self.last_seen.insert(contact.leader, seen.min(now));
        }
    }

    /// Broker `id` heartbeated at `now`.
    pub(crate) fn heard(&mut self, id: i32, now: Instant) {
        self.last_seen.insert(id, now);
    }

    /// The brokers of `live` not heard from within `session` by `now`.
    pub(crate) fn expired(&self, live: &[i32], now: Instant, session: Duration) -> Vec<i32> {
        let since = self.since.unwrap_or(now);
        live.iter()
            .copied()
            .filter(|id| {
                let seen = self.last_seen.get(id).copied().unwrap_or(since);
                now.duration_since(seen) > session
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_secs(2);
    const GRACE: Duration = Duration::from_millis(600);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn every_broker_gets_a_full_session_in_a_new_term() {
        let start = Instant::now();
        let mut liveness = Liveness::default();
        liveness.start_term(3, start, None, SESSION, GRACE);
        assert!(
            liveness
                .expired(&[1, 2], start + ms(2000), SESSION)
                .is_empty()
        );
        liveness.heard(1, start + ms(1500));
        assert_eq!(liveness.expired(&[1, 2], start + ms(2100), SESSION), [2]);
    }

    #[test]
    fn the_previous_leader_is_due_one_session_after_it_went_silent() {
        let silent = Instant::now();
        // Elected well within the session (a lease and an election timeout later).
        let elected = silent + ms(1200);
        let previous = LeaderContact {
            leader: 1,
            at: silent,
        };
        let mut liveness = Liveness::default();
        liveness.start_term(4, elected, Some(previous), SESSION, GRACE);
        assert!(
            liveness
                .expired(&[1, 2], silent + ms(2000), SESSION)
                .is_empty()
        );
        assert_eq!(liveness.expired(&[1, 2], silent + ms(2100), SESSION), [1]);
        // It is heard again (it only stalled): no fencing.
        liveness.heard(1, silent + ms(2050));
        assert!(
            liveness
                .expired(&[1, 2], silent + ms(2100), SESSION)
                .is_empty()
        );
    }

    #[test]
    fn a_contact_from_long_ago_still_leaves_a_grace() {
        let contact = Instant::now();
        let elected = contact + ms(10_000);
        let previous = LeaderContact {
            leader: 1,
            at: contact,
        };
        let mut liveness = Liveness::default();
        liveness.start_term(5, elected, Some(previous), SESSION, GRACE);
        assert!(
            liveness
                .expired(&[1], elected + ms(100), SESSION)
                .is_empty()
        );
        assert!(liveness.expired(&[1], elected + GRACE, SESSION).is_empty());
        assert_eq!(
            liveness.expired(&[1], elected + GRACE + ms(10), SESSION),
            [1]
        );
    }
}
