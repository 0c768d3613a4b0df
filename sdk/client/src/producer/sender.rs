//! The producer's background task. It owns the accumulator and the partitioner, so neither
//! needs a lock: records arrive as commands, placed in order; batches that are full or have
//! lingered go out in one Produce request per leader (up to
//! `max_in_flight_requests_per_connection` per broker, one batch in flight per partition);
//! answers come back as events that complete, retry or fail batches. It also fetches the
//! producer id, refreshes metadata, and expires what waited too long.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use kafka_protocol::messages::ProduceResponse;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Duration, Instant};

use super::accumulator::{Accumulator, AccumulatorConfig, Outgoing};
use super::batch::PendingRecord;
use super::config::ProducerConfig;
use super::requests::{Queued, init_producer_id, produce_request, write_loop};
use crate::batch::encode::ProducerStamp;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::partitioner::{MAX_PARTITION_RUN, Partitioner};
use crate::record::TopicPartition;

/// What the `Producer` handle asks of the task.
#[derive(Debug)]
pub(crate) enum Command {
    Send(PendingRecord),
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

pub(super) enum Event {
    Produced {
        node: i32,
        batches: Vec<(TopicPartition, u64)>,
        result: Result<ProduceResponse>,
    },
    Metadata(Result<()>),
    ProducerId(Result<(i64, i16)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdState {
    /// Not idempotent.
    Off,
    /// No id yet; a request is due at the instant.
    Needed(Instant),
    Requesting,
    Ready(i64, i16),
    /// A stamped batch was lost: bump the epoch once nothing is in flight.
    Reset(i64, i16),
}

mod outcome;

pub(crate) struct Sender {
    config: Arc<ProducerConfig>,
    cluster: Arc<Cluster>,
    accumulator: Accumulator,
    partitioner: Box<dyn Partitioner>,
    /// Whether the partitioner places runs of records (asked once).
    runs: bool,
    /// Records accepted together, not yet placed, for a partitioner that places runs.
    run: Vec<PendingRecord>,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_open: bool,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Records whose topic has no metadata yet, by topic, in order.
    waiting: HashMap<String, VecDeque<PendingRecord>>,
    metadata_wanted: BTreeSet<String>,
    metadata_in_flight: bool,
    metadata_due: Instant,
    in_flight: HashMap<i32, usize>,
    /// Per broker, the task that writes Produce requests in order.
    writers: HashMap<i32, mpsc::UnboundedSender<Queued>>,
    id: IdState,
    /// Pending flushes, each with the epoch whose records it waits for.
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    /// The flush epoch: bumped by every flush, stamped on every record accepted.
    epoch: u64,
    closes: Vec<oneshot::Sender<()>>,
}

impl Sender {
    pub(crate) fn new(
        config: Arc<ProducerConfig>,
        cluster: Arc<Cluster>,
        partitioner: Box<dyn Partitioner>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let now = Instant::now();
        Self {
            accumulator: Accumulator::new(AccumulatorConfig {
                batch_size: config.batch_size,
                linger: config.linger,
                compression: config.compression,
                delivery_timeout: config.delivery_timeout,
                max_in_flight: if config.idempotent() {
                    // The broker remembers five batches per producer for deduplication.
                    config.max_in_flight_requests_per_connection.clamp(1, 5)
                } else {
                    config.max_in_flight_requests_per_connection.max(1)
                },
            }),
            id: if config.idempotent() {
                IdState::Needed(now)
            } else {
                IdState::Off
            },
            config,
            cluster,
            runs: partitioner.partitions_runs(),
            partitioner,
            run: Vec::new(),
            commands,
            commands_open: true,
            events_tx,
            events,
            waiting: HashMap::new(),
            metadata_wanted: BTreeSet::new(),
            metadata_in_flight: false,
            metadata_due: now,
            in_flight: HashMap::new(),
            writers: HashMap::new(),
            flushes: Vec::new(),
            epoch: 0,
            closes: Vec::new(),
        }
    }

    fn closing(&self) -> bool {
        !self.commands_open || !self.closes.is_empty()
    }

    fn idle(&self) -> bool {
        self.accumulator.is_empty() && self.waiting.is_empty()
    }

    pub(crate) async fn run(mut self) {
        loop {
            let wakeup = self.next_wakeup();
            tokio::select! {
                biased;
                Some(event) = self.events.recv() => self.on_event(event),
                command = self.commands.recv(), if self.commands_open => match command {
                    Some(command) => self.on_command(command),
                    None => self.commands_open = false,
                },
                () = tokio::time::sleep_until(wakeup) => {}
            }
            for _ in 0..10_000 {
                match self.commands.try_recv() {
                    Ok(command) => self.on_command(command),
                    Err(_) => break,
                }
            }
            self.place_run();
            while let Ok(event) = self.events.try_recv() {
                self.on_event(event);
            }
            let now = Instant::now();
            self.expire(now);
            self.request_metadata(now);
            self.request_producer_id(now);
            self.send_ready(now);
            self.complete_flushes();
            if self.idle() && self.closing() && self.in_flight.values().all(|n| *n == 0) {
                for close in self.closes.drain(..) {
                    let _ = close.send(());
                }
                if !self.commands_open || self.commands.is_empty() {
                    tracing::debug!("producer closed");
                    return;
                }
            }
        }
    }

    fn next_wakeup(&self) -> Instant {
        let now = Instant::now();
        let mut next = now + Duration::from_secs(1);
        if let Some(t) = self.accumulator.next_wakeup() {
            next = next.min(t);
        }
        if !self.waiting.is_empty() || !self.metadata_wanted.is_empty() {
            next = next.min(self.metadata_due.max(now + Duration::from_millis(10)));
        }
        if let IdState::Needed(t) = self.id {
            next = next.min(t);
        }
        next.max(now + Duration::from_micros(100))
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Send(pending) if self.runs => {
                self.run.push(pending);
                if self.run.len() >= MAX_PARTITION_RUN {
                    self.place_run();
                }
            }
            Command::Send(pending) => self.place(pending),
            Command::Flush(done) => {
                self.place_run();
                // Records sent after the flush must not join the batches it sends.
                self.accumulator.close_open();
                self.flushes.push((self.epoch, done));
                self.epoch += 1;
            }
            Command::Close(done) => {
                self.place_run();
                self.closes.push(done);
            }
        }
    }

    /// Answers the flushes whose records (those accepted before them) are all answered.
    fn complete_flushes(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let waiting = self
            .waiting
            .values()
            .filter_map(|q| q.front().map(|p| p.epoch))
            .min();
        let oldest = match (self.accumulator.oldest_epoch(), waiting) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (done, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(epoch, _)| oldest.is_none_or(|o| o > *epoch));
        self.flushes = pending;
        for (_, flush) in done {
            let _ = flush.send(());
        }
    }

    /// Places the records gathered for a run partitioner: each stretch of one topic the
    /// accumulator knows with one partitioner call, the rest record by record, in order.
    fn place_run(&mut self) {
        let mut records = std::mem::take(&mut self.run).into_iter().peekable();
        while let Some(first) = records.next() {
            if !self.waiting.is_empty() || !self.accumulator.knows(&first.record.topic) {
                self.place(first);
                continue;
            }
            let mut stretch = vec![first];
            while let Some(next) = records.next_if(|p| p.record.topic == stretch[0].record.topic) {
                stretch.push(next);
            }
            for pending in &mut stretch {
                pending.epoch = self.epoch;
            }
            self.append_known(stretch);
        }
    }

    /// Appends records of one topic the accumulator knows, in order: in runs for a
    /// partitioner that places runs, else one by one.
    fn append_known(&mut self, records: Vec<PendingRecord>) {
        let now = Instant::now();
        if !self.runs {
            for pending in records {
                self.accumulator
                    .append(pending, self.partitioner.as_mut(), now);
            }
            return;
        }
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let run: Vec<PendingRecord> = records.by_ref().take(MAX_PARTITION_RUN).collect();
            self.accumulator
                .append_run(run, self.partitioner.as_mut(), now);
        }
    }

    /// Puts a record in the accumulator, or behind the records waiting for its topic.
    fn place(&mut self, mut pending: PendingRecord) {
        pending.epoch = self.epoch;
        // The common case, once per record: the topic's partitions are known here (kept
        // current by every metadata refresh), so the shared cluster view is not locked.
        // (A run partitioner's records of a known topic never get here: `place_run` places
        // them.)
        if self.waiting.is_empty() {
            match self
                .accumulator
                .try_append(pending, self.partitioner.as_mut(), Instant::now())
            {
                Ok(()) => return,
                Err(unknown) => pending = unknown,
            }
        }
        let topic = pending.record.topic.as_str();
        if let Some(queue) = self.waiting.get_mut(topic) {
            queue.push_back(pending);
            return;
        }
        match self.cluster.topic(topic) {
            Some(info) if !info.partitions.is_empty() => {
                self.accumulator.ensure_topic(topic, info.partitions.len());
                self.append_known(vec![pending]);
            }
            _ => {
                self.metadata_wanted.insert(topic.to_owned());
                self.waiting
                    .entry(topic.to_owned())
                    .or_default()
                    .push_back(pending);
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Produced {
                node,
                batches,
                result,
            } => {
                if let Some(n) = self.in_flight.get_mut(&node) {
                    *n = n.saturating_sub(1);
                }
                self.on_produced(batches, result);
            }
            Event::Metadata(result) => {
                self.metadata_in_flight = false;
                if let Err(e) = result {
                    tracing::debug!(error = %e, "metadata refresh failed");
                }
                let cluster = &self.cluster;
                self.accumulator
                    .grow_topics(|t| cluster.topic(t).map(|i| i.partitions.len()));
                let topics: Vec<String> = self.waiting.keys().cloned().collect();
                for topic in topics {
                    let known = self
                        .cluster
                        .topic(&topic)
                        .filter(|t| !t.partitions.is_empty());
                    if let Some(info) = known {
                        self.metadata_wanted.remove(&topic);
                        self.accumulator.ensure_topic(&topic, info.partitions.len());
                        let waited = self.waiting.remove(&topic).unwrap_or_default();
                        self.append_known(waited.into());
                    } else if let Some(error) = self
                        .cluster
                        .topic_error(&topic)
                        .filter(|e| !e.is_retriable())
                    {
                        self.metadata_wanted.remove(&topic);
                        for pending in self.waiting.remove(&topic).unwrap_or_default() {
                            pending.done.send(Err(Error::Broker {
                                what: format!("topic {topic:?}"),
                                error,
                            }));
                        }
                    }
                }
            }
            Event::ProducerId(result) => match result {
                Ok((id, epoch)) => {
                    tracing::debug!(id, epoch, "producer id");
                    self.id = IdState::Ready(id, epoch);
                    self.accumulator.reset_sequences();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "InitProducerId failed; retrying");
                    self.id = IdState::Needed(Instant::now() + self.config.retry_backoff);
                }
            },
        }
    }

    fn expire(&mut self, now: Instant) {
        if self.accumulator.expire(now) {
            self.sequence_lost();
        }
        let max_block = self.config.max_block;
        for queue in self.waiting.values_mut() {
            while queue.front().is_some_and(|p| p.created + max_block <= now) {
                if let Some(pending) = queue.pop_front() {
                    pending.done.send(Err(Error::MaxBlock(max_block)));
                }
            }
        }
        self.waiting.retain(|_, q| !q.is_empty());
    }

    fn request_metadata(&mut self, now: Instant) {
        let stale = now >= self.metadata_due + self.config.metadata_max_age;
        if self.metadata_in_flight || (self.metadata_wanted.is_empty() && !stale) {
            return;
        }
        if now < self.metadata_due && !stale {
            return;
        }
        self.metadata_in_flight = true;
        self.metadata_due = now + self.config.retry_backoff;
        let cluster = Arc::clone(&self.cluster);
        let topics: Vec<String> = self.metadata_wanted.iter().cloned().collect();
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let result = cluster.refresh(&topics).await;
            let _ = events.send(Event::Metadata(result));
        });
    }

    fn request_producer_id(&mut self, now: Instant) {
        let (id, epoch) = match self.id {
            IdState::Needed(at) if at <= now => (-1, -1),
            IdState::Reset(id, epoch) if self.in_flight.values().all(|n| *n == 0) => (id, epoch),
            _ => return,
        };
        self.id = IdState::Requesting;
        let cluster = Arc::clone(&self.cluster);
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let result = init_producer_id(&cluster, id, epoch).await;
            let _ = events.send(Event::ProducerId(result));
        });
    }

    /// Sends what can go now; repeats while that starts something, since a partition may
    /// have several batches ready and room for more than one in flight.
    fn send_ready(&mut self, now: Instant) {
        for _ in 0..self.config.max_in_flight_requests_per_connection.max(1) {
            if !self.send_round(now) {
                break;
            }
        }
    }

    /// One batch per ready partition, grouped per leader. Returns whether anything went.
    fn send_round(&mut self, now: Instant) -> bool {
        let mut sent = false;
        let stamp = match self.id {
            IdState::Off => None,
            IdState::Ready(id, epoch) => Some((id, epoch)),
            _ => return false,
        };
        // A flush closed the open batches when it arrived, but records then waiting for
        // metadata joined batches later: those go now too. Batches holding only records
        // accepted after the flush keep filling.
        let flushed = if self.closing() {
            Some(u64::MAX)
        } else {
            // Flushes are kept in arrival order, so the last has the newest epoch.
            self.flushes.last().map(|(epoch, _)| *epoch)
        };
        let mut by_node: HashMap<i32, Vec<TopicPartition>> = HashMap::new();
        for tp in self.accumulator.sendable(now, flushed) {
            match self.cluster.leader(&tp) {
                Some(leader) => by_node.entry(leader.leader).or_default().push(tp),
                None => {
                    self.metadata_wanted.insert(tp.topic.clone());
                }
            }
        }
        for (node, tps) in by_node {
            let mut tps = tps.into_iter().peekable();
            while tps.peek().is_some() {
                let in_flight = self.in_flight.entry(node).or_default();
                if *in_flight >= self.config.max_in_flight_requests_per_connection.max(1) {
                    break;
                }
                let mut outgoing = Vec::new();
                let mut size = 0;
                while let Some(tp) = tps.peek() {
                    let len = self.accumulator.encoded_len(tp).unwrap_or(0);
                    if !outgoing.is_empty() && size + len > self.config.max_request_size {
                        break;
                    }
                    let Some(tp) = tps.next() else { break };
                    let started = self.accumulator.start(&tp, |next| match stamp {
                        Some((id, epoch)) => ProducerStamp {
                            id,
                            epoch,
                            base_sequence: next,
                        },
                        None => ProducerStamp::NONE,
                    });
                    if let Some(o) = started {
                        size += o.bytes.len();
                        outgoing.push(o);
                    }
                }
                if outgoing.is_empty() {
                    continue;
                }
                *self.in_flight.entry(node).or_default() += 1;
                self.dispatch(node, outgoing);
                sent = true;
            }
        }
        sent
    }

    /// Hands a request to the writer of `node`, which writes requests in the order given:
    /// a partition's pipelined batches must reach the broker in sequence order.
    fn dispatch(&mut self, node: i32, outgoing: Vec<Outgoing>) {
        let request = produce_request(self.config.acks, self.config.request_timeout, outgoing);
        let writer = self.writers.entry(node).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_loop(
                Arc::clone(&self.cluster),
                node,
                self.config.acks,
                self.config.request_timeout,
                rx,
                self.events_tx.clone(),
            ));
            tx
        });
        if let Err(mpsc::error::SendError((_, batches))) = writer.send(request) {
            let _ = self.events_tx.send(Event::Produced {
                node,
                batches,
                result: Err(Error::Closed),
            });
        }
    }
}
