//! The consumer runner: group members (the client's [`Consumer`]) that feed each polled
//! batch to a consumer plugin, retry with backoff, dead-letter what cannot be handled,
//! produce what the plugin emitted (acks=all) and only then commit the batch's offsets, so
//! a crash replays a batch and never loses one.

mod config;
mod dead_letter;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use weir_client::{
    Acks, Consumer, ConsumerConfig, ConsumerRecord, Producer, ProducerConfig, ProducerRecord,
    TopicPartition,
};

pub use config::RunnerConfig;
pub use dead_letter::{
    ERROR_HEADER, OFFSET_HEADER, PARTITION_HEADER, PLUGIN_HEADER, TOPIC_HEADER, dead_letter,
};

use crate::consumer::{Failure, WasmConsumer};
use crate::engine::{CompiledPlugin, PluginEngine};
use crate::error::LoadError;

/// Why the runner stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The plugin could not be loaded or started.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The broker connection failed: polling, producing or committing.
    #[error("{what}: {source}")]
    Client {
        /// What the runner was doing.
        what: &'static str,
        /// The client's error.
        source: weir_client::Error,
    },
    /// A runner task panicked or was cancelled.
    #[error("runner task failed: {0}")]
    Task(String),
}

/// What one member has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerStats {
    /// Input records handled (including dead-lettered ones).
    pub records: u64,
    /// Records produced for the plugin.
    pub emitted: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Batches committed.
    pub batches: u64,
}

/// What every member of a runner has done so far, readable while it runs (a live status
/// line); members add to it as each batch is committed.
#[derive(Debug, Default)]
pub struct RunnerProgress {
    /// Input records handled (including dead-lettered ones).
    pub records: AtomicU64,
    /// Records produced for the plugin.
    pub emitted: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: AtomicU64,
}

/// Runs `config.instances` members until `stop` turns true, then lets each finish its batch,
/// commit and leave the group.
pub async fn run(
    config: RunnerConfig,
    stop: watch::Receiver<bool>,
) -> Result<RunnerStats, RunnerError> {
    run_reporting(config, stop, Arc::default()).await
}

/// [`run`], with the members' counts added to `progress` as they go.
pub async fn run_reporting(
    config: RunnerConfig,
    stop: watch::Receiver<bool>,
    progress: Arc<RunnerProgress>,
) -> Result<RunnerStats, RunnerError> {
    let engine = PluginEngine::new(config.cache_dir.as_deref())?;
    let plugin = engine.compile_file(&config.plugin)?;
    let config = Arc::new(config);
    let mut members = Vec::new();
    for _ in 0..config.instances {
        let mut member = Member::new(&engine, &plugin, Arc::clone(&config))?;
        member.progress = Arc::clone(&progress);
        members.push(tokio::spawn(member.run(stop.clone())));
    }
    let mut total = RunnerStats::default();
    for member in members {
        let stats = member
            .await
            .map_err(|e| RunnerError::Task(e.to_string()))??;
        total.records += stats.records;
        total.emitted += stats.emitted;
        total.dead_lettered += stats.dead_lettered;
        total.batches += stats.batches;
    }
    Ok(total)
}

/// One group member with its own plugin instance.
pub struct Member {
    config: Arc<RunnerConfig>,
    plugin: Option<WasmConsumer>,
    consumer: Consumer,
    producer: Producer,
    stats: RunnerStats,
    progress: Arc<RunnerProgress>,
}

impl Member {
    /// A member of `config.group` running an instance of `plugin`. Needs a Tokio runtime.
    pub fn new(
        engine: &PluginEngine,
        plugin: &CompiledPlugin,
        config: Arc<RunnerConfig>,
    ) -> Result<Self, RunnerError> {
        let instance = WasmConsumer::new(engine, plugin, config.plugin_settings.clone())?;
        let client = |what| move |source| RunnerError::Client { what, source };
        let mut consumer_config =
            ConsumerConfig::new(config.bootstrap_servers.clone()).with_group(config.group.clone());
        consumer_config.enable_auto_commit = false;
        consumer_config.auto_offset_reset = config.start;
        consumer_config.max_poll_records = config.max_batch;
        consumer_config.client_id = format!("weir-plugin-{}", plugin.name);
        if let Some(session) = config.session_timeout {
            consumer_config.session_timeout = session;
            consumer_config.heartbeat_interval = session / 3;
        }
        let mut consumer =
            Consumer::new(consumer_config).map_err(client("creating the consumer"))?;
        consumer
            .subscribe(config.topics.clone())
            .map_err(client("subscribing"))?;
        let mut producer_config = ProducerConfig::new(config.bootstrap_servers.clone());
        producer_config.acks = Acks::All;
        producer_config.enable_idempotence = true;
        producer_config.client_id = format!("weir-plugin-{}", plugin.name);
        let producer = Producer::new(producer_config).map_err(client("creating the producer"))?;
        Ok(Self {
            config,
            plugin: Some(instance),
            consumer,
            producer,
            stats: RunnerStats::default(),
            progress: Arc::default(),
        })
    }

    /// Polls, handles and commits until `stop` turns true.
    pub async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
    ) -> Result<RunnerStats, RunnerError> {
        loop {
            if *stop.borrow() {
                break;
            }
            let polled = tokio::select! {
                polled = self.consumer.poll(self.config.poll_timeout) => polled,
                _ = stop.changed() => continue,
            };
            let records: Vec<ConsumerRecord> = polled
                .map_err(|source| RunnerError::Client {
                    what: "polling",
                    source,
                })?
                .into_iter()
                .collect();
            if records.is_empty() {
                continue;
            }
            self.handle(records).await?;
        }
        let _ = self.producer.close().await;
        self.consumer
            .close()
            .await
            .map_err(|source| RunnerError::Client {
                what: "leaving the group",
                source,
            })?;
        Ok(self.stats)
    }

    /// One polled batch: plugin, retries, dead letters, produce, then commit.
    async fn handle(&mut self, records: Vec<ConsumerRecord>) -> Result<(), RunnerError> {
        let (records, outputs) = self.process(records).await?;
        let sends: Vec<_> = outputs.into_iter().map(|r| self.producer.send(r)).collect();
        for send in sends {
            send.await.map_err(|source| RunnerError::Client {
                what: "producing the plugin's output",
                source,
            })?;
        }
        let mut offsets: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for r in &records {
            let next = offsets.entry(r.topic_partition()).or_insert(0);
            *next = (*next).max(r.offset + 1);
        }
        self.stats.records += records.len() as u64;
        self.progress
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        // A failed commit (a rebalance took the partition) only means another member
        // replays the batch: at least once still holds.
        match self.consumer.commit_offsets_sync(offsets).await {
            Ok(()) => self.stats.batches += 1,
            Err(error) => {
                tracing::warn!(%error, "committing a handled batch failed; it will be replayed")
            }
        }
        Ok(())
    }

    /// Runs the plugin over the batch until every record is handled or dead-lettered.
    /// Gives back the records and what to produce.
    async fn process(
        &mut self,
        records: Vec<ConsumerRecord>,
    ) -> Result<(Vec<ConsumerRecord>, Vec<ProducerRecord>), RunnerError> {
        let records = Arc::new(records);
        let mut outputs = Vec::new();
        let mut start = 0;
        let mut attempts = 0u32;
        // After a trap the failing record is unknown: the rest of the batch goes one by one.
        let mut one_by_one = false;
        while start < records.len() {
            let end = if one_by_one { start + 1 } else { records.len() };
            let outcome = self.call(Arc::clone(&records), start..end).await?;
            self.stats.emitted += outcome.emitted.len() as u64;
            self.progress
                .emitted
                .fetch_add(outcome.emitted.len() as u64, Ordering::Relaxed);
            outputs.extend(outcome.emitted);
            let Some((index, failure)) = outcome.failure else {
                start = end;
                attempts = 0;
                continue;
            };
            let failed = match index {
                Some(i) => start + i,
                None if one_by_one => start,
                None => {
                    one_by_one = true;
                    continue;
                }
            };
            let (retryable, reason) = match failure {
                Failure::Retry(m) => (true, m),
                Failure::DeadLetter(m) => (false, m),
                Failure::Call(e) => (true, format!("plugin {e}")),
            };
            if retryable && attempts < self.config.max_retries {
                attempts += 1;
                start = failed;
                tracing::info!(offset = records[failed].offset, attempts, %reason, "retrying a record");
                tokio::time::sleep(backoff(self.config.retry_backoff, attempts)).await;
                continue;
            }
            let plugin = self.plugin.as_ref().map_or("?", |p| p.name());
            tracing::warn!(
                topic = %records[failed].topic,
                partition = records[failed].partition,
                offset = records[failed].offset,
                %reason,
                "dead-lettering a record"
            );
            outputs.push(dead_letter(
                &self.config.dead_letter_topic,
                &records[failed],
                plugin,
                &reason,
            ));
            self.stats.dead_lettered += 1;
            self.progress.dead_lettered.fetch_add(1, Ordering::Relaxed);
            start = failed + 1;
            attempts = 0;
        }
        let records = Arc::try_unwrap(records).unwrap_or_else(|shared| (*shared).clone());
        Ok((records, outputs))
    }

    /// One plugin call on a blocking thread, so a slow plugin never stalls the runtime.
    async fn call(
        &mut self,
        records: Arc<Vec<ConsumerRecord>>,
        range: std::ops::Range<usize>,
    ) -> Result<crate::consumer::BatchOutcome, RunnerError> {
        let Some(mut plugin) = self.plugin.take() else {
            return Err(RunnerError::Task(
                "plugin instance lost by an earlier failure".into(),
            ));
        };
        let (plugin, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = plugin.consume(&records[range]);
            (plugin, outcome)
        })
        .await
        .map_err(|e| RunnerError::Task(e.to_string()))?;
        self.plugin = Some(plugin);
        Ok(outcome)
    }
}

/// `base` doubled per attempt, capped at 30 times `base`.
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(5))
        .min(base.saturating_mul(30))
}
