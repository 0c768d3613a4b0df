//! Choosing a partition for each record. The producer calls a [`Partitioner`] with the
//! record and a view of the topic's partitions (count, and how full each one is), and again
//! through [`Partitioner::on_new_batch`] when the chosen partition would have to open a new
//! batch, which is how sticky partitioning moves on.

use std::collections::HashMap;

use rand::Rng;

use crate::murmur2::partition_for_key;
use crate::record::ProducerRecord;

/// How full one partition is in the producer's accumulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionFill {
    /// Bytes in the partition's open batch; 0 when it has none.
    pub open_bytes: usize,
    /// Batches closed but not yet acknowledged: waiting to be sent or in flight.
    pub in_flight: usize,
}

/// A topic's partitions as a partitioner sees them.
#[derive(Debug, Clone, Copy)]
pub struct Partitions<'a> {
    topic: &'a str,
    fills: &'a [PartitionFill],
    batch_size: usize,
}

impl<'a> Partitions<'a> {
    /// A view of `topic` with one fill per partition (tests and wrappers build their own).
    pub fn new(topic: &'a str, fills: &'a [PartitionFill], batch_size: usize) -> Self {
        Self {
            topic,
            fills,
            batch_size,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The number of partitions (at least 1 when the producer asks).
    pub fn count(&self) -> i32 {
        self.fills.len() as i32
    }

    /// How full partition `partition` is.
    pub fn fill(&self, partition: i32) -> PartitionFill {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.fills.get(p))
            .copied()
            .unwrap_or_default()
    }

    /// Every partition's fill, by index.
    pub fn fills(&self) -> &'a [PartitionFill] {
        self.fills
    }

    /// The producer's `batch_size`.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
}

/// Picks the partition of records that do not name one. Implementations keep whatever
/// state they need; the producer calls them from one task, one record at a time.
pub trait Partitioner: Send + 'static {
    /// The partition for `record`, in `0..partitions.count()` (other values are wrapped).
    fn partition(&mut self, record: &ProducerRecord, partitions: &Partitions<'_>) -> i32;

    /// The partition for `record`, or why it has none: the producer calls this, and fails
    /// only that record's send on `Err` (a plugin that trapped or answered a partition out
    /// of range). The default asks [`Self::partition`], which cannot fail.
    fn try_partition(
        &mut self,
        record: &ProducerRecord,
        partitions: &Partitions<'_>,
    ) -> Result<i32, PartitionError> {
        Ok(self.partition(record, partitions))
    }

    /// Called when `record`, sent to `partition`, would open a new batch there (the last
    /// one is full or was sent). Returning `true` means the partitioner changed its mind:
    /// the producer then asks [`Self::partition`] again. The default keeps the partition.
    fn on_new_batch(
        &mut self,
        _record: &ProducerRecord,
        _partition: i32,
        _partitions: &Partitions<'_>,
    ) -> bool {
        false
    }

    /// Whether the producer should place the records it accepted together (up to
    /// [`MAX_PARTITION_RUN`] of one topic) with one [`Self::try_partition_run`] call instead
    /// of one call per record. Worth it when each call has a fixed cost, as a WASM plugin's
    /// does; a run's records all see the fills from before the run, and its choices are
    /// final ([`Self::on_new_batch`] is not asked). Such a partitioner is asked for runs
    /// only (a record sent alone is a run of one). The default is one call per record.
    fn partitions_runs(&self) -> bool {
        false
    }

    /// The partitions of a run of records, one answer per record in order, appended to
    /// `out`. The default asks [`Self::try_partition`] for each.
    fn try_partition_run(
        &mut self,
        records: &[&ProducerRecord],
        partitions: &Partitions<'_>,
        out: &mut Vec<Result<i32, PartitionError>>,
    ) {
        out.extend(records.iter().map(|r| self.try_partition(r, partitions)));
    }
}

/// The most records the producer places with one [`Partitioner::try_partition_run`] call:
/// enough to spread a call's fixed cost thin, few enough that the fills a run's records see
/// are not far behind.
pub const MAX_PARTITION_RUN: usize = 256;

/// Why a partitioner could not place a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    /// What went wrong, for the person reading the send's error.
    pub reason: String,
}

impl PartitionError {
    /// An error saying `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for PartitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for PartitionError {}

/// The built-in partitioners, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionerKind {
    /// [`DefaultPartitioner`]: murmur2 for keys, sticky otherwise.
    #[default]
    Default,
    /// [`RoundRobinPartitioner`].
    RoundRobin,
    /// [`OverflowPartitioner`] with the given bound of in-flight batches per partition.
    Overflow {
        /// A partition with this many batches waiting or in flight is full.
        max_in_flight: usize,
    },
}

impl PartitionerKind {
    /// A fresh partitioner of this kind.
    pub fn build(self) -> Box<dyn Partitioner> {
        match self {
            Self::Default => Box::new(DefaultPartitioner::default()),
            Self::RoundRobin => Box::new(RoundRobinPartitioner::default()),
            Self::Overflow { max_in_flight } => Box::new(OverflowPartitioner::new(max_in_flight)),
        }
    }
}

/// Kafka's default: a keyed record goes to `(murmur2(key) & 0x7fffffff) % partitions`, as
/// the Java client does; unkeyed records stick to one partition until its batch is full or
/// sent, then move to the next partition.
#[derive(Debug, Default)]
pub struct DefaultPartitioner {
    sticky: HashMap<String, i32>,
}

impl Partitioner for DefaultPartitioner {
    fn partition(&mut self, record: &ProducerRecord, partitions: &Partitions<'_>) -> i32 {
        let count = partitions.count().max(1);
        if let Some(key) = &record.key {
            return partition_for_key(key, count);
        }
        match self.sticky.get(partitions.topic()) {
            Some(&p) if p < count => p,
            _ => {
                let p = rand::thread_rng().gen_range(0..count);
                self.sticky.insert(partitions.topic().to_string(), p);
                p
            }
        }
    }

    fn on_new_batch(
        &mut self,
        record: &ProducerRecord,
        partition: i32,
        partitions: &Partitions<'_>,
    ) -> bool {
        if record.key.is_some() {
            return false;
        }
        let count = partitions.count().max(1);
        match self.sticky.get_mut(partitions.topic()) {
            Some(sticky) if *sticky == partition => {
                *sticky = (partition + 1) % count;
                true
            }
            _ => false,
        }
    }
}

/// Every record to the next partition in turn, keyed or not.
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    next: HashMap<String, i32>,
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(&mut self, _record: &ProducerRecord, partitions: &Partitions<'_>) -> i32 {
        let count = partitions.count().max(1);
        let next = self.next.entry(partitions.topic().to_string()).or_insert(0);
        let p = *next % count;
        *next = (p + 1) % count;
        p
    }
}

/// Keyed records go to their hash partition unless it is *full* (its batches waiting or in
/// flight reached `max_in_flight`); then they go to the next partition, in round-robin
/// order, that is not full. When every partition is full the hash partition is used.
/// Unkeyed records are placed as by [`DefaultPartitioner`].
///
/// This trades per-key ordering for availability: while a key's partition is backed up,
/// that key's records land elsewhere and may be read before older records of the same key.
#[derive(Debug)]
pub struct OverflowPartitioner {
    max_in_flight: usize,
    next: HashMap<String, i32>,
    unkeyed: DefaultPartitioner,
}

impl OverflowPartitioner {
    /// Overflows a partition once `max_in_flight` batches are waiting or in flight on it.
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            next: HashMap::new(),
            unkeyed: DefaultPartitioner::default(),
        }
    }
}

impl Partitioner for OverflowPartitioner {
    fn partition(&mut self, record: &ProducerRecord, partitions: &Partitions<'_>) -> i32 {
        let Some(key) = &record.key else {
            return self.unkeyed.partition(record, partitions);
        };
        let count = partitions.count().max(1);
        let home = partition_for_key(key, count);
        if partitions.fill(home).in_flight < self.max_in_flight {
            return home;
        }
        let next = self.next.entry(partitions.topic().to_string()).or_insert(0);
        for i in 0..count {
            let p = (*next + i) % count;
            if p != home && partitions.fill(p).in_flight < self.max_in_flight {
                *next = (p + 1) % count;
                return p;
            }
        }
        home
    }

    fn on_new_batch(
        &mut self,
        record: &ProducerRecord,
        partition: i32,
        partitions: &Partitions<'_>,
    ) -> bool {
        self.unkeyed.on_new_batch(record, partition, partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(fills: &'a [PartitionFill]) -> Partitions<'a> {
        Partitions::new("t", fills, 1000)
    }

    #[test]
    fn keyed_records_follow_murmur2() {
        let fills = [PartitionFill::default(); 12];
        let mut p = DefaultPartitioner::default();
        let record = ProducerRecord::new("t", "v").with_key("foobar");
        assert_eq!(p.partition(&record, &view(&fills)), 6);
    }

    #[test]
    fn sticky_moves_to_the_next_partition_on_a_new_batch() {
        let fills = [PartitionFill::default(); 3];
        let mut p = DefaultPartitioner::default();
        let record = ProducerRecord::new("t", "v");
        let first = p.partition(&record, &view(&fills));
        assert_eq!(p.partition(&record, &view(&fills)), first);
        assert!(p.on_new_batch(&record, first, &view(&fills)));
        assert_eq!(p.partition(&record, &view(&fills)), (first + 1) % 3);
        // A stale notification (another partition) changes nothing.
        assert!(!p.on_new_batch(&record, first, &view(&fills)));
        assert_eq!(p.partition(&record, &view(&fills)), (first + 1) % 3);
    }

    #[test]
    fn round_robin_cycles() {
        let fills = [PartitionFill::default(); 3];
        let mut p = RoundRobinPartitioner::default();
        let record = ProducerRecord::new("t", "v").with_key("k");
        let got: Vec<i32> = (0..6)
            .map(|_| p.partition(&record, &view(&fills)))
            .collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn overflow_leaves_a_full_partition_and_returns() {
        let record = ProducerRecord::new("t", "v").with_key("foobar"); // hashes to 2 of 4
        let mut p = OverflowPartitioner::new(2);
        let mut fills = [PartitionFill::default(); 4];
        assert_eq!(p.partition(&record, &view(&fills)), 2);
        fills[2].in_flight = 2;
        fills[0].in_flight = 5;
        let moved: Vec<i32> = (0..4)
            .map(|_| p.partition(&record, &view(&fills)))
            .collect();
        assert_eq!(
            moved,
            [1, 3, 1, 3],
            "round robin over the partitions that are not full"
        );
        fills[2].in_flight = 1;
        assert_eq!(
            p.partition(&record, &view(&fills)),
            2,
            "back once it drains"
        );
        fills = [PartitionFill {
            open_bytes: 0,
            in_flight: 9,
        }; 4];
        assert_eq!(p.partition(&record, &view(&fills)), 2, "all full: home");
    }
}
