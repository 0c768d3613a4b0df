//! The runner: drives one source through its emit policy into the producer, and saves the
//! source's checkpoint once the broker acknowledged every event before it.
//!
//! The source runs in a task of its own that hands over what it read through a channel, so
//! an emit deadline firing never cancels a read half-way (a source may have moved on past
//! what it was reading), and acknowledgements reach it while the runner is busy.
//!
//! Batches leave in order: each emitted batch is sent and flushed (so it goes out as its
//! own produce batch at once), then queued for the acknowledger task, which awaits its
//! records in order, merges its positions into the checkpoint, saves that, and only then
//! counts the batch as done. Up to `MAX_IN_FLIGHT` batches may be on the way, so reading
//! goes on while the broker answers; a failed delivery stops the connector without saving
//! past it. On restart, events the previous run produced after its last save are found in
//! the output topics and not produced again ([`crate::replay`]).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weir_client::{Acks, Header, Partitioner, Producer, ProducerConfig, TopicPartition};
use weir_client::{ProducerRecord, Topic};

use crate::checkpoint::{CheckpointStore, SavedCheckpoint};
use crate::config::{EmitSettings, SourceSettings};
use crate::delivery::{BatchDelivered, BatchOutcome, BatchTally, PartitionEnd};
use crate::emit::{EmitReason, EmittedBatch, PendingBatch, event_value};
use crate::error::{ConnectorError, SourceError};
use crate::replay::{self, EVENT_HEADER, OutputOffsets, ReplayFilter};
use crate::source::{Checkpoint, Payload, Source, SourceEvent};
use crate::status::{ConnectorState, StatusHandle, lock};

/// Emitted batches waiting for their acknowledgement at once.
const MAX_IN_FLIGHT: usize = 8;
/// Events taken from the source at once.
const READ_EVENTS: usize = 4096;
/// The largest produce batch per partition; emitted batches larger than this go out as
/// several.
const PRODUCE_BATCH_BYTES: usize = 512 * 1024;
/// A bound on the bytes one record's headers and framing add to its key and value.
const RECORD_OVERHEAD: usize = 256;
/// The header naming why an event went to the dead-letter topic.
pub const ERROR_HEADER: &str = "weir.error";

/// A batch on its way, for the acknowledger.
struct InFlight {
    deliveries: BatchDelivered,
    batch_records: u64,
    bytes: u64,
    dead_letters: u64,
    positions: Checkpoint,
    /// Output partitions whose offsets this batch's checkpoint must not move (records of a
    /// previous run not matched yet); `None` when there are none.
    pinned: Option<HashSet<TopicPartition>>,
}

/// Runs one connector.
pub struct Runner<S: Source> {
    settings: SourceSettings,
    source: S,
    store: CheckpointStore,
    status: StatusHandle,
    bootstrap: Vec<String>,
    /// A partitioner replacing `settings.partitioner` (a plugin the topic names).
    partitioner: Option<Box<dyn Partitioner>>,
}

impl<S: Source> Runner<S> {
    /// A runner for `source`, producing to the cluster at `bootstrap`.
    pub fn new(
        settings: SourceSettings,
        source: S,
        bootstrap: &[String],
        store: CheckpointStore,
        status: StatusHandle,
    ) -> Self {
        Self {
            settings,
            source,
            store,
            status,
            bootstrap: bootstrap.to_vec(),
            partitioner: None,
        }
    }

    /// Routes records with `partitioner` instead of the built-in one `settings` names (a
    /// `weir run` topic's partitioner plugin).
    pub fn with_partitioner(mut self, partitioner: Box<dyn Partitioner>) -> Self {
        self.partitioner = Some(partitioner);
        self
    }

    /// Runs until `stop` resolves (then delivers and checkpoints what is pending) or the
    /// connector fails; the status says which.
    pub async fn run(self, stop: impl Future<Output = ()> + Send) -> Result<(), ConnectorError> {
        let status = Arc::clone(&self.status);
        let name = self.settings.name.clone();
        let result = self.run_inner(stop).await;
        let mut status = lock(&status);
        match &result {
            Ok(()) => {
                status.state = ConnectorState::Stopped;
                tracing::info!(connector = name, "stopped");
            }
            Err(error) => {
                status.state = ConnectorState::Failed(error.to_string());
                tracing::error!(connector = name, %error, "connector failed");
            }
        }
        result
    }

    async fn run_inner(
        mut self,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<(), ConnectorError> {
        let name = self.settings.name.clone();
        let saved = self.store.load(&name).await?;
        tracing::info!(
            connector = name,
            partitions = saved.positions.len(),
            "loaded checkpoint"
        );
        let mut source = self.source;
        let resumed = source.start(saved.positions).await?;
        let topics = [
            self.settings.topic.as_str(),
            self.settings.dead_letter_topic.as_str(),
        ];
        let (filter, outputs) = replay::recover(&self.bootstrap, &topics, saved.outputs.as_ref())
            .await
            .map_err(|error| ConnectorError::Delivery {
                topic: self.settings.topic.clone(),
                error,
            })?;
        if filter.len() > 0 {
            tracing::info!(
                connector = name,
                records = filter.len(),
                "found records produced after the checkpoint; their events will not be produced again"
            );
        }
        // Saved at once, so that a crash before the first batch's save still knows where
        // this run's records start.
        let mut checkpoint = SavedCheckpoint {
            positions: resumed,
            outputs: Some(outputs),
        };
        self.store.save(&name, &checkpoint).await?;
        lock(&self.status).state = ConnectorState::Running;
        let producer = Self::producer(&self.settings, &self.bootstrap, self.partitioner.take())?;
        let (queue, queued) = mpsc::channel(MAX_IN_FLIGHT);
        let (acked_tx, acked) = watch::channel(Checkpoint::new());
        let mut acknowledger = OwnedTask(tokio::spawn(acknowledge(
            queued,
            std::mem::take(&mut checkpoint),
            self.store.clone(),
            name.clone(),
            Arc::clone(&self.status),
            acked_tx,
        )));
        let (stop_source, mut reader) = SourceTask::spawn(source, acked, Arc::clone(&self.status));
        let mut read = reader.events;
        let mut emitter = Emitter {
            topic: Topic::from(&self.settings.topic),
            dead_letter_topic: Topic::from(&self.settings.dead_letter_topic),
            settings: self.settings.clone(),
            producer: &producer,
            queue: &queue,
            pending: PendingBatch::default(),
            filtered: 0,
            deduplicated: 0,
            known_topics: HashSet::new(),
            replay: filter,
        };
        let emit = self.settings.emit.clone();
        let mut next_schedule = schedule_deadline(&emit);
        tokio::pin!(stop);
        let outcome = loop {
            count_skipped(
                &self.status,
                std::mem::take(&mut emitter.filtered),
                std::mem::take(&mut emitter.deduplicated),
            );
            let threshold_at = emitter.pending.deadline(&emit.thresholds);
            let wake_at = [threshold_at, next_schedule].into_iter().flatten().min();
            let sleep = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => break emitter.emit(EmitReason::Stop).await,
                () = sleep => {
                    let now = Instant::now();
                    if next_schedule.is_some_and(|at| at <= now) {
                        next_schedule = schedule_deadline(&emit);
                        if let Err(error) = emitter.emit(EmitReason::Schedule).await {
                            break Err(error);
                        }
                    }
                    if emitter.pending.reached(&emit.thresholds, Instant::now()) == Some(EmitReason::Delay)
                        && let Err(error) = emitter.emit(EmitReason::Delay).await
                    {
                        break Err(error);
                    }
                }
                events = read.recv() => {
                    let events = match events {
                        Some(Ok(events)) => events,
                        Some(Err(error)) => break Err(error.into()),
                        None => break Err(SourceError::Stopped.into()),
                    };
                    if let Err(error) = emitter.take(events, &emit).await {
                        break Err(error);
                    }
                }
            }
            if acknowledger.0.is_finished() {
                break Ok(());
            }
        };
        let (filtered, deduplicated) = (emitter.filtered, emitter.deduplicated);
        drop(emitter);
        drop(queue);
        drop(read);
        let _ = stop_source.send(true);
        let stopped_source = (&mut reader.task.0).await;
        // Everything emitted is delivered (or has failed) before the connector stops.
        let acknowledged = (&mut acknowledger.0).await.unwrap_or_else(|_| {
            Err(ConnectorError::Delivery {
                topic: name.clone(),
                error: weir_client::Error::Closed,
            })
        });
        // The last save reaches the source too (a CDC slot advances to it).
        if let Ok((mut source, mut acked)) = stopped_source {
            if acked.has_changed().unwrap_or(false) {
                let checkpoint = acked.borrow_and_update().clone();
                source.acknowledged(&checkpoint);
            }
            source.stop().await;
        }
        count_skipped(&self.status, filtered, deduplicated);
        let _ = producer.close().await;
        outcome.and(acknowledged)
    }

    fn producer(
        settings: &SourceSettings,
        bootstrap: &[String],
        partitioner: Option<Box<dyn Partitioner>>,
    ) -> Result<Producer, ConnectorError> {
        let mut config = ProducerConfig::new(bootstrap.iter().cloned());
        config.client_id = format!("weir-connect-{}", settings.name);
        config.acks = settings.acks;
        config.enable_idempotence = settings.acks == Acks::All;
        config.partitioner = settings.partitioner;
        config.batch_size = PRODUCE_BATCH_BYTES;
        // Every record of the batches in flight fits in the buffer at once, so emitting
        // never waits for memory (a record that does waits in order, holding up the rest).
        let thresholds = settings.emit.thresholds;
        let per_batch = thresholds.max_bytes
            + config.max_request_size
            + thresholds.max_records.saturating_mul(RECORD_OVERHEAD);
        config.buffer_memory = config
            .buffer_memory
            .max(per_batch.saturating_mul(MAX_IN_FLIGHT + 2))
            .min(u32::MAX as usize);
        // Emitted batches are flushed as they leave; linger only matters if a flush is lost.
        config.linger = settings.emit.thresholds.max_delay;
        match partitioner {
            Some(partitioner) => Producer::with_boxed_partitioner(config, partitioner),
            None => Producer::new(config),
        }
        .map_err(ConnectorError::Client)
    }
}

/// Adds events filtered out and events found already delivered to the status.
fn count_skipped(status: &StatusHandle, filtered: u64, deduplicated: u64) {
    let mut status = lock(status);
    status.filtered += filtered;
    status.deduplicated += deduplicated;
}

/// The source's own task: reads, hands batches of events to the runner, and passes saved
/// checkpoints on to the source.
struct SourceTask<S> {
    /// What the source read, in order; an error ends it.
    events: mpsc::Receiver<Result<Vec<SourceEvent>, SourceError>>,
    /// The source and the checkpoints' receiver back, once stopped.
    task: OwnedTask<(S, watch::Receiver<Checkpoint>)>,
}

/// A task that ends with the runner: a connector dropped mid-way (its task aborted) must
/// not go on reading or saving checkpoints behind its back.
struct OwnedTask<T>(JoinHandle<T>);

impl<T> Drop for OwnedTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<S: Source> SourceTask<S> {
    /// Starts reading `source`; setting the returned flag stops it (a read in progress is
    /// dropped: nothing it read was handed over, so nothing of it is in a checkpoint).
    fn spawn(
        mut source: S,
        mut acked: watch::Receiver<Checkpoint>,
        status: StatusHandle,
    ) -> (watch::Sender<bool>, Self) {
        let (stop_tx, mut stop) = watch::channel(false);
        // One read ahead of the runner: enough to overlap reading with producing.
        let (events_tx, events) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            loop {
                report_status(&mut source, &status);
                let read = tokio::select! {
                    biased;
                    _ = stop.changed() => break,
                    read = source.next_events(READ_EVENTS) => read,
                };
                let failed = read.is_err();
                let mut read = Some(read);
                while let Some(events) = read.take() {
                    tokio::select! {
                        biased;
                        _ = stop.changed() => break,
                        Ok(()) = acked.changed() => {
                            let checkpoint = acked.borrow_and_update().clone();
                            source.acknowledged(&checkpoint);
                            read = Some(events);
                        }
                        permit = events_tx.reserve() => match permit {
                            Ok(permit) => permit.send(events),
                            Err(_) => break,
                        },
                    }
                }
                if failed || *stop.borrow() || events_tx.is_closed() {
                    break;
                }
                if acked.has_changed().unwrap_or(false) {
                    let checkpoint = acked.borrow_and_update().clone();
                    source.acknowledged(&checkpoint);
                }
            }
            report_status(&mut source, &status);
            (source, acked)
        });
        (
            stop_tx,
            Self {
                events,
                task: OwnedTask(task),
            },
        )
    }
}

/// Copies the source's lag and warnings into the status.
fn report_status(source: &mut impl Source, status: &StatusHandle) {
    let warnings = source.take_warnings();
    let lag = source.lag();
    let mut status = lock(status);
    for warning in warnings {
        status.warn(warning);
    }
    status.lag = lag;
}

/// Turns events into pending records and emits batches.
struct Emitter<'r> {
    settings: SourceSettings,
    /// `settings.topic`, shared by every record.
    topic: Topic,
    /// `settings.dead_letter_topic`, likewise.
    dead_letter_topic: Topic,
    producer: &'r Producer,
    queue: &'r mpsc::Sender<InFlight>,
    pending: PendingBatch,
    /// Events filtered out since the status was last refreshed.
    filtered: u64,
    /// Events found already in the topic since the status was last refreshed.
    deduplicated: u64,
    /// What the previous run produced after the checkpoint.
    replay: ReplayFilter,
    /// Topics a batch was delivered to already (so the producer knows their partitions).
    known_topics: std::collections::HashSet<Topic>,
}

impl Emitter<'_> {
    /// Applies the emit policy to each event, emitting whenever it says so.
    async fn take(
        &mut self,
        events: Vec<SourceEvent>,
        emit: &EmitSettings,
    ) -> Result<(), ConnectorError> {
        let uses_cel =
            emit.when.is_some() || emit.flush_when.is_some() || self.settings.key.is_some();
        for event in events {
            let now = Instant::now();
            let mut flush = false;
            match &event.payload {
                Payload::Invalid { reason, .. } => {
                    let reason = reason.clone();
                    self.dead_letter(&event, &reason, now);
                }
                _ if uses_cel => {
                    let value = event_value(&event);
                    let decided = (|| -> Result<Option<(Option<Bytes>, bool)>, String> {
                        if let Some(when) = &emit.when
                            && !when.test(&value)?
                        {
                            return Ok(None);
                        }
                        let key = match &self.settings.key {
                            Some(key) => key.key(&value)?,
                            None => event.key.clone(),
                        };
                        let flush = match &emit.flush_when {
                            Some(flush_when) => flush_when.test(&value)?,
                            None => false,
                        };
                        Ok(Some((key, flush)))
                    })();
                    match decided {
                        Ok(Some((key, flush_now))) => {
                            self.produce(&event, key, now);
                            flush = flush_now;
                        }
                        Ok(None) => self.filtered += 1,
                        Err(reason) => self.dead_letter(&event, &reason, now),
                    }
                }
                _ => self.produce(&event, event.key.clone(), now),
            }
            self.pending.advance(&event.partition, event.position, now);
            let reason = if flush {
                Some(EmitReason::FlushWhen)
            } else {
                self.pending
                    .reached(&emit.thresholds, now)
                    .filter(|r| *r != EmitReason::Delay)
            };
            if let Some(reason) = reason {
                self.emit(reason).await?;
            }
        }
        Ok(())
    }

    fn produce(&mut self, event: &SourceEvent, key: Option<Bytes>, now: Instant) {
        let Some(id) = self.new_event_id(event, key.as_deref()) else {
            return;
        };
        let mut record = ProducerRecord::new(self.topic.clone(), event.payload.bytes().clone());
        record.key = key;
        record.headers = headers(event, id);
        self.pending.push(record, now);
    }

    /// The event's id, or `None` if a previous run produced it already.
    fn new_event_id(&mut self, event: &SourceEvent, key: Option<&[u8]>) -> Option<Header> {
        let id = replay::event_id(&self.settings.name, event, key, event.payload.bytes());
        if self.replay.skip(&id) {
            self.deduplicated += 1;
            return None;
        }
        Some(Header {
            key: EVENT_HEADER.to_owned(),
            value: Some(Bytes::copy_from_slice(&id)),
        })
    }

    fn dead_letter(&mut self, event: &SourceEvent, reason: &str, now: Instant) {
        tracing::debug!(
            connector = self.settings.name,
            reason,
            "event to the dead-letter topic"
        );
        let Some(id) = self.new_event_id(event, None) else {
            return;
        };
        let mut record = ProducerRecord::new(
            self.dead_letter_topic.clone(),
            event.payload.bytes().clone(),
        );
        record.headers = headers(event, id);
        record
            .headers
            .push(Header::new(ERROR_HEADER, reason.to_owned()));
        record
            .headers
            .push(Header::new("weir.connector", self.settings.name.clone()));
        self.pending.push_dead_letter(record, now);
    }

    /// Sends the pending batch (if any) and queues it for acknowledgement.
    async fn emit(&mut self, reason: EmitReason) -> Result<(), ConnectorError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let EmittedBatch {
            records,
            bytes,
            dead_letters,
            positions,
        } = self.pending.take();
        tracing::debug!(
            connector = self.settings.name,
            records = records.len(),
            ?reason,
            "emitting a batch"
        );
        let count = records.len() as u64;
        // Records for a topic the producer has no metadata for yet wait for it and are then
        // batched together whatever the flushes said; the first batch to a topic is waited
        // for, so that later batches leave as they were emitted.
        let mut new_topic = false;
        let mut previous: Option<&str> = None;
        for record in &records {
            // Records run in long stretches of one topic: look each stretch up once.
            if previous != Some(record.topic.as_str()) {
                previous = Some(&record.topic);
                new_topic |= self.known_topics.insert(record.topic.clone());
            }
        }
        let (tally, delivered) = BatchTally::new(records.len());
        for record in records {
            let tally = tally.clone();
            // Accepted in order: a record waits here while the buffer is full.
            self.producer
                .send_with(record, move |outcome| tally.record(outcome))
                .await
                .map_err(|error| ConnectorError::Delivery {
                    topic: self.settings.topic.clone(),
                    error,
                })?;
        }
        // The flush command must reach the producer before the next batch's records do, so
        // that this batch leaves alone and now: poll it once here, then let it go.
        let mut flush = Box::pin(self.producer.flush());
        if new_topic {
            let _ = flush.await;
        } else {
            let _ = futures::poll!(&mut flush);
        }
        let in_flight = InFlight {
            deliveries: delivered,
            batch_records: count,
            bytes: bytes as u64,
            dead_letters: dead_letters as u64,
            positions,
            pinned: (self.replay.len() > 0).then(|| self.replay.pinned()),
        };
        self.queue
            .send(in_flight)
            .await
            .map_err(|_| ConnectorError::Delivery {
                topic: self.settings.topic.clone(),
                error: weir_client::Error::Closed,
            })
    }
}

fn headers(event: &SourceEvent, id: Header) -> Vec<Header> {
    let mut headers = Vec::with_capacity(event.headers.len() + 1);
    headers.extend(event.headers.iter().map(|(name, value)| Header {
        key: (*name).to_owned(),
        value: Some(value.clone()),
    }));
    headers.push(id);
    headers
}

fn schedule_deadline(emit: &EmitSettings) -> Option<Instant> {
    let schedule = emit.schedule.as_ref()?;
    let wait = schedule.until_next().unwrap_or(Duration::from_secs(3600));
    Some(Instant::now() + wait)
}

/// Awaits batches in order, saves the checkpoint after each, and counts them in the status.
async fn acknowledge(
    mut queued: mpsc::Receiver<InFlight>,
    mut checkpoint: SavedCheckpoint,
    store: CheckpointStore,
    name: String,
    status: StatusHandle,
    acked: watch::Sender<Checkpoint>,
) -> Result<(), ConnectorError> {
    let mut next = queued.recv().await;
    while let Some(batch) = next.take() {
        let outputs = checkpoint.outputs.get_or_insert_default();
        let mut delivered = vec![batch];
        match outcome((&mut delivered[0].deliveries).await) {
            Ok(ends) => note_outputs(outputs, &ends, delivered[0].pinned.as_ref()),
            Err(error) => return Err(ConnectorError::Delivery { topic: name, error }),
        }
        // Batches already delivered behind it share one save: under load saves would
        // otherwise pace delivery.
        while let Ok(mut batch) = queued.try_recv() {
            match futures::FutureExt::now_or_never(&mut batch.deliveries).map(outcome) {
                Some(Ok(ends)) => {
                    note_outputs(outputs, &ends, batch.pinned.as_ref());
                    delivered.push(batch);
                }
                Some(Err(error)) => return Err(ConnectorError::Delivery { topic: name, error }),
                None => {
                    next = Some(batch);
                    break;
                }
            }
        }
        for batch in &mut delivered {
            checkpoint
                .positions
                .extend(std::mem::take(&mut batch.positions));
        }
        store.save(&name, &checkpoint).await?;
        {
            let mut status = lock(&status);
            for batch in &delivered {
                status.events += batch.batch_records;
                status.bytes += batch.bytes;
                status.dead_letters += batch.dead_letters;
                status.batches += 1;
            }
            status.checkpoints += 1;
        }
        let _ = acked.send(checkpoint.positions.clone());
        if next.is_none() {
            next = queued.recv().await;
        }
    }
    Ok(())
}

/// A batch's answer; a tally dropped unanswered means the producer went away.
fn outcome(answer: Result<BatchOutcome, oneshot::error::RecvError>) -> BatchOutcome {
    answer.unwrap_or(Err(weir_client::Error::Closed))
}

/// Moves each output partition's offset past the records of a delivered batch, except in
/// partitions still holding a previous run's records not matched yet.
fn note_outputs(
    outputs: &mut OutputOffsets,
    ends: &[PartitionEnd],
    pinned: Option<&HashSet<TopicPartition>>,
) {
    for end in ends {
        let tp = TopicPartition::new(end.topic.clone(), end.partition);
        if !pinned.is_some_and(|pinned| pinned.contains(&tp)) {
            outputs.raise(&tp, end.next_offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(partition: i32, next_offset: i64) -> PartitionEnd {
        PartitionEnd {
            topic: "t".to_owned(),
            partition,
            next_offset,
        }
    }

    #[test]
    fn output_offsets_move_past_delivered_records_except_where_pinned() {
        let mut outputs = OutputOffsets::default();
        let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        outputs.raise(&p0, 5);
        outputs.raise(&p1, 5);
        // A previous run's records in partition 1 are not matched yet: it stays put.
        let pinned = HashSet::from([p1.clone()]);
        note_outputs(&mut outputs, &[end(0, 9), end(1, 9)], Some(&pinned));
        assert_eq!((outputs.get(&p0), outputs.get(&p1)), (Some(9), Some(5)));
        note_outputs(&mut outputs, &[end(1, 12)], None);
        assert_eq!(outputs.get(&p1), Some(12));
    }
}
