//! `weir-client`: the Rust client for any Kafka-protocol broker (weir's own, Apache Kafka,
//! Redpanda).
//!
//! It will own the `Producer` (per-partition batching, acks, idempotence, compression and the
//! `Partitioner` trait with murmur2, sticky, round-robin and overflow strategies) and the
//! `Consumer` (`poll(Duration)`, group membership, commits, a push-style listener on top).
//! Connectors, plugins and the CLI all talk to brokers through it.
//!
//! Status: not built yet (issue "Rust client SDK and the weir command line").
