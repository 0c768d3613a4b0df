//! Committed offsets: the map OffsetFetch reads, kept in step with `__consumer_offsets`.
//!
//! Every commit or deletion is appended to the log first (one record per partition, see
//! `offset_record`) and applied to the map in the same step, under the coordinator's lock, so
//! the map always equals the log replayed in order. The caller answers the client only once
//! the append is durable ([`Durable::wait`]). At open, the log is replayed from its start:
//! the latest record per key wins and a tombstone removes the key.

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_log::{AppendError, FlushError, PartitionLog, ReadError};

use crate::group::offset_record::{self, CommittedOffset, OffsetKey};
use crate::group::record_batch;

/// The internal topic that stores committed offsets.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The largest batch one append writes; a commit of many partitions becomes several batches,
/// appended together.
const BATCH_BYTES: usize = 256 * 1024;

/// How much of the log one replay read asks for.
const REPLAY_READ_BYTES: u64 = 4 << 20;

/// A topic-partition a group committed an offset for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PartitionId {
    pub(crate) topic: String,
    pub(crate) partition: i32,
}

/// One group's committed offsets.
pub(crate) type GroupOffsets = BTreeMap<PartitionId, CommittedOffset>;

/// An append the client's answer waits for.
#[derive(Debug)]
pub(crate) struct Durable {
    log: Arc<PartitionLog>,
    end: u64,
}

impl Durable {
    /// Returns once the append is durable under the topic's flush policy.
    pub(crate) async fn wait(self) -> Result<(), FlushError> {
        let log = Arc::clone(&self.log);
        match tokio::task::spawn_blocking(move || log.make_durable(self.end)).await {
            Ok(result) => result,
            // The blocking pool is shutting down with the runtime; sync in place.
            Err(_) => self.log.make_durable(self.end),
        }
    }
}

/// Committed offsets of every group, backed by the `__consumer_offsets` partition.
#[derive(Debug)]
pub(crate) struct OffsetStore {
    log: Arc<PartitionLog>,
    committed: BTreeMap<String, GroupOffsets>,
}

impl OffsetStore {
    /// Replays `log` from its start into the map. Records weir cannot read are skipped with a
    /// warning (someone may have produced to the topic); only a failed read is an error.
    pub(crate) fn open(log: Arc<PartitionLog>) -> Result<Self, ReadError> {
        let mut store = Self {
            log,
            committed: BTreeMap::new(),
        };
        let end = store.log.log_end_offset();
        let mut offset = store.log.log_start_offset();
        let mut records = 0usize;
        while offset < end {
            let bytes = store.log.read(offset, REPLAY_READ_BYTES, None)?.to_vec()?;
            if bytes.is_empty() {
                break;
            }
            let mut at = 0;
            while at < bytes.len() {
                let header = match weir_log::batch::validate(&bytes[at..]) {
                    Ok(header) => header,
                    Err(e) => {
                        tracing::warn!(offset, error = %e, "unreadable batch in {OFFSETS_TOPIC}; skipping the rest of the read");
                        at = bytes.len();
                        continue;
                    }
                };
                offset = u64::try_from(header.next_offset())
                    .unwrap_or(end)
                    .max(offset + 1);
                records +=
                    store.replay_batch(&bytes[at..at + header.total_len()], header.base_offset);
                at += header.total_len();
            }
        }
        tracing::info!(
            records,
            groups = store.committed.len(),
            "replayed committed offsets"
        );
        Ok(store)
    }

    fn replay_batch(&mut self, batch: &[u8], base_offset: i64) -> usize {
        let records = match weir_log::records::decode(batch) {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(base_offset, error = %e, "skipping a batch of {OFFSETS_TOPIC}");
                return 0;
            }
        };
        let mut applied = 0;
        for record in records {
            match offset_record::decode(record.key, record.value) {
                Ok((key, value)) => {
                    self.apply(key, value);
                    applied += 1;
                }
                Err(e) => {
                    tracing::warn!(base_offset, error = %e, "skipping a record of {OFFSETS_TOPIC}")
                }
            }
        }
        applied
    }

    fn apply(&mut self, key: OffsetKey, value: Option<CommittedOffset>) {
        let partition = PartitionId {
            topic: key.topic,
            partition: key.partition,
        };
        match value {
            Some(value) => {
                self.committed
                    .entry(key.group)
                    .or_default()
                    .insert(partition, value);
            }
            None => {
                if let Some(group) = self.committed.get_mut(&key.group) {
                    group.remove(&partition);
                    if group.is_empty() {
                        self.committed.remove(&key.group);
                    }
                }
            }
        }
    }

    /// The offsets `group` committed, if any.
    pub(crate) fn group(&self, group: &str) -> Option<&GroupOffsets> {
        self.committed.get(group)
    }

    /// Whether `group` has any committed offset.
    pub(crate) fn has_offsets(&self, group: &str) -> bool {
        self.committed.contains_key(group)
    }

    /// Every group with committed offsets.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &str> {
        self.committed.keys().map(String::as_str)
    }

    /// Appends and applies `offsets` for `group`.
    pub(crate) fn commit(
        &mut self,
        group: &str,
        offsets: Vec<(PartitionId, CommittedOffset)>,
        now_ms: i64,
    ) -> Result<Durable, AppendError> {
        let records = offsets
            .into_iter()
            .map(|(p, value)| (key(group, p), Some(value)))
            .collect();
        self.append(records, now_ms)
    }

    /// Appends tombstones for those of `partitions` that `group` has offsets for; `None` when
    /// there were none.
    pub(crate) fn delete(
        &mut self,
        group: &str,
        partitions: &[PartitionId],
        now_ms: i64,
    ) -> Result<Option<Durable>, AppendError> {
        let Some(committed) = self.committed.get(group) else {
            return Ok(None);
        };
        let records: Vec<_> = partitions
            .iter()
            .filter(|p| committed.contains_key(p))
            .map(|p| (key(group, p.clone()), None))
            .collect();
        if records.is_empty() {
            return Ok(None);
        }
        self.append(records, now_ms).map(Some)
    }

    /// Appends tombstones for every offset of `group`.
    pub(crate) fn delete_group(
        &mut self,
        group: &str,
        now_ms: i64,
    ) -> Result<Option<Durable>, AppendError> {
        let partitions: Vec<_> = self
            .committed
            .get(group)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        self.delete(group, &partitions, now_ms)
    }

    /// Appends tombstones for every offset any group committed for `topic` (the topic was
    /// deleted); `None` when there were none.
    pub(crate) fn delete_topic(
        &mut self,
        topic: &str,
        now_ms: i64,
    ) -> Result<Option<Durable>, AppendError> {
        let records: Vec<_> = self
            .committed
            .iter()
            .flat_map(|(group, offsets)| {
                offsets
                    .keys()
                    .filter(|p| p.topic == topic)
                    .map(|p| (key(group, p.clone()), None))
            })
            .collect();
        if records.is_empty() {
            return Ok(None);
        }
        self.append(records, now_ms).map(Some)
    }

    fn append(
        &mut self,
        records: Vec<(OffsetKey, Option<CommittedOffset>)>,
        now_ms: i64,
    ) -> Result<Durable, AppendError> {
        if records.is_empty() {
            return Ok(Durable {
                log: Arc::clone(&self.log),
                end: 0,
            });
        }
        let mut bytes = Vec::new();
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        for (key, value) in &records {
            let encoded = (key.encode(), value.as_ref().map(CommittedOffset::encode));
            batch_bytes += encoded.0.len() + encoded.1.as_ref().map_or(0, Vec::len) + 16;
            batch.push(encoded);
            if batch_bytes >= BATCH_BYTES {
                bytes.extend(record_batch::encode(now_ms, &batch));
                batch.clear();
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            bytes.extend(record_batch::encode(now_ms, &batch));
        }
        let info = self.log.append(&bytes, 0)?;
        for (key, value) in records {
            self.apply(key, value);
        }
        Ok(Durable {
            log: Arc::clone(&self.log),
            end: info.next_offset,
        })
    }
}

fn key(group: &str, partition: PartitionId) -> OffsetKey {
    OffsetKey {
        group: group.to_string(),
        topic: partition.topic,
        partition: partition.partition,
    }
}
