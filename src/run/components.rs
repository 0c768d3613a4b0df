//! Starting the pipeline's sources and consumers, each under its own supervisor, and the
//! handles that stop them: sources first (each delivers and checkpoints what it has
//! pending), then consumers (each finishes its batch, commits and leaves its group).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use weir_client::Partitioner;
use weir_connectors::config::SourceKind;
use weir_connectors::file::FileSource;
use weir_connectors::sql::SqlSource;
use weir_connectors::status::StatusHandle;
use weir_connectors::{CheckpointStore, ConnectorStatus, Runner};
use weir_plugins::{RunnerProgress, WasmPartitioner};

use super::config::{ConsumerEntry, PartitionerSpec, Pipeline, SourceEntry};
use super::supervisor::{HealthHandle, new_health, supervise};
use crate::partitioner::built_in_partitioner;

/// What a running component reports.
pub(crate) enum Counters {
    /// A source: the connector's own status (events, lag).
    Source(StatusHandle),
    /// A consumer: its members' progress, and its group for the lag.
    Consumer {
        /// Records handled so far.
        progress: Arc<RunnerProgress>,
        /// The consumer group.
        group: String,
    },
}

/// One started component.
pub(crate) struct Component {
    /// `source` or `consumer`.
    pub(crate) kind: &'static str,
    /// The source's or consumer's name.
    pub(crate) name: String,
    /// Its failures and phase.
    pub(crate) health: HealthHandle,
    /// What it has done.
    pub(crate) counters: Counters,
    task: JoinHandle<()>,
}

/// A group of components stopped together.
pub(crate) struct Stage {
    stop: watch::Sender<bool>,
    pub(crate) components: Vec<Component>,
}

impl Stage {
    fn new() -> (Self, watch::Receiver<bool>) {
        let (stop, stopped) = watch::channel(false);
        (
            Self {
                stop,
                components: Vec::new(),
            },
            stopped,
        )
    }

    /// Asks every component to stop and waits until each has.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        for component in self.components {
            let _ = component.task.await;
        }
    }
}

/// Starts every `[[consumers]]` entry.
pub(crate) fn start_consumers(pipeline: &Pipeline) -> Stage {
    let (mut stage, stopped) = Stage::new();
    for entry in &pipeline.consumers {
        stage
            .components
            .push(start_consumer(entry, stopped.clone()));
    }
    stage
}

fn start_consumer(entry: &ConsumerEntry, stopped: watch::Receiver<bool>) -> Component {
    let health = new_health();
    let progress = Arc::new(RunnerProgress::default());
    let runner = entry.runner.clone();
    let run_progress = Arc::clone(&progress);
    let task = tokio::spawn(supervise(
        format!("consumer {}", entry.name),
        Arc::clone(&health),
        stopped,
        move |stop| {
            let (runner, progress) = (runner.clone(), Arc::clone(&run_progress));
            async move {
                weir_plugins::runner::run_reporting(runner, stop, progress)
                    .await
                    .map(|stats| tracing::info!(?stats, "consumer stopped"))
                    .map_err(|error| error.to_string())
            }
        },
    ));
    Component {
        kind: "consumer",
        name: entry.name.clone(),
        health,
        counters: Counters::Consumer {
            progress,
            group: entry.runner.group.clone(),
        },
        task,
    }
}

/// Starts every `[[sources]]` entry, checkpointing in `store`.
pub(crate) fn start_sources(pipeline: &Pipeline, store: &CheckpointStore) -> Stage {
    let (mut stage, stopped) = Stage::new();
    let bootstrap = pipeline.target.bootstrap();
    for entry in &pipeline.sources {
        let partitioner = pipeline.partitioner_of(&entry.settings.topic).cloned();
        stage.components.push(start_source(
            entry,
            partitioner,
            &bootstrap,
            store,
            stopped.clone(),
        ));
    }
    stage
}

fn start_source(
    entry: &SourceEntry,
    partitioner: Option<PartitionerSpec>,
    bootstrap: &[String],
    store: &CheckpointStore,
    stopped: watch::Receiver<bool>,
) -> Component {
    let settings = entry.settings.clone();
    let status = ConnectorStatus::starting(&settings.name, settings.kind.name(), &settings.topic)
        .into_handle();
    let health = new_health();
    let (bootstrap, store, run_status) = (bootstrap.to_vec(), store.clone(), Arc::clone(&status));
    let name = settings.name.clone();
    let task = tokio::spawn(supervise(
        format!("source {name}"),
        Arc::clone(&health),
        stopped,
        move |mut stop| {
            let settings = settings.clone();
            let partitioner = partitioner.clone();
            let (bootstrap, store, status) =
                (bootstrap.clone(), store.clone(), Arc::clone(&run_status));
            async move {
                let stop = async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                };
                let partitioner = match &partitioner {
                    Some(spec) => Some(build_partitioner(spec)?),
                    None => None,
                };
                let result = match &settings.kind {
                    SourceKind::File(file) => {
                        let source = FileSource::new(file.clone());
                        let runner =
                            Runner::new(settings.clone(), source, &bootstrap, store, status);
                        with_partitioner(runner, partitioner).run(stop).await
                    }
                    SourceKind::Sql(sql) => {
                        let source = SqlSource::new(sql.clone());
                        let runner =
                            Runner::new(settings.clone(), source, &bootstrap, store, status);
                        with_partitioner(runner, partitioner).run(stop).await
                    }
                };
                result.map_err(|error| error.to_string())
            }
        },
    ));
    Component {
        kind: "source",
        name: entry.settings.name.clone(),
        health,
        counters: Counters::Source(status),
        task,
    }
}

fn with_partitioner<S: weir_connectors::Source>(
    runner: Runner<S>,
    partitioner: Option<Box<dyn Partitioner>>,
) -> Runner<S> {
    match partitioner {
        Some(partitioner) => runner.with_partitioner(partitioner),
        None => runner,
    }
}

/// A fresh partitioner for one run of a source (a plugin instance is not shared).
pub(crate) fn build_partitioner(spec: &PartitionerSpec) -> Result<Box<dyn Partitioner>, String> {
    match spec {
        PartitionerSpec::BuiltIn(name) => {
            built_in_partitioner(name).ok_or_else(|| format!("no built-in partitioner {name:?}"))
        }
        PartitionerSpec::Plugin { path, settings, .. } => {
            WasmPartitioner::load(path, settings.clone())
                .map(|plugin| Box::new(plugin) as Box<dyn Partitioner>)
                .map_err(|error| format!("partitioner plugin {}: {error}", path.display()))
        }
    }
}
