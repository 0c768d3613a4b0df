//! Running every connector of a [`ConnectConfig`] in one process: each in its own task, so
//! one that fails leaves the others running; the status of all of them rewritten to the
//! status file every second and when they stop.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use weir_client::{Admin, AdminConfig, NewTopic, TopicError};

use crate::checkpoint::{CheckpointStore, OFFSETS_TOPIC};
use crate::config::{ConnectConfig, SourceKind, SqlMode, SqlSettings};
use crate::error::ConnectorError;
use crate::file::FileSource;
use crate::runner::Runner;
use crate::sql::SqlSource;
use crate::sql::cdc::CdcSource;
use crate::status::{ConnectorStatus, StatusHandle, StatusReport, lock};

/// How often the status file is rewritten.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// Runs every connector of `config` until `stop` resolves, then lets each deliver and
/// checkpoint what it has pending. Returns the connectors that failed, with why.
pub async fn run(
    config: ConnectConfig,
    stop: impl Future<Output = ()>,
) -> Result<Vec<(String, ConnectorError)>, ConnectorError> {
    create_topics(&config).await?;
    let store = CheckpointStore::new(&config.cluster.bootstrap)?;
    let (stopping, stop_rx) = watch::channel(false);
    let mut statuses: Vec<StatusHandle> = Vec::new();
    let mut tasks = Vec::new();
    for settings in &config.sources {
        let status =
            ConnectorStatus::starting(&settings.name, settings.kind.name(), &settings.topic)
                .into_handle();
        statuses.push(Arc::clone(&status));
        let mut stop_rx = stop_rx.clone();
        let stop = async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        };
        let name = settings.name.clone();
        let task = match &settings.kind {
            SourceKind::File(file) => {
                let runner = Runner::new(
                    settings.clone(),
                    FileSource::new(file.clone()),
                    &config.cluster.bootstrap,
                    store.clone(),
                    status,
                );
                tokio::spawn(runner.run(stop))
            }
            SourceKind::Sql(
                sql @ SqlSettings {
                    mode: SqlMode::Cdc(cdc),
                    ..
                },
            ) => {
                let runner = Runner::new(
                    settings.clone(),
                    CdcSource::new(sql.clone(), cdc.clone()),
                    &config.cluster.bootstrap,
                    store.clone(),
                    status,
                );
                tokio::spawn(runner.run(stop))
            }
            SourceKind::Sql(sql) => {
                let runner = Runner::new(
                    settings.clone(),
                    SqlSource::new(sql.clone()),
                    &config.cluster.bootstrap,
                    store.clone(),
                    status,
                );
                tokio::spawn(runner.run(stop))
            }
        };
        tasks.push((name, task));
    }
    let write_status = |statuses: &[StatusHandle]| {
        let report = StatusReport {
            pid: std::process::id(),
            written_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            connectors: statuses.iter().map(|s| lock(s).clone()).collect(),
        };
        if let Err(error) = report.write(&config.status_file) {
            tracing::warn!(file = %config.status_file.display(), %error, "cannot write the status file");
        }
    };
    tokio::pin!(stop);
    let mut ticker = tokio::time::interval(STATUS_INTERVAL);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticker.tick() => write_status(&statuses),
        }
        if tasks.iter().all(|(_, task)| task.is_finished()) {
            break;
        }
    }
    let _ = stopping.send(true);
    let mut failed = Vec::new();
    for (name, task) in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => failed.push((name, error)),
            Err(_) => failed.push((
                name,
                ConnectorError::Delivery {
                    topic: String::new(),
                    error: weir_client::Error::Closed,
                },
            )),
        }
    }
    write_status(&statuses);
    Ok(failed)
}

/// Creates the `[topics.NAME]` topics and the checkpoint topic (compacted: only each
/// connector's newest checkpoint is kept) if they do not exist; existing ones are left as
/// they are.
async fn create_topics(config: &ConnectConfig) -> Result<(), ConnectorError> {
    let admin = Admin::new(AdminConfig::new(config.cluster.bootstrap.iter().cloned())).map_err(
        |error| ConnectorError::CreateTopic {
            topic: OFFSETS_TOPIC.to_owned(),
            error: error.to_string(),
        },
    )?;
    let mut topics: Vec<NewTopic> = config
        .topics
        .iter()
        .map(|(name, spec)| NewTopic::new(name.clone(), spec.partitions, spec.replication_factor))
        .collect();
    topics.push(NewTopic::new(OFFSETS_TOPIC, 1, 1).with_config("cleanup.policy", "compact"));
    let outcomes =
        admin
            .create_topics(topics)
            .await
            .map_err(|error| ConnectorError::CreateTopic {
                topic: OFFSETS_TOPIC.to_owned(),
                error: error.to_string(),
            })?;
    for (topic, outcome) in outcomes {
        match outcome {
            Ok(()) => tracing::info!(topic, "created topic"),
            Err(TopicError::AlreadyExists { .. }) => {}
            Err(error) => {
                return Err(ConnectorError::CreateTopic {
                    topic,
                    error: error.to_string(),
                });
            }
        }
    }
    Ok(())
}
