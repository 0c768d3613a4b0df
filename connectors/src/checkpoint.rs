//! Checkpoints kept in weir itself: the internal topic `__weir_connect_offsets`, one record
//! per save, keyed by connector name, whose value is the JSON of every source partition's
//! position. `weir connect` creates the topic with `cleanup.policy = compact`, so the broker
//! keeps only each connector's newest checkpoint once a segment is cleaned; a connector
//! starting up reads the topic from its beginning and keeps the last value of its key (the
//! active segment is never compacted, so it may hold many older saves too).
//!
//! The runner saves a checkpoint only after the broker acknowledged every event before it,
//! so a restart resumes without gaps. Events acknowledged after the last save are read
//! again; the checkpoint also says from which offset of each output partition their
//! records may be, so the runner can find them there and not produce them twice
//! ([`crate::replay`]).

use std::time::Duration;

use bytes::Bytes;
use weir_client::{Acks, Producer, ProducerConfig, ProducerRecord};

use crate::error::ConnectorError;
use crate::replay::OutputOffsets;
use crate::source::Checkpoint;
use crate::topic_scan;

/// The internal topic holding every connector's checkpoints.
pub const OFFSETS_TOPIC: &str = "__weir_connect_offsets";
/// The layout of a saved value, so it can change later.
const FORMAT_VERSION: u64 = 1;

/// What a connector saves: its source positions, and where in its output topics the
/// records of events after those positions may start (so a restart can find what it
/// already produced; absent in checkpoints saved before weir recorded it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SavedCheckpoint {
    /// Every source partition's position.
    pub positions: Checkpoint,
    /// Per output partition, an offset at or below the first record of any event after
    /// `positions`.
    pub outputs: Option<OutputOffsets>,
}

/// Reads and writes checkpoints through one cluster.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    bootstrap: Vec<String>,
    producer: Producer,
}

impl CheckpointStore {
    /// A store on the cluster at `bootstrap`. Saves use `acks=all` with idempotence, so a
    /// retried save is never stored twice out of order.
    pub fn new(bootstrap: &[String]) -> Result<Self, ConnectorError> {
        let mut config = ProducerConfig::new(bootstrap.iter().cloned());
        config.client_id = "weir-connect-checkpoints".to_owned();
        config.acks = Acks::All;
        config.linger = Duration::ZERO;
        let producer = Producer::new(config).map_err(ConnectorError::Client)?;
        Ok(Self {
            bootstrap: bootstrap.to_vec(),
            producer,
        })
    }

    /// The last checkpoint saved for `connector`, or an empty one.
    pub async fn load(&self, connector: &str) -> Result<SavedCheckpoint, ConnectorError> {
        let failed = |error| ConnectorError::Checkpoint {
            topic: OFFSETS_TOPIC.to_owned(),
            error,
        };
        let consumer = topic_scan::scan_consumer(&self.bootstrap).map_err(failed)?;
        let bounds = topic_scan::partition_bounds(&consumer, &[OFFSETS_TOPIC])
            .await
            .map_err(failed)?;
        let mut latest: Option<Bytes> = None;
        topic_scan::read_ranges(consumer, &bounds, |record| {
            if record.key.as_deref() == Some(connector.as_bytes()) {
                latest = record.value.clone();
            }
        })
        .await
        .map_err(failed)?;
        Ok(latest
            .map(|value| decode(connector, &value))
            .unwrap_or_default())
    }

    /// Saves `checkpoint` for `connector` and waits for the broker's acknowledgement.
    pub async fn save(
        &self,
        connector: &str,
        checkpoint: &SavedCheckpoint,
    ) -> Result<(), ConnectorError> {
        let value = serde_json::json!({
            "version": FORMAT_VERSION,
            "positions": checkpoint.positions,
            "outputs": checkpoint.outputs.as_ref().map(OutputOffsets::to_json),
        });
        let record =
            ProducerRecord::new(OFFSETS_TOPIC, value.to_string()).with_key(connector.to_owned());
        self.producer
            .send(record)
            .await
            .map(|_| ())
            .map_err(|error| ConnectorError::Checkpoint {
                topic: OFFSETS_TOPIC.to_owned(),
                error,
            })
    }
}

fn decode(connector: &str, value: &[u8]) -> SavedCheckpoint {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(value).ok();
    let positions = parsed
        .as_ref()
        .filter(|v| v.get("version").and_then(serde_json::Value::as_u64) == Some(FORMAT_VERSION))
        .and_then(|v| v.get("positions"))
        .and_then(serde_json::Value::as_object);
    match positions {
        Some(positions) => SavedCheckpoint {
            positions: positions
                .iter()
                .map(|(name, position)| (name.clone(), position.clone()))
                .collect(),
            outputs: parsed
                .as_ref()
                .and_then(|v| v.get("outputs"))
                .and_then(OutputOffsets::from_json),
        },
        None => {
            tracing::warn!(
                connector,
                "the saved checkpoint is unreadable; starting without one"
            );
            SavedCheckpoint::default()
        }
    }
}
