//! What is checked after the file is read and before anything starts: every database a
//! source names is reached and every plugin loaded (compiled, or taken from the cache),
//! databases one after another while the plugins load, and what fails is reported at its key like any other config mistake.

use std::time::Duration;

use weir_config::{ConfigError, ConfigErrors};
use weir_connectors::config::SourceKind;
use weir_connectors::sql::SqlSource;
use weir_plugins::PluginEngine;

use super::components::build_partitioner;
use super::config::{PartitionerSpec, Pipeline, SourceEntry};

/// How long a database may take to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Reaches the databases and loads the plugins of `pipeline`; every failure, at its key.
pub(crate) async fn check(pipeline: &Pipeline) -> Result<(), ConfigErrors> {
    let databases = async {
        let mut errors = Vec::new();
        for source in &pipeline.sources {
            if let Some(error) = reach_database(source).await {
                errors.push(error);
            }
        }
        errors
    };
    let (mut errors, loaded) = tokio::join!(databases, load_plugins(pipeline));
    errors.extend(loaded);
    match ConfigErrors::new(errors) {
        None => Ok(()),
        Some(errors) => Err(errors),
    }
}

/// Connects to a database source's database; the error at its `url` if that fails.
async fn reach_database(source: &SourceEntry) -> Option<ConfigError> {
    let SourceKind::Sql(sql) = &source.settings.kind else {
        return None;
    };
    let message = match tokio::time::timeout(CONNECT_TIMEOUT, SqlSource::probe(sql)).await {
        Ok(Ok(())) => return None,
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer from the database within {CONNECT_TIMEOUT:?}"),
    };
    Some(source.url_at.error(format!(
        "source {}: the database cannot be reached: {message}",
        source.settings.name
    )))
}

/// Loads every plugin once on a blocking thread: consumers are compiled (into the cache
/// their runner reads), partitioners started with their config.
async fn load_plugins(pipeline: &Pipeline) -> Vec<ConfigError> {
    let consumers: Vec<_> = pipeline
        .consumers
        .iter()
        .map(|c| {
            (
                c.runner.plugin.clone(),
                c.runner.cache_dir.clone(),
                c.plugin_at.clone(),
            )
        })
        .collect();
    let partitioners: Vec<_> = pipeline
        .topics
        .values()
        .filter_map(|topic| match &topic.partitioner {
            Some(spec @ PartitionerSpec::Plugin { at, .. }) => Some((spec.clone(), at.clone())),
            _ => None,
        })
        .collect();
    let loaded = tokio::task::spawn_blocking(move || {
        let mut errors = Vec::new();
        for (path, cache, at) in consumers {
            let compiled =
                PluginEngine::new(cache.as_deref()).and_then(|engine| engine.compile_file(&path));
            if let Err(error) = compiled {
                errors.push(at.error(format!("the plugin does not load: {error}")));
            }
        }
        for (spec, at) in partitioners {
            if let Err(error) = build_partitioner(&spec) {
                errors.push(at.error(format!("the partitioner does not start: {error}")));
            }
        }
        errors
    })
    .await;
    loaded.unwrap_or_default()
}
