//! The leader's view of its followers: how far each has fetched and when it last caught up,
//! and what follows from that — the high watermark (the smallest log end in the ISR) and
//! which followers should leave or rejoin the ISR. Pure functions of that view and the
//! clock, so the rules are tested without sockets.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FollowerProgress {
    /// The follower's log end offset: the offset it fetched from last.
    pub(crate) log_end: u64,
    /// The last time the follower had everything the leader had at its previous fetch.
    pub(crate) caught_up_at: Instant,
    /// The leader's log end when it answered the follower's previous fetch, and when.
    pub(crate) leader_end_at_last_fetch: u64,
    pub(crate) last_fetch_at: Instant,
    /// Whether the follower fetched at all in this leader term.
    pub(crate) fetched_once: bool,
}

impl FollowerProgress {
    /// A follower the leader has not heard from yet: given a full lag window to show up.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            log_end: 0,
            caught_up_at: now,
            leader_end_at_last_fetch: 0,
            last_fetch_at: now,
            fetched_once: false,
        }
    }

    /// A fetch from `offset` arrived while the leader's log ended at `leader_end`. As in
    /// Kafka, fetching from at least where the leader ended at the previous fetch means the
    /// follower was caught up as of that previous fetch.
    pub(crate) fn fetched(&mut self, offset: u64, leader_end: u64, now: Instant) {
        if offset >= leader_end {
            self.caught_up_at = now;
        } else if offset >= self.leader_end_at_last_fetch {
            self.caught_up_at = self.caught_up_at.max(self.last_fetch_at);
        }
        self.log_end = offset;
        self.leader_end_at_last_fetch = leader_end;
        self.last_fetch_at = now;
        self.fetched_once = true;
    }
}

/// The high watermark: the smallest log end among the ISR (the leader's own included).
pub(crate) fn high_watermark(
    leader: i32,
    leader_end: u64,
    isr: &[i32],
    followers: &BTreeMap<i32, FollowerProgress>,
) -> u64 {
    isr.iter()
        .filter(|r| **r != leader)
        .map(|r| followers.get(r).map_or(0, |p| p.log_end))
        .fold(leader_end, u64::min)
}

/// A replica rejoins the ISR only while it is fetching: a follower's fetch waits at most
/// half a second at the leader, so a live one is heard from well within this.
const REJOIN_WINDOW: Duration = Duration::from_millis(1500);

/// The ISR the leader should propose, if it differs from `isr`: followers that have not
/// caught up within `lag_max` leave; replicas that reached the high watermark and are
/// fetching now rejoin.
pub(crate) fn proposed_isr(
    leader: i32,
    replicas: &[i32],
    isr: &[i32],
    high_watermark: u64,
    followers: &BTreeMap<i32, FollowerProgress>,
    lag_max: Duration,
    now: Instant,
) -> Option<Vec<i32>> {
    let proposed: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|r| {
            if *r == leader {
                return true;
            }
            let Some(p) = followers.get(r) else {
                return isr.contains(r);
            };
            if isr.contains(r) {
                now.duration_since(p.caught_up_at) <= lag_max
            } else {
                // One never heard from in this term is not fetching, whatever the clock says.
                p.fetched_once
                    && p.log_end >= high_watermark
                    && now.duration_since(p.last_fetch_at) <= lag_max.min(REJOIN_WINDOW)
            }
        })
        .collect();
    let mut current = isr.to_vec();
    current.sort_unstable();
    let mut sorted = proposed.clone();
    sorted.sort_unstable();
    (sorted != current).then_some(proposed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn high_watermark_is_the_slowest_isr_member() {
        let now = Instant::now();
        let mut followers = BTreeMap::new();
        let mut two = FollowerProgress::new(now);
        two.fetched(7, 10, now);
        let mut three = FollowerProgress::new(now);
        three.fetched(4, 10, now);
        followers.insert(2, two);
        followers.insert(3, three);
        assert_eq!(high_watermark(1, 10, &[1, 2, 3], &followers), 4);
        assert_eq!(high_watermark(1, 10, &[1, 2], &followers), 7);
        assert_eq!(high_watermark(1, 10, &[1], &followers), 10);
        // A member the leader never heard from holds the watermark at zero.
        assert_eq!(high_watermark(1, 10, &[1, 4], &followers), 0);
    }

    #[test]
    fn a_lagging_follower_leaves_and_a_caught_up_one_returns() {
        let start = Instant::now();
        let lag = Duration::from_secs(10);
        let mut followers = BTreeMap::new();
        followers.insert(2, FollowerProgress::new(start));
        followers.insert(3, FollowerProgress::new(start));
        let later = start + Duration::from_secs(5);
        followers.get_mut(&2).unwrap().fetched(100, 100, later);
        followers.get_mut(&3).unwrap().fetched(50, 100, later);
        assert_eq!(
            proposed_isr(1, &[1, 2, 3], &[1, 2, 3], 50, &followers, lag, later),
            None
        );
        let much_later = start + Duration::from_secs(11);
        followers.get_mut(&2).unwrap().fetched(100, 100, much_later);
        assert_eq!(
            proposed_isr(1, &[1, 2, 3], &[1, 2, 3], 100, &followers, lag, much_later),
            Some(vec![1, 2])
        );
        followers.get_mut(&3).unwrap().fetched(100, 100, much_later);
        assert_eq!(
            proposed_isr(1, &[1, 2, 3], &[1, 2], 100, &followers, lag, much_later),
            Some(vec![1, 2, 3])
        );
        // A replica not heard from in this term does not join, even at a watermark of 0.
        followers.insert(4, FollowerProgress::new(much_later));
        assert_eq!(
            proposed_isr(1, &[1, 2, 3, 4], &[1, 2, 3], 0, &followers, lag, much_later),
            None
        );
        followers.remove(&4);
        // A replica that stopped fetching does not come back, however far it had got.
        let silent = much_later + Duration::from_secs(2);
        followers.get_mut(&2).unwrap().fetched(100, 100, silent);
        assert_eq!(
            proposed_isr(1, &[1, 2, 3], &[1, 2], 100, &followers, lag, silent),
            None
        );
    }

    #[test]
    fn fetching_from_the_previous_leader_end_counts_as_caught_up() {
        let start = Instant::now();
        let mut p = FollowerProgress::new(start);
        let t1 = start + Duration::from_secs(1);
        p.fetched(0, 10, t1);
        let t2 = start + Duration::from_secs(2);
        p.fetched(10, 20, t2);
        assert_eq!(p.caught_up_at, t1);
    }
}
