//! The views a plugin gets: a [`Record`] borrowed from the call buffer, its [`Headers`], a
//! partitioner's [`Partitions`], and the plugin's [`Config`].

use crate::wire::Cursor;

/// A record, borrowed from the host's call buffer.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition it was read from; -1 in a partition call (not chosen yet).
    pub partition: i32,
    /// Its offset; -1 in a partition call.
    pub offset: i64,
    /// Milliseconds since the epoch; -1 in a partition call.
    pub timestamp: i64,
    /// The key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// The headers, in order.
    pub headers: Headers<'a>,
}

/// A record's headers, decoded lazily from the call buffer.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    count: u32,
    bytes: &'a [u8],
}

impl<'a> Headers<'a> {
    pub(crate) fn from_wire(count: u32, bytes: &'a [u8]) -> Self {
        Self { count, bytes }
    }

    /// Every header as `(key, value)`, in order (Kafka allows duplicate keys).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        let mut cursor = Cursor::new(self.bytes);
        (0..self.count).map_while(move |_| {
            let key = std::str::from_utf8(cursor.bytes("header key").ok()?).ok()?;
            let value = cursor.opt_bytes("header value").ok()?;
            Some((key, value))
        })
    }

    /// The value of the first header named `key` (a null value counts as absent).
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.iter().find(|(k, _)| *k == key).and_then(|(_, v)| v)
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// How full one partition is in the producer: the bytes in its open batch and its batches
/// waiting or in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fill {
    /// Bytes in the open batch.
    pub open_bytes: u32,
    /// Batches closed but not acknowledged yet.
    pub in_flight: u32,
}

/// The topic's partitions as the producer sees them when it asks for a partition.
#[derive(Debug, Clone, Copy)]
pub struct Partitions<'a> {
    topic: &'a str,
    batch_size: u32,
    count: u32,
    fills: &'a [u8],
}

impl<'a> Partitions<'a> {
    pub(crate) fn from_wire(topic: &'a str, batch_size: u32, count: u32, fills: &'a [u8]) -> Self {
        Self {
            topic,
            batch_size,
            count,
            fills,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The number of partitions.
    pub fn count(&self) -> i32 {
        self.count as i32
    }

    /// The producer's batch size in bytes.
    pub fn batch_size(&self) -> u32 {
        self.batch_size
    }

    /// How full `partition` is (empty for an index out of range).
    pub fn fill(&self, partition: i32) -> Fill {
        let Ok(i) = usize::try_from(partition) else {
            return Fill::default();
        };
        match self.fills.get(i * 8..i * 8 + 8) {
            Some(b) => Fill {
                open_bytes: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                in_flight: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            },
            None => Fill::default(),
        }
    }
}

/// The plugin's `[config]` table, values as strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// A config from `(key, value)` pairs.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Self { entries }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every entry, in the order the host gave them.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
