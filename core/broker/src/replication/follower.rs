//! The follower's fetch loop for one partition: fetch from the leader's log end (Fetch v12,
//! with this broker's id as `replica_id`, its leader epoch and the epoch of its last batch),
//! append what arrives with the leader's offsets and epochs, and take the leader's high
//! watermark. When the leader answers with a diverging epoch, the follower's history departs
//! from the leader's there: it truncates to where both agree and fetches again, so no
//! divergent record survives a leader change. The loop runs until its role changes (the
//! task is aborted) and reconnects on any connection failure.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use weir_log::FlushMode;

use super::peer::{PeerConnection, PeerError};
use crate::broker::Broker;
use crate::topics::{Partition, rebuild_producers};

/// How long the leader may hold a fetch with nothing new.
const MAX_WAIT_MS: i32 = 500;
const PARTITION_MAX_BYTES: i32 = 8 << 20;
const RETRY: Duration = Duration::from_millis(200);

/// What to follow: a partition, its leader and the epoch the leader leads in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) leader: i32,
    pub(crate) epoch: i32,
}

/// Why one fetch round did not go through.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("the leader answered {0:?}")]
    Leader(ResponseError),
    #[error("the partition is gone here")]
    Gone,
    #[error("storing replicated batches: {0}")]
    Storage(String),
}

/// Follows `assignment` until aborted.
pub(crate) async fn run(broker: Arc<Broker>, assignment: Assignment) {
    let me = broker.config.node_id();
    loop {
        let Some(address) = broker.broker_address(assignment.leader) else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let mut connection = match PeerConnection::open(&address, me).await {
            Ok(connection) => connection,
            Err(e) => {
                tracing::debug!(topic = %assignment.topic, partition = assignment.partition, error = %e, "cannot reach the leader");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match round(&broker, &assignment, &mut connection).await {
                Ok(()) => {}
                Err(RoundError::Gone) => return,
                Err(e) => {
                    tracing::debug!(topic = %assignment.topic, partition = assignment.partition, leader = %connection.address(), error = %e, "follower fetch failed");
                    tokio::time::sleep(RETRY).await;
                    if matches!(e, RoundError::Peer(_)) {
                        break;
                    }
                }
            }
        }
    }
}

/// One fetch: append, or truncate on divergence.
async fn round(
    broker: &Arc<Broker>,
    assignment: &Assignment,
    connection: &mut PeerConnection,
) -> Result<(), RoundError> {
    let partition = broker
        .topics
        .get(&assignment.topic)
        .and_then(|t| t.partition(assignment.partition).cloned())
        .ok_or(RoundError::Gone)?;
    let log = &partition.log;
    let fetch_offset = log.log_end_offset();
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(broker.config.node_id()))
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(PARTITION_MAX_BYTES)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(assignment.topic.clone())))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(assignment.partition)
                        .with_current_leader_epoch(assignment.epoch)
                        .with_fetch_offset(fetch_offset as i64)
                        .with_last_fetched_epoch(log.latest_epoch().unwrap_or(-1))
                        .with_log_start_offset(log.log_start_offset() as i64)
                        .with_partition_max_bytes(PARTITION_MAX_BYTES),
                ]),
        ]);
    let timeout = Duration::from_millis(MAX_WAIT_MS as u64) + Duration::from_secs(5);
    let response = connection.fetch(&request, timeout).await?;
    let data = response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == assignment.partition)
        .ok_or(RoundError::Leader(ResponseError::UnknownTopicOrPartition))?;
    if data.error_code != 0 {
        let error = ResponseError::try_from_code(data.error_code)
            .unwrap_or(ResponseError::UnknownServerError);
        return Err(RoundError::Leader(error));
    }
    if data.diverging_epoch.end_offset >= 0 {
        truncate_to_leader(
            &partition,
            data.diverging_epoch.epoch,
            data.diverging_epoch.end_offset as u64,
        )?;
        return Ok(());
    }
    if let Some(records) = data.records.filter(|r| !r.is_empty()) {
        let info = log
            .append_replicated(&records)
            .map_err(|e| RoundError::Storage(e.to_string()))?;
        {
            let mut producers = partition.producers.lock();
            for header in crate::handlers::produce::headers(&records) {
                producers.record(&header);
            }
        }
        if log.config().flush.mode == FlushMode::Fsync {
            // The next fetch tells the leader this follower has these batches: only once they
            // are on disk, as the leader's own appends are.
            let durable = Arc::clone(log);
            tokio::task::spawn_blocking(move || durable.make_durable(info.next_offset))
                .await
                .map_err(|e| RoundError::Storage(e.to_string()))?
                .map_err(|e| RoundError::Storage(e.to_string()))?;
        }
    }
    let hw = u64::try_from(data.high_watermark).unwrap_or(0);
    partition
        .replica
        .set_follower_high_watermark(hw.min(log.log_end_offset()));
    Ok(())
}

/// Cuts the log back to where it agrees with the leader: the end of `epoch` on both sides.
fn truncate_to_leader(
    partition: &Partition,
    epoch: i32,
    leader_end: u64,
) -> Result<(), RoundError> {
    let log = &partition.log;
    let own_end = if epoch < 0 {
        0
    } else {
        log.end_offset_for_epoch(epoch).map_or(0, |(_, end)| end)
    };
    let to = leader_end.min(own_end).max(log.log_start_offset());
    let before = log.log_end_offset();
    log.truncate_to(to)
        .map_err(|e| RoundError::Storage(e.to_string()))?;
    *partition.producers.lock() = rebuild_producers(log);
    tracing::info!(dir = %log.dir().display(), from = before, to = log.log_end_offset(), epoch, "truncated a divergent tail to the leader's history");
    Ok(())
}
