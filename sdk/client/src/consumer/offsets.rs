//! ListOffsets: the log start (`EARLIEST`) or end (`LATEST`) of partitions, asked of each
//! partition's leader, refreshing metadata and retrying while leaders are unknown or move.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::{Error, Result, stale_metadata};
use crate::record::TopicPartition;

/// ListOffsets' timestamp for the log start.
pub(crate) const EARLIEST: i64 = -2;
/// ListOffsets' timestamp for the log end.
pub(crate) const LATEST: i64 = -1;

/// The offset of `timestamp` (or [`EARLIEST`], [`LATEST`]) in each of `partitions`.
pub(crate) async fn list_offsets(
    cluster: &Cluster,
    partitions: &[TopicPartition],
    timestamp: i64,
    timeout: Duration,
    backoff: Duration,
) -> Result<HashMap<TopicPartition, i64>> {
    let deadline = Instant::now() + timeout;
    let mut out = HashMap::new();
    let mut todo: Vec<TopicPartition> = partitions.to_vec();
    loop {
        let mut by_leader: HashMap<i32, Vec<TopicPartition>> = HashMap::new();
        let mut unknown = Vec::new();
        for tp in todo.drain(..) {
            match cluster.leader(&tp) {
                Some(info) => by_leader.entry(info.leader).or_default().push(tp),
                None => unknown.push(tp),
            }
        }
        let mut last_error = None;
        for (node, tps) in by_leader {
            match list_from(cluster, node, &tps, timestamp).await {
                Ok(answers) => {
                    for (tp, answer) in answers {
                        match answer {
                            Ok(offset) => {
                                out.insert(tp, offset);
                            }
                            Err(error) if error.is_retriable() || stale_metadata(error) => {
                                last_error = Some(Error::Broker {
                                    what: format!("ListOffsets for {tp}"),
                                    error,
                                });
                                unknown.push(tp);
                            }
                            Err(error) => {
                                return Err(Error::Broker {
                                    what: format!("ListOffsets for {tp}"),
                                    error,
                                });
                            }
                        }
                    }
                }
                Err(e) if e.is_retriable() => {
                    last_error = Some(e);
                    unknown.extend(tps);
                }
                Err(e) => return Err(e),
            }
        }
        if unknown.is_empty() {
            return Ok(out);
        }
        if Instant::now() >= deadline {
            return Err(last_error.unwrap_or_else(|| Error::UnknownTopic(unknown[0].topic.clone())));
        }
        tokio::time::sleep(backoff).await;
        let topics: Vec<String> = unknown.iter().map(|t| t.topic.clone()).collect();
        if let Err(e) = cluster.refresh(&topics).await {
            tracing::debug!(error = %e, "metadata refresh failed");
        }
        todo = unknown;
    }
}

type Answers = Vec<(TopicPartition, std::result::Result<i64, ResponseError>)>;

async fn list_from(
    cluster: &Cluster,
    node: i32,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> Result<Answers> {
    let connection = cluster.broker(node).await?;
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for tp in partitions {
        let p = ListOffsetsPartition::default()
            .with_partition_index(tp.partition)
            .with_timestamp(timestamp);
        match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(topics);
    let response = connection.call(&request).await?;
    let mut out = Vec::new();
    for topic in response.topics {
        for p in topic.partitions {
            let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
            out.push((
                tp,
                match ResponseError::try_from_code(p.error_code) {
                    None => Ok(p.offset),
                    Some(e) => Err(e),
                },
            ));
        }
    }
    Ok(out)
}
