//! Idempotent producers, per partition: each producer id's epoch and the sequence ranges of
//! its last five batches (Kafka's in-flight limit for idempotence), so a retried batch is
//! recognised and answered with its original offset instead of being appended twice, and a
//! gap in sequences is refused.
//!
//! The table is rebuilt on open from the headers of the active segment. A producer whose
//! last batches are older than that is unknown, and its next batch is accepted at whatever
//! sequence it carries, as Kafka does once a producer's state has expired.

use std::collections::{HashMap, VecDeque};

use weir_log::batch::BatchHeader;

/// Batches remembered per producer: a client never has more in flight.
const CACHED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CachedBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: u64,
}

#[derive(Debug)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Append it.
    Append,
    /// A retry of a batch already in the log at `base_offset`: answer with that.
    Duplicate { base_offset: u64 },
}

/// Why a batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SequenceError {
    /// An older epoch of a producer that has since been re-initialised (fenced).
    #[error("producer epoch {got} is older than the current {current}")]
    StaleEpoch { current: i16, got: i16 },
    /// The batch does not continue the producer's sequence.
    #[error("sequence {got} does not follow {expected}")]
    OutOfOrder { expected: i32, got: i32 },
}

/// The producer table of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

fn last_sequence(header: &BatchHeader) -> i32 {
    // Sequences wrap at i32::MAX back to 0.
    ((i64::from(header.base_sequence) + i64::from(header.last_offset_delta))
        % (i64::from(i32::MAX) + 1)) as i32
}

fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

impl ProducerStates {
    /// Decides whether a batch from an idempotent producer is new, a retry or out of order.
    pub(crate) fn check(&self, header: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if header.producer_epoch < entry.epoch {
            return Err(SequenceError::StaleEpoch {
                current: entry.epoch,
                got: header.producer_epoch,
            });
        }
        if header.producer_epoch > entry.epoch {
            return match header.base_sequence {
                0 => Ok(SequenceCheck::Append),
                got => Err(SequenceError::OutOfOrder { expected: 0, got }),
            };
        }
        let last = last_sequence(header);
        if let Some(cached) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: cached.base_offset,
            });
        }
        let expected = entry
            .batches
            .back()
            .map_or(header.base_sequence, |b| next_sequence(b.last_sequence));
        if header.base_sequence == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(SequenceError::OutOfOrder {
                expected,
                got: header.base_sequence,
            })
        }
    }

    /// Records a batch now in the log (its header carries the assigned base offset).
    pub(crate) fn record(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.base_sequence < 0 {
            return;
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: header.producer_epoch,
                batches: VecDeque::new(),
            });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(CachedBatch {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            base_offset: header.base_offset as u64,
        });
        if entry.batches.len() > CACHED_BATCHES {
            entry.batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(
        producer_id: i64,
        epoch: i16,
        first: i32,
        count: i32,
        base_offset: i64,
    ) -> BatchHeader {
        let mut bytes = weir_log::testing::BatchBuilder::new()
            .records(count as usize, 1)
            .build();
        bytes[43..51].copy_from_slice(&producer_id.to_be_bytes());
        bytes[51..53].copy_from_slice(&epoch.to_be_bytes());
        bytes[53..57].copy_from_slice(&first.to_be_bytes());
        weir_log::batch::set_base_offset(&mut bytes, base_offset);
        BatchHeader::parse(&bytes).unwrap()
    }

    #[test]
    fn in_order_batches_append_and_retries_are_duplicates() {
        let mut states = ProducerStates::default();
        let first = batch(7, 0, 0, 3, 100);
        assert_eq!(states.check(&first), Ok(SequenceCheck::Append));
        states.record(&first);
        let second = batch(7, 0, 3, 2, 103);
        assert_eq!(states.check(&second), Ok(SequenceCheck::Append));
        states.record(&second);
        assert_eq!(
            states.check(&batch(7, 0, 0, 3, -1)),
            Ok(SequenceCheck::Duplicate { base_offset: 100 })
        );
        assert_eq!(
            states.check(&batch(7, 0, 3, 2, -1)),
            Ok(SequenceCheck::Duplicate { base_offset: 103 })
        );
        assert_eq!(
            states.check(&batch(7, 0, 6, 1, -1)),
            Err(SequenceError::OutOfOrder {
                expected: 5,
                got: 6
            })
        );
        assert_eq!(
            states.check(&batch(7, 0, 5, 1, -1)),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn epochs_fence_old_producers_and_restart_sequences() {
        let mut states = ProducerStates::default();
        states.record(&batch(1, 2, 0, 5, 0));
        assert_eq!(
            states.check(&batch(1, 1, 5, 1, -1)),
            Err(SequenceError::StaleEpoch { current: 2, got: 1 })
        );
        assert_eq!(
            states.check(&batch(1, 3, 5, 1, -1)),
            Err(SequenceError::OutOfOrder {
                expected: 0,
                got: 5
            })
        );
        assert_eq!(
            states.check(&batch(1, 3, 0, 1, -1)),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_sequences_wrap() {
        let mut states = ProducerStates::default();
        for i in 0..6 {
            states.record(&batch(9, 0, i, 1, i64::from(i)));
        }
        assert_eq!(
            states.check(&batch(9, 0, 1, 1, -1)),
            Ok(SequenceCheck::Duplicate { base_offset: 1 })
        );
        assert!(
            states.check(&batch(9, 0, 0, 1, -1)).is_err(),
            "the oldest fell out of the cache"
        );
        let mut wrapping = ProducerStates::default();
        wrapping.record(&batch(4, 0, i32::MAX - 1, 2, 0));
        assert_eq!(
            wrapping.check(&batch(4, 0, 0, 1, -1)),
            Ok(SequenceCheck::Append)
        );
        // Unknown producers and non-idempotent batches are not checked.
        assert_eq!(
            wrapping.check(&batch(5, 0, 42, 1, -1)),
            Ok(SequenceCheck::Append)
        );
        assert_eq!(
            wrapping.check(&batch(-1, -1, -1, 1, -1)),
            Ok(SequenceCheck::Append)
        );
    }
}
