//! A partition's batch as the producer keeps it: the records' bytes, each record's answer
//! channel and memory reservation, and the batch's sending state.

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::time::Instant;

use crate::batch::encode::{BatchBuilder, ProducerStamp};
use crate::error::{Error, Result};
use crate::record::{ProducerRecord, RecordMetadata, Topic, TopicPartition};

/// Where a record's outcome goes: the future `send` returned, or the callback given to
/// `send_with` (called on the producer's task, like the Java client's `Callback`).
pub(crate) enum Answer {
    Future(oneshot::Sender<Result<RecordMetadata>>),
    Callback(Box<dyn FnOnce(Result<RecordMetadata>) + Send>),
}

impl Answer {
    pub(crate) fn send(self, outcome: Result<RecordMetadata>) {
        match self {
            Self::Future(done) => {
                let _ = done.send(outcome);
            }
            Self::Callback(callback) => callback(outcome),
        }
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Future(_) => "Answer::Future",
            Self::Callback(_) => "Answer::Callback",
        })
    }
}

/// A record handed to `send`, with its memory reservation and where its answer goes.
#[derive(Debug)]
pub(crate) struct PendingRecord {
    pub(crate) record: ProducerRecord,
    pub(crate) size: usize,
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) done: Answer,
    pub(crate) created: Instant,
    /// The flush epoch the record was accepted in (set by the sender).
    pub(crate) epoch: u64,
}

#[derive(Debug)]
pub(super) struct Delivery {
    pub(super) done: Answer,
    pub(super) timestamp: i64,
    pub(super) epoch: u64,
}

/// One partition's batch.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(super) id: u64,
    /// The topic, for the records' acknowledgements.
    topic: Topic,
    pub(super) builder: BatchBuilder,
    pub(super) deliveries: Vec<Delivery>,
    /// The buffer memory its records hold, in one reservation: given back once, when the
    /// batch is answered, not record by record (each give-back locks the semaphore).
    memory: Option<OwnedSemaphorePermit>,
    pub(super) created: Instant,
    /// The encoded bytes and the stamp they carry, once first sent.
    pub(super) encoded: Option<(Bytes, ProducerStamp)>,
    pub(super) attempts: u32,
    pub(super) retry_at: Option<Instant>,
    pub(super) in_flight: bool,
}

impl Batch {
    pub(super) fn new(id: u64, topic: Topic, created: Instant) -> Self {
        Self {
            id,
            topic,
            builder: BatchBuilder::default(),
            deliveries: Vec::new(),
            memory: None,
            created,
            encoded: None,
            attempts: 0,
            retry_at: None,
            in_flight: false,
        }
    }

    /// Adds a record's answer and takes over its memory reservation.
    pub(super) fn add(&mut self, delivery: Delivery, memory: OwnedSemaphorePermit) {
        self.deliveries.push(delivery);
        match &mut self.memory {
            Some(held) => held.merge(memory),
            None => self.memory = Some(memory),
        }
    }

    /// The flush epoch of the batch's oldest record; records arrive in epoch order.
    pub(super) fn first_epoch(&self) -> Option<u64> {
        self.deliveries.first().map(|d| d.epoch)
    }

    /// Answers every record of the batch.
    pub(super) fn complete(self, tp: &TopicPartition, outcome: Result<(i64, i64), &Error>) {
        for (i, delivery) in self.deliveries.into_iter().enumerate() {
            let result = match &outcome {
                Ok((base_offset, append_time)) => Ok(RecordMetadata {
                    topic: self.topic.clone(),
                    partition: tp.partition,
                    offset: if *base_offset < 0 {
                        -1
                    } else {
                        base_offset + i as i64
                    },
                    timestamp: if *append_time >= 0 {
                        *append_time
                    } else {
                        delivery.timestamp
                    },
                }),
                Err(e) => Err(clone_error(e)),
            };
            delivery.done.send(result);
        }
    }
}

/// A copy of a batch failure for each of its records.
fn clone_error(e: &Error) -> Error {
    e.duplicate()
}
