//! Fetch: returns whole batches from each partition's fetch offset, up to the high
//! watermark, as the bytes sit in the log. A long poll: when fewer than `min_bytes` are
//! there, it waits up to `max_wait_ms` and wakes as soon as anything is appended, so
//! end-to-end latency does not follow `fetch.wait.max.ms`.
//!
//! In a cluster only the partition leader answers. A fetch with a `replica_id` is a
//! follower's: it reads up to the log end rather than the high watermark, tells the leader
//! how far the follower got (which may advance the high watermark), and, when the follower's
//! last epoch ends earlier on the leader, answers with the diverging epoch instead of data.

use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tokio::time::Instant;
use weir_log::ReadError;

use crate::broker::Broker;
use crate::dispatch::{Context, Reply, encode_response};
use crate::handlers::code;
use crate::topics::Partition;

pub(crate) fn handle(ctx: Context, request: FetchRequest) -> Reply {
    Reply::Later(Box::pin(async move {
        let broker = &ctx.broker;
        let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
        let min_bytes = request.min_bytes.max(0) as u64;
        let mut appended = broker.appended.subscribe();
        loop {
            appended.borrow_and_update();
            let (response, bytes, failed) = read(broker, &request);
            if bytes >= min_bytes || failed || Instant::now() >= deadline {
                return encode_response(ctx.correlation_id, ctx.version, &response);
            }
            tokio::select! {
                changed = appended.changed() => if changed.is_err() {
                    return encode_response(ctx.correlation_id, ctx.version, &response);
                },
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }))
}

/// One pass over the requested partitions: the response, the record bytes in it, and
/// whether any partition failed (which answers at once, as Kafka does).
fn read(broker: &Broker, request: &FetchRequest) -> (FetchResponse, u64, bool) {
    let mut budget = request.max_bytes.max(0) as u64;
    let mut total = 0;
    let mut failed = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for fetch_topic in &request.topics {
        let topic = broker.topics.get(&fetch_topic.topic.0);
        let mut partitions = Vec::with_capacity(fetch_topic.partitions.len());
        for wanted in &fetch_topic.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(wanted.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1);
            let partition = topic.as_ref().and_then(|t| t.partition(wanted.partition));
            let Some(partition) = partition else {
                data.error_code = code(ResponseError::UnknownTopicOrPartition);
                failed = true;
                partitions.push(data);
                continue;
            };
            let log = &partition.log;
            let upper = match readable_upper(broker, partition, wanted, request.replica_id.0) {
                Ok(Readable::Upto(upper)) => upper,
                Ok(Readable::Diverged(diverging)) => {
                    data.diverging_epoch = diverging;
                    data.high_watermark = partition.replica.high_watermark(log) as i64;
                    failed = true;
                    partitions.push(data);
                    continue;
                }
                Err(error) => {
                    data.error_code = code(error);
                    failed = true;
                    partitions.push(data);
                    continue;
                }
            };
            let high_watermark = partition.replica.high_watermark(log);
            data.high_watermark = high_watermark as i64;
            data.last_stable_offset = high_watermark as i64;
            data.log_start_offset = log.log_start_offset() as i64;
            let limit = (wanted.partition_max_bytes.max(0) as u64).min(budget);
            let offset = u64::try_from(wanted.fetch_offset).unwrap_or(u64::MAX);
            if limit == 0 {
                partitions.push(data);
                continue;
            }
            match log.read(offset, limit, Some(upper)).and_then(|slice| {
                let mut bytes = BytesMut::zeroed(slice.len() as usize);
                slice.read_into(&mut bytes).map(|()| bytes)
            }) {
                Ok(bytes) => {
                    let n = bytes.len() as u64;
                    total += n;
                    budget = budget.saturating_sub(n);
                    data.records = Some(bytes.freeze());
                }
                Err(ReadError::OffsetOutOfRange { .. }) => {
                    data.error_code = code(ResponseError::OffsetOutOfRange);
                    failed = true;
                }
                Err(e) => {
                    tracing::error!(topic = %fetch_topic.topic.0.as_str(), partition = wanted.partition, error = %e, "fetch read failed");
                    data.error_code = code(ResponseError::KafkaStorageError);
                    failed = true;
                }
            }
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(fetch_topic.topic.clone())
                .with_topic_id(fetch_topic.topic_id)
                .with_partitions(partitions),
        );
    }
    (
        FetchResponse::default().with_responses(topics),
        total,
        failed,
    )
}

/// How far a fetch may read, or where the follower's history diverged.
enum Readable {
    Upto(u64),
    Diverged(EpochEndOffset),
}

/// A consumer reads below the high watermark, from the leader only; a follower reads to the
/// log end once its epoch checks pass, and its fetch offset counts as its progress.
fn readable_upper(
    broker: &Broker,
    partition: &Partition,
    wanted: &FetchPartition,
    replica_id: i32,
) -> Result<Readable, ResponseError> {
    let log = &partition.log;
    if broker.cluster().is_none() {
        return Ok(Readable::Upto(partition.replica.high_watermark(log)));
    }
    let term = partition
        .replica
        .leader_term()
        .ok_or(ResponseError::NotLeaderOrFollower)?;
    if wanted.current_leader_epoch >= 0 && wanted.current_leader_epoch < term.epoch {
        return Err(ResponseError::FencedLeaderEpoch);
    }
    if wanted.current_leader_epoch > term.epoch {
        return Err(ResponseError::UnknownLeaderEpoch);
    }
    if replica_id < 0 {
        return Ok(Readable::Upto(partition.replica.high_watermark(log)));
    }
    if !term.replicas.contains(&replica_id) {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    let offset = u64::try_from(wanted.fetch_offset).unwrap_or(0);
    if wanted.last_fetched_epoch >= 0 {
        let diverged = match log.end_offset_for_epoch(wanted.last_fetched_epoch) {
            Some((epoch, end)) if epoch == wanted.last_fetched_epoch && end >= offset => None,
            Some((epoch, end)) => Some((epoch, end)),
            None => Some((-1, log.log_start_offset())),
        };
        if let Some((epoch, end)) = diverged {
            return Ok(Readable::Diverged(
                EpochEndOffset::default()
                    .with_epoch(epoch)
                    .with_end_offset(end as i64),
            ));
        }
    }
    if partition.replica.follower_fetched(replica_id, offset, log) {
        broker.signal_append();
    }
    Ok(Readable::Upto(log.log_end_offset()))
}
