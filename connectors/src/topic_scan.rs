//! Reading fixed ranges of a topic's partitions once, start to a bound taken beforehand:
//! how a connector reads its checkpoint back and, on restart, what it produced after that
//! checkpoint. Records appended after the bound was taken are not waited for.

use std::collections::HashMap;
use std::time::Duration;

use weir_client::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, TopicPartition};

/// How long one poll waits for records before the scan checks where it is.
const POLL: Duration = Duration::from_millis(500);

/// Reads every partition of `ranges` from its start offset up to (not including) its end
/// offset with `consumer` (a [`scan_consumer`], the one that found the bounds), calling
/// `visit` with each record in offset order per partition.
pub(crate) async fn read_ranges(
    mut consumer: Consumer,
    ranges: &HashMap<TopicPartition, (i64, i64)>,
    mut visit: impl FnMut(&ConsumerRecord),
) -> weir_client::Result<()> {
    let mut remaining: Vec<TopicPartition> = ranges
        .iter()
        .filter(|(_, (start, end))| start < end)
        .map(|(tp, _)| tp.clone())
        .collect();
    if remaining.is_empty() {
        return Ok(());
    }
    consumer.assign(remaining.clone());
    for tp in &remaining {
        consumer.seek(tp, ranges[tp].0)?;
    }
    while !remaining.is_empty() {
        for record in &consumer.poll(POLL).await? {
            let end = ranges
                .get(&record.topic_partition())
                .map_or(i64::MIN, |range| range.1);
            if record.offset < end {
                visit(record);
            }
        }
        let mut done = Vec::new();
        for tp in &remaining {
            if consumer.position(tp).await? >= ranges[tp].1 {
                done.push(tp.clone());
            }
        }
        remaining.retain(|tp| !done.contains(tp));
        consumer.pause(&done)?;
    }
    Ok(())
}

/// A consumer for reading ranges: no group, no commits.
pub(crate) fn scan_consumer(bootstrap: &[String]) -> weir_client::Result<Consumer> {
    let mut config = ConsumerConfig::new(bootstrap.iter().cloned());
    config.client_id = "weir-connect-scan".to_owned();
    config.auto_offset_reset = OffsetReset::Earliest;
    config.enable_auto_commit = false;
    config.max_poll_records = 10_000;
    Consumer::new(config)
}

/// Every partition of `topics` with its log start and end offsets; a topic that does not
/// exist has none.
pub(crate) async fn partition_bounds(
    consumer: &Consumer,
    topics: &[&str],
) -> weir_client::Result<HashMap<TopicPartition, (i64, i64)>> {
    let mut partitions = Vec::new();
    for topic in topics {
        match consumer.partitions_for(topic).await {
            Ok(found) => partitions.extend(found),
            Err(weir_client::Error::UnknownTopic(_)) => {}
            Err(error) => return Err(error),
        }
    }
    if partitions.is_empty() {
        return Ok(HashMap::new());
    }
    let starts = consumer.beginning_offsets(&partitions).await?;
    let ends = consumer.end_offsets(&partitions).await?;
    Ok(partitions
        .into_iter()
        .map(|tp| {
            let start = starts.get(&tp).copied().unwrap_or(0);
            let end = ends.get(&tp).copied().unwrap_or(start);
            (tp, (start, end))
        })
        .collect())
}
