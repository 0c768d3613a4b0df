//! `weir-broker`: weir's broker. It will own the topics, the Kafka protocol server, the
//! consumer-group coordinator, replication and the cluster controller, driving `weir-log` for
//! storage.
//!
//! So far only its configuration exists: [`BrokerConfig`] reads the `[broker]` and
//! `[topics.NAME]` tables of a TOML file, with Kafka's setting names and defaults.

pub mod config;

pub use config::{Acks, BrokerConfig, TopicOverrides};
