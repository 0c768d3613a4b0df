//! The batch being gathered between two emits: its records, the positions they advance to,
//! and when its first entry arrived, against the thresholds that say it is time to emit.

use std::time::Duration;

use tokio::time::Instant;
use weir_client::ProducerRecord;

use crate::source::{Checkpoint, Position};

/// `max_records`, `max_bytes` and `max_delay`: a batch is emitted when the first of them is
/// reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Emit once this many records are pending.
    pub max_records: usize,
    /// Emit once the pending record values and keys reach this many bytes.
    pub max_bytes: usize,
    /// Emit once the first pending entry has waited this long.
    pub max_delay: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            max_records: 10_000,
            max_bytes: 1024 * 1024,
            max_delay: Duration::from_millis(200),
        }
    }
}

/// Why a batch was emitted (logged with each batch, counted in the status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitReason {
    /// `max_records` reached.
    Records,
    /// `max_bytes` reached.
    Bytes,
    /// `max_delay` passed since the first pending entry.
    Delay,
    /// An event matched `flush_when`.
    FlushWhen,
    /// The `schedule` fired.
    Schedule,
    /// The connector is stopping.
    Stop,
}

/// Records and position updates gathered since the last emit.
#[derive(Debug, Default)]
pub struct PendingBatch {
    records: Vec<ProducerRecord>,
    bytes: usize,
    dead_letters: usize,
    positions: Checkpoint,
    first_at: Option<Instant>,
}

impl PendingBatch {
    /// Adds a record to produce.
    pub fn push(&mut self, record: ProducerRecord, now: Instant) {
        self.bytes += record.value.as_ref().map_or(0, |v| v.len())
            + record.key.as_ref().map_or(0, |k| k.len());
        self.records.push(record);
        self.first_at.get_or_insert(now);
    }

    /// Adds a record for the dead-letter topic (counted apart from the events).
    pub fn push_dead_letter(&mut self, record: ProducerRecord, now: Instant) {
        self.dead_letters += 1;
        self.push(record, now);
    }

    /// Notes that `partition` resumes at `position` once this batch is acknowledged; an event
    /// filtered out by `when` still moves its partition on.
    pub fn advance(&mut self, partition: &str, position: Position, now: Instant) {
        match self.positions.get_mut(partition) {
            Some(slot) => *slot = position,
            None => {
                self.positions.insert(partition.to_owned(), position);
            }
        }
        self.first_at.get_or_insert(now);
    }

    /// Whether nothing is pending: no record and no position to save.
    pub fn is_empty(&self) -> bool {
        self.first_at.is_none()
    }

    /// How many records are pending.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The threshold this batch has reached by now, if any.
    pub fn reached(&self, thresholds: &Thresholds, now: Instant) -> Option<EmitReason> {
        if self.records.len() >= thresholds.max_records {
            Some(EmitReason::Records)
        } else if self.bytes >= thresholds.max_bytes {
            Some(EmitReason::Bytes)
        } else if self.deadline(thresholds).is_some_and(|at| at <= now) {
            Some(EmitReason::Delay)
        } else {
            None
        }
    }

    /// When `max_delay` runs out for this batch; `None` while it is empty.
    pub fn deadline(&self, thresholds: &Thresholds) -> Option<Instant> {
        self.first_at.map(|first| first + thresholds.max_delay)
    }

    /// Takes the batch out, leaving this one empty.
    pub fn take(&mut self) -> EmittedBatch {
        let taken = std::mem::take(self);
        EmittedBatch {
            records: taken.records,
            bytes: taken.bytes,
            dead_letters: taken.dead_letters,
            positions: taken.positions,
        }
    }
}

/// A batch on its way to the broker.
#[derive(Debug, Default)]
pub struct EmittedBatch {
    /// The records, in the order they were read.
    pub records: Vec<ProducerRecord>,
    /// Bytes of keys and values.
    pub bytes: usize,
    /// How many of the records go to the dead-letter topic.
    pub dead_letters: usize,
    /// Where each partition resumes once every record is acknowledged.
    pub positions: Checkpoint,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            max_records: 3,
            max_bytes: 10,
            max_delay: Duration::from_millis(200),
        }
    }

    #[test]
    fn each_threshold_emits_on_its_own() {
        let now = Instant::now();
        let mut batch = PendingBatch::default();
        assert_eq!(batch.reached(&thresholds(), now), None);
        for _ in 0..3 {
            assert_eq!(batch.reached(&thresholds(), now), None);
            batch.push(ProducerRecord::new("t", "a"), now);
        }
        assert_eq!(batch.reached(&thresholds(), now), Some(EmitReason::Records));
        assert_eq!(batch.take().records.len(), 3);

        batch.push(ProducerRecord::new("t", "0123456789"), now);
        assert_eq!(batch.reached(&thresholds(), now), Some(EmitReason::Bytes));
        batch.take();

        batch.advance("file", serde_json::json!(5), now);
        assert_eq!(batch.reached(&thresholds(), now), None);
        let later = now + Duration::from_millis(200);
        assert_eq!(batch.reached(&thresholds(), later), Some(EmitReason::Delay));
        let taken = batch.take();
        assert!(taken.records.is_empty());
        assert_eq!(taken.positions["file"], serde_json::json!(5));
        assert!(batch.is_empty());
    }

    #[test]
    fn the_last_position_of_a_partition_wins() {
        let now = Instant::now();
        let mut batch = PendingBatch::default();
        batch.advance("a", serde_json::json!(1), now);
        batch.advance("b", serde_json::json!(7), now);
        batch.advance("a", serde_json::json!(2), now);
        let taken = batch.take();
        assert_eq!(taken.positions.len(), 2);
        assert_eq!(taken.positions["a"], serde_json::json!(2));
    }
}
