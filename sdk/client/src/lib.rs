//! `weir-client`: the Rust client for any Kafka-protocol broker (weir's own, Apache Kafka,
//! Redpanda). Connectors, plugins and the CLI all talk to brokers through it.
//!
//! | module | owns |
//! |---|---|
//! | `connection` | one TCP connection per broker: pipelining, ApiVersions, timeouts |
//! | `cluster` | bootstrap, Metadata, leaders, connections with reconnect backoff |
//! | [`murmur2`] | the Java client's key hash |
//! | [`partitioner`] | the [`Partitioner`] trait; default (murmur2 + sticky), round-robin, overflow |
//! | [`record`] | records, headers, topic-partitions |
//! | `batch` | RecordBatch v2 encoding and decoding |
//! | [`compression`] | gzip, snappy, lz4, zstd with fast settings |
//! | [`producer`] | [`Producer`]: batching, acks, retries, idempotence, bounded memory |
//! | [`consumer`] | [`Consumer`]: `poll(Duration)`, positions, seeks, commits |
//! | [`error`] | [`Error`] |

mod batch;
mod cluster;
pub mod compression;
mod connection;
pub mod consumer;
pub mod error;
pub mod murmur2;
pub mod partitioner;
pub mod producer;
pub mod record;

pub use compression::Compression;
pub use consumer::{
    AssignmentStrategy, Consumer, ConsumerConfig, ListenError, OffsetReset, RebalanceListener,
    Records,
};
pub use error::{Error, Result};
pub use partitioner::{
    DefaultPartitioner, OverflowPartitioner, PartitionFill, Partitioner, PartitionerKind,
    Partitions, RoundRobinPartitioner,
};
pub use producer::{Acks, Producer, ProducerConfig};
pub use record::{
    ConsumerRecord, Header, ProducerRecord, RecordMetadata, TimestampType, TopicPartition,
};
