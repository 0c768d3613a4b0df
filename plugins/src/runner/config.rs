//! The consumer runner's TOML file, read with `weir-config` (errors name file, line and
//! key): which plugin, which brokers, group and topics, batching, retries and the
//! dead-letter topic, and the plugin's own settings.
//!
//! ```toml
//! plugin = "order-notifier.wasm"     # relative to this file
//! bootstrap-servers = ["127.0.0.1:9092"]
//! group = "order-notifier"
//! topics = ["orders"]
//! dead-letter-topic = "orders.dead-letters"
//! instances = 1                      # group members in this process
//! max-batch = 500                    # records per poll, so per plugin call
//! max-retries = 3
//! retry-backoff = "100ms"            # doubled per retry, up to 30 times as long
//! session-timeout = "10s"           # a dead member is replaced after this
//! start = "earliest"                 # where a new group begins: "earliest" or "latest"
//! deadline = "5s"                    # per batch call
//! memory-limit = "64MiB"
//! [grants]                           # nothing by default
//! read-dirs = []
//! env = []
//! network = false
//! [config]                           # handed to the plugin
//! output = "notifications"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use weir_client::OffsetReset;
use weir_config::{ConfigErrors, Source, TableReader};

use crate::settings::{KeyStyle, PluginSettings};

/// Everything the runner needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// The plugin's `.wasm` file.
    pub plugin: PathBuf,
    /// Brokers to bootstrap from.
    pub bootstrap_servers: Vec<String>,
    /// The consumer group.
    pub group: String,
    /// The topics to consume.
    pub topics: Vec<String>,
    /// Where records the plugin cannot handle go.
    pub dead_letter_topic: String,
    /// Group members to run in this process.
    pub instances: usize,
    /// Most records per poll (and per plugin call).
    pub max_batch: usize,
    /// Retries of a record the plugin asked to retry (or that trapped) before it is
    /// dead-lettered.
    pub max_retries: u32,
    /// The first retry's backoff; doubled per retry.
    pub retry_backoff: Duration,
    /// How long one poll waits for records.
    pub poll_timeout: Duration,
    /// Where a group with no committed offsets starts (`start`: `"earliest"`, the default,
    /// so nothing produced before the plugin first ran is missed, or `"latest"`).
    pub start: OffsetReset,
    /// The group session timeout (the client's default when `None`): how soon a member that
    /// died is replaced.
    pub session_timeout: Option<Duration>,
    /// The directory compiled plugins are cached in.
    pub cache_dir: Option<PathBuf>,
    /// The plugin's limits, grants and config.
    pub plugin_settings: PluginSettings,
}

impl RunnerConfig {
    /// Defaults for everything but what must be given.
    pub fn new(
        plugin: impl Into<PathBuf>,
        bootstrap_servers: Vec<String>,
        group: impl Into<String>,
        topics: Vec<String>,
        dead_letter_topic: impl Into<String>,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            bootstrap_servers,
            group: group.into(),
            topics,
            dead_letter_topic: dead_letter_topic.into(),
            instances: 1,
            max_batch: 500,
            max_retries: 3,
            retry_backoff: Duration::from_millis(100),
            poll_timeout: Duration::from_millis(500),
            start: OffsetReset::Earliest,
            session_timeout: None,
            cache_dir: None,
            plugin_settings: PluginSettings {
                deadline: Duration::from_secs(5),
                ..PluginSettings::default()
            },
        }
    }

    /// Reads the runner's TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        Self::parse(&Source::load(path)?)
    }

    /// Reads a runner config from a source already in memory.
    pub fn parse(source: &Source) -> Result<Self, ConfigErrors> {
        source.read(|t| {
            let bootstrap = t.strings("bootstrap-servers");
            let mut config = Self::read(t, KeyStyle::Kebab);
            if let Some(bootstrap) = bootstrap {
                config.bootstrap_servers = bootstrap;
            }
            config
        })
    }

    /// Reads the keys of one consumer from `t` (the runner's file, or a `weir run`
    /// pipeline's `[[consumers]]` entry), spelled in `style`: all but `bootstrap-servers`,
    /// which a pipeline takes from its cluster (`127.0.0.1:9092` until set).
    pub fn read(t: &mut TableReader<'_>, style: KeyStyle) -> Self {
        let key = |kebab| style.key(kebab);
        let plugin = t.file_path("plugin");
        let group = t.string("group");
        let topics = t.strings("topics");
        let topics = t.ensure("topics", topics, "a list of at least one topic", |v| {
            !v.is_empty()
        });
        let dead = t.string(&key("dead-letter-topic"));
        for required in ["plugin", "group", "topics", "dead-letter-topic"] {
            let required = key(required);
            if !t.contains(&required) {
                t.reject(&required, format!("missing: `{required}` is required"));
            }
        }
        let mut config = RunnerConfig::new(
            plugin.unwrap_or_default(),
            vec!["127.0.0.1:9092".to_string()],
            group.unwrap_or_default(),
            topics.unwrap_or_default(),
            dead.unwrap_or_default(),
        );
        if let Some(n) = t.integer("instances", 1..=64u32) {
            config.instances = n as usize;
        }
        if let Some(n) = t.integer(&key("max-batch"), 1..=100_000u32) {
            config.max_batch = n as usize;
        }
        if let Some(n) = t.integer(&key("max-retries"), 0..=1000u32) {
            config.max_retries = n;
        }
        if let Some(d) = t.duration(&key("retry-backoff")) {
            config.retry_backoff = d;
        }
        if let Some(d) = t.duration(&key("poll-timeout")) {
            config.poll_timeout = d;
        }
        if let Some(start) = t.one_of("start", &STARTS) {
            config.start = start;
        }
        config.session_timeout = t.duration(&key("session-timeout"));
        config.cache_dir = t.file_path(&key("cache-dir"));
        config.plugin_settings = PluginSettings::read(t, config.plugin_settings.clone(), style);
        config
    }
}

/// `start`: where a group with no committed offsets begins.
const STARTS: [(&str, OffsetReset); 2] = [
    ("earliest", OffsetReset::Earliest),
    ("latest", OffsetReset::Latest),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<RunnerConfig, String> {
        RunnerConfig::parse(&Source::new("/etc/weir/runner.toml", text)).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_setting() {
        let config = parse(
            "plugin = \"n.wasm\"\nbootstrap-servers = [\"b:9092\"]\ngroup = \"g\"\n\
             topics = [\"orders\"]\ndead-letter-topic = \"dlq\"\ninstances = 3\nmax-batch = 7\n\
             max-retries = 2\nretry-backoff = \"5ms\"\nsession-timeout = \"2s\"\ndeadline = \"1s\"\n\
             memory-limit = \"8MiB\"\n[grants]\nenv = [\"TZ\"]\nnetwork = true\n\
             [config]\noutput = \"notes\"\n[config.routes]\neu = 1\n",
        )
        .unwrap();
        assert_eq!(config.plugin, PathBuf::from("/etc/weir/n.wasm"));
        assert_eq!(config.instances, 3);
        assert_eq!(config.max_batch, 7);
        assert_eq!(config.retry_backoff, Duration::from_millis(5));
        assert_eq!(config.session_timeout, Some(Duration::from_secs(2)));
        assert_eq!(config.plugin_settings.deadline, Duration::from_secs(1));
        assert_eq!(config.plugin_settings.memory_limit, 8 << 20);
        assert!(config.plugin_settings.grants.network);
        assert_eq!(
            config.plugin_settings.config,
            [
                ("output".to_string(), "notes".to_string()),
                ("routes.eu".to_string(), "1".to_string())
            ]
        );
    }

    #[test]
    fn mistakes_name_file_line_and_key() {
        let err = parse(
            "plugin = \"n.wasm\"\ngroup = \"g\"\ntopics = [\"orders\"]\n\
             dead-letter-topic = \"dlq\"\nmax-batch = 0\ndeadlin = \"1s\"\n[config]\nlist = [1]\n",
        )
        .unwrap_err();
        assert!(err.contains("runner.toml:5"), "{err}");
        assert!(err.contains("max-batch"), "{err}");
        assert!(err.contains("deadlin"), "{err}");
        assert!(err.contains("deadline"), "a hint: {err}");
        assert!(err.contains("config.list"), "{err}");
        let err = parse("group = \"g\"\n").unwrap_err();
        assert!(err.contains("plugin") && err.contains("missing"), "{err}");
    }
}
