//! What admin operations fail with: a request that got no answer, or a broker's refusal
//! naming the topic, partition or group it concerns and the Kafka error code by its
//! protocol name (`TOPIC_ALREADY_EXISTS`), so people and scripts can both read it.

use kafka_protocol::ResponseError;

use crate::error::Error;

/// A Kafka error code, displayed as its protocol name and number
/// (`TOPIC_ALREADY_EXISTS (36)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaCode(pub ResponseError);

impl std::fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let ResponseError::Unknown(code) = self.0 {
            return write!(f, "UNKNOWN_ERROR_CODE ({code})");
        }
        // The variant names are Kafka's names in CamelCase.
        let camel = format!("{:?}", self.0);
        let mut name = String::with_capacity(camel.len() + 8);
        for (i, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_uppercase());
        }
        write!(f, "{name} ({})", self.0.code())
    }
}

pub(super) fn detail(message: &Option<String>) -> String {
    message
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

/// Why one topic's part of an admin request failed (create, delete, alter, grow).
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// CreateTopics: a topic of that name exists. Callers that only want the topic to exist
    /// treat this as success.
    #[error("topic {topic:?} already exists")]
    AlreadyExists {
        /// The topic.
        topic: String,
    },
    /// The topic does not exist.
    #[error("topic {topic:?} does not exist")]
    Unknown {
        /// The topic.
        topic: String,
    },
    /// The broker refused the request for this topic.
    #[error("topic {topic:?}: {code}{}", detail(message))]
    Refused {
        /// The topic.
        topic: String,
        /// The Kafka error code.
        code: KafkaCode,
        /// The broker's explanation, when it gave one.
        message: Option<String>,
    },
}

impl TopicError {
    /// The error for `topic` from a response's error code and message; `None` for success.
    pub(crate) fn from_code(topic: &str, code: i16, message: Option<String>) -> Option<Self> {
        let topic = topic.to_string();
        Some(match ResponseError::try_from_code(code)? {
            ResponseError::TopicAlreadyExists => Self::AlreadyExists { topic },
            ResponseError::UnknownTopicOrPartition => Self::Unknown { topic },
            error => Self::Refused {
                topic,
                code: KafkaCode(error),
                message,
            },
        })
    }

    /// The topic the error concerns.
    pub fn topic(&self) -> &str {
        match self {
            Self::AlreadyExists { topic }
            | Self::Unknown { topic }
            | Self::Refused { topic, .. } => topic,
        }
    }
}

/// Why an admin operation failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No answer: no broker reachable, a timeout, an API the broker does not speak.
    #[error(transparent)]
    Client(#[from] Error),
    /// A topic the operation needs failed or does not exist.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The broker refused the operation for a group.
    #[error("group {group:?}: {code}")]
    Group {
        /// The group.
        group: String,
        /// The Kafka error code.
        code: KafkaCode,
    },
    /// The broker refused the operation for one partition.
    #[error("{topic}-{partition}: {code}")]
    Partition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The Kafka error code.
        code: KafkaCode,
    },
    /// The broker refused a config operation on a resource.
    #[error("configs of {resource:?}: {code}{}", detail(message))]
    Config {
        /// The topic or broker whose configs were asked for.
        resource: String,
        /// The Kafka error code.
        code: KafkaCode,
        /// The broker's explanation, when it gave one.
        message: Option<String>,
    },
}

impl AdminError {
    pub(crate) fn group(group: &str, code: i16) -> Result<(), Self> {
        match ResponseError::try_from_code(code) {
            None => Ok(()),
            Some(error) => Err(Self::Group {
                group: group.to_string(),
                code: KafkaCode(error),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_their_protocol_names() {
        assert_eq!(
            KafkaCode(ResponseError::TopicAlreadyExists).to_string(),
            "TOPIC_ALREADY_EXISTS (36)"
        );
        assert_eq!(
            KafkaCode(ResponseError::Unknown(-7)).to_string(),
            "UNKNOWN_ERROR_CODE (-7)"
        );
        let e = TopicError::from_code("t", 37, Some("below 1".into()));
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("topic \"t\": INVALID_PARTITIONS (37): below 1")
        );
        assert!(matches!(
            TopicError::from_code("t", 36, None),
            Some(TopicError::AlreadyExists { .. })
        ));
        assert!(TopicError::from_code("t", 0, None).is_none());
    }
}
