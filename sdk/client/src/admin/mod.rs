//! The admin client, as Kafka's `Admin` has it: topics (create, list, describe with configs,
//! delete, alter configs, grow partitions, reassign replicas) and consumer groups (list, describe, committed
//! offsets, lag). Topic changes go to the controller; group questions to the group's
//! coordinator; every request waits at most `request_timeout`.
//!
//! ```no_run
//! use weir_client::{Admin, AdminConfig, NewTopic, TopicError};
//!
//! # async fn run() -> Result<(), weir_client::AdminError> {
//! let admin = Admin::new(AdminConfig::new(["127.0.0.1:9092"]))?;
//! for (topic, outcome) in admin.create_topics(vec![NewTopic::new("orders", 6, 1)]).await? {
//!     match outcome {
//!         Ok(()) | Err(TopicError::AlreadyExists { .. }) => println!("{topic} is there"),
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod configs;
mod error;
mod groups;
mod lag;
mod reassignments;
mod topics;

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::{Cluster, ClusterOptions};
use crate::connection::{ConnectOptions, Connection};

pub use configs::{ConfigChange, ConfigEntry, ConfigSource};
pub use error::{AdminError, KafkaCode, TopicError};
pub use groups::{GroupDescription, GroupListing, MemberDescription};
pub use lag::PartitionLag;
pub use reassignments::{PartitionReassignment, PartitionRefusal, Reassignment};
pub use topics::{
    BrokerInfo, ClusterDescription, NewTopic, PartitionDescription, TopicDescription,
};

/// The outcome of an admin request for each topic it named, in request order.
pub type TopicOutcomes = Vec<(String, Result<(), TopicError>)>;

/// How the admin client reaches the cluster.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// `bootstrap.servers`: `host:port` of brokers to learn the cluster from.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `request.timeout.ms`: how long one request (connecting included) may take.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`: the wait between attempts while a coordinator or leader is not
    /// known yet.
    pub retry_backoff: Duration,
}

impl AdminConfig {
    /// Kafka's defaults with the given bootstrap servers.
    pub fn new<S: Into<String>>(bootstrap_servers: impl IntoIterator<Item = S>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into_iter().map(Into::into).collect(),
            client_id: "weir-admin".to_string(),
            request_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
        }
    }

    /// With `request_timeout` set.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// An admin client. Cheap to clone; no broker is contacted until it is used.
#[derive(Debug, Clone)]
pub struct Admin {
    config: Arc<AdminConfig>,
    cluster: Arc<Cluster>,
}

pub(crate) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl Admin {
    /// An admin client for the cluster behind `config.bootstrap_servers`.
    pub fn new(config: AdminConfig) -> Result<Self, AdminError> {
        let cluster = Cluster::new(ClusterOptions {
            bootstrap_servers: config.bootstrap_servers.clone(),
            connect: ConnectOptions {
                client_id: config.client_id.clone(),
                request_timeout: config.request_timeout,
            },
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            allow_auto_create_topics: false,
        })?;
        Ok(Self {
            config: Arc::new(config),
            cluster,
        })
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &AdminConfig {
        &self.config
    }

    /// Metadata for `topics` (every topic when `None`), never creating any.
    async fn metadata(&self, topics: Option<&[String]>) -> Result<MetadataResponse, AdminError> {
        let connection = self.cluster.any().await?;
        let version = connection.version(ApiKey::Metadata)?;
        let mut request = MetadataRequest::default();
        request.topics = topics.map(|topics| {
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(s(t)))))
                .collect()
        });
        if version >= 4 {
            request.allow_auto_topic_creation = false;
        }
        Ok(connection.call_at(&request, version).await?)
    }

    /// The brokers of the cluster. Also the quickest way to learn whether the cluster
    /// answers at all: it fails within `request_timeout` when no broker does.
    pub async fn brokers(&self) -> Result<Vec<BrokerInfo>, AdminError> {
        let metadata = self.metadata(Some(&[])).await?;
        Ok(topics::brokers(&metadata))
    }

    /// The cluster id, the active controller and the live brokers.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, AdminError> {
        let metadata = self.metadata(Some(&[])).await?;
        Ok(ClusterDescription {
            cluster_id: metadata.cluster_id.as_ref().map(|id| id.to_string()),
            controller: (metadata.controller_id.0 >= 0).then_some(metadata.controller_id.0),
            brokers: topics::brokers(&metadata),
        })
    }

    /// A connection to the controller, where topic changes go (any broker when the
    /// cluster does not name one: a KRaft broker forwards them).
    async fn controller(&self) -> Result<Arc<Connection>, AdminError> {
        let metadata = self.metadata(Some(&[])).await?;
        let controller = metadata
            .brokers
            .iter()
            .find(|b| b.node_id == metadata.controller_id)
            .map(|b| format!("{}:{}", b.host.as_str(), b.port));
        Ok(match controller {
            Some(address) => self.cluster.connect(&address).await?,
            None => self.cluster.any().await?,
        })
    }

    /// Connections to every broker of the cluster.
    async fn every_broker(&self) -> Result<Vec<Arc<Connection>>, AdminError> {
        let metadata = self.metadata(Some(&[])).await?;
        let mut out = Vec::new();
        for broker in &metadata.brokers {
            let address = format!("{}:{}", broker.host.as_str(), broker.port);
            out.push(self.cluster.connect(&address).await?);
        }
        if out.is_empty() {
            out.push(self.cluster.any().await?);
        }
        Ok(out)
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX)
    }
}
