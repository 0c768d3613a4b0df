//! `TopicRegistry`: the topics this broker holds, each with its id, partitions (their logs)
//! and config overrides; created, altered and deleted here, and persisted in the metadata
//! file so they survive restart. (With clustering, the controller's metadata log takes this
//! file's place.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;
use weir_log::{LogConfig, LogStore, PartitionLog, StoreError, TopicPartition};

use crate::config::{Acks, TopicConfigError, TopicOverrides};
use crate::group::OFFSETS_TOPIC;
use crate::metadata_file::{self, MetadataFile, TopicRecord};
use crate::producer_state::ProducerStates;
use crate::replication::ReplicaState;

/// One partition of a topic on this broker.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) index: i32,
    pub(crate) log: Arc<PartitionLog>,
    /// Idempotent producers' sequences; held across check and append so both see the same
    /// log end.
    pub(crate) producers: Mutex<ProducerStates>,
    /// Its role in replication and its high watermark.
    pub(crate) replica: ReplicaState,
}

impl Partition {
    /// Attaches a log, rebuilding producer state from its active segment's batch headers.
    fn new(index: i32, log: Arc<PartitionLog>, replica: ReplicaState) -> Self {
        let producers = rebuild_producers(&log);
        Self {
            index,
            log,
            producers: Mutex::new(producers),
            replica,
        }
    }
}

/// Idempotent producers' state as the batch headers of the log's active segment tell it
/// (after opening, or after a follower truncated its log).
pub(crate) fn rebuild_producers(log: &PartitionLog) -> ProducerStates {
    let mut producers = ProducerStates::default();
    let from = log.segment_bases().last().copied().unwrap_or(0);
    if let Err(e) = log.scan_headers(from, |header| producers.record(header)) {
        tracing::warn!(dir = %log.dir().display(), error = %e, "could not rebuild producer state");
    }
    producers
}

/// A topic: its id, partitions and overrides.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: String,
    pub(crate) id: Uuid,
    pub(crate) partitions: Vec<Arc<Partition>>,
    pub(crate) overrides: TopicOverrides,
    pub(crate) internal: bool,
}

impl Topic {
    pub(crate) fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    /// The acks floor producers to this topic get.
    pub(crate) fn acks_floor(&self) -> Acks {
        self.overrides.acks.unwrap_or(Acks::Zero)
    }
}

/// Why a topic operation failed; each maps to a Kafka error code at the wire.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TopicError {
    #[error("topic {0} already exists")]
    AlreadyExists(String),
    #[error("topic {0} does not exist")]
    Unknown(String),
    #[error(transparent)]
    InvalidName(StoreError),
    #[error("{0}")]
    InvalidConfig(#[from] TopicConfigError),
    #[error("partition count {requested} is invalid: {reason}")]
    InvalidPartitions {
        requested: i64,
        reason: &'static str,
    },
    #[error("replication factor {0} is not possible on a single broker")]
    InvalidReplicationFactor(i32),
    #[error("storage: {0}")]
    Storage(StoreError),
    #[error("writing topic metadata: {0}")]
    Metadata(#[from] weir_log::IoError),
}

/// All topics of the broker.
pub(crate) struct TopicRegistry {
    store: Arc<LogStore>,
    base_config: LogConfig,
    metadata: MetadataFile,
    cluster_id: String,
    /// In a cluster, partitions start offline until the metadata gives them a role.
    clustered: bool,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
}

impl std::fmt::Debug for TopicRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicRegistry")
            .field("topics", &self.topics.read().len())
            .finish()
    }
}

impl TopicRegistry {
    /// Loads the metadata file and reattaches every topic's partition logs from the store;
    /// partitions found on disk but missing from the file are adopted with defaults.
    pub(crate) fn open(
        store: Arc<LogStore>,
        base_config: LogConfig,
        metadata_path: PathBuf,
        configured: &BTreeMap<String, TopicOverrides>,
        clustered: bool,
    ) -> Result<Self, TopicError> {
        let metadata = MetadataFile::new(metadata_path);
        let loaded = metadata.load()?;
        let cluster_id = loaded
            .cluster_id
            .unwrap_or_else(metadata_file::new_cluster_id);
        let mut records: BTreeMap<String, TopicRecord> = loaded
            .topics
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        for (tp, _) in store.partitions() {
            let record = records.entry(tp.topic.clone()).or_insert_with(|| {
                tracing::warn!(topic = %tp.topic, "partition logs without topic metadata; adopting the topic");
                TopicRecord {
                    name: tp.topic.clone(),
                    id: Uuid::new_v4(),
                    partitions: 0,
                    configs: Vec::new(),
                }
            });
            record.partitions = record.partitions.max(tp.partition + 1);
        }
        let registry = Self {
            store,
            base_config,
            metadata,
            cluster_id,
            clustered,
            topics: RwLock::new(BTreeMap::new()),
        };
        {
            let mut topics = registry.topics.write();
            for record in records.into_values() {
                let mut overrides = TopicOverrides::default();
                for (name, value) in &record.configs {
                    overrides.set_kafka(name, Some(value))?;
                }
                if let Some(configured) = configured.get(&record.name) {
                    merge(&mut overrides, configured);
                }
                let topic =
                    registry.attach(&record.name, record.id, record.partitions, overrides)?;
                topics.insert(record.name, Arc::new(topic));
            }
        }
        registry.persist()?;
        Ok(registry)
    }

    /// The cluster id reported in Metadata responses, stable across restarts.
    pub(crate) fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub(crate) fn by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    pub(crate) fn list(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// Creates a topic (or, with `validate_only`, checks that it could be created).
    pub(crate) fn create(
        &self,
        name: &str,
        partitions: u32,
        overrides: TopicOverrides,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        self.create_with_id(name, None, partitions, overrides, validate_only)
    }

    /// Makes this broker hold a topic as the cluster metadata describes it: created with the
    /// cluster's id, grown to `partitions`, with these overrides. A local topic of the same
    /// name and another id is an older topic since deleted: it is replaced.
    pub(crate) fn ensure(
        &self,
        name: &str,
        id: Uuid,
        partitions: u32,
        overrides: TopicOverrides,
    ) -> Result<Arc<Topic>, TopicError> {
        let existing = match self.get(name) {
            Some(topic) if topic.id != id => {
                self.delete(name)?;
                None
            }
            other => other,
        };
        let Some(mut topic) = existing else {
            return self.create_with_id(name, Some(id), partitions, overrides, false);
        };
        if (topic.partitions.len() as u32) < partitions {
            topic = self.add_partitions(name, partitions, false)?;
        }
        if topic.overrides != overrides {
            self.set_overrides(name, overrides)?;
            topic = self
                .get(name)
                .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        }
        Ok(topic)
    }

    fn create_with_id(
        &self,
        name: &str,
        id: Option<Uuid>,
        partitions: u32,
        overrides: TopicOverrides,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        weir_log::validate_topic_name(name).map_err(TopicError::InvalidName)?;
        if partitions == 0 || partitions > 1_000_000 {
            return Err(TopicError::InvalidPartitions {
                requested: i64::from(partitions),
                reason: "must be between 1 and 1000000",
            });
        }
        let mut topics = self.topics.write();
        if topics.contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        if let Some(existing) = topics.keys().find(|t| collides(t, name)) {
            return Err(TopicError::InvalidName(StoreError::InvalidTopic {
                name: format!("{name} (collides with {existing})"),
                reason: "'.' and '_' are interchangeable in metric names, as in Kafka",
            }));
        }
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.to_string(),
                id: Uuid::nil(),
                partitions: Vec::new(),
                overrides,
                internal: false,
            }));
        }
        let topic =
            Arc::new(self.attach(name, id.unwrap_or_else(Uuid::new_v4), partitions, overrides)?);
        topics.insert(name.to_string(), Arc::clone(&topic));
        drop(topics);
        self.persist()?;
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its partition logs.
    pub(crate) fn delete(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        self.delete_matching(name, None)
    }

    /// Deletes a topic only if it still has the id `id`: a topic of the same name created
    /// since it was looked at stays.
    pub(crate) fn delete_with_id(&self, name: &str, id: Uuid) -> Result<Arc<Topic>, TopicError> {
        self.delete_matching(name, Some(id))
    }

    fn delete_matching(&self, name: &str, id: Option<Uuid>) -> Result<Arc<Topic>, TopicError> {
        let topic = {
            let mut topics = self.topics.write();
            if id.is_some_and(|id| topics.get(name).is_some_and(|t| t.id != id)) {
                return Err(TopicError::Unknown(name.to_string()));
            }
            topics
                .remove(name)
                .ok_or_else(|| TopicError::Unknown(name.to_string()))?
        };
        self.persist()?;
        for partition in &topic.partitions {
            let tp = TopicPartition::new(name, partition.index as u32)
                .map_err(TopicError::InvalidName)?;
            self.store.delete(&tp).map_err(TopicError::Storage)?;
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Whether this broker holds a copy (the log files) of partition `index` of `name`.
    pub(crate) fn holds_copy(&self, name: &str, index: i32) -> bool {
        TopicPartition::new(name, index as u32).is_ok_and(|tp| self.store.partition(&tp).is_some())
    }

    /// Deletes this broker's copy of a partition it no longer hosts (reassigned away). The
    /// partition stays in the topic so numbering holds, offline here; its closed log lives
    /// on only for readers still holding it. Returns whether there was a copy.
    pub(crate) fn drop_copy(&self, name: &str, index: i32) -> Result<bool, TopicError> {
        let tp = TopicPartition::new(name, index as u32).map_err(TopicError::InvalidName)?;
        let deleted = self.store.delete(&tp).map_err(TopicError::Storage)?;
        if deleted {
            tracing::info!(
                topic = name,
                partition = index,
                "deleted the copy of a partition this broker no longer hosts"
            );
        }
        Ok(deleted)
    }

    /// Gives this broker a new, empty copy of a partition it hosts again, in place of the
    /// one dropped; it fills by following the leader.
    pub(crate) fn restore_copy(&self, name: &str, index: i32) -> Result<Arc<Topic>, TopicError> {
        let mut topics = self.topics.write();
        let topic = topics
            .get(name)
            .cloned()
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let slot = usize::try_from(index)
            .ok()
            .filter(|i| *i < topic.partitions.len())
            .ok_or_else(|| TopicError::Unknown(format!("{name}-{index}")))?;
        let at = index as u32;
        let mut fresh = self.attach_partitions(name, at..at + 1, &topic.overrides)?;
        let mut partitions = topic.partitions.clone();
        if let Some(partition) = fresh.pop() {
            partitions[slot] = partition;
        }
        let restored = Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            partitions,
            overrides: topic.overrides,
            internal: topic.internal,
        });
        topics.insert(name.to_string(), Arc::clone(&restored));
        tracing::info!(
            topic = name,
            partition = index,
            "created a copy of a partition this broker now hosts"
        );
        Ok(restored)
    }

    /// Grows a topic to `count` partitions (never shrinks: Kafka cannot either).
    pub(crate) fn add_partitions(
        &self,
        name: &str,
        count: u32,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let mut topics = self.topics.write();
        let topic = topics
            .get(name)
            .cloned()
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partitions.len() as u32;
        if count <= current || count > 1_000_000 {
            return Err(TopicError::InvalidPartitions {
                requested: i64::from(count),
                reason: "must be more than the current count (partitions cannot be removed)",
            });
        }
        if validate_only {
            return Ok(topic);
        }
        let mut partitions = topic.partitions.clone();
        partitions.extend(self.attach_partitions(name, current..count, &topic.overrides)?);
        let grown = Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            partitions,
            overrides: topic.overrides,
            internal: topic.internal,
        });
        topics.insert(name.to_string(), Arc::clone(&grown));
        drop(topics);
        self.persist()?;
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(grown)
    }

    /// Replaces a topic's config overrides and applies them to its partition logs.
    pub(crate) fn set_overrides(
        &self,
        name: &str,
        overrides: TopicOverrides,
    ) -> Result<(), TopicError> {
        let mut topics = self.topics.write();
        let topic = topics
            .get(name)
            .cloned()
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let config = overrides.apply(&self.base_config);
        for partition in &topic.partitions {
            partition.log.set_config(config);
        }
        topics.insert(
            name.to_string(),
            Arc::new(Topic {
                name: topic.name.clone(),
                id: topic.id,
                partitions: topic.partitions.clone(),
                overrides,
                internal: topic.internal,
            }),
        );
        drop(topics);
        self.persist()?;
        tracing::info!(topic = name, "altered topic configs");
        Ok(())
    }

    /// The broker-wide log settings topic overrides apply to.
    pub(crate) fn base_config(&self) -> &LogConfig {
        &self.base_config
    }

    /// Opens or creates the logs of partitions `0..partitions` of a topic.
    fn attach(
        &self,
        name: &str,
        id: Uuid,
        partitions: u32,
        overrides: TopicOverrides,
    ) -> Result<Topic, TopicError> {
        Ok(Topic {
            name: name.to_string(),
            id,
            partitions: self.attach_partitions(name, 0..partitions, &overrides)?,
            overrides,
            internal: name.starts_with("__"),
        })
    }

    fn attach_partitions(
        &self,
        name: &str,
        indexes: std::ops::Range<u32>,
        overrides: &TopicOverrides,
    ) -> Result<Vec<Arc<Partition>>, TopicError> {
        let config = overrides.apply(&self.base_config);
        let mut attached = Vec::with_capacity(indexes.len());
        for index in indexes {
            let tp = TopicPartition::new(name, index).map_err(TopicError::InvalidName)?;
            let log = match self.store.partition(&tp) {
                Some(log) => {
                    log.set_config(config);
                    log
                }
                None => self
                    .store
                    .create(&tp, config)
                    .map_err(TopicError::Storage)?,
            };
            let replica = if self.clustered && name != OFFSETS_TOPIC {
                ReplicaState::offline()
            } else {
                ReplicaState::standalone()
            };
            attached.push(Arc::new(Partition::new(index as i32, log, replica)));
        }
        Ok(attached)
    }

    fn persist(&self) -> Result<(), TopicError> {
        let records: Vec<TopicRecord> = self
            .topics
            .read()
            .values()
            .map(|t| TopicRecord {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partitions.len() as u32,
                configs: t
                    .overrides
                    .kafka_entries()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            })
            .collect();
        self.metadata.save(&self.cluster_id, &records)?;
        Ok(())
    }
}

/// Settings from the broker's TOML file win over what the metadata file remembers.
fn merge(into: &mut TopicOverrides, configured: &TopicOverrides) {
    for (name, value) in configured.kafka_entries() {
        // Entries produced by kafka_entries always parse back.
        let _ = into.set_kafka(name, Some(&value));
    }
}

fn collides(a: &str, b: &str) -> bool {
    a != b && a.replace('.', "_") == b.replace('.', "_")
}
