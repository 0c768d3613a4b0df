//! The partition assignors a group leader runs over the members' subscriptions: Kafka's
//! `range` and `roundrobin`, with the same results as the Java client's for the same input
//! (members and topics taken in sorted order).

use std::collections::BTreeMap;

use super::config::AssignmentStrategy;
use crate::record::TopicPartition;

/// Each member's assigned partitions, given each member's topics and each topic's
/// partition count (topics missing from `partitions` are skipped).
pub(crate) fn assign(
    strategy: AssignmentStrategy,
    members: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> =
        members.keys().map(|m| (m.clone(), Vec::new())).collect();
    match strategy {
        AssignmentStrategy::Range => {
            for (topic, &count) in partitions {
                let subscribed: Vec<&String> = members
                    .iter()
                    .filter(|(_, topics)| topics.contains(topic))
                    .map(|(m, _)| m)
                    .collect();
                if subscribed.is_empty() {
                    continue;
                }
                let n = subscribed.len() as i32;
                let (each, extra) = (count / n, count % n);
                let mut next = 0;
                for (i, member) in subscribed.into_iter().enumerate() {
                    let take = each + i32::from((i as i32) < extra);
                    let assigned = out.entry(member.clone()).or_default();
                    assigned.extend((next..next + take).map(|p| TopicPartition::new(topic, p)));
                    next += take;
                }
            }
        }
        AssignmentStrategy::RoundRobin => {
            let ids: Vec<&String> = members.keys().collect();
            if ids.is_empty() {
                return out;
            }
            let mut turn = 0;
            for (topic, &count) in partitions {
                if !members.values().any(|t| t.contains(topic)) {
                    continue;
                }
                for p in 0..count {
                    // The next member, in turn, that subscribes to this topic.
                    loop {
                        let member = ids[turn % ids.len()];
                        turn += 1;
                        if members[member].contains(topic) {
                            out.entry(member.clone())
                                .or_default()
                                .push(TopicPartition::new(topic, p));
                            break;
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(m, t)| (m.to_string(), t.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn names(assigned: &[TopicPartition]) -> Vec<String> {
        assigned.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn range_gives_consecutive_ranges_per_topic() {
        let m = members(&[("a", &["t0", "t1"]), ("b", &["t0", "t1"])]);
        let p = BTreeMap::from([("t0".to_string(), 3), ("t1".to_string(), 3)]);
        let out = assign(AssignmentStrategy::Range, &m, &p);
        assert_eq!(names(&out["a"]), ["t0-0", "t0-1", "t1-0", "t1-1"]);
        assert_eq!(names(&out["b"]), ["t0-2", "t1-2"]);
    }

    #[test]
    fn round_robin_deals_all_partitions() {
        let m = members(&[("a", &["t0", "t1"]), ("b", &["t0", "t1"])]);
        let p = BTreeMap::from([("t0".to_string(), 3), ("t1".to_string(), 3)]);
        let out = assign(AssignmentStrategy::RoundRobin, &m, &p);
        assert_eq!(names(&out["a"]), ["t0-0", "t0-2", "t1-1"]);
        assert_eq!(names(&out["b"]), ["t0-1", "t1-0", "t1-2"]);
    }

    #[test]
    fn members_only_get_topics_they_subscribe_to() {
        let m = members(&[("a", &["t0"]), ("b", &["t0", "t1"]), ("c", &[])]);
        let p = BTreeMap::from([("t0".to_string(), 2), ("t1".to_string(), 2)]);
        for strategy in [AssignmentStrategy::Range, AssignmentStrategy::RoundRobin] {
            let out = assign(strategy, &m, &p);
            assert!(out["c"].is_empty());
            assert!(out["a"].iter().all(|tp| tp.topic == "t0"));
            let total: usize = out.values().map(Vec::len).sum();
            assert_eq!(total, 4, "{strategy:?}: every partition once");
        }
    }
}
