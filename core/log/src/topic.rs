//! `TopicPartition`: the name of a partition, and how it maps to a directory name.

use std::fmt;

use crate::error::StoreError;

/// A topic name and partition index; its directory is `<topic>-<partition>`, as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition index.
    pub partition: u32,
}

impl TopicPartition {
    /// A partition of `topic`, whose name must follow Kafka's rules.
    pub fn new(topic: impl Into<String>, partition: u32) -> Result<Self, StoreError> {
        let topic = topic.into();
        validate_topic_name(&topic)?;
        Ok(Self { topic, partition })
    }

    /// Parses a directory name `<topic>-<partition>`.
    pub fn from_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        let partition = partition.parse().ok()?;
        validate_topic_name(topic).ok()?;
        Some(Self {
            topic: topic.to_string(),
            partition,
        })
    }

    /// The directory name `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka's topic name rules: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), StoreError> {
    let invalid = |reason| StoreError::InvalidTopic {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are reserved"));
    }
    if name.len() > 249 {
        return Err(invalid("it is longer than 249 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "only ASCII letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_round_trip_even_with_dashes_in_the_topic() {
        let tp = TopicPartition::new("order-events", 12).unwrap();
        assert_eq!(tp.dir_name(), "order-events-12");
        assert_eq!(TopicPartition::from_dir_name("order-events-12"), Some(tp));
        assert_eq!(TopicPartition::from_dir_name("nodash"), None);
        assert_eq!(TopicPartition::from_dir_name("a-b-x"), None);
    }

    #[test]
    fn rejects_names_kafka_rejects() {
        for bad in ["", ".", "..", "a b", "é", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_topic_name("__consumer_offsets").is_ok());
    }
}
