//! Waiting for a whole emitted batch to be acknowledged, as one answer: each record's
//! acknowledgement is tallied by a callback, and the last one (or the first failure)
//! answers the batch with where its records ended in each output partition.
//!
//! A future per record, joined, cost a fifth of the file connector's time in wake-ups and
//! polls; the runner only needs to know that the batch is in and where.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use weir_client::RecordMetadata;

/// Where a delivered batch's records ended in one output partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionEnd {
    /// The topic.
    pub(crate) topic: String,
    /// The partition.
    pub(crate) partition: i32,
    /// The offset after the batch's last record there.
    pub(crate) next_offset: i64,
}

/// The answer for a whole batch: where it ended per partition, or the first failure.
pub(crate) type BatchOutcome = weir_client::Result<Vec<PartitionEnd>>;

/// The batch's answer, once every record is acknowledged or one failed.
pub(crate) type BatchDelivered = oneshot::Receiver<BatchOutcome>;

/// Tallies one batch's acknowledgements.
#[derive(Clone)]
pub(crate) struct BatchTally(Arc<Mutex<Tally>>);

struct Tally {
    remaining: usize,
    ends: Vec<PartitionEnd>,
    answer: Option<oneshot::Sender<BatchOutcome>>,
}

impl BatchTally {
    /// A tally for `records` records and the receiver of its answer (answered at once when
    /// there are none).
    pub(crate) fn new(records: usize) -> (Self, BatchDelivered) {
        let (answer, delivered) = oneshot::channel();
        let answer = if records == 0 {
            let _ = answer.send(Ok(Vec::new()));
            None
        } else {
            Some(answer)
        };
        let tally = Tally {
            remaining: records,
            ends: Vec::new(),
            answer,
        };
        (Self(Arc::new(Mutex::new(tally))), delivered)
    }

    /// Counts one record's outcome.
    pub(crate) fn record(&self, outcome: weir_client::Result<RecordMetadata>) {
        let mut tally = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Err(error) => {
                if let Some(answer) = tally.answer.take() {
                    let _ = answer.send(Err(error));
                }
            }
            Ok(metadata) => {
                let next_offset = metadata.offset + 1;
                // `acks=0` answers without an offset.
                if metadata.offset >= 0 {
                    match tally.ends.iter_mut().find(|end| {
                        end.partition == metadata.partition && end.topic == metadata.topic
                    }) {
                        Some(end) => end.next_offset = end.next_offset.max(next_offset),
                        None => tally.ends.push(PartitionEnd {
                            topic: metadata.topic.to_string(),
                            partition: metadata.partition,
                            next_offset,
                        }),
                    }
                }
                tally.remaining = tally.remaining.saturating_sub(1);
                if tally.remaining == 0
                    && let Some(answer) = tally.answer.take()
                {
                    let ends = std::mem::take(&mut tally.ends);
                    let _ = answer.send(Ok(ends));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(topic: &str, partition: i32, offset: i64) -> RecordMetadata {
        RecordMetadata {
            topic: topic.into(),
            partition,
            offset,
            timestamp: 0,
        }
    }

    #[test]
    fn the_last_acknowledgement_answers_with_each_partitions_end() {
        let (tally, mut delivered) = BatchTally::new(3);
        tally.record(Ok(metadata("t", 0, 5)));
        tally.record(Ok(metadata("t", 1, 9)));
        assert!(delivered.try_recv().is_err());
        tally.record(Ok(metadata("t", 0, 6)));
        let ends = delivered.try_recv().unwrap().unwrap();
        assert_eq!(
            ends,
            [
                PartitionEnd {
                    topic: "t".into(),
                    partition: 0,
                    next_offset: 7
                },
                PartitionEnd {
                    topic: "t".into(),
                    partition: 1,
                    next_offset: 10
                },
            ]
        );
    }

    #[test]
    fn the_first_failure_answers_and_an_empty_batch_is_answered_at_once() {
        let (tally, mut delivered) = BatchTally::new(2);
        tally.record(Err(weir_client::Error::Closed));
        tally.record(Ok(metadata("t", 0, 1)));
        assert!(delivered.try_recv().unwrap().is_err());
        let (_, mut empty) = BatchTally::new(0);
        assert_eq!(empty.try_recv().unwrap().unwrap(), []);
    }
}
