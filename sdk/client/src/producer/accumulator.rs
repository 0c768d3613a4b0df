//! Per-partition batches waiting to be sent. Each partition has at most one open batch
//! (filling up to `batch_size` for up to `linger`) and a queue of closed batches, of which a
//! prefix (up to `max_in_flight`) is in flight. Batches are first sent in queue order and
//! stamped with sequences then. A failed batch is resent only once nothing of its
//! partition is in flight any more, from the front, so a retry never overtakes and the
//! broker sees sequences in order.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use tokio::time::{Duration, Instant};

use super::batch::{Batch, Delivery, PendingRecord};
use crate::batch::encode::ProducerStamp;
use crate::compression::Compression;
use crate::error::Error;
use crate::partitioner::{PartitionError, PartitionFill, Partitioner, Partitions};
use crate::record::{ProducerRecord, Topic, TopicPartition};

#[derive(Debug, Default)]
struct PartitionQueue {
    open: Option<Batch>,
    closed: VecDeque<Batch>,
    next_sequence: i32,
}

#[derive(Debug)]
struct TopicQueues {
    /// The topic, shared with its batches' acknowledgements.
    name: Topic,
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
    pub(crate) id: u64,
    pub(crate) bytes: Bytes,
}

/// Settings the accumulator needs.
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) compression: Compression,
    pub(crate) delivery_timeout: Duration,
    /// Batches of one partition in flight at once.
    pub(crate) max_in_flight: usize,
}

/// Every partition's batches.
#[derive(Debug)]
pub(crate) struct Accumulator {
    config: AccumulatorConfig,
    topics: HashMap<String, TopicQueues>,
    ledger: Ledger,
}

/// What the accumulator counts across topics.
#[derive(Debug, Default)]
struct Ledger {
    /// Records accepted and not yet answered, per flush epoch.
    outstanding: BTreeMap<u64, usize>,
    /// The id of the last batch opened.
    next_id: u64,
}

impl Accumulator {
    pub(crate) fn new(config: AccumulatorConfig) -> Self {
        Self {
            config,
            topics: HashMap::new(),
            ledger: Ledger::default(),
        }
    }

    /// Whether no record is waiting or in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.ledger.outstanding.is_empty()
    }

    /// Makes room for `partitions` partitions of `topic` (a topic never shrinks).
    pub(crate) fn ensure_topic(&mut self, topic: &str, partitions: usize) {
        if !self.topics.contains_key(topic) {
            let name = Topic::from(topic);
            self.topics.insert(
                topic.to_string(),
                TopicQueues {
                    name,
                    partitions: Vec::new(),
                    fills: Vec::new(),
                },
            );
        }
        let Some(queues) = self.topics.get_mut(topic) else {
            return;
        };
        while queues.partitions.len() < partitions {
            queues.partitions.push(PartitionQueue::default());
            queues.fills.push(PartitionFill::default());
        }
    }

    /// Whether `topic` has partitions here, so its records can be appended.
    pub(crate) fn knows(&self, topic: &str) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|q| !q.partitions.is_empty())
    }

    /// Grows every topic to the partition count `partitions` gives (after a metadata
    /// refresh), so records placed later see new partitions.
    pub(crate) fn grow_topics(&mut self, partitions: impl Fn(&str) -> Option<usize>) {
        let grown: Vec<(String, usize)> = self
            .topics
            .iter()
            .filter_map(|(t, q)| {
                partitions(t)
                    .filter(|n| *n > q.partitions.len())
                    .map(|n| (t.clone(), n))
            })
            .collect();
        for (topic, n) in grown {
            self.ensure_topic(&topic, n);
        }
    }

    /// Places a record of a known topic (see [`Self::ensure_topic`]) and appends it.
    pub(crate) fn append(
        &mut self,
        pending: PendingRecord,
        partitioner: &mut dyn Partitioner,
        now: Instant,
    ) {
        if let Err(pending) = self.try_append(pending, partitioner, now) {
            let topic = pending.record.topic.to_string();
            pending.done.send(Err(Error::UnknownTopic(topic)));
        }
    }

    /// Places a record and appends it if its topic has partitions here; otherwise gives
    /// it back.
    // Handing the record back by value keeps a box off the per-record path.
    #[allow(clippy::result_large_err)]
    pub(crate) fn try_append(
        &mut self,
        pending: PendingRecord,
        partitioner: &mut dyn Partitioner,
        now: Instant,
    ) -> Result<(), PendingRecord> {
        let batch_size = self.config.batch_size;
        let Some(queues) = self
            .topics
            .get_mut(pending.record.topic.as_str())
            .filter(|q| !q.partitions.is_empty())
        else {
            return Err(pending);
        };
        let count = queues.partitions.len() as i32;
        let chosen = match pending.record.partition {
            Some(p) => Ok(p),
            None => {
                let view = Partitions::new(&pending.record.topic, &queues.fills, batch_size);
                let mut chosen = partitioner.try_partition(&pending.record, &view);
                if let Ok(p) = chosen
                    && !fits(
                        &queues.partitions[p.rem_euclid(count) as usize],
                        pending.size,
                        batch_size,
                    )
                    && partitioner.on_new_batch(&pending.record, p.rem_euclid(count), &view)
                {
                    chosen = partitioner.try_partition(&pending.record, &view);
                }
                chosen.map(|p| p.rem_euclid(count))
            }
        };
        let batch_size = self.config.batch_size;
        append_at(queues, &mut self.ledger, batch_size, pending, chosen, now);
        Ok(())
    }

    /// Places a run of records of one known topic with one
    /// [`Partitioner::try_partition_run`] call (records naming their partition keep it)
    /// and appends them in order.
    pub(crate) fn append_run(
        &mut self,
        run: Vec<PendingRecord>,
        partitioner: &mut dyn Partitioner,
        now: Instant,
    ) {
        let Some(first) = run.first() else {
            return;
        };
        let batch_size = self.config.batch_size;
        let Some(queues) = self.topics.get_mut(first.record.topic.as_str()) else {
            for pending in run {
                self.append(pending, partitioner, now);
            }
            return;
        };
        let count = queues.partitions.len() as i32;
        let unplaced: Vec<&ProducerRecord> = run
            .iter()
            .filter(|p| p.record.partition.is_none())
            .map(|p| &p.record)
            .collect();
        let mut answers = Vec::with_capacity(unplaced.len());
        if !unplaced.is_empty() {
            let view = Partitions::new(&first.record.topic, &queues.fills, batch_size);
            partitioner.try_partition_run(&unplaced, &view, &mut answers);
        }
        let mut answers = answers.into_iter();
        for pending in run {
            let chosen = match pending.record.partition {
                Some(p) => Ok(p),
                None => answers
                    .next()
                    .unwrap_or_else(|| {
                        Err(PartitionError::new(
                            "the partitioner answered fewer records than it was given",
                        ))
                    })
                    .map(|p| p.rem_euclid(count)),
            };
            append_at(queues, &mut self.ledger, batch_size, pending, chosen, now);
        }
    }

    /// Closes every open batch, so records appended later start new ones (a flush's
    /// records leave in batches of their own).
    pub(crate) fn close_open(&mut self) {
        for queues in self.topics.values_mut() {
            for p in 0..queues.partitions.len() {
                let queue = &mut queues.partitions[p];
                if let Some(open) = queue.open.take() {
                    queue.closed.push_back(open);
                    queues.update_fill(p);
                }
            }
        }
    }

    /// Closes open batches that lingered long enough, or that hold a record of flush epoch
    /// `flushed` or older (records waiting for metadata when a flush arrived), and lists the
    /// partitions that have a batch to send now (see [`candidate`]).
    pub(crate) fn sendable(&mut self, now: Instant, flushed: Option<u64>) -> Vec<TopicPartition> {
        let linger = self.config.linger;
        let max_in_flight = self.config.max_in_flight.max(1);
        let mut out = Vec::new();
        for (topic, queues) in &mut self.topics {
            for p in 0..queues.partitions.len() {
                let queue = &mut queues.partitions[p];
                if let Some(open) = &queue.open
                    && (open.created + linger <= now
                        || flushed.is_some_and(|e| open.first_epoch().is_some_and(|f| f <= e)))
                {
                    let batch = queue.open.take();
                    queue.closed.extend(batch);
                    queues.update_fill(p);
                }
                let queue = &queues.partitions[p];
                if candidate(queue, max_in_flight)
                    .is_some_and(|i| queue.closed[i].retry_at.is_none_or(|t| t <= now))
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
                for batch in queue.closed.iter().filter(|b| !b.in_flight) {
                    consider(batch.retry_at.unwrap_or(batch.created + timeout));
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

    fn batch(&mut self, tp: &TopicPartition, id: u64) -> Option<&mut Batch> {
        self.queue(tp)?.closed.iter_mut().find(|b| b.id == id)
    }

    /// Marks the next batch of `tp` in flight and returns its bytes, stamped by `stamp`
    /// (given the partition's next sequence) the first time it is sent. A batch that
    /// cannot be encoded (compression failed) is failed here.
    pub(crate) fn start(
        &mut self,
        tp: &TopicPartition,
        stamp: impl FnOnce(i32) -> ProducerStamp,
    ) -> Option<Outgoing> {
        let compression = self.config.compression;
        let max_in_flight = self.config.max_in_flight.max(1);
        let queue = self.queue(tp)?;
        let index = candidate(queue, max_in_flight)?;
        let next_sequence = queue.next_sequence;
        let batch = &mut queue.closed[index];
        let id = batch.id;
        let bytes = match &batch.encoded {
            Some((bytes, _)) => bytes.clone(),
            None => {
                let stamp = stamp(next_sequence);
                match batch.builder.finish(compression, stamp) {
                    Ok(bytes) => {
                        batch.encoded = Some((bytes.clone(), stamp));
                        if stamp.base_sequence >= 0 {
                            let count = batch.builder.count();
                            queue.next_sequence = next_sequence.wrapping_add(count) & i32::MAX;
                        }
                        bytes
                    }
                    Err(e) => {
                        if let Some(batch) = self.remove(tp, id) {
                            batch.complete(tp, Err(&e));
                        }
                        return None;
                    }
                }
            }
        };
        let batch = &mut self.queue(tp)?.closed[index];
        batch.in_flight = true;
        batch.attempts += 1;
        batch.retry_at = None;
        Some(Outgoing {
            tp: tp.clone(),
            id,
            bytes,
        })
    }

    /// The size of the next batch of `tp` once encoded (its estimate before).
    pub(crate) fn encoded_len(&mut self, tp: &TopicPartition) -> Option<usize> {
        let max_in_flight = self.config.max_in_flight.max(1);
        let queue = self.queue(tp)?;
        let batch = &queue.closed[candidate(queue, max_in_flight)?];
        Some(
            batch
                .encoded
                .as_ref()
                .map_or(batch.builder.size(), |(b, _)| b.len()),
        )
    }

    /// Batch `id` of `tp` was acknowledged at `base_offset`.
    pub(crate) fn succeed(
        &mut self,
        tp: &TopicPartition,
        id: u64,
        base_offset: i64,
        append_time: i64,
    ) {
        if let Some(batch) = self.remove(tp, id) {
            batch.complete(tp, Ok((base_offset, append_time)));
        }
    }

    /// Batch `id` of `tp` failed for good. Returns whether it had been stamped with a
    /// sequence (the producer id must then be reset).
    pub(crate) fn fail(&mut self, tp: &TopicPartition, id: u64, error: &Error) -> bool {
        match self.remove(tp, id) {
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

    /// Batch `id` of `tp` is no longer in flight and goes again at `at` at the earliest.
    /// Returns its attempts so far.
    pub(crate) fn retry(&mut self, tp: &TopicPartition, id: u64, at: Instant) -> u32 {
        let Some(batch) = self.batch(tp, id) else {
            return 0;
        };
        batch.in_flight = false;
        batch.retry_at = Some(at);
        batch.attempts
    }

    /// When batch `id` of `tp` was created.
    pub(crate) fn created(&mut self, tp: &TopicPartition, id: u64) -> Option<Instant> {
        Some(self.batch(tp, id)?.created)
    }

    /// Whether batch `id` is the oldest unacknowledged batch of `tp` (so a sequence error
    /// on it cannot be the echo of an earlier batch's failure).
    pub(crate) fn is_front(&mut self, tp: &TopicPartition, id: u64) -> bool {
        self.queue(tp)
            .and_then(|q| q.closed.front())
            .is_some_and(|b| b.id == id)
    }

    fn remove(&mut self, tp: &TopicPartition, id: u64) -> Option<Batch> {
        let queues = self.topics.get_mut(&tp.topic)?;
        let p = usize::try_from(tp.partition).ok()?;
        let queue = queues.partitions.get_mut(p)?;
        let index = queue.closed.iter().position(|b| b.id == id)?;
        let batch = queue.closed.remove(index)?;
        queues.update_fill(p);
        settle(&mut self.ledger.outstanding, &batch);
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
            settle(&mut self.ledger.outstanding, &batch);
            batch.complete(&tp, Err(&error));
        }
        stamped
    }

    /// The oldest flush epoch with a record not yet answered.
    pub(crate) fn oldest_epoch(&self) -> Option<u64> {
        self.ledger.outstanding.keys().next().copied()
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

/// Takes a batch's records off the outstanding counts.
fn settle(outstanding: &mut BTreeMap<u64, usize>, batch: &Batch) {
    for delivery in &batch.deliveries {
        if let Some(n) = outstanding.get_mut(&delivery.epoch) {
            *n -= 1;
            if *n == 0 {
                outstanding.remove(&delivery.epoch);
            }
        }
    }
}

/// The index of the batch of `queue` to send next: the first one not in flight, when the
/// batches in flight are all before it and fewer than `max_in_flight`. A batch waiting to
/// be retried behind nothing in flight is that batch; one with later batches still in
/// flight waits for them to come back.
fn candidate(queue: &PartitionQueue, max_in_flight: usize) -> Option<usize> {
    let in_flight = queue.closed.iter().take_while(|b| b.in_flight).count();
    if in_flight >= max_in_flight || queue.closed.iter().skip(in_flight).any(|b| b.in_flight) {
        return None;
    }
    (in_flight < queue.closed.len()).then_some(in_flight)
}

/// Whether a record of `size` bytes goes into the partition's open batch (a batch always
/// takes its first record).
/// Appends a record to the partition chosen for it, or fails its send.
fn append_at(
    queues: &mut TopicQueues,
    ledger: &mut Ledger,
    batch_size: usize,
    pending: PendingRecord,
    chosen: Result<i32, PartitionError>,
    now: Instant,
) {
    let count = queues.partitions.len() as i32;
    let partition = match chosen {
        Ok(p) if (0..count).contains(&p) => p,
        Ok(p) => {
            pending.done.send(Err(Error::UnknownPartition {
                topic: pending.record.topic.to_string(),
                partition: p,
            }));
            return;
        }
        Err(error) => {
            let topic = pending.record.topic.to_string();
            pending.done.send(Err(Error::Partitioner {
                topic,
                reason: error.reason,
            }));
            return;
        }
    };
    let index = partition as usize;
    let queue = &mut queues.partitions[index];
    if !fits(queue, pending.size, batch_size)
        && let Some(full) = queue.open.take()
    {
        queue.closed.push_back(full);
    }
    let batch = queue.open.get_or_insert_with(|| {
        ledger.next_id += 1;
        Batch::new(ledger.next_id, queues.name.clone(), now)
    });
    let record = &pending.record;
    let timestamp = record.timestamp.unwrap_or_else(crate::record::now_millis);
    batch.builder.push(
        timestamp,
        record.key.as_deref(),
        record.value.as_deref(),
        &record.headers,
    );
    batch.add(
        Delivery {
            done: pending.done,
            timestamp,
            epoch: pending.epoch,
        },
        pending.permit,
    );
    if batch.builder.size() >= batch_size
        && let Some(full) = queue.open.take()
    {
        queue.closed.push_back(full);
    }
    *ledger.outstanding.entry(pending.epoch).or_default() += 1;
    queues.update_fill(index);
}

fn fits(queue: &PartitionQueue, size: usize, batch_size: usize) -> bool {
    queue
        .open
        .as_ref()
        .is_some_and(|b| b.builder.count() == 0 || b.builder.size() + size <= batch_size)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::partitioner::PartitionerKind;
    use crate::producer::batch::Answer;
    use crate::record::ProducerRecord;

    fn accumulator() -> Accumulator {
        let mut acc = Accumulator::new(AccumulatorConfig {
            batch_size: 1 << 20,
            linger: Duration::from_secs(3600),
            compression: Compression::None,
            delivery_timeout: Duration::from_secs(3600),
            max_in_flight: 5,
        });
        acc.ensure_topic("t", 1);
        acc
    }

    fn append(acc: &mut Accumulator, epoch: u64) {
        let mut record = ProducerRecord::new("t", "v");
        record.partition = Some(0);
        let permit = Arc::new(Semaphore::new(64)).try_acquire_owned().unwrap();
        let pending = PendingRecord {
            record,
            size: 1,
            permit,
            done: Answer::Callback(Box::new(|_| {})),
            created: Instant::now(),
            epoch,
        };
        acc.append(
            pending,
            &mut *PartitionerKind::Default.build(),
            Instant::now(),
        );
    }

    fn batches(acc: &Accumulator) -> (usize, bool) {
        let queue = &acc.topics["t"].partitions[0];
        (queue.closed.len(), queue.open.is_some())
    }

    #[tokio::test]
    async fn a_pending_flush_leaves_batches_of_later_records_open() {
        let mut acc = accumulator();
        append(&mut acc, 0);
        acc.close_open();
        append(&mut acc, 1);
        // The flush of epoch 0 is still waiting: the epoch-1 batch must keep filling.
        let ready = acc.sendable(Instant::now(), Some(0));
        assert_eq!(ready.len(), 1);
        assert_eq!(batches(&acc), (1, true));
    }

    #[tokio::test]
    async fn a_pending_flush_closes_a_batch_holding_its_own_records() {
        let mut acc = accumulator();
        // Records of epoch 0 placed after the flush arrived (they waited for metadata).
        append(&mut acc, 0);
        acc.sendable(Instant::now(), Some(0));
        assert_eq!(batches(&acc), (1, false));
        append(&mut acc, 1);
        acc.sendable(Instant::now(), None);
        assert_eq!(batches(&acc), (1, true));
        acc.sendable(Instant::now(), Some(u64::MAX));
        assert_eq!(batches(&acc), (2, false));
    }
}
