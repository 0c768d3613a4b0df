//! `weir-connectors`: source connectors, which turn files and databases into events
//! continuously, without anyone writing a producer.
//!
//! A [`Source`] yields events tagged with the source partition and position each came from;
//! a [`Runner`] applies the emit policy (thresholds, CEL `when`/`flush_when`, a cron
//! `schedule`), produces through `weir-client`, and saves the source's [`Checkpoint`] in the
//! topic `__weir_connect_offsets` only after the broker acknowledged every event before it.
//! [`host`] runs every connector of a [`ConnectConfig`] and keeps their status file.
//!
//! | module | owns |
//! |---|---|
//! | [`source`] | the `Source` trait, events, positions and checkpoints |
//! | [`config`] | the connectors' TOML, read with `weir-config` |
//! | [`emit`] | thresholds, pending batches, CEL expressions, cron schedules |
//! | [`runner`] | one connector: source → emit policy → producer → checkpoint |
//! | [`checkpoint`] | checkpoints in `__weir_connect_offsets` |
//! | [`replay`] | event ids, and not producing an event twice after a restart |
//! | [`status`] | each connector's status and the status file |
//! | [`file`] | the file source |
//! | [`sql`] | the database sources (Postgres, MySQL/MariaDB, SQLite) |
//! | [`host`] | creating topics and running every connector of a config |
//! | [`error`] | the errors |

pub mod checkpoint;
pub mod config;
mod delivery;
pub mod emit;
pub mod error;
pub mod file;
pub mod host;
pub mod replay;
pub mod runner;
pub mod source;
pub mod sql;
pub mod status;
mod topic_scan;

pub use checkpoint::{CheckpointStore, OFFSETS_TOPIC};
pub use config::ConnectConfig;
pub use error::{ConnectorError, SourceError};
pub use runner::Runner;
pub use source::{Checkpoint, Payload, Position, Source, SourceEvent};
pub use status::{ConnectorState, ConnectorStatus, StatusReport};
