//! `weir-broker`: the broker. It owns the topics, the Kafka protocol server and the request
//! handlers (one module per API) and the consumer-group coordinator, driving `weir-log` for
//! storage; replication and the cluster controller arrive with their issues.
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

mod broker;
pub mod config;
mod dispatch;
mod group;
mod handlers;
mod metadata_file;
mod produce_path;
mod producer_ids;
mod producer_state;
mod server;
mod topics;

pub use broker::{Broker, BrokerError};
pub use config::{Acks, BrokerConfig, TopicOverrides};

#[cfg(test)]
mod wire_tests;
