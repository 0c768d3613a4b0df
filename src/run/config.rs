//! The pipeline file `weir run` reads, checked as a whole before anything starts: where the
//! broker is (`[broker]`, the embedded default, or `[cluster]`), the topics to bring in line,
//! the `[[sources]]` and the `[[consumers]]`. Read with `weir-config` and the readers the
//! broker, the connectors and the plugin runner already have, so every mistake is reported
//! at once with file, line, column and key; `${NAME}` and `${NAME:-default}` are expanded in
//! string values, and relative paths (plugins, log directories, SQLite files) are taken
//! against the file's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use weir_broker::{BrokerConfig, TopicOverrides};
use weir_config::{ConfigError, ConfigErrors, Position, Source, TableReader};
use weir_connectors::config::{Database, SourceKind, SourceSettings};
use weir_plugins::{KeyStyle, PluginEngine, PluginSettings, RunnerConfig};

use crate::partitioner::built_in_partitioner;

/// A whole pipeline, checked.
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// The file it was read from.
    pub(crate) file: PathBuf,
    /// Where the topics live.
    pub(crate) target: Target,
    /// `[topics.NAME]`, by name.
    pub(crate) topics: BTreeMap<String, TopicSettings>,
    /// `[[sources]]`, in file order.
    pub(crate) sources: Vec<SourceEntry>,
    /// `[[consumers]]`, in file order.
    pub(crate) consumers: Vec<ConsumerEntry>,
}

/// The cluster a pipeline runs on.
#[derive(Debug)]
pub(crate) enum Target {
    /// `[broker]` or nothing: a single-node broker in this process.
    Embedded(Box<BrokerConfig>),
    /// `[cluster] bootstrap = [...]`: an existing Kafka-compatible cluster.
    External(Vec<String>),
}

impl Target {
    /// The addresses components bootstrap from.
    pub(crate) fn bootstrap(&self) -> Vec<String> {
        match self {
            Self::Embedded(broker) => broker.advertised_listeners().to_vec(),
            Self::External(bootstrap) => bootstrap.clone(),
        }
    }
}

/// One `[topics.NAME]` table.
#[derive(Debug)]
pub(crate) struct TopicSettings {
    /// Partitions, replicas and the topic configs, as the broker reads them.
    pub(crate) overrides: TopicOverrides,
    /// `partitioner`: how sources producing to this topic pick partitions.
    pub(crate) partitioner: Option<PartitionerSpec>,
}

/// A topic's `partitioner`.
#[derive(Debug, Clone)]
pub(crate) enum PartitionerSpec {
    /// A built-in one by name (`default`, `round_robin`, `overflow`, `overflow:N`).
    BuiltIn(String),
    /// `{ plugin = "x.wasm", config = { … } }`.
    Plugin {
        /// The `.wasm` file.
        path: PathBuf,
        /// Its limits and config.
        settings: PluginSettings,
        /// Where `plugin` is written, for load errors.
        at: Located,
    },
}

/// One `[[sources]]` entry.
#[derive(Debug)]
pub(crate) struct SourceEntry {
    /// The connector's settings, as `weir connect` reads them.
    pub(crate) settings: SourceSettings,
    /// Where its `url` is written (database sources), for connection errors.
    pub(crate) url_at: Located,
}

/// One `[[consumers]]` entry.
#[derive(Debug)]
pub(crate) struct ConsumerEntry {
    /// The name shown in status lines: the group.
    pub(crate) name: String,
    /// The runner's settings, as `weir plugin run-consumer` reads them.
    pub(crate) runner: RunnerConfig,
    /// Where its `plugin` is written, for load errors.
    pub(crate) plugin_at: Located,
}

/// A key's place in the pipeline file, for mistakes found after it was read (a plugin that
/// does not load, a database that cannot be reached).
#[derive(Debug, Clone)]
pub(crate) struct Located {
    file: PathBuf,
    position: Option<Position>,
    key: String,
}

impl Located {
    /// A config error at this place.
    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            position: self.position,
            key: Some(self.key.clone()),
            message: message.into(),
            hint: None,
        }
    }

    fn of(source: &Source, table: &TableReader<'_>, key: &str) -> Self {
        let path = table.key_path();
        Self {
            file: source.file.clone(),
            position: table.position(key),
            key: if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            },
        }
    }
}

impl Pipeline {
    /// Reads and checks the pipeline file at `file`.
    pub(crate) fn load(file: &Path) -> Result<Self, ConfigErrors> {
        Self::parse(&Source::load(file)?.with_env())
    }

    /// Reads and checks a pipeline already in memory.
    pub(crate) fn parse(source: &Source) -> Result<Self, ConfigErrors> {
        source.read(|root| {
            let target = read_target(source, root);
            let defaults = match &target {
                Target::Embedded(broker) => broker.as_ref().clone(),
                Target::External(_) => BrokerConfig::from_broker_table(source.directory(), None),
            };
            let mut topics = BTreeMap::new();
            for (name, mut table) in root.named_tables("topics") {
                let partitioner = read_partitioner(source, &mut table);
                let overrides = TopicOverrides::read(&name, &mut table, &defaults);
                topics.insert(
                    name,
                    TopicSettings {
                        overrides,
                        partitioner,
                    },
                );
            }
            let mut sources: Vec<SourceEntry> = Vec::new();
            for mut table in root.array_of_tables("sources") {
                let url_at = Located::of(source, &table, "url");
                let earlier: Vec<SourceSettings> =
                    sources.iter().map(|s| s.settings.clone()).collect();
                if let Some(mut settings) = SourceSettings::read(&mut table, &earlier) {
                    if let SourceKind::Sql(sql) = &mut settings.kind
                        && sql.database == Database::Sqlite
                    {
                        sql.url = sqlite_url_in(source.directory(), &sql.url);
                    }
                    sources.push(SourceEntry { settings, url_at });
                }
            }
            let mut consumers: Vec<ConsumerEntry> = Vec::new();
            for mut table in root.array_of_tables("consumers") {
                let plugin_at = Located::of(source, &table, "plugin");
                let mut runner = RunnerConfig::read(&mut table, KeyStyle::Snake);
                check_plugin_file(&mut table, &runner.plugin);
                if consumers.iter().any(|c| c.runner.group == runner.group) {
                    table.reject(
                        "group",
                        format!(
                            "another consumer already uses group {:?}: its members would share \
                             the partitions",
                            runner.group
                        ),
                    );
                }
                runner.bootstrap_servers = target.bootstrap();
                if runner.cache_dir.is_none() {
                    runner.cache_dir = PluginEngine::default_cache_dir();
                }
                consumers.push(ConsumerEntry {
                    name: runner.group.clone(),
                    runner,
                    plugin_at,
                });
            }
            Self {
                file: source.file.clone(),
                target,
                topics,
                sources,
                consumers,
            }
        })
    }

    /// The partitioner sources producing to `topic` use, if the topic names one.
    pub(crate) fn partitioner_of(&self, topic: &str) -> Option<&PartitionerSpec> {
        self.topics.get(topic)?.partitioner.as_ref()
    }
}

/// `[broker]` (or neither table): the embedded broker; `[cluster]`: an external cluster.
fn read_target(source: &Source, root: &mut TableReader<'_>) -> Target {
    if root.contains("cluster") && root.contains("broker") {
        root.reject(
            "cluster",
            "[cluster] and [broker] exclude each other: [broker] runs a broker in this process, \
             [cluster] uses an existing one",
        );
        // Read, so its keys are checked rather than all reported unknown.
        let _ = BrokerConfig::from_broker_table(source.directory(), root.table("broker").as_mut());
    }
    let Some(mut cluster) = root.table("cluster") else {
        let mut broker = root.table("broker");
        let config = BrokerConfig::from_broker_table(source.directory(), broker.as_mut());
        if config.cluster().is_some()
            && let Some(broker) = broker.as_mut()
        {
            broker.reject(
                "controller_quorum_voters",
                "the embedded broker is a single node; run a cluster with `weir broker` and \
                 point [cluster] at it",
            );
        }
        return Target::Embedded(Box::new(config));
    };
    let listed = cluster.strings("bootstrap");
    let bootstrap = cluster.ensure(
        "bootstrap",
        listed,
        "a non-empty list of \"host:port\"",
        |list: &Vec<String>| !list.is_empty() && list.iter().all(|a| a.contains(':')),
    );
    if !cluster.contains("bootstrap") {
        cluster.reject_table("bootstrap = [\"host:port\", …] is required");
    }
    Target::External(bootstrap.unwrap_or_default())
}

/// A topic's `partitioner`: a built-in name, or an inline table naming a plugin.
fn read_partitioner(source: &Source, topic: &mut TableReader<'_>) -> Option<PartitionerSpec> {
    if !topic.is_table("partitioner") {
        let name = topic.string("partitioner")?;
        if built_in_partitioner(&name).is_none() {
            topic.reject(
                "partitioner",
                format!(
                    "expected default, round_robin, overflow, overflow:N or \
                     {{ plugin = \"x.wasm\" }}, found {name:?}"
                ),
            );
            return None;
        }
        return Some(PartitionerSpec::BuiltIn(name));
    }
    let mut table = topic.table("partitioner")?;
    let at = Located::of(source, &table, "plugin");
    let path = table.file_path("plugin");
    if !table.contains("plugin") {
        table.reject_table("plugin = \"x.wasm\" is required");
    }
    let settings = PluginSettings::read(&mut table, PluginSettings::default(), KeyStyle::Snake);
    let path = path?;
    check_plugin_file(&mut table, &path).then_some(PartitionerSpec::Plugin { path, settings, at })
}

/// Reports a `plugin` that is not a file; whether it is one.
fn check_plugin_file(table: &mut TableReader<'_>, path: &Path) -> bool {
    if path.as_os_str().is_empty() || path.is_file() {
        return true;
    }
    let hint = if path.extension().is_some_and(|e| e == "wasm") {
        " (is it built? `cargo build --release --target wasm32-wasip2` in its crate)"
    } else {
        ""
    };
    table.reject(
        "plugin",
        format!("no plugin file at {}{hint}", path.display()),
    );
    false
}

/// An SQLite URL whose relative file path is taken against `directory` (the pipeline's),
/// not the directory `weir run` was started in.
fn sqlite_url_in(directory: &Path, url: &str) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_owned();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" || Path::new(path).is_absolute() {
        return url.to_owned();
    }
    let resolved = directory.join(path);
    match query {
        Some(query) => format!("sqlite://{}?{query}", resolved.display()),
        None => format!("sqlite://{}", resolved.display()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(text: &str) -> Result<Pipeline, String> {
        Pipeline::parse(&Source::new("/p/pipeline.toml", text).with_env())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn neither_broker_nor_cluster_is_the_embedded_default() {
        let pipeline = parse("[topics.t]\npartitions = 2\n").unwrap();
        let Target::Embedded(broker) = &pipeline.target else {
            panic!("not embedded");
        };
        assert_eq!(broker.log_dirs(), [PathBuf::from("/p/weir-data")]);
        assert_eq!(pipeline.topics["t"].overrides.partitions, Some(2));
    }

    #[test]
    fn broker_and_cluster_together_are_refused() {
        let err = parse("[broker]\n[cluster]\nbootstrap = [\"h:1\"]\n").unwrap_err();
        assert!(err.contains("exclude each other"), "{err}");
    }

    #[test]
    fn partitioner_names_are_checked_with_a_position() {
        let err = parse("[topics.t]\npartitioner = \"murmur\"\n").unwrap_err();
        assert!(
            err.contains("pipeline.toml:2:15: topics.t.partitioner"),
            "{err}"
        );
        let ok = parse("[topics.t]\npartitioner = \"round_robin\"\n").unwrap();
        assert!(matches!(
            ok.partitioner_of("t"),
            Some(PartitionerSpec::BuiltIn(name)) if name == "round_robin"
        ));
    }

    #[test]
    fn a_missing_plugin_is_named_at_its_key() {
        let err = parse(
            "[[consumers]]\nplugin = \"nope.wasm\"\ngroup = \"g\"\ntopics = [\"t\"]\n\
             dead_letter_topic = \"dl\"\n",
        )
        .unwrap_err();
        assert!(
            err.contains("pipeline.toml:2:10: consumers[0].plugin"),
            "{err}"
        );
        assert!(err.contains("/p/nope.wasm"), "{err}");
    }

    #[test]
    fn sqlite_paths_are_relative_to_the_pipeline() {
        let dir = Path::new("/p");
        assert_eq!(sqlite_url_in(dir, "sqlite://o.db"), "sqlite:///p/o.db");
        assert_eq!(
            sqlite_url_in(dir, "sqlite:o.db?mode=ro"),
            "sqlite:///p/o.db?mode=ro"
        );
        assert_eq!(
            sqlite_url_in(dir, "sqlite:///abs/o.db"),
            "sqlite:///abs/o.db"
        );
        assert_eq!(sqlite_url_in(dir, "postgres://h/d"), "postgres://h/d");
    }
}
