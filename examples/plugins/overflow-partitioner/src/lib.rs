//! Keyed records go to their hash partition (murmur2, as the default partitioner) unless it
//! is full; then round robin over the partitions that are not full. A partition is full when
//! `max-in-flight` of its batches are waiting or in flight (the fill levels the host passes).
//! When all are full, the hash partition. Unkeyed records go round robin.
//!
//! Config: `max-in-flight` (default 2).

use weir_plugin_sdk::{Config, Partitioner, Partitions, Record, partition_for_key};

/// The overflow partitioner.
pub struct OverflowPartitioner {
    max_in_flight: u32,
    next: i32,
}

impl Partitioner for OverflowPartitioner {
    fn new(config: &Config) -> Result<Self, String> {
        let max_in_flight = match config.get("max-in-flight") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("max-in-flight: not a positive number: {v}"))?,
            None => 2,
        };
        Ok(Self {
            max_in_flight,
            next: 0,
        })
    }

    fn partition(
        &mut self,
        record: &Record<'_>,
        partitions: &Partitions<'_>,
    ) -> Result<i32, String> {
        let count = partitions.count().max(1);
        let Some(key) = record.key else {
            let p = self.next % count;
            self.next = (p + 1) % count;
            return Ok(p);
        };
        let home = partition_for_key(key, count);
        if partitions.fill(home).in_flight < self.max_in_flight {
            return Ok(home);
        }
        for i in 0..count {
            let p = (self.next + i) % count;
            if p != home && partitions.fill(p).in_flight < self.max_in_flight {
                self.next = (p + 1) % count;
                return Ok(p);
            }
        }
        Ok(home)
    }
}

weir_plugin_sdk::export_partitioner!(OverflowPartitioner);
