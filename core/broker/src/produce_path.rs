//! Finding (or auto-creating) the topic a Produce or Metadata request names, and mapping log
//! errors to Kafka error codes: the pieces the handlers that write share.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use weir_log::{AppendError, BatchError, FlushError};

use crate::broker::Broker;
use crate::config::TopicOverrides;
use crate::topics::{Topic, TopicError};

/// The topic `name`, created with the broker's defaults when absent and `auto_create`. In a
/// cluster the creation goes through the controller and the answer meanwhile is
/// LEADER_NOT_AVAILABLE.
pub(crate) fn topic_for(
    broker: &Arc<Broker>,
    name: &str,
    auto_create: bool,
) -> Result<Arc<Topic>, ResponseError> {
    if let Some(topic) = broker.topics.get(name) {
        return Ok(topic);
    }
    if !auto_create {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    if broker.cluster().is_some() {
        return Err(crate::handlers::cluster_topics::auto_create(broker, name));
    }
    let overrides = broker
        .config
        .topic(name)
        .copied()
        .unwrap_or_else(TopicOverrides::default);
    let partitions = overrides
        .partitions
        .unwrap_or(broker.config.num_partitions());
    match broker.topics.create(name, partitions, overrides, false) {
        Ok(topic) => Ok(topic),
        Err(TopicError::AlreadyExists(_)) => broker
            .topics
            .get(name)
            .ok_or(ResponseError::UnknownTopicOrPartition),
        Err(TopicError::InvalidName(_)) => Err(ResponseError::InvalidTopicException),
        Err(e) => {
            tracing::error!(topic = name, error = %e, "auto-creating a topic failed");
            Err(ResponseError::KafkaStorageError)
        }
    }
}

/// The Kafka error for a failed append.
pub(crate) fn append_error(error: &AppendError) -> ResponseError {
    match error {
        AppendError::InvalidBatch(BatchError::CrcMismatch { .. })
        | AppendError::InvalidBatch(BatchError::Truncated { .. })
        | AppendError::InvalidBatch(BatchError::InvalidLength(_)) => ResponseError::CorruptMessage,
        AppendError::InvalidBatch(BatchError::TooLarge { .. }) => ResponseError::MessageTooLarge,
        AppendError::InvalidBatch(BatchError::UnsupportedMagic(_)) => {
            ResponseError::UnsupportedForMessageFormat
        }
        AppendError::InvalidBatch(_) => ResponseError::InvalidRecord,
        AppendError::OutOfOrder { .. } => ResponseError::OutOfOrderSequenceNumber,
        AppendError::Io { .. } | AppendError::Poisoned(_) => ResponseError::KafkaStorageError,
    }
}

/// The Kafka error for a failed sync.
pub(crate) fn flush_error(_error: &FlushError) -> ResponseError {
    ResponseError::KafkaStorageError
}
