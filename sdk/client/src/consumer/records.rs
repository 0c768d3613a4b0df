//! [`Records`]: what one `poll` returns.

use crate::record::{ConsumerRecord, TopicPartition};

/// The records one `poll` returned, in the order fetched (offset order per partition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    records: Vec<ConsumerRecord>,
}

impl Records {
    pub(crate) fn new(records: Vec<ConsumerRecord>) -> Self {
        Self { records }
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConsumerRecord> {
        self.records.iter()
    }

    /// The records of one partition.
    pub fn records(&self, tp: &TopicPartition) -> impl Iterator<Item = &ConsumerRecord> {
        self.records
            .iter()
            .filter(move |r| r.topic == tp.topic && r.partition == tp.partition)
    }

    /// The partitions that have records here.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut out: Vec<TopicPartition> =
            self.records.iter().map(|r| r.topic_partition()).collect();
        out.sort();
        out.dedup();
        out
    }
}

impl IntoIterator for Records {
    type Item = ConsumerRecord;
    type IntoIter = std::vec::IntoIter<ConsumerRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.records.into_iter()
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = &'a ConsumerRecord;
    type IntoIter = std::slice::Iter<'a, ConsumerRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}
