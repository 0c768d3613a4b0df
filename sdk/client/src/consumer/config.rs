//! The consumer's settings, named and defaulted as the Java client's (durations instead of
//! `*.ms` integers).

use std::time::Duration;

use crate::cluster::ClusterOptions;
use crate::connection::ConnectOptions;

/// Where a partition without a valid position starts (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The log start.
    Earliest,
    /// The log end: only records produced from now on (the default).
    #[default]
    Latest,
    /// No reset: `poll` fails with [`crate::Error::NoOffset`] or
    /// [`crate::Error::OffsetOutOfRange`].
    None,
}

/// How the group leader spreads partitions over members (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignmentStrategy {
    /// Per topic, consecutive ranges of partitions to members in order (Kafka's `range`).
    #[default]
    Range,
    /// All partitions of all topics dealt to members in turn (Kafka's `roundrobin`).
    RoundRobin,
}

/// Consumer settings. Build with [`ConsumerConfig::new`] and set fields.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `group.id`: needed for `subscribe` and commits.
    pub group_id: Option<String>,
    /// `auto.offset.reset` (default latest).
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit` (default true; only with a `group_id`).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (default 5 s).
    pub auto_commit_interval: Duration,
    /// `max.poll.records` (default 500).
    pub max_poll_records: usize,
    /// `fetch.min.bytes` (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes` (default 50 MiB).
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms` (default 500 ms).
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes` (default 1 MiB).
    pub max_partition_fetch_bytes: i32,
    /// `request.timeout.ms` (default 30 s).
    pub request_timeout: Duration,
    /// `session.timeout.ms` (default 45 s).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3 s).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (default 5 min).
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy` (default range).
    pub assignment_strategy: AssignmentStrategy,
    /// `retry.backoff.ms` (default 100 ms).
    pub retry_backoff: Duration,
    /// `reconnect.backoff.ms` (default 50 ms).
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1 s).
    pub reconnect_backoff_max: Duration,
    /// `allow.auto.create.topics` (default true).
    pub allow_auto_create_topics: bool,
    /// `metadata.max.age.ms` (default 5 min): how often the group leader checks whether
    /// the subscribed topics gained partitions (or appeared), to rebalance if so.
    pub metadata_max_age: Duration,
    /// Kafka's internal `leave.group.on.close` (default true): send LeaveGroup on close
    /// or drop, so partitions move at once instead of after the session timeout.
    pub leave_group_on_close: bool,
}

impl ConsumerConfig {
    /// Defaults, with these bootstrap servers.
    pub fn new<S: Into<String>>(bootstrap_servers: impl IntoIterator<Item = S>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into_iter().map(Into::into).collect(),
            client_id: "weir-consumer".to_string(),
            group_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            max_poll_records: 500,
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            assignment_strategy: AssignmentStrategy::Range,
            retry_backoff: Duration::from_millis(100),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            allow_auto_create_topics: true,
            metadata_max_age: Duration::from_secs(300),
            leave_group_on_close: true,
        }
    }

    /// Sets `group_id`.
    pub fn with_group(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    pub(crate) fn cluster_options(&self) -> ClusterOptions {
        ClusterOptions {
            bootstrap_servers: self.bootstrap_servers.clone(),
            connect: ConnectOptions {
                client_id: self.client_id.clone(),
                request_timeout: self.request_timeout,
            },
            reconnect_backoff: self.reconnect_backoff,
            reconnect_backoff_max: self.reconnect_backoff_max,
            allow_auto_create_topics: self.allow_auto_create_topics,
        }
    }
}
