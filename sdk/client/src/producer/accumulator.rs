//! Per-partition batches waiting to be sent. Each partition has at most one open batch
//! (filling up to `batch_size` for up to `linger`) and a queue of closed batches; its front
//! batch is the one in flight or retrying, so a partition's batches reach the broker in
//! order and a retry never overtakes. Sequences are stamped when a batch is first sent.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::time::{Duration, Instant};

use crate::batch::encode::{BatchBuilder, ProducerStamp};
use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::partitioner::{PartitionFill, Partitioner, Partitions};
use crate::record::{ProducerRecord, RecordMetadata, TopicPartition};

/// A record handed to `send`, with its memory reservation and its answer channel.
#[derive(Debug)]
pub(crate) struct PendingRecord {
    pub(crate) record: ProducerRecord,
    pub(crate) size: usize,
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) done: oneshot::Sender<Result<RecordMetadata>>,
    pub(crate) created: Instant,
}

#[derive(Debug)]
struct Delivery {
    done: oneshot::Sender<Result<RecordMetadata>>,
    timestamp: i64,
    _permit: OwnedSemaphorePermit,
}

/// One partition's batch.
#[derive(Debug)]
pub(crate) struct Batch {
    builder: BatchBuilder,
    deliveries: Vec<Delivery>,
    created: Instant,
    /// The encoded bytes and the stamp they carry, once first sent.
    encoded: Option<(Bytes, ProducerStamp)>,
    attempts: u32,
    retry_at: Option<Instant>,
    in_flight: bool,
}

impl Batch {
    fn new(created: Instant) -> Self {
        Self {
            builder: BatchBuilder::default(),
            deliveries: Vec::new(),
            created,
            encoded: None,
            attempts: 0,
            retry_at: None,
            in_flight: false,
        }
    }

    /// Answers every record of the batch.
    fn complete(self, tp: &TopicPartition, outcome: Result<(i64, i64), &Error>) {
        for (i, delivery) in self.deliveries.into_iter().enumerate() {
            let result = match &outcome {
                Ok((base_offset, append_time)) => Ok(RecordMetadata {
                    topic: tp.topic.clone(),
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
            let _ = delivery.done.send(result);
        }
    }
}

/// A copy of a batch failure for each of its records.
fn clone_error(e: &Error) -> Error {
    match e {
        Error::Broker { what, error } => Error::Broker {
            what: what.clone(),
            error: *error,
        },
        Error::DeliveryTimeout(d) => Error::DeliveryTimeout(*d),
        Error::RecordTooLarge { size, limit } => Error::RecordTooLarge {
            size: *size,
            limit: *limit,
        },
        Error::ConnectionClosed { address } => Error::ConnectionClosed {
            address: address.clone(),
        },
        Error::RequestTimeout {
            api,
            address,
            timeout,
        } => Error::RequestTimeout {
            api,
            address: address.clone(),
            timeout: *timeout,
        },
        Error::Compression {
            codec,
            direction,
            source,
        } => Error::Compression {
            codec,
            direction,
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::MaxBlock(d) => Error::MaxBlock(*d),
        Error::UnknownTopic(t) => Error::UnknownTopic(t.clone()),
        Error::UnknownPartition { topic, partition } => Error::UnknownPartition {
            topic: topic.clone(),
            partition: *partition,
        },
        _ => Error::Closed,
    }
}

#[derive(Debug, Default)]
struct PartitionQueue {
    open: Option<Batch>,
    closed: VecDeque<Batch>,
    next_sequence: i32,
}

#[derive(Debug, Default)]
struct TopicQueues {
    partitions: Vec<PartitionQueue>,
    fills: Vec<PartitionFill>,
}

impl TopicQueues {
    fn update_fill(&mut self, p: usize) {
        let q = &self.partitions[p];
        self.fills[p] = PartitionFill {
            open_bytes: q.open.as_ref().map_or(0, |b| b.builder.size()),
            in_flight: q.closed.len(),
        };
    }
}

/// A batch taken for sending.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) tp: TopicPartition,
    pub(crate) bytes: Bytes,
}

/// Settings the accumulator needs.
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) compression: Compression,
    pub(crate) delivery_timeout: Duration,
}

/// Every partition's batches.
#[derive(Debug)]
pub(crate) struct Accumulator {
    config: AccumulatorConfig,
    topics: HashMap<String, TopicQueues>,
    /// Records accepted and not yet answered.
    records: usize,
}

impl Accumulator {
    pub(crate) fn new(config: AccumulatorConfig) -> Self {
        Self {
            config,
            topics: HashMap::new(),
            records: 0,
        }
    }

    /// Whether no record is waiting or in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Makes room for `partitions` partitions of `topic` (a topic never shrinks).
    pub(crate) fn ensure_topic(&mut self, topic: &str, partitions: usize) {
        let queues = self.topics.entry(topic.to_string()).or_default();
        while queues.partitions.len() < partitions {
            queues.partitions.push(PartitionQueue::default());
            queues.fills.push(PartitionFill::default());
        }
    }

    /// Places a record of a known topic (see [`Self::ensure_topic`]) and appends it.
    pub(crate) fn append(
        &mut self,
        pending: PendingRecord,
        partitioner: &mut dyn Partitioner,
        now: Instant,
    ) {
        let batch_size = self.config.batch_size;
        let Some(queues) = self.topics.get_mut(&pending.record.topic) else {
            let _ = pending
                .done
                .send(Err(Error::UnknownTopic(pending.record.topic.clone())));
            return;
        };
        let count = queues.partitions.len() as i32;
        let partition = match pending.record.partition {
            Some(p) if (0..count).contains(&p) => p,
            Some(p) => {
                let _ = pending.done.send(Err(Error::UnknownPartition {
                    topic: pending.record.topic.clone(),
                    partition: p,
                }));
                return;
            }
            None => {
                let view = Partitions::new(&pending.record.topic, &queues.fills, batch_size);
                let mut p = partitioner
                    .partition(&pending.record, &view)
                    .rem_euclid(count);
                if !fits(&queues.partitions[p as usize], pending.size, batch_size)
                    && partitioner.on_new_batch(&pending.record, p, &view)
                {
                    p = partitioner
                        .partition(&pending.record, &view)
                        .rem_euclid(count);
                }
                p
            }
        };
        let index = partition as usize;
        let queue = &mut queues.partitions[index];
        if !fits(queue, pending.size, batch_size)
            && let Some(full) = queue.open.take()
        {
            queue.closed.push_back(full);
        }
        let batch = queue.open.get_or_insert_with(|| Batch::new(now));
        let record = &pending.record;
        let timestamp = record.timestamp.unwrap_or_else(crate::record::now_millis);
        batch.builder.push(
            timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        batch.deliveries.push(Delivery {
            done: pending.done,
            timestamp,
            _permit: pending.permit,
        });
        if batch.builder.size() >= batch_size
            && let Some(full) = queue.open.take()
        {
            queue.closed.push_back(full);
        }
        self.records += 1;
        queues.update_fill(index);
    }

    /// Closes open batches that lingered long enough (all of them when `force`), and lists
    /// the partitions whose front batch may be sent now.
    pub(crate) fn sendable(&mut self, now: Instant, force: bool) -> Vec<TopicPartition> {
        let linger = self.config.linger;
        let mut out = Vec::new();
        for (topic, queues) in &mut self.topics {
            for p in 0..queues.partitions.len() {
                let queue = &mut queues.partitions[p];
                if let Some(open) = &queue.open
                    && (force || open.created + linger <= now)
                {
                    let batch = queue.open.take();
                    queue.closed.extend(batch);
                    queues.update_fill(p);
                }
                let queue = &queues.partitions[p];
                if let Some(front) = queue.closed.front()
                    && !front.in_flight
                    && front.retry_at.is_none_or(|t| t <= now)
                {
                    out.push(TopicPartition::new(topic.clone(), p as i32));
                }
            }
        }
        out
    }

    /// When something next becomes sendable or expires without a new event.
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        let linger = self.config.linger;
        let timeout = self.config.delivery_timeout;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for queues in self.topics.values() {
            for queue in &queues.partitions {
                if let Some(open) = &queue.open {
                    consider(open.created + linger);
                }
                if let Some(front) = queue.closed.front()
                    && !front.in_flight
                {
                    consider(front.retry_at.unwrap_or(front.created + timeout));
                }
            }
        }
        next
    }

    fn queue(&mut self, tp: &TopicPartition) -> Option<&mut PartitionQueue> {
        self.topics
            .get_mut(&tp.topic)?
            .partitions
            .get_mut(usize::try_from(tp.partition).ok()?)
    }

    /// Marks the front batch of `tp` in flight and returns its bytes, stamped by `stamp`
    /// (given the partition's next sequence) the first time it is sent.
    pub(crate) fn start(
        &mut self,
        tp: &TopicPartition,
        stamp: impl FnOnce(i32) -> ProducerStamp,
    ) -> Result<Option<Outgoing>> {
        let compression = self.config.compression;
        let Some(queue) = self.queue(tp) else {
            return Ok(None);
        };
        let next_sequence = queue.next_sequence;
        let Some(front) = queue.closed.front_mut() else {
            return Ok(None);
        };
        let bytes = match &front.encoded {
            Some((bytes, _)) => bytes.clone(),
            None => {
                let stamp = stamp(next_sequence);
                let bytes = front.builder.finish(compression, stamp)?;
                front.encoded = Some((bytes.clone(), stamp));
                if stamp.base_sequence >= 0 {
                    let count = front.builder.count();
                    queue.next_sequence = next_sequence.wrapping_add(count) & i32::MAX;
                }
                bytes
            }
        };
        let front = queue.closed.front_mut().map(|f| {
            f.in_flight = true;
            f.attempts += 1;
        });
        Ok(front.map(|()| Outgoing {
            tp: tp.clone(),
            bytes,
        }))
    }

    /// The size of the front batch of `tp` once encoded, if it has been.
    pub(crate) fn encoded_len(&mut self, tp: &TopicPartition) -> Option<usize> {
        let front = self.queue(tp)?.closed.front()?;
        Some(
            front
                .encoded
                .as_ref()
                .map_or(front.builder.size(), |(b, _)| b.len()),
        )
    }

    /// The front batch of `tp` was acknowledged at `base_offset`.
    pub(crate) fn succeed(&mut self, tp: &TopicPartition, base_offset: i64, append_time: i64) {
        if let Some(batch) = self.pop_front(tp) {
            batch.complete(tp, Ok((base_offset, append_time)));
        }
    }

    /// The front batch of `tp` failed for good. Returns whether it had been stamped with a
    /// sequence (the producer id must then be reset).
    pub(crate) fn fail(&mut self, tp: &TopicPartition, error: &Error) -> bool {
        match self.pop_front(tp) {
            Some(batch) => {
                let stamped = batch
                    .encoded
                    .as_ref()
                    .is_some_and(|(_, s)| s.base_sequence >= 0);
                batch.complete(tp, Err(error));
                stamped
            }
            None => false,
        }
    }

    /// The front batch of `tp` will be sent again after `backoff`. Returns its attempts.
    pub(crate) fn retry(&mut self, tp: &TopicPartition, at: Instant) -> u32 {
        let Some(front) = self.queue(tp).and_then(|q| q.closed.front_mut()) else {
            return 0;
        };
        front.in_flight = false;
        front.retry_at = Some(at);
        front.attempts
    }

    /// When the front batch of `tp` was created.
    pub(crate) fn created(&mut self, tp: &TopicPartition) -> Option<Instant> {
        Some(self.queue(tp)?.closed.front()?.created)
    }

    fn pop_front(&mut self, tp: &TopicPartition) -> Option<Batch> {
        let queues = self.topics.get_mut(&tp.topic)?;
        let p = usize::try_from(tp.partition).ok()?;
        let batch = queues.partitions.get_mut(p)?.closed.pop_front()?;
        queues.update_fill(p);
        self.records -= batch.deliveries.len();
        Some(batch)
    }

    /// Fails batches (not in flight) older than the delivery timeout. Returns whether any
    /// of them had been stamped with a sequence.
    pub(crate) fn expire(&mut self, now: Instant) -> bool {
        let timeout = self.config.delivery_timeout;
        let error = Error::DeliveryTimeout(timeout);
        let mut expired = Vec::new();
        for (topic, queues) in &mut self.topics {
            for (p, queue) in queues.partitions.iter_mut().enumerate() {
                let tp = TopicPartition::new(topic.clone(), p as i32);
                if let Some(open) = &queue.open
                    && open.created + timeout <= now
                {
                    expired.extend(queue.open.take().map(|b| (tp.clone(), b)));
                }
                while let Some(front) = queue.closed.front()
                    && !front.in_flight
                    && front.created + timeout <= now
                {
                    expired.extend(queue.closed.pop_front().map(|b| (tp.clone(), b)));
                }
                queues.fills[p] = PartitionFill {
                    open_bytes: queue.open.as_ref().map_or(0, |b| b.builder.size()),
                    in_flight: queue.closed.len(),
                };
            }
        }
        let mut stamped = false;
        for (tp, batch) in expired {
            stamped |= batch
                .encoded
                .as_ref()
                .is_some_and(|(_, s)| s.base_sequence >= 0);
            self.records -= batch.deliveries.len();
            batch.complete(&tp, Err(&error));
        }
        stamped
    }

    /// After a producer id reset: every partition restarts at sequence 0 and batches not
    /// in flight are stamped again when next sent.
    pub(crate) fn reset_sequences(&mut self) {
        for queues in self.topics.values_mut() {
            for queue in &mut queues.partitions {
                queue.next_sequence = 0;
                for batch in queue.closed.iter_mut().filter(|b| !b.in_flight) {
                    batch.encoded = None;
                }
            }
        }
    }
}

/// Whether a record of `size` bytes goes into the partition's open batch (a batch always
/// takes its first record).
fn fits(queue: &PartitionQueue, size: usize, batch_size: usize) -> bool {
    queue
        .open
        .as_ref()
        .is_some_and(|b| b.builder.count() == 0 || b.builder.size() + size <= batch_size)
}
