//! The runner: drives one source through its emit policy into the producer, and saves the
//! source's checkpoint once the broker acknowledged every event before it.
//!
//! Batches leave in order: each emitted batch is sent and flushed (so it goes out as its
//! own produce batch at once), then queued for the acknowledger task, which awaits its
//! records in order, merges its positions into the checkpoint, saves that, and only then
//! counts the batch as done. Up to `MAX_IN_FLIGHT` batches may be on the way, so reading
//! goes on while the broker answers; a failed delivery stops the connector without saving
//! past it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use weir_client::{
    Acks, Header, Partitioner, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};

use crate::checkpoint::CheckpointStore;
use crate::config::{EmitSettings, SourceSettings};
use crate::emit::{EmitReason, EmittedBatch, PendingBatch, event_value};
use crate::error::ConnectorError;
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

type Deliveries = Pin<Box<dyn Future<Output = weir_client::Result<Vec<RecordMetadata>>> + Send>>;

/// A batch on its way, for the acknowledger.
struct InFlight {
    deliveries: Deliveries,
    batch_records: u64,
    bytes: u64,
    dead_letters: u64,
    positions: Checkpoint,
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
            partitions = saved.len(),
            "loaded checkpoint"
        );
        let resumed = self.source.start(saved).await?;
        lock(&self.status).state = ConnectorState::Running;
        let producer = self.producer()?;
        let (queue, queued) = mpsc::channel(MAX_IN_FLIGHT);
        let (acked_tx, mut acked) = watch::channel(Checkpoint::new());
        let acknowledger = tokio::spawn(acknowledge(
            queued,
            resumed,
            self.store.clone(),
            name.clone(),
            Arc::clone(&self.status),
            acked_tx,
        ));
        let mut emitter = Emitter {
            settings: self.settings.clone(),
            producer: &producer,
            queue: &queue,
            pending: PendingBatch::default(),
            filtered: 0,
            known_topics: std::collections::HashSet::new(),
        };
        let emit = self.settings.emit.clone();
        let mut next_schedule = schedule_deadline(&emit);
        tokio::pin!(stop);
        let outcome = loop {
            if acked.has_changed().unwrap_or(false) {
                let checkpoint = acked.borrow_and_update().clone();
                self.source.acknowledged(&checkpoint);
            }
            self.refresh_status(std::mem::take(&mut emitter.filtered));
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
                events = self.source.next_events(READ_EVENTS) => {
                    let events = match events {
                        Ok(events) => events,
                        Err(error) => break Err(error.into()),
                    };
                    if let Err(error) = emitter.take(events, &emit).await {
                        break Err(error);
                    }
                }
            }
            if acknowledger.is_finished() {
                break Ok(());
            }
        };
        let filtered = emitter.filtered;
        drop(emitter);
        drop(queue);
        // Everything emitted is delivered (or has failed) before the connector stops.
        let acknowledged = acknowledger.await.unwrap_or_else(|_| {
            Err(ConnectorError::Delivery {
                topic: name.clone(),
                error: weir_client::Error::Closed,
            })
        });
        self.refresh_status(filtered);
        let _ = producer.close().await;
        outcome.and(acknowledged)
    }

    fn producer(&mut self) -> Result<Producer, ConnectorError> {
        let mut config = ProducerConfig::new(self.bootstrap.iter().cloned());
        config.client_id = format!("weir-connect-{}", self.settings.name);
        config.acks = self.settings.acks;
        config.enable_idempotence = self.settings.acks == Acks::All;
        config.partitioner = self.settings.partitioner;
        config.batch_size = PRODUCE_BATCH_BYTES;
        // Every record of the batches in flight must fit in the buffer at once: a record
        // that waited for memory would be sent after the next batch's flush, out of order.
        let thresholds = self.settings.emit.thresholds;
        let per_batch = thresholds.max_bytes
            + config.max_request_size
            + thresholds.max_records.saturating_mul(RECORD_OVERHEAD);
        config.buffer_memory = config
            .buffer_memory
            .max(per_batch.saturating_mul(MAX_IN_FLIGHT + 2))
            .min(u32::MAX as usize);
        // Emitted batches are flushed as they leave; linger only matters if a flush is lost.
        config.linger = self.settings.emit.thresholds.max_delay;
        match self.partitioner.take() {
            Some(partitioner) => Producer::with_boxed_partitioner(config, partitioner),
            None => Producer::new(config),
        }
        .map_err(ConnectorError::Client)
    }

    fn refresh_status(&mut self, filtered: u64) {
        let warnings = self.source.take_warnings();
        let lag = self.source.lag();
        let mut status = lock(&self.status);
        for warning in warnings {
            status.warn(warning);
        }
        status.lag = lag;
        status.filtered += filtered;
    }
}

/// Turns events into pending records and emits batches.
struct Emitter<'r> {
    settings: SourceSettings,
    producer: &'r Producer,
    queue: &'r mpsc::Sender<InFlight>,
    pending: PendingBatch,
    /// Events filtered out since the status was last refreshed.
    filtered: u64,
    /// Topics a batch was delivered to already (so the producer knows their partitions).
    known_topics: std::collections::HashSet<String>,
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
        let mut record =
            ProducerRecord::new(self.settings.topic.clone(), event.payload.bytes().clone());
        record.key = key;
        record.headers = headers(event);
        self.pending.push(record, now);
    }

    fn dead_letter(&mut self, event: &SourceEvent, reason: &str, now: Instant) {
        tracing::debug!(
            connector = self.settings.name,
            reason,
            "event to the dead-letter topic"
        );
        let mut record = ProducerRecord::new(
            self.settings.dead_letter_topic.clone(),
            event.payload.bytes().clone(),
        );
        record.headers = headers(event);
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
        let new_topic = records
            .iter()
            .any(|r| !self.known_topics.contains(&r.topic));
        if new_topic {
            self.known_topics
                .extend(records.iter().map(|r| r.topic.clone()));
        }
        let sends: Vec<_> = records.into_iter().map(|r| self.producer.send(r)).collect();
        // The flush command must reach the producer before the next batch's records do, so
        // that this batch leaves alone and now: poll it once here, then let it go.
        let mut flush = Box::pin(self.producer.flush());
        if new_topic {
            let _ = flush.await;
        } else {
            let _ = futures::poll!(&mut flush);
        }
        let in_flight = InFlight {
            deliveries: Box::pin(futures::future::try_join_all(sends)),
            batch_records: count,
            bytes: bytes as u64,
            dead_letters: dead_letters as u64,
            positions,
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

fn headers(event: &SourceEvent) -> Vec<Header> {
    event
        .headers
        .iter()
        .map(|(name, value)| Header {
            key: (*name).to_owned(),
            value: Some(value.clone()),
        })
        .collect()
}

fn schedule_deadline(emit: &EmitSettings) -> Option<Instant> {
    let schedule = emit.schedule.as_ref()?;
    let wait = schedule.until_next().unwrap_or(Duration::from_secs(3600));
    Some(Instant::now() + wait)
}

/// Awaits batches in order, saves the checkpoint after each, and counts them in the status.
async fn acknowledge(
    mut queued: mpsc::Receiver<InFlight>,
    mut checkpoint: Checkpoint,
    store: CheckpointStore,
    name: String,
    status: StatusHandle,
    acked: watch::Sender<Checkpoint>,
) -> Result<(), ConnectorError> {
    let mut next = queued.recv().await;
    while let Some(batch) = next.take() {
        let mut delivered = vec![batch];
        if let Err(error) = (&mut delivered[0].deliveries).await {
            return Err(ConnectorError::Delivery { topic: name, error });
        }
        // Batches already delivered behind it share one save: under load saves would
        // otherwise pace delivery.
        while let Ok(mut batch) = queued.try_recv() {
            match futures::FutureExt::now_or_never(&mut batch.deliveries) {
                Some(Ok(_)) => delivered.push(batch),
                Some(Err(error)) => return Err(ConnectorError::Delivery { topic: name, error }),
                None => {
                    next = Some(batch);
                    break;
                }
            }
        }
        for batch in &mut delivered {
            checkpoint.extend(std::mem::take(&mut batch.positions));
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
        let _ = acked.send(checkpoint.clone());
        if next.is_none() {
            next = queued.recv().await;
        }
    }
    Ok(())
}
