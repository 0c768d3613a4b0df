//! OffsetFetch across its versions: the request for some partitions (or all) of one group,
//! and the response flattened to one list of partitions. Versions 0–7 carry one group at
//! the top level, 8 and later a list of groups; callers see neither shape.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

/// One partition of an OffsetFetch response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FetchedOffset<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    /// Negative when the group committed nothing for the partition.
    pub(crate) offset: i64,
    pub(crate) error_code: i16,
}

/// The request for `group`'s offsets of `topics` (partitions per topic), or of every
/// partition it committed when `topics` is `None`.
pub(crate) fn request(
    group: &str,
    topics: Option<&BTreeMap<&str, Vec<i32>>>,
    version: i16,
) -> OffsetFetchRequest {
    let group = GroupId(StrBytes::from_string(group.to_string()));
    let name = |t: &str| TopicName(StrBytes::from_string(t.to_string()));
    if version >= 8 {
        let topics = topics.map(|topics| {
            topics
                .iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopics::default()
                        .with_name(name(t))
                        .with_partition_indexes(ps.clone())
                })
                .collect()
        });
        OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group)
                .with_topics(topics),
        ])
    } else {
        let topics = topics.map(|topics| {
            topics
                .iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(name(t))
                        .with_partition_indexes(ps.clone())
                })
                .collect()
        });
        OffsetFetchRequest::default()
            .with_group_id(group)
            .with_topics(topics)
    }
}

/// The first group-level error of `response` (0 when none), whatever its version.
pub(crate) fn group_error(response: &OffsetFetchResponse) -> i16 {
    std::iter::once(response.error_code)
        .chain(response.groups.iter().map(|g| g.error_code))
        .find(|code| *code != 0)
        .unwrap_or(0)
}

/// Every partition in `response`, whatever its version.
pub(crate) fn partitions(response: &OffsetFetchResponse) -> Vec<FetchedOffset<'_>> {
    let mut out = Vec::new();
    for topic in &response.topics {
        out.extend(topic.partitions.iter().map(|p| FetchedOffset {
            topic: topic.name.0.as_str(),
            partition: p.partition_index,
            offset: p.committed_offset,
            error_code: p.error_code,
        }));
    }
    for topic in response.groups.iter().flat_map(|g| &g.topics) {
        out.extend(topic.partitions.iter().map(|p| FetchedOffset {
            topic: topic.name.0.as_str(),
            partition: p.partition_index,
            offset: p.committed_offset,
            error_code: p.error_code,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };

    use super::*;

    fn name(t: &str) -> TopicName {
        TopicName(StrBytes::from_string(t.to_string()))
    }

    #[test]
    fn both_response_shapes_flatten_to_the_same_partitions() {
        let old = OffsetFetchResponse::default().with_topics(vec![
            OffsetFetchResponseTopic::default()
                .with_name(name("a"))
                .with_partitions(vec![
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(7),
                ]),
        ]);
        let new = OffsetFetchResponse::default().with_groups(vec![
            OffsetFetchResponseGroup::default()
                .with_error_code(16)
                .with_topics(vec![
                    OffsetFetchResponseTopics::default()
                        .with_name(name("a"))
                        .with_partitions(vec![
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(1)
                                .with_committed_offset(7),
                        ]),
                ]),
        ]);
        assert_eq!(partitions(&old), partitions(&new));
        assert_eq!(partitions(&old)[0].offset, 7);
        assert_eq!(group_error(&old), 0);
        assert_eq!(group_error(&new), 16);
    }

    #[test]
    fn versions_before_8_use_the_top_level_group() {
        let topics = BTreeMap::from([("a", vec![0, 1])]);
        let old = request("g", Some(&topics), 7);
        assert_eq!(old.group_id.0.as_str(), "g");
        assert_eq!(old.topics.as_ref().unwrap()[0].partition_indexes, [0, 1]);
        let new = request("g", None, 8);
        assert_eq!(new.groups[0].group_id.0.as_str(), "g");
        assert!(new.groups[0].topics.is_none());
    }
}
