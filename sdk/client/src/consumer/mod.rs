//! The consumer: `poll(Duration)` as KafkaConsumer has it. It fetches from each assigned
//! partition's position, returns what has arrived (at most `max_poll_records`), and when
//! nothing has, waits up to the duration for a fetch to bring something. A fetch stays in
//! flight across polls, so records arriving between polls are returned at once.
//!
//! Positions start from a seek, else the committed offset (with a group), else
//! `auto_offset_reset`.

mod assignor;
mod commit;
mod config;
pub(crate) mod coordinator;
mod fetcher;
mod listener;
mod membership;
pub(crate) mod offsets;
pub(crate) mod protocol;
mod push;
mod records;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use config::{AssignmentStrategy, ConsumerConfig, OffsetReset};
pub use listener::RebalanceListener;
pub use push::ListenError;
pub use records::Records;

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::record::TopicPartition;
use coordinator::Coordinator;
use fetcher::Fetcher;
use membership::GroupState;
use offsets::{EARLIEST, LATEST, list_offsets};

/// Where a partition reads next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// The next offset to return.
    At(i64),
    /// Not known yet: the committed offset, else `auto_offset_reset`.
    Unknown,
    /// Seeking to the log start.
    Earliest,
    /// Seeking to the log end.
    Latest,
}

#[derive(Debug, Clone, Copy)]
struct PartitionState {
    position: Position,
    paused: bool,
}

/// A Kafka consumer. Not shared between tasks: like KafkaConsumer, one owner polls it.
pub struct Consumer {
    config: Arc<ConsumerConfig>,
    cluster: Arc<Cluster>,
    assignment: BTreeMap<TopicPartition, PartitionState>,
    fetcher: Fetcher,
    /// A failure found while fetching, returned by the next `poll`.
    pending_error: Option<Error>,
    /// With a `group_id`: the coordinator, membership and subscription.
    group: Option<GroupState>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("assignment", &self.assignment.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer; no broker is contacted until it is used.
    pub fn new(config: ConsumerConfig) -> Result<Self> {
        if config.max_poll_records == 0 {
            return Err(Error::Config("max_poll_records must be positive"));
        }
        let cluster = Cluster::new(config.cluster_options())?;
        let group = config.group_id.as_ref().map(|id| {
            GroupState::new(Coordinator::new(
                Arc::clone(&cluster),
                id.clone(),
                config.retry_backoff,
                config.request_timeout,
            ))
        });
        Ok(Self {
            config: Arc::new(config),
            cluster,
            assignment: BTreeMap::new(),
            fetcher: Fetcher::new(),
            pending_error: None,
            group,
        })
    }

    /// The consumer's settings.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Reads exactly these partitions (replacing any previous assignment), without group
    /// management. Partitions kept from the previous assignment keep their positions.
    /// With a `group_id`, commits still go to the group, and positions start from its
    /// committed offsets.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let mut next = BTreeMap::new();
        for tp in partitions {
            let state = self.assignment.get(&tp).copied().unwrap_or(PartitionState {
                position: Position::Unknown,
                paused: false,
            });
            next.insert(tp, state);
        }
        for tp in self.assignment.keys() {
            if !next.contains_key(tp) {
                self.fetcher.clear(tp);
            }
        }
        self.assignment = next;
    }

    /// The partitions currently assigned.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.keys().cloned().collect()
    }

    fn state(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.assignment
            .get_mut(tp)
            .ok_or_else(|| Error::NotAssigned {
                topic: tp.topic.clone(),
                partition: tp.partition,
            })
    }

    fn set_position(&mut self, tp: &TopicPartition, position: Position) -> Result<()> {
        self.state(tp)?.position = position;
        self.fetcher.clear(tp);
        Ok(())
    }

    /// The next `poll` reads `tp` from `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.set_position(tp, Position::At(offset))
    }

    /// The next `poll` reads these partitions from their log start (all assigned ones when
    /// `partitions` is empty).
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in self.targets(partitions) {
            self.set_position(&tp, Position::Earliest)?;
        }
        Ok(())
    }

    /// The next `poll` reads these partitions from their log end (all assigned ones when
    /// `partitions` is empty).
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in self.targets(partitions) {
            self.set_position(&tp, Position::Latest)?;
        }
        Ok(())
    }

    fn targets(&self, partitions: &[TopicPartition]) -> Vec<TopicPartition> {
        if partitions.is_empty() {
            self.assignment.keys().cloned().collect()
        } else {
            partitions.to_vec()
        }
    }

    /// Stops fetching these partitions until [`Self::resume`]d.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.state(tp)?.paused = true;
            self.fetcher.clear(tp);
        }
        Ok(())
    }

    /// Fetches these partitions again.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.state(tp)?.paused = false;
        }
        Ok(())
    }

    /// The offset of the next record `poll` returns from `tp` (resolving a pending seek,
    /// the committed offset or `auto_offset_reset` if needed).
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.state(tp)?;
        self.resolve_positions().await?;
        match self.state(tp)?.position {
            Position::At(offset) => Ok(offset),
            _ => Err(Error::NoOffset {
                topic: tp.topic.clone(),
                partition: tp.partition,
            }),
        }
    }

    /// The log start offsets of `partitions`.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        self.list(partitions, EARLIEST).await
    }

    /// The log end offsets (high watermarks) of `partitions`.
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        self.list(partitions, LATEST).await
    }

    async fn list(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> Result<HashMap<TopicPartition, i64>> {
        list_offsets(
            &self.cluster,
            partitions,
            timestamp,
            self.config.request_timeout,
            self.config.retry_backoff,
        )
        .await
    }

    /// The partition count of `topic`.
    pub async fn partitions_for(&self, topic: &str) -> Result<Vec<TopicPartition>> {
        let n = self.cluster.partitions(topic).await?;
        Ok((0..n as i32)
            .map(|p| TopicPartition::new(topic, p))
            .collect())
    }

    /// Gives every assigned partition a position: pending seeks, then committed offsets,
    /// then `auto_offset_reset`.
    async fn resolve_positions(&mut self) -> Result<()> {
        self.fetch_committed_positions().await?;
        let mut earliest = Vec::new();
        let mut latest = Vec::new();
        for (tp, state) in &self.assignment {
            match state.position {
                Position::At(_) => {}
                Position::Earliest => earliest.push(tp.clone()),
                Position::Latest => latest.push(tp.clone()),
                Position::Unknown => match self.config.auto_offset_reset {
                    OffsetReset::Earliest => earliest.push(tp.clone()),
                    OffsetReset::Latest => latest.push(tp.clone()),
                    OffsetReset::None => {
                        return Err(Error::NoOffset {
                            topic: tp.topic.clone(),
                            partition: tp.partition,
                        });
                    }
                },
            }
        }
        for (tps, timestamp) in [(earliest, EARLIEST), (latest, LATEST)] {
            if tps.is_empty() {
                continue;
            }
            for (tp, offset) in self.list(&tps, timestamp).await? {
                if let Some(state) = self.assignment.get_mut(&tp)
                    && !matches!(state.position, Position::At(_))
                {
                    state.position = Position::At(offset);
                }
            }
        }
        Ok(())
    }

    /// Starts a fetch from every leader that has none in flight, for its assigned, unpaused
    /// partitions with a position and room in their buffer.
    async fn send_fetches(&mut self) {
        let unknown: std::collections::BTreeSet<String> = self
            .assignment
            .iter()
            .filter(|(tp, s)| !s.paused && self.cluster.leader(tp).is_none())
            .map(|(tp, _)| tp.topic.clone())
            .collect();
        if !unknown.is_empty() {
            let topics: Vec<String> = unknown.into_iter().collect();
            if let Err(e) = self.cluster.refresh(&topics).await {
                tracing::debug!(error = %e, "metadata refresh failed");
            }
        }
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        for (tp, state) in &self.assignment {
            let Position::At(offset) = state.position else {
                continue;
            };
            if state.paused {
                continue;
            }
            let limit = usize::try_from(self.config.max_partition_fetch_bytes).unwrap_or(0);
            let Some(from) = self.fetcher.fetch_from(tp, offset, limit) else {
                continue;
            };
            if let Some(info) = self.cluster.leader(tp) {
                by_leader
                    .entry(info.leader)
                    .or_default()
                    .push((tp.clone(), from));
            }
        }
        for (node, partitions) in by_leader {
            if self.fetcher.can_fetch(node) {
                self.fetcher
                    .fetch(&self.cluster, &self.config, node, partitions);
            }
        }
    }

    /// Records from the assigned partitions: what has been fetched, or, when nothing has,
    /// whatever arrives within `timeout` (an empty batch if nothing does).
    pub async fn poll(&mut self, timeout: Duration) -> Result<Records> {
        let deadline = Instant::now() + timeout;
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        loop {
            if let Err(e) = self.prepare(deadline).await {
                // Retriable trouble (a coordinator or broker away) is retried until the
                // deadline, as KafkaConsumer does; the rest is the caller's.
                if !e.is_retriable() && !membership::retry_join(&e) {
                    return Err(e);
                }
                tracing::debug!(error = %e, "poll: retrying");
                let now = Instant::now();
                if now >= deadline {
                    return Ok(Records::new(self.drain()));
                }
                tokio::time::sleep(self.config.retry_backoff.min(deadline - now)).await;
                continue;
            }
            let records = self.drain();
            if !records.is_empty() {
                self.send_fetches().await; // prefetch while the caller works
                return Ok(Records::new(records));
            }
            self.send_fetches().await;
            let signal = self.group.as_ref().map(|g| Arc::clone(&g.signal));
            let rebalance = async {
                match &signal {
                    Some(signal) => signal.notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            // Wake early when a broker's fetch backoff ends, to fetch from it again.
            let wake = self
                .fetcher
                .backoff_end()
                .filter(|t| *t < deadline)
                .unwrap_or(deadline);
            let result = tokio::select! {
                result = self.fetcher.next_result(wake) => result,
                () = rebalance => continue,
            };
            let Some(result) = result else {
                if Instant::now() >= deadline {
                    return Ok(Records::default());
                }
                continue;
            };
            let assignment = &self.assignment;
            let outcome = self.fetcher.handle(
                result,
                |tp| match assignment.get(tp).map(|s| s.position) {
                    Some(Position::At(offset)) => Some(offset),
                    _ => None,
                },
                self.config.retry_backoff,
            )?;
            if outcome.refresh_metadata
                && let Err(e) = self.cluster.refresh(&[]).await
            {
                tracing::debug!(error = %e, "metadata refresh failed");
            }
            for (tp, offset) in outcome.out_of_range {
                match self.config.auto_offset_reset {
                    OffsetReset::None => {
                        return Err(Error::OffsetOutOfRange {
                            topic: tp.topic,
                            partition: tp.partition,
                            offset,
                        });
                    }
                    _ => {
                        tracing::info!(%tp, offset, "offset out of range; resetting");
                        self.set_position(&tp, Position::Unknown)?;
                    }
                }
            }
            if Instant::now() >= deadline {
                let records = self.drain();
                return Ok(Records::new(records));
            }
        }
    }

    /// Group membership, auto-commit and positions, before fetching.
    async fn prepare(&mut self, deadline: Instant) -> Result<()> {
        self.maintain_group(deadline).await?;
        self.maybe_auto_commit();
        self.resolve_positions().await
    }

    fn drain(&mut self) -> Vec<crate::record::ConsumerRecord> {
        let assignment = &mut self.assignment;
        self.fetcher
            .drain(self.config.max_poll_records, |tp, next| {
                if let Some(state) = assignment.get_mut(tp) {
                    state.position = Position::At(next);
                }
            })
    }
}
