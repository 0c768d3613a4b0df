//! Topic configs as they travel on the wire and in the topic metadata file: Kafka's dotted
//! names (`retention.ms`) with string values, converted to and from [`TopicOverrides`], so a
//! topic has one typed source of truth whichever way its settings arrived (TOML, CreateTopics,
//! AlterConfigs).

use std::time::Duration;

use weir_config::Limit;
use weir_log::FlushMode;

use super::topic::{CLEANUP_POLICIES, cleanup_policy_name};
use super::{Acks, TopicOverrides};

/// Why a config entry was refused; the message is sent back to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicConfigError {
    /// Not a topic config weir knows.
    #[error("unknown topic config {0:?}")]
    Unknown(String),
    /// The value does not parse or is out of range.
    #[error("invalid value {value:?} for {name}: {expected}")]
    Invalid {
        /// The config name.
        name: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// The topic config names weir accepts, in Kafka's spelling.
pub const TOPIC_CONFIG_NAMES: [&str; 14] = [
    "retention.ms",
    "retention.bytes",
    "segment.bytes",
    "segment.ms",
    "index.interval.bytes",
    "max.message.bytes",
    "flush.messages",
    "flush.ms",
    "flush",
    "min.insync.replicas",
    "acks",
    "unclean.leader.election.enable",
    "cleanup.policy",
    "delete.retention.ms",
];

impl TopicOverrides {
    /// Sets one config from its Kafka name and string value; `None` removes the override.
    pub fn set_kafka(&mut self, name: &str, value: Option<&str>) -> Result<(), TopicConfigError> {
        let invalid = |expected| TopicConfigError::Invalid {
            name: name.to_string(),
            value: value.unwrap_or_default().to_string(),
            expected,
        };
        let int = |min: i64| -> Result<Option<i64>, TopicConfigError> {
            value
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n >= min)
                        .ok_or_else(|| invalid("an integer"))
                })
                .transpose()
        };
        let int_u32 = |min: i64| -> Result<Option<u32>, TopicConfigError> {
            int(min)?
                .map(|n| {
                    u32::try_from(n)
                        .ok()
                        .filter(|n| *n <= i32::MAX as u32)
                        .ok_or_else(|| invalid("an int"))
                })
                .transpose()
        };
        match name {
            "retention.ms" => {
                self.retention = int(-1)?.map(|n| limit(n, |n| Duration::from_millis(n as u64)))
            }
            "retention.bytes" => self.retention_bytes = int(-1)?.map(|n| limit(n, |n| n as u64)),
            "segment.bytes" => self.segment_bytes = int(1024)?.map(|n| n as u64),
            "segment.ms" => self.segment_age = int(1)?.map(|n| Duration::from_millis(n as u64)),
            "index.interval.bytes" => self.index_interval_bytes = int_u32(0)?,
            "max.message.bytes" => self.max_message_bytes = int_u32(1)?,
            "flush.messages" => self.flush_messages = int(1)?.map(|n| n as u64),
            "flush.ms" => self.flush_interval = int(0)?.map(|n| Duration::from_millis(n as u64)),
            "min.insync.replicas" => {
                self.min_insync_replicas = int(1)?
                    .map(|n| u16::try_from(n).map_err(|_| invalid("a replica count")))
                    .transpose()?;
            }
            "flush" => {
                self.flush = value
                    .map(|v| match v {
                        "fsync" => Ok(FlushMode::Fsync),
                        "os" => Ok(FlushMode::Os),
                        _ => Err(invalid("\"fsync\" or \"os\"")),
                    })
                    .transpose()?;
            }
            "acks" => {
                self.acks = value
                    .map(|v| match v {
                        "0" => Ok(Acks::Zero),
                        "1" => Ok(Acks::One),
                        "all" | "-1" => Ok(Acks::All),
                        _ => Err(invalid("\"0\", \"1\" or \"all\"")),
                    })
                    .transpose()?;
            }
            "unclean.leader.election.enable" => {
                self.unclean_leader_election = value
                    .map(|v| v.parse::<bool>().map_err(|_| invalid("true or false")))
                    .transpose()?;
            }
            "cleanup.policy" => {
                self.cleanup = value
                    .map(|v| {
                        let v = v.replace(' ', "");
                        CLEANUP_POLICIES
                            .iter()
                            .find(|(name, _)| *name == v)
                            .map(|(_, policy)| *policy)
                            .ok_or_else(|| invalid("\"delete\", \"compact\" or \"compact,delete\""))
                    })
                    .transpose()?;
            }
            "delete.retention.ms" => {
                self.delete_retention = int(0)?.map(|n| Duration::from_millis(n as u64))
            }
            _ => return Err(TopicConfigError::Unknown(name.to_string())),
        }
        Ok(())
    }

    /// Every setting filled in from the broker's log settings: what a topic without
    /// overrides has in force.
    pub fn defaults(base: &weir_log::LogConfig, min_insync_replicas: u16) -> Self {
        Self {
            partitions: None,
            replication_factor: None,
            retention: Some(base.retention.map_or(Limit::Unlimited, Limit::Limited)),
            retention_bytes: Some(
                base.retention_bytes
                    .map_or(Limit::Unlimited, Limit::Limited),
            ),
            segment_bytes: Some(base.segment_bytes),
            segment_age: Some(base.segment_age),
            index_interval_bytes: Some(base.index_interval_bytes),
            max_message_bytes: Some(base.max_batch_bytes),
            flush: Some(base.flush.mode),
            flush_messages: Some(base.flush.flush_messages.unwrap_or(i64::MAX as u64)),
            flush_interval: Some(
                base.flush
                    .flush_interval
                    .unwrap_or(Duration::from_millis(i64::MAX as u64)),
            ),
            min_insync_replicas: Some(min_insync_replicas),
            acks: Some(Acks::Zero),
            unclean_leader_election: Some(false),
            cleanup: Some(base.cleanup),
            delete_retention: Some(base.delete_retention),
        }
    }

    /// The overrides that are set, as Kafka names and string values.
    pub fn kafka_entries(&self) -> Vec<(&'static str, String)> {
        let ms = |d: Duration| d.as_millis().to_string();
        let limit_ms = |l: Limit<Duration>| match l {
            Limit::Unlimited => "-1".to_string(),
            Limit::Limited(d) => ms(d),
        };
        let limit_bytes = |l: Limit<u64>| match l {
            Limit::Unlimited => "-1".to_string(),
            Limit::Limited(b) => b.to_string(),
        };
        let mut out = Vec::new();
        let mut push = |name, value: Option<String>| {
            if let Some(value) = value {
                out.push((name, value));
            }
        };
        push("retention.ms", self.retention.map(limit_ms));
        push("retention.bytes", self.retention_bytes.map(limit_bytes));
        push("segment.bytes", self.segment_bytes.map(|b| b.to_string()));
        push("segment.ms", self.segment_age.map(ms));
        push(
            "index.interval.bytes",
            self.index_interval_bytes.map(|b| b.to_string()),
        );
        push(
            "max.message.bytes",
            self.max_message_bytes.map(|b| b.to_string()),
        );
        push("flush.messages", self.flush_messages.map(|n| n.to_string()));
        push("flush.ms", self.flush_interval.map(ms));
        push(
            "flush",
            self.flush.map(|m| match m {
                FlushMode::Fsync => "fsync".to_string(),
                FlushMode::Os => "os".to_string(),
            }),
        );
        push(
            "min.insync.replicas",
            self.min_insync_replicas.map(|n| n.to_string()),
        );
        push(
            "acks",
            self.acks.map(|a| match a {
                Acks::Zero => "0".to_string(),
                Acks::One => "1".to_string(),
                Acks::All => "all".to_string(),
            }),
        );
        push(
            "unclean.leader.election.enable",
            self.unclean_leader_election.map(|b| b.to_string()),
        );
        push(
            "cleanup.policy",
            self.cleanup.map(|p| cleanup_policy_name(p).to_string()),
        );
        push("delete.retention.ms", self.delete_retention.map(ms));
        out
    }
}

/// `-1` (any negative) is Kafka's "unlimited".
fn limit<T>(n: i64, limited: impl FnOnce(i64) -> T) -> Limit<T> {
    if n < 0 {
        Limit::Unlimited
    } else {
        Limit::Limited(limited(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_entries_round_trip() {
        let mut overrides = TopicOverrides::default();
        for (name, value) in [
            ("retention.ms", "-1"),
            ("retention.bytes", "1000000"),
            ("segment.bytes", "1048576"),
            ("segment.ms", "60000"),
            ("index.interval.bytes", "1024"),
            ("max.message.bytes", "2000000"),
            ("flush.messages", "10"),
            ("flush.ms", "500"),
            ("flush", "os"),
            ("min.insync.replicas", "2"),
            ("acks", "all"),
            ("unclean.leader.election.enable", "false"),
            ("cleanup.policy", "compact,delete"),
            ("delete.retention.ms", "1000"),
        ] {
            overrides.set_kafka(name, Some(value)).unwrap();
        }
        let mut again = TopicOverrides::default();
        for (name, value) in overrides.kafka_entries() {
            again.set_kafka(name, Some(&value)).unwrap();
        }
        assert_eq!(again, overrides);
        assert_eq!(overrides.kafka_entries().len(), 14);
    }

    #[test]
    fn bad_names_and_values_are_refused_with_a_reason() {
        let mut overrides = TopicOverrides::default();
        assert_eq!(
            overrides.set_kafka("retention.hours", Some("1")),
            Err(TopicConfigError::Unknown("retention.hours".into()))
        );
        let err = overrides
            .set_kafka("segment.bytes", Some("10"))
            .unwrap_err();
        assert!(err.to_string().contains("segment.bytes"), "{err}");
        assert!(
            overrides
                .set_kafka("cleanup.policy", Some("shred"))
                .is_err()
        );
        overrides
            .set_kafka("cleanup.policy", Some("compact"))
            .unwrap();
        assert_eq!(
            overrides.cleanup.map(|p| (p.delete, p.compact)),
            Some((false, true))
        );
        assert!(overrides.set_kafka("acks", Some("2")).is_err());
        overrides.set_kafka("acks", Some("1")).unwrap();
        overrides.set_kafka("acks", None).unwrap();
        assert_eq!(overrides.acks, None);
    }
}
