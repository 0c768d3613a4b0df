//! `Broker`: the state every request handler shares (configuration, the log store, the topic
//! registry, the group coordinator, the append signal that wakes long-polling fetches) and its
//! lifecycle: open, serve until told to stop, close every log cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::net::TcpListener;
use tokio::sync::watch;
use weir_config::Limit;
use weir_log::{CleanupPolicy, LogStore, ReadError, StoreError, SystemClock};

use crate::cluster::node::ClusterNode;
use crate::config::{BrokerConfig, TopicOverrides};
use crate::group::{GroupConfig, GroupCoordinator, OFFSETS_TOPIC};
use crate::producer_ids::ProducerIdAllocator;
use crate::server;
use crate::topics::{TopicError, TopicRegistry};

/// Why the broker could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The log directories could not be opened.
    #[error("opening the log directories: {0}")]
    Store(#[from] StoreError),
    /// The topic metadata could not be loaded.
    #[error("loading topics: {0}")]
    Topics(String),
    /// The committed offsets in `__consumer_offsets` could not be read back.
    #[error("replaying committed offsets: {0}")]
    Offsets(#[from] ReadError),
    /// A listener address could not be bound.
    #[error("listening on {address}: {source}")]
    Bind {
        /// The address from `listeners`.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An advertised listener is not `host:port`.
    #[error("advertised listener {0:?} is not host:port")]
    Advertised(String),
    /// The cluster controller could not start.
    #[error("starting the cluster controller: {0}")]
    Cluster(String),
}

impl From<TopicError> for BrokerError {
    fn from(e: TopicError) -> Self {
        Self::Topics(e.to_string())
    }
}

/// A running broker's shared state.
#[derive(Debug)]
pub struct Broker {
    pub(crate) config: BrokerConfig,
    pub(crate) store: Arc<LogStore>,
    pub(crate) topics: TopicRegistry,
    pub(crate) groups: Arc<GroupCoordinator>,
    /// Bumped after every append; long-polling fetches wait for it to change.
    pub(crate) appended: watch::Sender<u64>,
    pub(crate) advertised_host: String,
    pub(crate) advertised_port: i32,
    pub(crate) producer_ids: ProducerIdAllocator,
    /// In a cluster: the controller and replication, set once serving starts.
    pub(crate) cluster: OnceLock<ClusterNode>,
}

impl Broker {
    /// Opens the log directories (recovering partitions after a crash) and the topics.
    pub fn open(config: BrokerConfig) -> Result<Arc<Self>, BrokerError> {
        let advertised = config
            .advertised_listeners()
            .first()
            .cloned()
            .unwrap_or_else(|| "127.0.0.1:9092".to_string());
        let (host, port) = advertised
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<i32>().ok()?)))
            .ok_or_else(|| BrokerError::Advertised(advertised.clone()))?;
        let store = Arc::new(LogStore::open(
            config.log_dirs(),
            config.log_config(),
            Arc::new(SystemClock),
        )?);
        let metadata_path = config.log_dirs()[0].join("weir-metadata");
        let topics = TopicRegistry::open(
            Arc::clone(&store),
            config.log_config(),
            metadata_path,
            config.topics(),
            config.cluster().is_some(),
        )?;
        let producer_ids = ProducerIdAllocator::open(config.log_dirs()[0].join("producer-ids"))
            .map_err(|e| BrokerError::Topics(e.to_string()))?;
        let groups = Arc::new(open_groups(&config, &topics)?);
        Ok(Arc::new(Self {
            config,
            store,
            topics,
            groups,
            appended: watch::Sender::new(0),
            advertised_host: host,
            advertised_port: port,
            producer_ids,
            cluster: OnceLock::new(),
        }))
    }

    /// Binds every listener and serves until `shutdown` completes, then stops accepting,
    /// and closes every partition log cleanly (the clean-shutdown marker).
    pub async fn serve(
        self: Arc<Self>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), BrokerError> {
        let mut bound = Vec::new();
        for address in self.config.listeners() {
            let listener =
                TcpListener::bind(address)
                    .await
                    .map_err(|source| BrokerError::Bind {
                        address: address.clone(),
                        source,
                    })?;
            tracing::info!(address = %listener.local_addr().map_or_else(|_| address.clone(), |a| a.to_string()), "listening");
            bound.push(listener);
        }
        self.serve_on(bound, shutdown).await
    }

    /// Serves on already bound listeners (tests bind port 0 themselves).
    pub async fn serve_on(
        self: Arc<Self>,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), BrokerError> {
        if self.config.cluster().is_some() {
            let node = ClusterNode::start(&self)
                .await
                .map_err(|e| BrokerError::Cluster(e.to_string()))?;
            let _ = self.cluster.set(node);
        }
        let maintenance = self
            .store
            .start_maintenance(self.config.log_retention_check_interval());
        let (stop, stopped) = watch::channel(false);
        let accepting: Vec<_> = listeners
            .into_iter()
            .map(|l| tokio::spawn(server::accept(l, Arc::clone(&self), stopped.clone())))
            .collect();
        shutdown.await;
        tracing::info!("shutting down");
        if let Some(node) = self.cluster.get() {
            // Still serving: clients are told of the new leaders while they move.
            node.hand_over_leadership(&self).await;
        }
        let _ = stop.send(true);
        for task in accepting {
            let _ = task.await;
        }
        if let Some(node) = self.cluster.get() {
            node.stop().await;
        }
        drop(maintenance);
        self.close()
    }

    /// Closes every partition log (synced, clean-shutdown marker written).
    pub fn close(&self) -> Result<(), BrokerError> {
        self.store.close()?;
        tracing::info!("all partition logs closed cleanly");
        Ok(())
    }

    /// The addresses a listener list resolves to, for logs.
    pub fn listeners(&self) -> Vec<SocketAddr> {
        self.config
            .listeners()
            .iter()
            .filter_map(|l| l.parse().ok())
            .collect()
    }

    /// The cluster node, when this broker is part of a cluster.
    pub(crate) fn cluster(&self) -> Option<&ClusterNode> {
        self.cluster.get()
    }

    /// Whether this broker answers for consumer group `group`: always when alone; in a
    /// cluster only when the metadata (once caught up) names it the coordinator of the
    /// group's slot, so that each group lives on one broker whichever broker its members
    /// found first.
    pub(crate) fn coordinates(&self, group: &str) -> bool {
        self.cluster()
            .is_none_or(|node| node.group_coordinator(group) == Some(self.config.node_id()))
    }

    /// The Kafka address (`host:port`) of broker `id`, from the cluster metadata.
    pub(crate) fn broker_address(&self, id: i32) -> Option<String> {
        let state = self.cluster()?.controller.state();
        let broker = state.brokers.get(&id)?;
        Some(format!("{}:{}", broker.host, broker.port))
    }

    /// Wakes long-polling fetches: something was appended.
    pub(crate) fn signal_append(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Opens the group coordinator on partition 0 of `__consumer_offsets`, creating the topic
/// on first start: one partition, compacted (the newest commit of each group and partition
/// survives) and never deleted by age, with 100 MiB segments as Kafka's
/// `offsets.topic.segment.bytes` so compaction has sealed segments to work on.
fn open_groups(
    config: &BrokerConfig,
    topics: &TopicRegistry,
) -> Result<GroupCoordinator, BrokerError> {
    const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };
    let topic = match topics.get(OFFSETS_TOPIC) {
        // Created by a version that kept offsets forever: compact them from now on.
        Some(topic) if topic.overrides.cleanup.is_none() => {
            let mut overrides = topic.overrides;
            overrides.cleanup = Some(COMPACT);
            topics
                .set_overrides(OFFSETS_TOPIC, overrides)
                .map_err(|e| BrokerError::Topics(e.to_string()))?;
            topics.get(OFFSETS_TOPIC).unwrap_or(topic)
        }
        Some(topic) => topic,
        None => {
            let mut overrides = config
                .topic(OFFSETS_TOPIC)
                .copied()
                .unwrap_or_else(TopicOverrides::default);
            overrides.retention.get_or_insert(Limit::Unlimited);
            overrides.retention_bytes.get_or_insert(Limit::Unlimited);
            overrides.cleanup.get_or_insert(COMPACT);
            overrides.segment_bytes.get_or_insert(100 << 20);
            topics.create(OFFSETS_TOPIC, 1, overrides, false)?
        }
    };
    let log = topic
        .partition(0)
        .map(|p| Arc::clone(&p.log))
        .ok_or_else(|| BrokerError::Topics(format!("{OFFSETS_TOPIC} has no partition 0")))?;
    let group_config = GroupConfig {
        min_session_timeout: config.group_min_session_timeout(),
        max_session_timeout: config.group_max_session_timeout(),
        initial_rebalance_delay: config.group_initial_rebalance_delay(),
    };
    Ok(GroupCoordinator::open(log, group_config)?)
}
