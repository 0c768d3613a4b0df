//! Fetching: one Fetch in flight per leader at a time, each asking for every assigned
//! partition that leader has: from its position when nothing is buffered, or from the end
//! of what is buffered while that is less than `max_partition_fetch_bytes`, so the next
//! records are on their way while `poll` hands out the last ones (librdkafka prefetches
//! the same way). Responses are decoded into per-partition buffers that `poll` drains;
//! data fetched for a position that has since moved (a seek) is dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::config::ConsumerConfig;
use crate::batch::decode::decode;
use crate::cluster::Cluster;
use crate::error::{Error, Result, stale_metadata};
use crate::record::{ConsumerRecord, TopicPartition};

/// A finished fetch.
pub(crate) struct FetchResult {
    node: i32,
    asked: Vec<(TopicPartition, i64)>,
    result: Result<FetchResponse>,
}

/// A partition's fetched records not yet returned by `poll`.
#[derive(Debug)]
struct Buffered {
    fetch_offset: i64,
    records: VecDeque<ConsumerRecord>,
    next_offset: Option<i64>,
    /// Key and value bytes buffered, to bound prefetching.
    bytes: usize,
}

impl Buffered {
    /// The offset after what is buffered: where a prefetch continues.
    fn end(&self) -> i64 {
        let after_last = self.records.back().map(|r| r.offset + 1);
        self.fetch_offset
            .max(after_last.max(self.next_offset).unwrap_or(0))
    }
}

/// The key and value bytes of `record`.
fn record_bytes(record: &ConsumerRecord) -> usize {
    record.key.as_ref().map_or(0, |k| k.len()) + record.value.as_ref().map_or(0, |v| v.len())
}

/// What a handled fetch asks of the consumer.
#[derive(Debug, Default)]
pub(crate) struct FetchOutcome {
    /// Partitions whose position is out of range.
    pub(crate) out_of_range: Vec<(TopicPartition, i64)>,
    /// Whether metadata should be refreshed.
    pub(crate) refresh_metadata: bool,
}

/// In-flight fetches and buffered records.
pub(crate) struct Fetcher {
    results_tx: mpsc::UnboundedSender<FetchResult>,
    results: mpsc::UnboundedReceiver<FetchResult>,
    in_flight: HashSet<i32>,
    buffered: HashMap<TopicPartition, Buffered>,
    /// Partitions with buffered records, in arrival order.
    order: VecDeque<TopicPartition>,
    backoff: HashMap<i32, Instant>,
}

impl Fetcher {
    pub(crate) fn new() -> Self {
        let (results_tx, results) = mpsc::unbounded_channel();
        Self {
            results_tx,
            results,
            in_flight: HashSet::new(),
            buffered: HashMap::new(),
            order: VecDeque::new(),
            backoff: HashMap::new(),
        }
    }

    /// Where the next fetch of `tp` starts: its `position` when nothing is buffered, the
    /// end of the buffer while it holds less than `limit` bytes, else nowhere yet.
    pub(crate) fn fetch_from(
        &self,
        tp: &TopicPartition,
        position: i64,
        limit: usize,
    ) -> Option<i64> {
        match self.buffered.get(tp) {
            None => Some(position),
            Some(b) if b.bytes < limit => Some(b.end()),
            Some(_) => None,
        }
    }

    /// Drops what is buffered for `tp` (after a seek or when it is unassigned).
    pub(crate) fn clear(&mut self, tp: &TopicPartition) {
        self.buffered.remove(tp);
        self.order.retain(|t| t != tp);
    }

    /// Whether a fetch to `node` may start now.
    pub(crate) fn can_fetch(&self, node: i32) -> bool {
        !self.in_flight.contains(&node)
            && self.backoff.get(&node).is_none_or(|t| *t <= Instant::now())
    }

    /// When the earliest fetch backoff still running ends.
    pub(crate) fn backoff_end(&self) -> Option<Instant> {
        let now = Instant::now();
        self.backoff.values().filter(|t| **t > now).min().copied()
    }

    /// Starts a fetch from `node` for `partitions` (with their positions).
    pub(crate) fn fetch(
        &mut self,
        cluster: &Arc<Cluster>,
        config: &ConsumerConfig,
        node: i32,
        partitions: Vec<(TopicPartition, i64)>,
    ) {
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (tp, offset) in &partitions {
            let partition = FetchPartition::default()
                .with_partition(tp.partition)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(config.max_partition_fetch_bytes);
            match topics.iter_mut().find(|t| t.topic.0.as_str() == tp.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(tp.topic.clone())))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(config.fetch_max_wait.as_millis() as i32)
            .with_min_bytes(config.fetch_min_bytes)
            .with_max_bytes(config.fetch_max_bytes)
            .with_session_epoch(-1)
            .with_topics(topics);
        let timeout = config.request_timeout + config.fetch_max_wait;
        self.in_flight.insert(node);
        let cluster = Arc::clone(cluster);
        let results = self.results_tx.clone();
        tokio::spawn(async move {
            let result = async {
                let connection = cluster.broker(node).await?;
                let version = connection.version(ApiKey::Fetch)?;
                connection.call_within(&request, version, timeout).await
            }
            .await;
            let _ = results.send(FetchResult {
                node,
                asked: partitions,
                result,
            });
        });
    }

    /// The next finished fetch, waiting until `deadline` at most.
    pub(crate) async fn next_result(&mut self, deadline: Instant) -> Option<FetchResult> {
        tokio::time::timeout_at(deadline, self.results.recv())
            .await
            .ok()
            .flatten()
    }

    /// Buffers the records of a finished fetch for partitions whose position still is
    /// the offset fetched from (`position` tells).
    pub(crate) fn handle(
        &mut self,
        result: FetchResult,
        position: impl Fn(&TopicPartition) -> Option<i64>,
        retry_backoff: std::time::Duration,
    ) -> Result<FetchOutcome> {
        self.in_flight.remove(&result.node);
        let mut outcome = FetchOutcome::default();
        let response = match result.result {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(node = result.node, error = %e, "fetch failed");
                self.backoff
                    .insert(result.node, Instant::now() + retry_backoff);
                outcome.refresh_metadata = e.invalidates_metadata();
                return Ok(outcome);
            }
        };
        if let Some(error) = ResponseError::try_from_code(response.error_code) {
            tracing::debug!(node = result.node, %error, "fetch refused");
            self.backoff
                .insert(result.node, Instant::now() + retry_backoff);
            outcome.refresh_metadata = true;
            return Ok(outcome);
        }
        let asked: HashMap<TopicPartition, i64> = result.asked.into_iter().collect();
        for topic in response.responses {
            let name = topic.topic.0.to_string();
            for data in topic.partitions {
                let tp = TopicPartition::new(name.clone(), data.partition_index);
                let Some(&fetch_offset) = asked.get(&tp) else {
                    continue;
                };
                // Fresh data continues the buffer, or starts at the position.
                let expected = match self.buffered.get(&tp) {
                    Some(buffered) => Some(buffered.end()),
                    None => position(&tp),
                };
                if expected != Some(fetch_offset) {
                    continue;
                }
                match ResponseError::try_from_code(data.error_code) {
                    None => {}
                    Some(ResponseError::OffsetOutOfRange) => {
                        outcome.out_of_range.push((tp, fetch_offset));
                        continue;
                    }
                    Some(error) => {
                        tracing::debug!(%tp, %error, "fetch partition error");
                        outcome.refresh_metadata |= stale_metadata(error) || error.is_retriable();
                        if !error.is_retriable() && !stale_metadata(error) {
                            return Err(Error::Broker {
                                what: format!("fetch from {tp}"),
                                error,
                            });
                        }
                        continue;
                    }
                }
                let Some(bytes) = data.records.filter(|r| !r.is_empty()) else {
                    continue;
                };
                let decoded = decode(&tp.topic, tp.partition, &bytes, fetch_offset)?;
                if decoded.records.is_empty() && decoded.next_offset.is_none() {
                    continue;
                }
                let bytes: usize = decoded.records.iter().map(record_bytes).sum();
                match self.buffered.get_mut(&tp) {
                    Some(buffered) => {
                        buffered.records.extend(decoded.records);
                        buffered.next_offset = buffered.next_offset.max(decoded.next_offset);
                        buffered.bytes += bytes;
                    }
                    None => {
                        self.order.push_back(tp.clone());
                        self.buffered.insert(
                            tp,
                            Buffered {
                                fetch_offset,
                                records: decoded.records.into(),
                                next_offset: decoded.next_offset,
                                bytes,
                            },
                        );
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// Takes up to `max` buffered records, partition by partition in arrival order;
    /// `advance` is told each partition's new position.
    pub(crate) fn drain(
        &mut self,
        max: usize,
        mut advance: impl FnMut(&TopicPartition, i64),
    ) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(tp) = self.order.front().cloned() else {
                break;
            };
            let Some(buffered) = self.buffered.get_mut(&tp) else {
                self.order.pop_front();
                continue;
            };
            let take = (max - out.len()).min(buffered.records.len());
            let before = out.len();
            out.extend(buffered.records.drain(..take));
            let taken: usize = out[before..].iter().map(record_bytes).sum();
            buffered.bytes = buffered.bytes.saturating_sub(taken);
            let position = match out.last().filter(|r| r.topic_partition() == tp) {
                Some(last) if take > 0 => last.offset + 1,
                _ => buffered.fetch_offset,
            };
            if buffered.records.is_empty() {
                let next = buffered.next_offset.unwrap_or(position).max(position);
                advance(&tp, next);
                self.buffered.remove(&tp);
                self.order.pop_front();
            } else {
                advance(&tp, position);
                buffered.fetch_offset = position;
                // Prefetches keep a busy partition's buffer full: the next poll starts with
                // the others, so none waits behind it.
                self.order.rotate_left(1);
            }
        }
        out
    }
}
