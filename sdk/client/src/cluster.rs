//! What the client knows about the cluster: the brokers, each topic's partitions and their
//! leaders, learnt with Metadata from the bootstrap servers or any known broker, and one
//! connection per broker, opened on first use and reopened with exponential backoff after a
//! failure. Callers refresh after NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, a lost
//! connection, or a topic they have not seen.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::Mutex;
use rand::Rng;
use tokio::time::Instant;

use crate::connection::{ConnectOptions, Connection};
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// How the client reaches the cluster (the settings producer and consumer share).
#[derive(Debug, Clone)]
pub(crate) struct ClusterOptions {
    pub(crate) bootstrap_servers: Vec<String>,
    pub(crate) connect: ConnectOptions,
    pub(crate) reconnect_backoff: Duration,
    pub(crate) reconnect_backoff_max: Duration,
    pub(crate) allow_auto_create_topics: bool,
}

/// One partition's leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionInfo {
    /// The leader's node id; -1 while there is none.
    pub(crate) leader: i32,
    /// The leader's epoch, -1 when unknown.
    pub(crate) leader_epoch: i32,
}

/// A topic's partitions, indexed by partition number.
#[derive(Debug, Clone)]
pub(crate) struct TopicInfo {
    pub(crate) partitions: Vec<PartitionInfo>,
}

#[derive(Debug, Default)]
struct State {
    brokers: HashMap<i32, String>,
    topics: HashMap<String, Arc<TopicInfo>>,
    /// Topics the broker said it does not have, and why.
    missing: HashMap<String, ResponseError>,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    until: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

/// The cluster as this client sees it.
#[derive(Debug)]
pub(crate) struct Cluster {
    options: ClusterOptions,
    state: Mutex<State>,
    slots: Mutex<HashMap<String, Slot>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Cluster {
    /// A cluster reached through `options.bootstrap_servers`; nothing is contacted yet.
    pub(crate) fn new(options: ClusterOptions) -> Result<Arc<Self>> {
        if options.bootstrap_servers.is_empty() {
            return Err(Error::Config("bootstrap_servers is empty"));
        }
        Ok(Arc::new(Self {
            options,
            state: Mutex::default(),
            slots: Mutex::default(),
            backoff: Mutex::default(),
            refreshing: tokio::sync::Mutex::new(()),
        }))
    }

    /// The connection to `address`, opened (after any backoff still running) if needed.
    pub(crate) async fn connect(&self, address: &str) -> Result<Arc<Connection>> {
        let slot = Arc::clone(self.slots.lock().entry(address.to_string()).or_default());
        let mut slot = slot.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(connection));
        }
        let wait = self.backoff.lock().get(address).map(|b| b.until);
        if let Some(until) = wait {
            tokio::time::sleep_until(until).await;
        }
        match Connection::open(address, &self.options.connect).await {
            Ok(connection) => {
                self.backoff.lock().remove(address);
                *slot = Some(Arc::clone(&connection));
                Ok(connection)
            }
            Err(e) => {
                let mut backoff = self.backoff.lock();
                let failures = backoff.get(address).map_or(0, |b| b.failures) + 1;
                let base = self.options.reconnect_backoff.as_millis() as f64
                    * 2f64.powi(failures.min(20) as i32 - 1);
                let capped = base.min(self.options.reconnect_backoff_max.as_millis() as f64);
                let jittered = capped * rand::thread_rng().gen_range(0.8..1.2);
                let until = Instant::now() + Duration::from_millis(jittered as u64);
                backoff.insert(address.to_string(), Backoff { failures, until });
                tracing::debug!(address, error = %e, failures, "connect failed");
                Err(e)
            }
        }
    }

    /// The connection to broker `node`.
    pub(crate) async fn broker(&self, node: i32) -> Result<Arc<Connection>> {
        let address = self.state.lock().brokers.get(&node).cloned();
        match address {
            Some(address) => self.connect(&address).await,
            None => Err(Error::NoBrokerReachable {
                tried: format!("node {node} is not in the cluster metadata"),
            }),
        }
    }

    /// A connection to any broker: a known one first, then the bootstrap servers.
    pub(crate) async fn any(&self) -> Result<Arc<Connection>> {
        let mut candidates: Vec<String> = self.state.lock().brokers.values().cloned().collect();
        if !candidates.is_empty() {
            let start = rand::thread_rng().gen_range(0..candidates.len());
            candidates.rotate_left(start);
        }
        for address in &self.options.bootstrap_servers {
            if !candidates.contains(address) {
                candidates.push(address.clone());
            }
        }
        // An open connection first: it costs nothing.
        for address in &candidates {
            let slot = self.slots.lock().get(address).cloned();
            if let Some(slot) = slot
                && let Ok(guard) = slot.try_lock()
                && let Some(connection) = guard.as_ref().filter(|c| !c.is_closed())
            {
                return Ok(Arc::clone(connection));
            }
        }
        let mut failures = Vec::new();
        for address in &candidates {
            match self.connect(address).await {
                Ok(connection) => return Ok(connection),
                Err(Error::Connect { address, source }) => {
                    failures.push(format!("{address} ({source})"))
                }
                Err(e) => failures.push(format!("{address} ({e})")),
            }
        }
        Err(Error::NoBrokerReachable {
            tried: failures.join("; "),
        })
    }

    /// Refreshes metadata for every known topic plus `topics`.
    pub(crate) async fn refresh(&self, topics: &[String]) -> Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        let mut wanted: BTreeSet<String> = self.state.lock().topics.keys().cloned().collect();
        wanted.extend(topics.iter().cloned());
        let connection = self.any().await?;
        let version = connection.version(ApiKey::Metadata)?;
        let mut request = MetadataRequest::default();
        request.topics = Some(
            wanted
                .iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect(),
        );
        if version >= 4 {
            request.allow_auto_topic_creation = self.options.allow_auto_create_topics;
        }
        let response = connection.call_at(&request, version).await?;
        let mut state = self.state.lock();
        state.brokers = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        for topic in response.topics {
            let Some(name) = topic.name.map(|n| n.0.to_string()) else {
                continue;
            };
            if let Some(error) = ResponseError::try_from_code(topic.error_code) {
                state.topics.remove(&name);
                state.missing.insert(name, error);
                continue;
            }
            let mut partitions = vec![
                PartitionInfo {
                    leader: -1,
                    leader_epoch: -1
                };
                topic.partitions.len()
            ];
            for p in &topic.partitions {
                if let Some(slot) = usize::try_from(p.partition_index)
                    .ok()
                    .and_then(|i| partitions.get_mut(i))
                {
                    *slot = PartitionInfo {
                        leader: if p.error_code == 0 || p.leader_id.0 >= 0 {
                            p.leader_id.0
                        } else {
                            -1
                        },
                        leader_epoch: p.leader_epoch,
                    };
                }
            }
            state.missing.remove(&name);
            state
                .topics
                .insert(name, Arc::new(TopicInfo { partitions }));
        }
        Ok(())
    }

    /// What is known about `topic`.
    pub(crate) fn topic(&self, topic: &str) -> Option<Arc<TopicInfo>> {
        self.state.lock().topics.get(topic).cloned()
    }

    /// Why the last refresh did not return `topic`, if it did not.
    pub(crate) fn topic_error(&self, topic: &str) -> Option<ResponseError> {
        self.state.lock().missing.get(topic).copied()
    }

    /// The leader of `tp`, if known.
    pub(crate) fn leader(&self, tp: &TopicPartition) -> Option<PartitionInfo> {
        let state = self.state.lock();
        let info = state.topics.get(&tp.topic)?;
        let partition = *info.partitions.get(usize::try_from(tp.partition).ok()?)?;
        (partition.leader >= 0).then_some(partition)
    }

    /// The partition count of `topic`, refreshing metadata once if it is unknown.
    pub(crate) async fn partitions(&self, topic: &str) -> Result<usize> {
        if let Some(info) = self.topic(topic) {
            return Ok(info.partitions.len());
        }
        self.refresh(&[topic.to_string()]).await?;
        self.topic(topic)
            .map(|t| t.partitions.len())
            .ok_or_else(|| Error::UnknownTopic(topic.to_string()))
    }
}
