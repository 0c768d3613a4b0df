//! The broker's settings: the `[broker]` table of its TOML file, with Kafka's names (dots
//! written as underscores) and defaults, and the per-topic `[topics.NAME]` overrides.
//!
//! ```toml
//! [broker]
//! listeners = ["127.0.0.1:9092"]
//! log_dirs = ["./weir-data"]      # relative to this file's directory
//! log_retention_hours = 168       # or log_retention_ms = "7d"; -1 keeps data forever
//! log_segment_bytes = "1GiB"
//! log_flush = "fsync"             # or "os" for page-cache durability
//!
//! [topics.orders]
//! partitions = 6
//! retention_ms = "30d"
//! acks = "all"
//! ```
//!
//! The group coordinator reads `group_min_session_timeout_ms` (default 6s),
//! `group_max_session_timeout_ms` (30 min) and `group_initial_rebalance_delay_ms` (3s; 0 makes
//! a new group's first rebalance complete as soon as its first member joins).

mod cluster;
mod topic;
mod topic_wire;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use weir_config::{ConfigErrors, Source, TableReader};
use weir_log::{FlushMode, LogConfig};

pub use cluster::ClusterConfig;
pub use topic::{Acks, TopicOverrides};
pub use topic_wire::{TOPIC_CONFIG_NAMES, TopicConfigError};
pub use weir_config::Limit;

const DEFAULT_LISTENER: &str = "127.0.0.1:9092";
const DEFAULT_LOG_DIR: &str = "weir-data";
const DEFAULT_RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_SOCKET_REQUEST_MAX_BYTES: u32 = 100 << 20;
const DEFAULT_GROUP_MIN_SESSION_TIMEOUT: Duration = Duration::from_secs(6);
const DEFAULT_GROUP_MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const DEFAULT_GROUP_INITIAL_REBALANCE_DELAY: Duration = Duration::from_secs(3);
/// The smallest segment size accepted; Kafka's own floor (14 bytes) only makes a log of
/// one-record segments possible, which no one means.
const MIN_SEGMENT_BYTES: u64 = 1024;
/// Kafka's byte and count settings are Java `int`s, replica counts `short`s; only their
/// non-negative ranges are meaningful here.
const MAX_INT: u32 = i32::MAX as u32;
const MAX_SHORT: u16 = i16::MAX as u16;

/// The spellings of `log_flush` and a topic's `flush`.
const FLUSH_MODES: [(&str, FlushMode); 2] = [("fsync", FlushMode::Fsync), ("os", FlushMode::Os)];

/// Everything the broker's TOML file sets: the `[broker]` table and the `[topics.NAME]`
/// overrides. Built by [`BrokerConfig::load`] or [`BrokerConfig::parse`]; `Default` gives
/// Kafka's defaults, with the log directory `weir-data` relative to the working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    node_id: i32,
    listeners: Vec<String>,
    advertised_listeners: Vec<String>,
    log_dirs: Vec<PathBuf>,
    num_partitions: u32,
    default_replication_factor: u16,
    auto_create_topics: bool,
    log: LogConfig,
    log_retention_check_interval: Duration,
    socket_request_max_bytes: u32,
    min_insync_replicas: u16,
    group_min_session_timeout: Duration,
    group_max_session_timeout: Duration,
    group_initial_rebalance_delay: Duration,
    topics: BTreeMap<String, TopicOverrides>,
    cluster: Option<ClusterConfig>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self::defaults_in(Path::new(""))
    }
}

impl BrokerConfig {
    /// Reads and checks the file at `path`; every mistake in it is reported at once.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, ConfigErrors> {
        Self::parse(&Source::load(path)?)
    }

    /// Reads and checks a config file already in memory; relative `log_dirs` are resolved
    /// against the directory of `source.file`.
    pub fn parse(source: &Source) -> Result<Self, ConfigErrors> {
        source.read(|root| {
            let mut config = Self::defaults_in(source.directory());
            if let Some(mut broker) = root.table("broker") {
                config.read_broker(&mut broker);
            }
            for (name, mut table) in root.named_tables("topics") {
                let overrides = TopicOverrides::read(&name, &mut table, &config);
                if let Some(other) = config.topics.keys().find(|other| collide(other, &name)) {
                    table.reject_table(format!(
                        "collides with topic \"{other}\": Kafka treats '.' and '_' in topic \
                         names alike"
                    ));
                }
                config.topics.insert(name, overrides);
            }
            config
        })
    }

    /// The settings of a `[broker]` table that is part of a larger file (a `weir run`
    /// pipeline's), over Kafka's defaults; relative paths are taken against `directory`,
    /// and without the table the data lives in `directory/weir-data`.
    pub fn from_broker_table(directory: &Path, broker: Option<&mut TableReader<'_>>) -> Self {
        let mut config = Self::defaults_in(directory);
        if let Some(broker) = broker {
            config.read_broker(broker);
        }
        config
    }

    /// This broker's id in the cluster (`node_id`, default 0).
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The `host:port` addresses the broker listens on (`listeners`, default
    /// `127.0.0.1:9092`).
    pub fn listeners(&self) -> &[String] {
        &self.listeners
    }

    /// The `host:port` addresses clients are told to connect to (`advertised_listeners`,
    /// default the listeners).
    pub fn advertised_listeners(&self) -> &[String] {
        &self.advertised_listeners
    }

    /// The directories partitions are stored in (`log_dirs`, default `weir-data` beside the
    /// config file).
    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.log_dirs
    }

    /// Partitions of a topic created without a count (`num_partitions`, default 1).
    pub fn num_partitions(&self) -> u32 {
        self.num_partitions
    }

    /// Replicas of a topic created without a factor (`default_replication_factor`, default 1).
    pub fn default_replication_factor(&self) -> u16 {
        self.default_replication_factor
    }

    /// Whether producing to or fetching metadata for an unknown topic creates it
    /// (`auto_create_topics`, default true).
    pub fn auto_create_topics(&self) -> bool {
        self.auto_create_topics
    }

    /// The log settings of topics without overrides (`log_segment_bytes`, `log_roll_*`,
    /// `log_retention_*`, `log_index_interval_bytes`, `message_max_bytes`, `log_flush*`).
    pub fn log_config(&self) -> LogConfig {
        self.log
    }

    /// How often retention looks for segments to delete
    /// (`log_retention_check_interval_ms`, default 5 minutes).
    pub fn log_retention_check_interval(&self) -> Duration {
        self.log_retention_check_interval
    }

    /// The largest request the server reads (`socket_request_max_bytes`, default 100 MiB).
    pub fn socket_request_max_bytes(&self) -> u32 {
        self.socket_request_max_bytes
    }

    /// In-sync replicas an `acks=all` produce needs, for topics without an override
    /// (`min_insync_replicas`, default 1).
    pub fn min_insync_replicas(&self) -> u16 {
        self.min_insync_replicas
    }

    /// The shortest session timeout a group member may ask for
    /// (`group_min_session_timeout_ms`, default 6 s).
    pub fn group_min_session_timeout(&self) -> Duration {
        self.group_min_session_timeout
    }

    /// The longest session timeout a group member may ask for
    /// (`group_max_session_timeout_ms`, default 30 minutes).
    pub fn group_max_session_timeout(&self) -> Duration {
        self.group_max_session_timeout
    }

    /// How long the first rebalance of an empty group waits for more members
    /// (`group_initial_rebalance_delay_ms`, default 3 s).
    pub fn group_initial_rebalance_delay(&self) -> Duration {
        self.group_initial_rebalance_delay
    }

    /// The cluster this broker belongs to; `None` for a single node (no
    /// `controller_quorum_voters`).
    pub fn cluster(&self) -> Option<&ClusterConfig> {
        self.cluster.as_ref()
    }

    /// The `[topics.NAME]` overrides, by topic name.
    pub fn topics(&self) -> &BTreeMap<String, TopicOverrides> {
        &self.topics
    }

    /// The overrides of one topic, if the file has a `[topics.NAME]` table for it.
    pub fn topic(&self, name: &str) -> Option<&TopicOverrides> {
        self.topics.get(name)
    }

    /// The log settings of one topic: the broker's, with the topic's overrides applied.
    pub fn topic_log_config(&self, name: &str) -> LogConfig {
        self.topic(name)
            .map_or(self.log, |overrides| overrides.apply(&self.log))
    }

    /// Kafka's defaults, with relative paths taken against `directory`.
    fn defaults_in(directory: &Path) -> Self {
        let listeners = vec![DEFAULT_LISTENER.to_owned()];
        Self {
            node_id: 0,
            advertised_listeners: listeners.clone(),
            listeners,
            log_dirs: vec![directory.join(DEFAULT_LOG_DIR)],
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics: true,
            log: LogConfig::default(),
            log_retention_check_interval: DEFAULT_RETENTION_CHECK_INTERVAL,
            socket_request_max_bytes: DEFAULT_SOCKET_REQUEST_MAX_BYTES,
            min_insync_replicas: 1,
            group_min_session_timeout: DEFAULT_GROUP_MIN_SESSION_TIMEOUT,
            group_max_session_timeout: DEFAULT_GROUP_MAX_SESSION_TIMEOUT,
            group_initial_rebalance_delay: DEFAULT_GROUP_INITIAL_REBALANCE_DELAY,
            topics: BTreeMap::new(),
            cluster: None,
        }
    }

    /// Reads the `[broker]` table over the defaults; a key with a mistake keeps its default
    /// (the mistake is reported, so the config is not used).
    fn read_broker(&mut self, broker: &mut TableReader<'_>) {
        set(&mut self.node_id, broker.integer("node_id", 0..=i32::MAX));
        self.read_listeners(broker);
        if let Some(dirs) = broker.file_paths("log_dirs") {
            if dirs.is_empty() {
                broker.reject("log_dirs", "must name at least one directory");
            } else if let Some(dir) = dirs
                .iter()
                .enumerate()
                .find_map(|(i, dir)| dirs[..i].contains(dir).then_some(dir))
            {
                broker.reject("log_dirs", format!("lists {} twice", dir.display()));
            } else {
                self.log_dirs = dirs;
            }
        }
        set(
            &mut self.num_partitions,
            broker.integer("num_partitions", 1..=MAX_INT),
        );
        set(
            &mut self.default_replication_factor,
            broker.integer("default_replication_factor", 1..=MAX_SHORT),
        );
        set(
            &mut self.auto_create_topics,
            broker.bool("auto_create_topics"),
        );
        self.read_log(broker);
        let interval = broker.duration("log_retention_check_interval_ms");
        set(
            &mut self.log_retention_check_interval,
            broker.ensure(
                "log_retention_check_interval_ms",
                interval,
                "at least 1ms",
                |d| !d.is_zero(),
            ),
        );
        set(
            &mut self.socket_request_max_bytes,
            size_u32(broker, "socket_request_max_bytes", 1),
        );
        set(
            &mut self.min_insync_replicas,
            broker.integer("min_insync_replicas", 1..=MAX_SHORT),
        );
        self.read_group(broker);
        self.cluster = ClusterConfig::read(broker, self.node_id);
    }

    /// The group coordinator's settings: session timeout bounds (min at most max) and the
    /// initial rebalance delay.
    fn read_group(&mut self, broker: &mut TableReader<'_>) {
        let min = broker.duration("group_min_session_timeout_ms");
        let max = broker.duration("group_max_session_timeout_ms");
        let (min_value, max_value) = (
            min.unwrap_or(self.group_min_session_timeout),
            max.unwrap_or(self.group_max_session_timeout),
        );
        if min_value > max_value {
            let key = if max.is_some() {
                "group_max_session_timeout_ms"
            } else {
                "group_min_session_timeout_ms"
            };
            broker.reject(
                key,
                "group_min_session_timeout_ms must not exceed group_max_session_timeout_ms",
            );
        } else {
            set(&mut self.group_min_session_timeout, min);
            set(&mut self.group_max_session_timeout, max);
        }
        set(
            &mut self.group_initial_rebalance_delay,
            broker.duration("group_initial_rebalance_delay_ms"),
        );
    }

    /// `listeners` and `advertised_listeners`: `host:port` each, and nothing advertised that
    /// a client could not connect to.
    fn read_listeners(&mut self, broker: &mut TableReader<'_>) {
        let listeners = read_addresses(broker, "listeners");
        let advertised = read_addresses(broker, "advertised_listeners");
        let (advertised_key, advertised) = match (advertised, &listeners) {
            (Some(advertised), _) => ("advertised_listeners", advertised),
            (None, Some(listeners)) => ("listeners", listeners.clone()),
            (None, None) => return,
        };
        if let Some(wildcard) = advertised.iter().find(|address| is_wildcard(address)) {
            broker.reject(
                advertised_key,
                format!(
                    "{wildcard} cannot be advertised to clients; set advertised_listeners to \
                     an address they can reach"
                ),
            );
        }
        set(&mut self.listeners, listeners);
        self.advertised_listeners = advertised;
    }

    /// The broker-wide log settings, read into [`BrokerConfig::log_config`].
    fn read_log(&mut self, broker: &mut TableReader<'_>) {
        let log = &mut self.log;
        // As in Kafka, `_ms` wins over `_minutes`, which wins over `_hours`.
        let hours = broker.duration_or_unlimited("log_retention_hours");
        let minutes = broker.duration_or_unlimited("log_retention_minutes");
        let ms = broker.duration_or_unlimited("log_retention_ms");
        if let Some(retention) = ms.or(minutes).or(hours) {
            log.retention = retention.into_option();
        }
        if let Some(bytes) = broker.size_or_unlimited("log_retention_bytes") {
            log.retention_bytes = bytes.into_option();
        }
        set(
            &mut log.segment_bytes,
            segment_bytes(broker, "log_segment_bytes"),
        );
        let roll_hours = segment_age(broker, "log_roll_hours");
        let roll_ms = segment_age(broker, "log_roll_ms");
        set(&mut log.segment_age, roll_ms.or(roll_hours));
        set(
            &mut log.index_interval_bytes,
            size_u32(broker, "log_index_interval_bytes", 0),
        );
        set(
            &mut log.max_batch_bytes,
            size_u32(broker, "message_max_bytes", 1),
        );
        set(
            &mut log.flush.mode,
            broker.one_of("log_flush", &FLUSH_MODES),
        );
        if let Some(messages) = broker.integer("log_flush_interval_messages", 1..=u64::MAX) {
            log.flush.flush_messages = Some(messages);
        }
        if let Some(interval) = broker.duration("log_flush_interval_ms") {
            log.flush.flush_interval = Some(interval);
        }
    }
}

/// Overwrites `setting` with a value that was read without mistakes.
fn set<T>(setting: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *setting = value;
    }
}

/// A size that must fit Kafka's `int`, at least `min` bytes.
fn size_u32(table: &mut TableReader<'_>, key: &str, min: u32) -> Option<u32> {
    let bytes = table.size(key);
    let requirement = format!("between {min} and {MAX_INT} bytes");
    let bytes = table.ensure(key, bytes, &requirement, |bytes| {
        (u64::from(min)..=u64::from(MAX_INT)).contains(bytes)
    })?;
    u32::try_from(bytes).ok()
}

/// A segment size: at least [`MIN_SEGMENT_BYTES`], at most Kafka's `int`.
fn segment_bytes(table: &mut TableReader<'_>, key: &str) -> Option<u64> {
    let bytes = table.size(key);
    let requirement = format!("between {MIN_SEGMENT_BYTES} and {MAX_INT} bytes");
    table.ensure(key, bytes, &requirement, |bytes| {
        (MIN_SEGMENT_BYTES..=u64::from(MAX_INT)).contains(bytes)
    })
}

/// How old a segment may get before the log rolls: at least 1 ms.
fn segment_age(table: &mut TableReader<'_>, key: &str) -> Option<Duration> {
    let age = table.duration(key);
    table.ensure(key, age, "at least 1ms", |age| !age.is_zero())
}

/// A non-empty list of `host:port` addresses.
fn read_addresses(broker: &mut TableReader<'_>, key: &str) -> Option<Vec<String>> {
    let addresses = broker.strings(key)?;
    if addresses.is_empty() {
        broker.reject(key, "must name at least one host:port address");
        return None;
    }
    if let Some(bad) = addresses.iter().find(|address| !is_host_port(address)) {
        broker.reject(
            key,
            format!("\"{bad}\" is not a host:port address such as \"{DEFAULT_LISTENER}\""),
        );
        return None;
    }
    Some(addresses)
}

/// `host:port`, `[::1]:port`: a non-empty host and a port number.
fn is_host_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

/// An address that listens everywhere but names no host a client could connect to.
fn is_wildcard(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, _)| matches!(host, "0.0.0.0" | "[::]" | "::"))
}

/// Kafka refuses topics whose names differ only in `.` versus `_` (its metric names would
/// clash).
fn collide(a: &str, b: &str) -> bool {
    a != b && a.replace('.', "_") == b.replace('.', "_")
}
