//! The client's errors: what went wrong, in words, with Kafka error codes only where a
//! broker answered with one.

use std::time::Duration;

use kafka_protocol::ResponseError;

/// Everything a client operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The client was created outside a Tokio runtime.
    #[error("the client needs a Tokio runtime: create it inside one")]
    NoRuntime,
    /// A TCP connection could not be opened.
    #[error("connecting to {address}: {source}")]
    Connect {
        /// The broker address.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No bootstrap server or known broker could be reached.
    #[error("no broker reachable: {tried}")]
    NoBrokerReachable {
        /// The addresses tried, each with why it failed, separated by `; `.
        tried: String,
    },
    /// The connection to a broker closed (or failed) before a response arrived.
    #[error("connection to {address} closed")]
    ConnectionClosed {
        /// The broker address.
        address: String,
    },
    /// A broker did not answer within `request_timeout`.
    #[error("{api} request to {address} timed out after {timeout:?}")]
    RequestTimeout {
        /// The request's API name.
        api: &'static str,
        /// The broker address.
        address: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The broker supports no version of an API that this client speaks.
    #[error("broker {address} does not support {api} at a version this client speaks")]
    UnsupportedApi {
        /// The API name.
        api: &'static str,
        /// The broker address.
        address: String,
    },
    /// A request could not be encoded or a response could not be decoded.
    #[error("{api} v{version}: malformed message: {reason}")]
    Codec {
        /// The API name.
        api: &'static str,
        /// The version used.
        version: i16,
        /// What the codec reported.
        reason: String,
    },
    /// A broker answered with a Kafka error code.
    #[error("broker refused {what}: {error}")]
    Broker {
        /// What was asked (an API, a topic-partition).
        what: String,
        /// The Kafka error.
        error: ResponseError,
    },
    /// The partitioner could not place a record (a plugin trapped, timed out or answered a
    /// partition that does not exist); only that record's send fails.
    #[error("partitioner failed for a record to {topic:?}: {reason}")]
    Partitioner {
        /// The record's topic.
        topic: String,
        /// What the partitioner reported.
        reason: String,
    },
    /// The topic does not exist (and was not auto-created).
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// The partition does not exist in its topic.
    #[error("partition {partition} does not exist in topic {topic:?}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// A record is larger than `max_request_size` or `buffer_memory` allows.
    #[error("record of {size} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// The record's estimated size.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// `send` waited `max_block` for buffer memory or topic metadata.
    #[error("waited {0:?} for buffer memory or topic metadata")]
    MaxBlock(Duration),
    /// A record was not acknowledged within `delivery_timeout`.
    #[error("record not acknowledged within the delivery timeout of {0:?}")]
    DeliveryTimeout(Duration),
    /// The producer or consumer was closed.
    #[error("the client is closed")]
    Closed,
    /// Fetched record data does not parse or fails its checksum.
    #[error("corrupt record batch from {topic}-{partition}: {reason}")]
    CorruptBatch {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What is wrong.
        reason: String,
    },
    /// Compressing or decompressing a batch failed.
    #[error("{codec} {direction} failed: {source}")]
    Compression {
        /// The codec name.
        codec: &'static str,
        /// "compression" or "decompression".
        direction: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A fetch position is out of range and `auto_offset_reset` is `none`.
    #[error(
        "offset {offset} is out of range for {topic}-{partition} and auto_offset_reset is none"
    )]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The position that is out of range.
        offset: i64,
    },
    /// A partition has no position and `auto_offset_reset` is `none`.
    #[error("{topic}-{partition} has no committed offset and auto_offset_reset is none")]
    NoOffset {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The operation needs a partition this consumer is not assigned.
    #[error("{topic}-{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The operation needs a `group_id` and the consumer has none.
    #[error("this operation needs a group_id")]
    NoGroup,
}

fn io_copy(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

impl Error {
    /// A copy, for failures shared by many records (I/O causes are copied as kind and
    /// message).
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Config(m) => Self::Config(m),
            Self::NoRuntime => Self::NoRuntime,
            Self::Connect { address, source } => Self::Connect {
                address: address.clone(),
                source: io_copy(source),
            },
            Self::NoBrokerReachable { tried } => Self::NoBrokerReachable {
                tried: tried.clone(),
            },
            Self::ConnectionClosed { address } => Self::ConnectionClosed {
                address: address.clone(),
            },
            Self::RequestTimeout {
                api,
                address,
                timeout,
            } => Self::RequestTimeout {
                api,
                address: address.clone(),
                timeout: *timeout,
            },
            Self::UnsupportedApi { api, address } => Self::UnsupportedApi {
                api,
                address: address.clone(),
            },
            Self::Codec {
                api,
                version,
                reason,
            } => Self::Codec {
                api,
                version: *version,
                reason: reason.clone(),
            },
            Self::Broker { what, error } => Self::Broker {
                what: what.clone(),
                error: *error,
            },
            Self::UnknownTopic(t) => Self::UnknownTopic(t.clone()),
            Self::Partitioner { topic, reason } => Self::Partitioner {
                topic: topic.clone(),
                reason: reason.clone(),
            },
            Self::UnknownPartition { topic, partition } => Self::UnknownPartition {
                topic: topic.clone(),
                partition: *partition,
            },
            Self::RecordTooLarge { size, limit } => Self::RecordTooLarge {
                size: *size,
                limit: *limit,
            },
            Self::MaxBlock(d) => Self::MaxBlock(*d),
            Self::DeliveryTimeout(d) => Self::DeliveryTimeout(*d),
            Self::Closed => Self::Closed,
            Self::CorruptBatch {
                topic,
                partition,
                reason,
            } => Self::CorruptBatch {
                topic: topic.clone(),
                partition: *partition,
                reason: reason.clone(),
            },
            Self::Compression {
                codec,
                direction,
                source,
            } => Self::Compression {
                codec,
                direction,
                source: io_copy(source),
            },
            Self::OffsetOutOfRange {
                topic,
                partition,
                offset,
            } => Self::OffsetOutOfRange {
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
            },
            Self::NoOffset { topic, partition } => Self::NoOffset {
                topic: topic.clone(),
                partition: *partition,
            },
            Self::NotAssigned { topic, partition } => Self::NotAssigned {
                topic: topic.clone(),
                partition: *partition,
            },
            Self::NoGroup => Self::NoGroup,
        }
    }

    /// Whether retrying the same operation may succeed (a broker's retriable code, a lost
    /// connection, a timeout).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Broker { error, .. } => error.is_retriable(),
            Self::ConnectionClosed { .. }
            | Self::Connect { .. }
            | Self::NoBrokerReachable { .. }
            | Self::RequestTimeout { .. } => true,
            _ => false,
        }
    }

    /// Whether the error means cached metadata may be stale (a leader moved, a topic
    /// appeared, a broker went away).
    pub(crate) fn invalidates_metadata(&self) -> bool {
        match self {
            Self::Broker { error, .. } => stale_metadata(*error),
            Self::ConnectionClosed { .. } | Self::Connect { .. } | Self::RequestTimeout { .. } => {
                true
            }
            _ => false,
        }
    }
}

/// Whether a broker error code means the client's metadata is stale.
pub(crate) fn stale_metadata(error: ResponseError) -> bool {
    matches!(
        error,
        ResponseError::NotLeaderOrFollower
            | ResponseError::UnknownTopicOrPartition
            | ResponseError::LeaderNotAvailable
            | ResponseError::FencedLeaderEpoch
            | ResponseError::UnknownLeaderEpoch
            | ResponseError::NotCoordinator
            | ResponseError::CoordinatorNotAvailable
    )
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
