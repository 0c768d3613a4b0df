//! The rebalance planner behind `weir cluster rebalance`: given where every partition's
//! replicas and leader are and which brokers are live, the fewest replica moves that spread
//! each topic's replicas evenly (every broker within one of the others), then an order of
//! each partition's replicas whose first — the preferred leader, which leads once the move
//! completes — spreads leadership evenly too. Pure, so it is tested without a cluster.

use std::collections::BTreeMap;

/// Where one partition is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) replicas: Vec<i32>,
    /// The current leader, if any.
    pub(crate) leader: Option<i32>,
}

/// A partition to move: its replicas now and the target, the first the new leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Move {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) from: Vec<i32>,
    pub(crate) leader: Option<i32>,
    pub(crate) to: Vec<i32>,
}

/// The moves that balance `placements` over `brokers` (the live ones), topic by topic.
pub(crate) fn plan(placements: &[Placement], brokers: &[i32]) -> Vec<Move> {
    let mut brokers = brokers.to_vec();
    brokers.sort_unstable();
    brokers.dedup();
    if brokers.is_empty() {
        return Vec::new();
    }
    let mut by_topic: BTreeMap<&str, Vec<&Placement>> = BTreeMap::new();
    for p in placements {
        by_topic.entry(&p.topic).or_default().push(p);
    }
    let mut moves = Vec::new();
    for partitions in by_topic.values_mut() {
        partitions.sort_by_key(|p| p.partition);
        let mut targets: Vec<Vec<i32>> = partitions.iter().map(|p| p.replicas.clone()).collect();
        spread_replicas(&mut targets, &brokers);
        let leaders: Vec<Option<i32>> = partitions.iter().map(|p| p.leader).collect();
        spread_leaders(&mut targets, &leaders, &brokers);
        for (p, to) in partitions.iter().zip(targets) {
            let same_set = {
                let (mut a, mut b) = (p.replicas.clone(), to.clone());
                a.sort_unstable();
                b.sort_unstable();
                a == b
            };
            if same_set && p.leader == to.first().copied() {
                continue;
            }
            moves.push(Move {
                topic: p.topic.clone(),
                partition: p.partition,
                from: p.replicas.clone(),
                leader: p.leader,
                to,
            });
        }
    }
    moves
}

/// How many of `items` each broker should hold: all within one of each other, the larger
/// shares going to the brokers holding most now (so fewest move), ties to the lower id.
fn quotas(items: usize, brokers: &[i32], now: &BTreeMap<i32, usize>) -> BTreeMap<i32, usize> {
    let base = items / brokers.len();
    let mut extra = items % brokers.len();
    let mut order = brokers.to_vec();
    order.sort_by_key(|b| (std::cmp::Reverse(now.get(b).copied().unwrap_or(0)), *b));
    order
        .into_iter()
        .map(|b| {
            let share = base + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
            (b, share)
        })
        .collect()
}

/// Moves replicas from brokers above their quota (or not live) to brokers below it, each
/// move taking a replica the receiving broker does not already have. Every move closes one
/// unit of excess, so the count is the least that reaches the quotas.
fn spread_replicas(targets: &mut [Vec<i32>], brokers: &[i32]) {
    let mut count: BTreeMap<i32, usize> = BTreeMap::new();
    for replicas in targets.iter() {
        for r in replicas {
            *count.entry(*r).or_default() += 1;
        }
    }
    let total: usize = targets.iter().map(Vec::len).sum();
    let quota = quotas(total, brokers, &count);
    let limit = |b: &i32| quota.get(b).copied().unwrap_or(0);
    loop {
        let over = count.iter().find(|(b, n)| **n > limit(b)).map(|(b, _)| *b);
        let Some(over) = over else {
            return;
        };
        // The receiver furthest below its quota, lowest id first.
        let mut under: Vec<i32> = brokers
            .iter()
            .copied()
            .filter(|b| count.get(b).copied().unwrap_or(0) < limit(b))
            .collect();
        under.sort_by_key(|b| (count.get(b).copied().unwrap_or(0), *b));
        let found = under.iter().find_map(|u| {
            targets
                .iter()
                .position(|t| t.contains(&over) && !t.contains(u))
                .map(|i| (i, *u))
        });
        let Some((i, u)) = found else {
            return;
        };
        for r in targets[i].iter_mut() {
            if *r == over {
                *r = u;
            }
        }
        *count.entry(over).or_default() -= 1;
        *count.entry(u).or_default() += 1;
    }
}

/// Puts a leader first in each target: the current leader where it stays a replica and
/// its broker has leaders to spare, then, for the rest, the replica leading fewest so far.
fn spread_leaders(targets: &mut [Vec<i32>], leaders: &[Option<i32>], brokers: &[i32]) {
    let floor = targets.len() / brokers.len();
    let mut leading: BTreeMap<i32, usize> = BTreeMap::new();
    let mut chosen: Vec<Option<i32>> = vec![None; targets.len()];
    for (i, target) in targets.iter().enumerate() {
        if let Some(leader) = leaders[i].filter(|l| target.contains(l)) {
            let n = leading.entry(leader).or_default();
            if *n < floor.max(1) {
                *n += 1;
                chosen[i] = Some(leader);
            }
        }
    }
    for (i, target) in targets.iter().enumerate() {
        if chosen[i].is_some() {
            continue;
        }
        let pick = target
            .iter()
            .copied()
            .min_by_key(|r| (leading.get(r).copied().unwrap_or(0), Some(*r) != leaders[i]));
        if let Some(pick) = pick {
            *leading.entry(pick).or_default() += 1;
            chosen[i] = Some(pick);
        }
    }
    for (target, leader) in targets.iter_mut().zip(chosen) {
        if let Some(at) = leader.and_then(|l| target.iter().position(|r| *r == l)) {
            let l = target.remove(at);
            target.insert(0, l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's round robin: partition i on brokers i, i+1, … of `brokers`.
    fn placed(topic: &str, partitions: i32, factor: usize, brokers: &[i32]) -> Vec<Placement> {
        (0..partitions)
            .map(|p| {
                let replicas: Vec<i32> = (0..factor)
                    .map(|r| brokers[(p as usize + r) % brokers.len()])
                    .collect();
                Placement {
                    topic: topic.into(),
                    partition: p,
                    leader: Some(replicas[0]),
                    replicas,
                }
            })
            .collect()
    }

    fn apply(placements: &[Placement], moves: &[Move]) -> Vec<Placement> {
        placements
            .iter()
            .map(|p| {
                let moved = moves
                    .iter()
                    .find(|m| m.topic == p.topic && m.partition == p.partition);
                match moved {
                    Some(m) => Placement {
                        replicas: m.to.clone(),
                        leader: m.to.first().copied(),
                        ..p.clone()
                    },
                    None => p.clone(),
                }
            })
            .collect()
    }

    fn counts(
        placements: &[Placement],
        of: impl Fn(&Placement) -> Vec<i32>,
    ) -> BTreeMap<i32, usize> {
        let mut out = BTreeMap::new();
        for p in placements {
            for b in of(p) {
                *out.entry(b).or_default() += 1;
            }
        }
        out
    }

    #[test]
    fn a_new_broker_gets_its_share_with_the_fewest_moves() {
        let before = placed("t", 6, 3, &[1, 2, 3]);
        let moves = plan(&before, &[1, 2, 3, 4]);
        let moved_replicas: usize = moves
            .iter()
            .map(|m| m.to.iter().filter(|r| !m.from.contains(r)).count())
            .sum();
        assert_eq!(
            moved_replicas, 4,
            "18 replicas over 4 brokers: 4 move to broker 4"
        );
        let after = apply(&before, &moves);
        let replicas = counts(&after, |p| p.replicas.clone());
        assert_eq!(replicas.len(), 4);
        assert!(
            replicas.values().all(|n| (4..=5).contains(n)),
            "{replicas:?}"
        );
        for p in &after {
            let mut distinct = p.replicas.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 3, "{p:?}");
        }
        let leaders = counts(&after, |p| p.leader.into_iter().collect());
        assert!(leaders.values().all(|n| (1..=2).contains(n)), "{leaders:?}");
        assert_eq!(leaders.len(), 4, "broker 4 leads too: {leaders:?}");
        assert!(plan(&after, &[1, 2, 3, 4]).is_empty(), "balanced stays put");
    }

    #[test]
    fn a_balanced_cluster_needs_no_moves() {
        let placements = placed("t", 8, 2, &[1, 2, 3, 4]);
        assert!(plan(&placements, &[1, 2, 3, 4]).is_empty());
    }

    #[test]
    fn replicas_leave_brokers_that_are_gone_and_leaders_even_out() {
        let mut placements = placed("a", 4, 2, &[1, 2, 3]);
        for p in &mut placements {
            p.leader = Some(p.replicas[1]);
        }
        let moves = plan(&placements, &[1, 2]);
        let after = apply(&placements, &moves);
        assert!(after.iter().all(|p| !p.replicas.contains(&3)));
        let leaders = counts(&after, |p| p.leader.into_iter().collect());
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2]);
    }

    #[test]
    fn leaders_pile_on_one_broker_are_spread_without_moving_replicas() {
        let mut placements = placed("t", 6, 3, &[1, 2, 3]);
        for p in &mut placements {
            p.leader = Some(1);
        }
        let moves = plan(&placements, &[1, 2, 3]);
        for m in &moves {
            let (mut a, mut b) = (m.from.clone(), m.to.clone());
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "only the order changes");
        }
        let after = apply(&placements, &moves);
        let leaders = counts(&after, |p| p.leader.into_iter().collect());
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        assert_eq!(moves.len(), 4, "two partitions keep leader 1");
    }
}
