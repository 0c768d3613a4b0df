//! One `[topics.NAME]` table: the topic-level settings Kafka lets a topic override, under
//! Kafka's topic-level names (`retention.ms` is `retention_ms`), and the `acks` floor.

use std::time::Duration;

use weir_config::{Limit, TableReader};
use weir_log::{CleanupPolicy, FlushPolicy, LogConfig, StoreError, validate_topic_name};

use super::{BrokerConfig, FLUSH_MODES, MAX_INT, MAX_SHORT, segment_age, segment_bytes, size_u32};

/// How much of the cluster must have a produced batch before the producer is answered.
///
/// Ordered from weakest to strongest, so a topic's floor is applied with
/// [`Acks::at_least`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Acks {
    /// `acks=0`: the producer is not answered at all.
    Zero,
    /// `acks=1`: answered once the leader has appended the batch.
    One,
    /// `acks=all` (`-1`): answered once every in-sync replica, at least
    /// `min_insync_replicas` of them, has the batch.
    All,
}

impl Acks {
    /// The `acks` field of a Produce request (`0`, `1` or `-1`); `None` for any other value.
    pub fn from_request(acks: i16) -> Option<Self> {
        match acks {
            0 => Some(Self::Zero),
            1 => Some(Self::One),
            -1 => Some(Self::All),
            _ => None,
        }
    }

    /// What a produce asking for `self` gets on a topic whose floor is `floor`: the stronger.
    pub fn at_least(self, floor: Acks) -> Acks {
        self.max(floor)
    }
}

/// The spellings of a topic's `acks`: strings as producers write them, or Kafka's integers.
const ACKS: [(&str, Acks); 4] = [
    ("0", Acks::Zero),
    ("1", Acks::One),
    ("all", Acks::All),
    ("-1", Acks::All),
];

/// The settings one `[topics.NAME]` table overrides; `None` keeps the broker's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicOverrides {
    /// Partitions to create the topic with (`partitions`).
    pub partitions: Option<u32>,
    /// Replicas of each partition (`replication_factor`).
    pub replication_factor: Option<u16>,
    /// How long records are kept (`retention_ms`; `-1` keeps them forever).
    pub retention: Option<Limit<Duration>>,
    /// How large a partition may grow before old segments go (`retention_bytes`; `-1` for no
    /// limit).
    pub retention_bytes: Option<Limit<u64>>,
    /// Segment size at which the log rolls (`segment_bytes`).
    pub segment_bytes: Option<u64>,
    /// Segment age at which the log rolls (`segment_ms`).
    pub segment_age: Option<Duration>,
    /// Bytes between offset-index entries (`index_interval_bytes`).
    pub index_interval_bytes: Option<u32>,
    /// The largest batch a produce may carry (`max_message_bytes`).
    pub max_message_bytes: Option<u32>,
    /// Fsync with group commit, or page cache (`flush`: `"fsync"` or `"os"`).
    pub flush: Option<weir_log::FlushMode>,
    /// In page-cache mode, sync after this many records (`flush_messages`).
    pub flush_messages: Option<u64>,
    /// In page-cache mode, sync when unsynced data is this old (`flush_ms`).
    pub flush_interval: Option<Duration>,
    /// In-sync replicas an `acks=all` produce needs (`min_insync_replicas`).
    pub min_insync_replicas: Option<u16>,
    /// The weakest `acks` the broker answers with, whatever the producer asks (`acks`:
    /// `"0"`, `"1"`, `"all"`, or `0`, `1`, `-1`).
    pub acks: Option<Acks>,
    /// Whether a replica outside the ISR may become leader, losing acknowledged data
    /// (`unclean_leader_election`; Kafka's default is no).
    pub unclean_leader_election: Option<bool>,
    /// Delete old segments, compact to the newest record per key, or both
    /// (`cleanup_policy`: `"delete"`, `"compact"` or `"compact,delete"`).
    pub cleanup: Option<CleanupPolicy>,
    /// How long compaction keeps tombstones (`delete_retention_ms`).
    pub delete_retention: Option<Duration>,
}

/// `cleanup_policy` values, in Kafka's spelling (either order of the pair).
pub(crate) const CLEANUP_POLICIES: [(&str, CleanupPolicy); 4] = [
    (
        "delete",
        CleanupPolicy {
            delete: true,
            compact: false,
        },
    ),
    (
        "compact",
        CleanupPolicy {
            delete: false,
            compact: true,
        },
    ),
    (
        "compact,delete",
        CleanupPolicy {
            delete: true,
            compact: true,
        },
    ),
    (
        "delete,compact",
        CleanupPolicy {
            delete: true,
            compact: true,
        },
    ),
];

/// Kafka's spelling of a cleanup policy.
pub(crate) fn cleanup_policy_name(policy: CleanupPolicy) -> &'static str {
    match (policy.delete, policy.compact) {
        (true, true) => "compact,delete",
        (false, true) => "compact",
        _ => "delete",
    }
}

impl TopicOverrides {
    /// The log settings of this topic: `base` (the broker's) with these overrides applied.
    pub fn apply(&self, base: &LogConfig) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes.unwrap_or(base.segment_bytes),
            segment_age: self.segment_age.unwrap_or(base.segment_age),
            retention: self.retention.map_or(base.retention, Limit::into_option),
            retention_bytes: self
                .retention_bytes
                .map_or(base.retention_bytes, Limit::into_option),
            index_interval_bytes: self
                .index_interval_bytes
                .unwrap_or(base.index_interval_bytes),
            max_batch_bytes: self.max_message_bytes.unwrap_or(base.max_batch_bytes),
            flush: FlushPolicy {
                mode: self.flush.unwrap_or(base.flush.mode),
                flush_messages: self.flush_messages.or(base.flush.flush_messages),
                flush_interval: self.flush_interval.or(base.flush.flush_interval),
            },
            cleanup: self.cleanup.unwrap_or(base.cleanup),
            delete_retention: self.delete_retention.unwrap_or(base.delete_retention),
            min_cleanable_dirty_permille: base.min_cleanable_dirty_permille,
        }
    }

    /// Reads `[topics.NAME]`; `broker` supplies the defaults that cross-key checks need.
    pub fn read(name: &str, topic: &mut TableReader<'_>, broker: &BrokerConfig) -> Self {
        match validate_topic_name(name) {
            Ok(()) => {}
            Err(StoreError::InvalidTopic { reason, .. }) => {
                topic.reject_table(format!("invalid topic name: {reason}"));
            }
            Err(other) => topic.reject_table(other.to_string()),
        }
        let overrides = Self {
            partitions: topic.integer("partitions", 1..=MAX_INT),
            replication_factor: topic.integer("replication_factor", 1..=MAX_SHORT),
            retention: topic.duration_or_unlimited("retention_ms"),
            retention_bytes: topic.size_or_unlimited("retention_bytes"),
            segment_bytes: segment_bytes(topic, "segment_bytes"),
            segment_age: segment_age(topic, "segment_ms"),
            index_interval_bytes: size_u32(topic, "index_interval_bytes", 0),
            max_message_bytes: size_u32(topic, "max_message_bytes", 1),
            flush: topic.one_of("flush", &FLUSH_MODES),
            flush_messages: topic.integer("flush_messages", 1..=u64::MAX),
            flush_interval: topic.duration("flush_ms"),
            min_insync_replicas: topic.integer("min_insync_replicas", 1..=MAX_SHORT),
            acks: topic.one_of("acks", &ACKS),
            unclean_leader_election: topic.bool("unclean_leader_election"),
            cleanup: topic.one_of("cleanup_policy", &CLEANUP_POLICIES),
            delete_retention: topic.duration("delete_retention_ms"),
        };
        overrides.check_replicas(topic, broker);
        overrides
    }

    /// A topic whose `min_insync_replicas` exceeds its replica count can never answer an
    /// `acks=all` produce.
    fn check_replicas(&self, topic: &mut TableReader<'_>, broker: &BrokerConfig) {
        if self.min_insync_replicas.is_none() && self.replication_factor.is_none() {
            return;
        }
        let min_isr = self
            .min_insync_replicas
            .unwrap_or(broker.min_insync_replicas);
        let replicas = self
            .replication_factor
            .unwrap_or(broker.default_replication_factor);
        if min_isr > replicas {
            let key = match self.min_insync_replicas {
                Some(_) => "min_insync_replicas",
                None => "replication_factor",
            };
            topic.reject(
                key,
                format!(
                    "min_insync_replicas ({min_isr}) is more than the topic's {replicas} \
                     replicas, so no acks=all produce could succeed"
                ),
            );
        }
    }
}
