//! `weir-client`: the Rust client for any Kafka-protocol broker (weir's own, Apache Kafka,
//! Redpanda). Connectors, plugins and the CLI all talk to brokers through it. Settings keep
//! the Java client's names and defaults; `poll(Duration)` behaves as KafkaConsumer's.
//!
//! ```no_run
//! use std::time::Duration;
//! use weir_client::{Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord};
//!
//! # async fn run() -> weir_client::Result<()> {
//! let producer = Producer::new(ProducerConfig::new(["127.0.0.1:9092"]))?;
//! let acked = producer
//!     .send(ProducerRecord::new("orders", "{\"id\":1}").with_key("customer-7"))
//!     .await?;
//! println!("stored at {}-{}@{}", acked.topic, acked.partition, acked.offset);
//!
//! let mut consumer = Consumer::new(ConsumerConfig::new(["127.0.0.1:9092"]).with_group("billing"))?;
//! consumer.subscribe(["orders"])?;
//! loop {
//!     let records = consumer.poll(Duration::from_millis(500)).await?;
//!     for record in &records {
//!         println!("{:?}", record.value);
//!     }
//!     consumer.commit_sync().await?;
//! }
//! # }
//! ```
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
//! | [`consumer`] | [`Consumer`]: `poll`, seeks, groups, commits, rebalance listener, push style |
//! | [`admin`] | [`Admin`]: topics, configs, partitions, groups, offsets and lag |
//! | [`bench`] | the produce and consume workloads `weir bench` measures |
//! | [`error`] | [`Error`] |

pub mod admin;
mod batch;
pub mod bench;
mod cluster;
pub mod compression;
mod connection;
#[cfg(test)]
mod connection_tests;
pub mod consumer;
pub mod error;
pub use weir_murmur2 as murmur2;
mod offset_fetch;
pub mod partitioner;
pub mod producer;
pub mod record;

pub use admin::{
    Admin, AdminConfig, AdminError, ClusterDescription, ConfigChange, ConfigEntry, ConfigSource,
    GroupDescription, GroupListing, KafkaCode, MemberDescription, NewTopic, PartitionLag,
    PartitionReassignment, PartitionRefusal, Reassignment, TopicDescription, TopicError,
};
pub use compression::Compression;
pub use consumer::{
    AssignmentStrategy, Consumer, ConsumerConfig, ListenError, OffsetReset, RebalanceListener,
    Records,
};
pub use error::{Error, Result};
pub use partitioner::{
    DefaultPartitioner, MAX_PARTITION_RUN, OverflowPartitioner, PartitionError, PartitionFill,
    Partitioner, PartitionerKind, Partitions, RoundRobinPartitioner,
};
pub use producer::{Acks, Producer, ProducerConfig};
pub use record::{
    ConsumerRecord, Header, ProducerRecord, RecordMetadata, TimestampType, Topic, TopicPartition,
};
