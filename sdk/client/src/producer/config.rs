//! The producer's settings, named and defaulted as the Java client's (durations instead of
//! `*.ms` integers).

use std::time::Duration;

use crate::cluster::ClusterOptions;
use crate::compression::Compression;
use crate::connection::ConnectOptions;
use crate::partitioner::PartitionerKind;

/// How many acknowledgements a produce waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// None: the broker does not answer; offsets are unknown (-1).
    None,
    /// The leader has appended the batch.
    Leader,
    /// Every in-sync replica has it (the default; required for idempotence).
    #[default]
    All,
}

impl Acks {
    /// The wire value: 0, 1 or -1.
    pub fn wire(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Leader => 1,
            Self::All => -1,
        }
    }
}

/// Producer settings. Build with [`ProducerConfig::new`] and set fields.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: `host:port` of brokers to learn the cluster from.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`, sent with every request.
    pub client_id: String,
    /// `acks` (default all).
    pub acks: Acks,
    /// `enable.idempotence` (default true): producer id and per-partition sequences so
    /// retries never duplicate. It applies with `acks = All` only.
    pub enable_idempotence: bool,
    /// `batch.size`: bytes per partition batch (default 16 KiB).
    pub batch_size: usize,
    /// `linger.ms`: how long a batch waits to fill (default 5 ms, as in Kafka 4.0).
    pub linger: Duration,
    /// `buffer.memory`: bytes of records waiting to be sent (default 32 MiB).
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `send` waits for buffer memory or metadata (default 60 s).
    pub max_block: Duration,
    /// `max.request.size`: the largest record and produce request (default 1 MiB).
    pub max_request_size: usize,
    /// `compression.type` (default none).
    pub compression: Compression,
    /// `retries` (default unlimited, bounded by `delivery_timeout`).
    pub retries: u32,
    /// `retry.backoff.ms` (default 100 ms), doubled per attempt up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1 s).
    pub retry_backoff_max: Duration,
    /// `delivery.timeout.ms`: the bound on a record's time from `send` to its outcome
    /// (default 120 s).
    pub delivery_timeout: Duration,
    /// `request.timeout.ms` (default 30 s).
    pub request_timeout: Duration,
    /// `max.in.flight.requests.per.connection` (default 5).
    pub max_in_flight_requests_per_connection: usize,
    /// `reconnect.backoff.ms` (default 50 ms).
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1 s).
    pub reconnect_backoff_max: Duration,
    /// `metadata.max.age.ms`: metadata is refreshed at least this often (default 5 min).
    pub metadata_max_age: Duration,
    /// `allow.auto.create.topics` (default true).
    pub allow_auto_create_topics: bool,
    /// `partitioner.class`, for the built-in ones; any [`crate::Partitioner`] can be given
    /// with [`crate::Producer::with_partitioner`].
    pub partitioner: PartitionerKind,
}

impl ProducerConfig {
    /// Defaults, with these bootstrap servers.
    pub fn new<S: Into<String>>(bootstrap_servers: impl IntoIterator<Item = S>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into_iter().map(Into::into).collect(),
            client_id: "weir-producer".to_string(),
            acks: Acks::All,
            enable_idempotence: true,
            batch_size: 16 * 1024,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            max_request_size: 1024 * 1024,
            compression: Compression::None,
            retries: u32::MAX,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            max_in_flight_requests_per_connection: 5,
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            metadata_max_age: Duration::from_secs(300),
            allow_auto_create_topics: true,
            partitioner: PartitionerKind::Default,
        }
    }

    /// Whether batches carry a producer id and sequences.
    pub(crate) fn idempotent(&self) -> bool {
        self.enable_idempotence && self.acks == Acks::All
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
