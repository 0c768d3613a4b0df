//! `weir-broker`: the broker. It owns the topics, the Kafka protocol server and the request
//! handlers (one module per API), the consumer-group coordinator, and, in a cluster, the
//! controller (metadata in Raft) and ISR replication, driving `weir-log` for storage.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the `[broker]` and `[topics.NAME]` TOML settings |
//! | [`Broker`] | shared state and lifecycle: open, serve, close cleanly |
//! | `server` | sockets: framing, per-connection ordering, backpressure |
//! | `dispatch` | API/version checks, decoding, routing, response framing |
//! | `handlers` | one module per Kafka API |
//! | `group` | the consumer-group coordinator and committed offsets |
//! | `topics`, `metadata_file` | the topic registry and its persistence |
//! | `cluster` | the metadata quorum (openraft), controller duties, broker liveness |
//! | `replication` | partition roles, follower fetching, high watermark and ISR |

mod broker;
mod cluster;
pub mod config;
mod dispatch;
mod group;
mod handlers;
mod metadata_file;
mod produce_path;
mod producer_ids;
mod producer_state;
mod replication;
mod server;
mod topics;

pub use broker::{Broker, BrokerError};
pub use config::{Acks, BrokerConfig, TopicOverrides};

#[cfg(test)]
mod wire_tests;
