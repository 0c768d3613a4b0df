//! Checkpoints kept in weir itself: the internal topic `__weir_connect_offsets`, one record
//! per save, keyed by connector name, whose value is the JSON of every source partition's
//! position. `weir connect` creates the topic with `cleanup.policy = compact`, so the broker
//! keeps only each connector's newest checkpoint once a segment is cleaned; a connector
//! starting up reads the topic from its beginning and keeps the last value of its key (the
//! active segment is never compacted, so it may hold many older saves too).
//!
//! The runner saves a checkpoint only after the broker acknowledged every event before it,
//! so a restart resumes without gaps; events acknowledged after the last save are read and
//! produced again (at least once, never lost).

use std::time::Duration;

use bytes::Bytes;
use weir_client::{
    Acks, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig, ProducerRecord,
    TopicPartition,
};

use crate::error::ConnectorError;
use crate::source::Checkpoint;

/// The internal topic holding every connector's checkpoints.
pub const OFFSETS_TOPIC: &str = "__weir_connect_offsets";
/// The layout of a saved value, so it can change later.
const FORMAT_VERSION: u64 = 1;

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
    pub async fn load(&self, connector: &str) -> Result<Checkpoint, ConnectorError> {
        let failed = |error| ConnectorError::Checkpoint {
            topic: OFFSETS_TOPIC.to_owned(),
            error,
        };
        let mut config = ConsumerConfig::new(self.bootstrap.iter().cloned());
        config.client_id = "weir-connect-checkpoints".to_owned();
        config.auto_offset_reset = OffsetReset::Earliest;
        config.enable_auto_commit = false;
        config.max_poll_records = 10_000;
        let mut consumer = Consumer::new(config).map_err(failed)?;
        let partitions = consumer
            .partitions_for(OFFSETS_TOPIC)
            .await
            .map_err(failed)?;
        let ends = consumer.end_offsets(&partitions).await.map_err(failed)?;
        let mut remaining: Vec<TopicPartition> = partitions
            .iter()
            .filter(|tp| ends.get(*tp).copied().unwrap_or(0) > 0)
            .cloned()
            .collect();
        consumer.assign(remaining.clone());
        consumer.seek_to_beginning(&remaining).map_err(failed)?;
        let mut latest: Option<Bytes> = None;
        while !remaining.is_empty() {
            let records = consumer
                .poll(Duration::from_millis(500))
                .await
                .map_err(failed)?;
            for record in &records {
                if record.key.as_deref() == Some(connector.as_bytes()) {
                    latest = record.value.clone();
                }
            }
            let mut done = Vec::new();
            for tp in &remaining {
                let end = ends.get(tp).copied().unwrap_or(0);
                if consumer.position(tp).await.map_err(failed)? >= end {
                    done.push(tp.clone());
                }
            }
            remaining.retain(|tp| !done.contains(tp));
        }
        Ok(latest
            .map(|value| decode(connector, &value))
            .unwrap_or_default())
    }

    /// Saves `checkpoint` for `connector` and waits for the broker's acknowledgement.
    pub async fn save(
        &self,
        connector: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), ConnectorError> {
        let value = serde_json::json!({
            "version": FORMAT_VERSION,
            "positions": checkpoint,
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

fn decode(connector: &str, value: &[u8]) -> Checkpoint {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(value).ok();
    let positions = parsed
        .as_ref()
        .filter(|v| v.get("version").and_then(serde_json::Value::as_u64) == Some(FORMAT_VERSION))
        .and_then(|v| v.get("positions"))
        .and_then(serde_json::Value::as_object);
    match positions {
        Some(positions) => positions
            .iter()
            .map(|(name, position)| (name.clone(), position.clone()))
            .collect(),
        None => {
            tracing::warn!(
                connector,
                "the saved checkpoint is unreadable; starting without one"
            );
            Checkpoint::new()
        }
    }
}
