//! Routes records by a JSON field of the value to a fixed partition map; records whose
//! field is missing or not in the map go where the default partitioner would put their key
//! (murmur2), or round robin when they have no key.
//!
//! Config: `field` (default `"region"`) and a `[config.routes]` table, region to partition:
//!
//! ```toml
//! [config]
//! field = "region"
//! [config.routes]
//! eu = 0
//! us = 1
//! apac = 2
//! ```

use weir_plugin_sdk::json::string_field;
use weir_plugin_sdk::{Config, Partitioner, Partitions, Record, partition_for_key};

/// The region partitioner.
pub struct RegionPartitioner {
    field: String,
    routes: Vec<(String, i32)>,
    next: i32,
}

impl Partitioner for RegionPartitioner {
    fn new(config: &Config) -> Result<Self, String> {
        let field = config.get("field").unwrap_or("region").to_string();
        let mut routes = Vec::new();
        for (key, value) in config.iter() {
            if let Some(region) = key.strip_prefix("routes.") {
                let partition = value
                    .parse::<i32>()
                    .ok()
                    .filter(|p| *p >= 0)
                    .ok_or_else(|| format!("routes.{region}: not a partition number: {value}"))?;
                routes.push((region.to_string(), partition));
            }
        }
        if routes.is_empty() {
            return Err("no routes: add a [config.routes] table, region = partition".into());
        }
        Ok(Self {
            field,
            routes,
            next: 0,
        })
    }

    fn partition(
        &mut self,
        record: &Record<'_>,
        partitions: &Partitions<'_>,
    ) -> Result<i32, String> {
        let count = partitions.count();
        let region = record.value.and_then(|v| string_field(v, &self.field));
        if let Some(region) = region
            && let Some((_, partition)) = self.routes.iter().find(|(r, _)| r == region)
        {
            return if *partition < count {
                Ok(*partition)
            } else {
                Err(format!(
                    "region {region} maps to partition {partition}, but {} has {count}",
                    partitions.topic()
                ))
            };
        }
        match record.key {
            Some(key) => Ok(partition_for_key(key, count)),
            None => {
                self.next = (self.next + 1) % count.max(1);
                Ok(self.next)
            }
        }
    }
}

weir_plugin_sdk::export_partitioner!(RegionPartitioner);
