//! Not producing an event twice after a restart.
//!
//! A checkpoint is saved after its events were acknowledged, so a connector killed between
//! an acknowledgement and the next save reads those events again. Every record a connector
//! produces carries a `weir.event` header: a 128-bit hash of the connector, the event's
//! source partition and position, its key and its value. Each checkpoint also notes, per
//! output partition, an offset at or below the first record of any event after its
//! positions. On restart the runner reads its output partitions (the topic and the
//! dead-letter topic) from those offsets to their ends, collects the ids it finds, and
//! skips each replayed event whose id it found, once per record found.
//!
//! Skipping is safe by construction: an event is skipped only when a record with its id is
//! in the topic. What can go wrong costs duplicates, never loss: an event whose content
//! changed between runs (a database row updated in between) has a new id and is produced
//! again, and ids that never match are given up on after a while (see
//! [`ReplayFilter::skip`]). Records above the high watermark when the scan runs (acks=all
//! writes not yet replicated) are not seen; if they later commit, they are duplicates.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;
use twox_hash::XxHash3_128;
use weir_client::TopicPartition;

use crate::source::SourceEvent;
use crate::topic_scan;

/// The header carrying a record's event id.
pub const EVENT_HEADER: &str = "weir.event";
/// How many replayed events may go by without matching before unmatched ids are given up.
const MIN_REPLAY_BUDGET: u64 = 100_000;

/// An event's identity: the same event read again has the same id.
pub(crate) type EventId = [u8; 16];

/// Offsets in a connector's output partitions, by topic and partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputOffsets(BTreeMap<String, BTreeMap<i32, i64>>);

impl OutputOffsets {
    /// The offset noted for `tp`.
    pub fn get(&self, tp: &TopicPartition) -> Option<i64> {
        self.0.get(&tp.topic)?.get(&tp.partition).copied()
    }

    /// Notes `offset` for `tp`, keeping the larger of it and what was there.
    pub fn raise(&mut self, tp: &TopicPartition, offset: i64) {
        let slot = self
            .0
            .entry(tp.topic.clone())
            .or_default()
            .entry(tp.partition)
            .or_insert(offset);
        *slot = (*slot).max(offset);
    }

    /// As saved in a checkpoint: `{"topic": {"0": 12, …}, …}`.
    pub(crate) fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(topic, partitions)| {
                    let partitions = partitions
                        .iter()
                        .map(|(p, offset)| (p.to_string(), Value::from(*offset)))
                        .collect();
                    (topic.clone(), Value::Object(partitions))
                })
                .collect(),
        )
    }

    /// Reads what [`OutputOffsets::to_json`] wrote.
    pub(crate) fn from_json(value: &Value) -> Option<Self> {
        let mut offsets = Self::default();
        for (topic, partitions) in value.as_object()? {
            for (partition, offset) in partitions.as_object()? {
                let tp = TopicPartition::new(topic.clone(), partition.parse().ok()?);
                offsets.raise(&tp, offset.as_i64()?);
            }
        }
        Some(offsets)
    }
}

/// The id of `event` of `connector` as produced with `key` and `value`.
pub(crate) fn event_id(
    connector: &str,
    event: &SourceEvent,
    key: Option<&[u8]>,
    value: &[u8],
) -> EventId {
    let mut hasher = XxHash3_128::new();
    write_bytes(&mut hasher, connector.as_bytes());
    write_bytes(&mut hasher, event.partition.as_bytes());
    write_json(&mut hasher, &event.position);
    match key {
        Some(key) => {
            hasher.write(&[1]);
            write_bytes(&mut hasher, key);
        }
        None => hasher.write(&[0]),
    }
    write_bytes(&mut hasher, value);
    hasher.finish_128().to_le_bytes()
}

fn write_bytes(hasher: &mut XxHash3_128, bytes: &[u8]) {
    hasher.write(&(bytes.len() as u64).to_le_bytes());
    hasher.write(bytes);
}

/// Hashes a position by its structure, without serializing it.
fn write_json(hasher: &mut XxHash3_128, value: &Value) {
    match value {
        Value::Null => hasher.write(&[0]),
        Value::Bool(b) => hasher.write(&[1, u8::from(*b)]),
        Value::Number(n) => {
            hasher.write(&[2]);
            match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => hasher.write(&u.to_le_bytes()),
                (None, Some(i)) => hasher.write(&i.to_le_bytes()),
                (None, None) => write_bytes(hasher, n.to_string().as_bytes()),
            }
        }
        Value::String(s) => {
            hasher.write(&[3]);
            write_bytes(hasher, s.as_bytes());
        }
        Value::Array(items) => {
            hasher.write(&[4]);
            hasher.write(&(items.len() as u64).to_le_bytes());
            items.iter().for_each(|item| write_json(hasher, item));
        }
        Value::Object(fields) => {
            hasher.write(&[5]);
            hasher.write(&(fields.len() as u64).to_le_bytes());
            for (name, field) in fields {
                write_bytes(hasher, name.as_bytes());
                write_json(hasher, field);
            }
        }
    }
}

/// The ids a previous run produced after the checkpoint, to skip once each.
#[derive(Debug, Default)]
pub(crate) struct ReplayFilter {
    /// Each id with the partition of every record found carrying it.
    found: HashMap<EventId, Vec<TopicPartition>>,
    /// Per output partition, how many found records no replayed event matched yet.
    unmatched: HashMap<TopicPartition, usize>,
    /// Replayed events that may still go by without a match.
    budget: u64,
}

impl ReplayFilter {
    fn add(&mut self, id: EventId, tp: TopicPartition) {
        *self.unmatched.entry(tp.clone()).or_default() += 1;
        self.found.entry(id).or_default().push(tp);
    }

    /// Whether the event with `id` is already in the topic (and so must not be produced).
    ///
    /// Ids that no replayed event matches (a record of another writer with the header, an
    /// event whose content changed) would hold output offsets back for ever, so once more
    /// than the budget of events went by without a match, the filter forgets them: an event
    /// seen later than that is produced again, a duplicate.
    pub(crate) fn skip(&mut self, id: &EventId) -> bool {
        if self.found.is_empty() {
            return false;
        }
        let Some(partitions) = self.found.get_mut(id) else {
            self.budget = self.budget.saturating_sub(1);
            if self.budget == 0 {
                tracing::warn!(
                    records = self.unmatched.values().sum::<usize>(),
                    "records found after the checkpoint match no replayed event; not looking for them any more"
                );
                *self = Self::default();
            }
            return false;
        };
        if let Some(tp) = partitions.pop()
            && let Some(count) = self.unmatched.get_mut(&tp)
        {
            *count -= 1;
            if *count == 0 {
                self.unmatched.remove(&tp);
            }
        }
        if partitions.is_empty() {
            self.found.remove(id);
        }
        true
    }

    /// The output partitions holding found records not matched yet: their offsets must not
    /// move past those records in a checkpoint.
    pub(crate) fn pinned(&self) -> HashSet<TopicPartition> {
        self.unmatched.keys().cloned().collect()
    }

    /// How many found records are not matched yet.
    pub(crate) fn len(&self) -> usize {
        self.unmatched.values().sum()
    }
}

/// Reads `topics` from the offsets `saved` notes to their ends. Returns the filter of ids
/// found and the output offsets the next checkpoints start from: `saved`'s, the log start of
/// partitions it does not know (created since), or, with nothing saved (a first run, or a
/// checkpoint from before weir noted offsets), every partition's current end.
pub(crate) async fn recover(
    bootstrap: &[String],
    topics: &[&str],
    saved: Option<&OutputOffsets>,
) -> weir_client::Result<(ReplayFilter, OutputOffsets)> {
    let consumer = topic_scan::scan_consumer(bootstrap)?;
    let bounds = topic_scan::partition_bounds(&consumer, topics).await?;
    let mut outputs = OutputOffsets::default();
    let mut filter = ReplayFilter::default();
    let Some(saved) = saved else {
        for (tp, (_, end)) in &bounds {
            outputs.raise(tp, *end);
        }
        return Ok((filter, outputs));
    };
    let ranges: HashMap<TopicPartition, (i64, i64)> = bounds
        .into_iter()
        .map(|(tp, (start, end))| {
            let from = saved.get(&tp).unwrap_or(start).clamp(start, end);
            outputs.raise(&tp, from);
            (tp, (from, end))
        })
        .collect();
    let mut scanned = 0u64;
    topic_scan::read_ranges(consumer, &ranges, |record| {
        scanned += 1;
        let id = record
            .headers
            .iter()
            .find(|h| h.key == EVENT_HEADER)
            .and_then(|h| h.value.as_deref())
            .and_then(|v| EventId::try_from(v).ok());
        if let Some(id) = id {
            filter.add(id, record.topic_partition());
        }
    })
    .await?;
    filter.budget = MIN_REPLAY_BUDGET.max(10 * filter.len() as u64);
    tracing::debug!(
        scanned,
        found = filter.len(),
        "read the records produced after the checkpoint"
    );
    Ok((filter, outputs))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::source::Payload;

    fn event(partition: &str, position: Value) -> SourceEvent {
        SourceEvent {
            partition: Arc::from(partition),
            position,
            payload: Payload::Text(Bytes::from_static(b"line")),
            key: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn ids_differ_by_every_part_and_repeat_for_the_same_event() {
        let base = event_id("c", &event("f", json!([10, 1])), None, b"v");
        assert_eq!(base, event_id("c", &event("f", json!([10, 1])), None, b"v"));
        for other in [
            event_id("d", &event("f", json!([10, 1])), None, b"v"),
            event_id("c", &event("g", json!([10, 1])), None, b"v"),
            event_id("c", &event("f", json!([11, 1])), None, b"v"),
            event_id("c", &event("f", json!([10, 1])), Some(b""), b"v"),
            event_id("c", &event("f", json!([10, 1])), None, b"w"),
            event_id("c", &event("f", json!({"lsn": "0/1"})), None, b"v"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_found_id_is_skipped_once_per_record_and_unpins_its_partition() {
        let tp = TopicPartition::new("t", 0);
        let mut filter = ReplayFilter {
            budget: 10,
            ..ReplayFilter::default()
        };
        filter.add([1; 16], tp.clone());
        filter.add([1; 16], tp.clone());
        assert_eq!(filter.pinned(), HashSet::from([tp.clone()]));
        assert!(filter.skip(&[1; 16]));
        assert!(filter.skip(&[1; 16]));
        assert!(!filter.skip(&[1; 16]));
        assert!(filter.pinned().is_empty());
    }

    #[test]
    fn ids_that_never_match_are_given_up_after_the_budget() {
        let tp = TopicPartition::new("t", 0);
        let mut filter = ReplayFilter {
            budget: 3,
            ..ReplayFilter::default()
        };
        filter.add([1; 16], tp);
        for _ in 0..3 {
            assert!(!filter.skip(&[2; 16]));
        }
        assert!(filter.pinned().is_empty());
        assert!(!filter.skip(&[1; 16]));
    }

    #[test]
    fn output_offsets_round_trip_through_json() {
        let mut offsets = OutputOffsets::default();
        offsets.raise(&TopicPartition::new("orders", 3), 42);
        offsets.raise(&TopicPartition::new("orders", 3), 7);
        offsets.raise(&TopicPartition::new("orders.dlq", 0), 0);
        assert_eq!(offsets.get(&TopicPartition::new("orders", 3)), Some(42));
        assert_eq!(OutputOffsets::from_json(&offsets.to_json()), Some(offsets));
    }
}
