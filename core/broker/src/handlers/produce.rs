//! Produce: validates and appends each partition's batches, then answers once they are
//! durable under the partition's flush policy. `acks` is the stronger of the request's and
//! the topic's floor; `acks=0` gets no response at all, as Kafka does.
//!
//! In a cluster only the partition leader appends, stamping its leader epoch on the batches.
//! `acks=all` is refused with NOT_ENOUGH_REPLICAS when the ISR is smaller than
//! `min_insync_replicas`, and otherwise answered once the high watermark (the smallest log
//! end in the ISR) passes the batch — or with a timeout error, never a false success.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use weir_log::batch::BatchHeader;
use weir_log::{AppendInfo, FlushMode, PartitionLog};

use crate::config::Acks;
use crate::dispatch::{Context, Reply, encode_response};
use crate::handlers::code;
use crate::produce_path::{append_error, flush_error, topic_for};
use crate::producer_state::{SequenceCheck, SequenceError};
use crate::replication::{Committed, Role};
use crate::topics::Partition;

/// An appended partition whose answer waits for durability (and, for `acks=all` in a
/// cluster, for the ISR).
struct Pending {
    topic: usize,
    partition: usize,
    log: Arc<PartitionLog>,
    next_offset: u64,
    replicated: Option<Replicated>,
}

/// What an `acks=all` produce waits for in a cluster.
struct Replicated {
    partition: Arc<Partition>,
    epoch: i32,
    min_insync: usize,
}

pub(crate) fn handle(ctx: Context, request: ProduceRequest) -> Reply {
    let broker = Arc::clone(&ctx.broker);
    let requested = Acks::from_request(request.acks);
    let timeout = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut pending = Vec::new();
    let mut appended = false;
    for (t, topic_data) in request.topic_data.into_iter().enumerate() {
        let topic = topic_for(
            &broker,
            &topic_data.name.0,
            broker.config.auto_create_topics(),
        );
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for (p, data) in topic_data.partition_data.into_iter().enumerate() {
            let mut response = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let outcome = (|| {
                let requested = requested.ok_or(ResponseError::InvalidRequiredAcks)?;
                let topic = topic.as_ref().map_err(|e| *e)?;
                let partition = topic
                    .partition(data.index)
                    .ok_or(ResponseError::UnknownTopicOrPartition)?;
                let records = data
                    .records
                    .as_ref()
                    .filter(|r| !r.is_empty())
                    .ok_or(ResponseError::InvalidRecord)?;
                let acks = requested.at_least(topic.acks_floor());
                let min_insync = usize::from(
                    topic
                        .overrides
                        .min_insync_replicas
                        .unwrap_or(broker.config.min_insync_replicas()),
                );
                let (epoch, replicated) = match partition.replica.role() {
                    Role::Standalone => (0, false),
                    Role::Leader(term) => {
                        if acks == Acks::All && term.isr.len() < min_insync {
                            return Err(ResponseError::NotEnoughReplicas);
                        }
                        (term.epoch, acks == Acks::All)
                    }
                    Role::Follower { .. } | Role::Offline => {
                        return Err(ResponseError::NotLeaderOrFollower);
                    }
                };
                let info = append(partition, records, epoch).map_err(|error| {
                    tracing::warn!(topic = %topic.name, partition = data.index, %error, "rejected produce");
                    error.code()
                })?;
                let replicated = replicated.then(|| Replicated {
                    partition: Arc::clone(partition),
                    epoch,
                    min_insync,
                });
                Ok((info, partition, acks, replicated))
            })();
            match outcome {
                Ok((Appended::Duplicate { base_offset }, partition, _, _)) => {
                    // A retry of a batch already in the log: its original offset, no append.
                    response.base_offset = base_offset as i64;
                    response.log_start_offset = partition.log.log_start_offset() as i64;
                }
                Ok((Appended::New(info), partition, acks, replicated)) => {
                    appended = true;
                    response.base_offset = info.first_offset as i64;
                    response.log_start_offset = partition.log.log_start_offset() as i64;
                    partition.replica.advance_high_watermark(&partition.log);
                    let config = partition.log.config().flush;
                    let may_block =
                        config.mode == FlushMode::Fsync || config.flush_messages.is_some();
                    if acks != Acks::Zero && (may_block || replicated.is_some()) {
                        pending.push(Pending {
                            topic: t,
                            partition: p,
                            log: Arc::clone(&partition.log),
                            next_offset: info.next_offset,
                            replicated,
                        });
                    }
                }
                Err(error) => response.error_code = code(error),
            }
            partitions.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_partition_responses(partitions),
        );
    }
    if appended {
        broker.signal_append();
    }
    if requested == Some(Acks::Zero) {
        if !pending.is_empty() {
            // No one hears the answer, but the flush policy still holds.
            tokio::spawn(async move { wait_durable(&pending).await });
        }
        return Reply::None;
    }
    let (correlation_id, version) = (ctx.correlation_id, ctx.version);
    if pending.is_empty() {
        let response = ProduceResponse::default().with_responses(responses);
        return Reply::Ready(encode_response(correlation_id, version, &response));
    }
    Reply::Later(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut failures = wait_durable(&pending).await;
        for p in &pending {
            if failures
                .iter()
                .any(|(t, q, _)| (*t, *q) == (p.topic, p.partition))
            {
                continue;
            }
            if let Some(error) = wait_replicated(p, deadline).await {
                failures.push((p.topic, p.partition, error));
            }
        }
        for (topic, partition, error) in failures {
            let response = &mut responses[topic].partition_responses[partition];
            response.error_code = code(error);
            response.base_offset = -1;
        }
        encode_response(
            correlation_id,
            version,
            &ProduceResponse::default().with_responses(responses),
        )
    }))
}

/// What an append did.
enum Appended {
    New(AppendInfo),
    Duplicate { base_offset: u64 },
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
enum ProduceError {
    #[error(transparent)]
    Log(#[from] weir_log::AppendError),
    #[error(transparent)]
    Sequence(#[from] SequenceError),
}

impl ProduceError {
    fn code(&self) -> ResponseError {
        match self {
            Self::Log(e) => append_error(e),
            Self::Sequence(SequenceError::StaleEpoch { .. }) => ResponseError::InvalidProducerEpoch,
            Self::Sequence(SequenceError::OutOfOrder { .. }) => {
                ResponseError::OutOfOrderSequenceNumber
            }
        }
    }
}

/// Waits for an `acks=all` batch to reach every ISR member; the error to answer if it did not.
async fn wait_replicated(p: &Pending, deadline: tokio::time::Instant) -> Option<ResponseError> {
    let replicated = p.replicated.as_ref()?;
    match replicated
        .partition
        .replica
        .wait_committed(p.next_offset, replicated.epoch, deadline)
        .await
    {
        Committed::Yes { isr } if isr >= replicated.min_insync => None,
        Committed::Yes { .. } => Some(ResponseError::NotEnoughReplicasAfterAppend),
        Committed::TimedOut => Some(ResponseError::RequestTimedOut),
        Committed::NoLongerLeader => Some(ResponseError::NotLeaderOrFollower),
    }
}

/// Appends a partition's batches, checking idempotent producers' sequences first under the
/// partition's producer lock so that the check and the append see the same log.
fn append(partition: &Partition, bytes: &[u8], epoch: i32) -> Result<Appended, ProduceError> {
    let mut producers = partition.producers.lock();
    let mut headers = headers(bytes);
    for header in &headers {
        if let SequenceCheck::Duplicate { base_offset } = producers.check(header)? {
            return Ok(Appended::Duplicate { base_offset });
        }
    }
    let info = partition.log.append(bytes, epoch)?;
    // The log stamped the offsets on its copy only; the producer state keeps them per batch.
    let mut next = info.first_offset as i64;
    for header in &mut headers {
        header.base_offset = next;
        next = header.next_offset();
        producers.record(header);
    }
    Ok(Appended::New(info))
}

/// The headers of the batches in `bytes`, as far as they parse (the log validates fully).
pub(crate) fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Ok(header) = BatchHeader::parse(&bytes[at..]) {
        out.push(header);
        let len = header.total_len();
        if len < weir_log::batch::HEADER_LEN || at + len >= bytes.len() {
            break;
        }
        at += len;
    }
    out
}

/// Makes every pending append durable (each group-commits with other producers); returns
/// the ones that failed. Each partition is its own file with its own fsync: they are waited
/// for side by side on the blocking pool, not one after another (or a request to 8
/// partitions pays 8 sync latencies), and a log with nothing to sync takes no thread.
async fn wait_durable(pending: &[Pending]) -> Vec<(usize, usize, ResponseError)> {
    let syncs: Vec<_> = pending
        .iter()
        .filter(|p| !p.log.is_durable(p.next_offset))
        .map(|p| {
            let (log, offset) = (Arc::clone(&p.log), p.next_offset);
            let sync = tokio::task::spawn_blocking(move || log.make_durable(offset));
            (p.topic, p.partition, sync)
        })
        .collect();
    let mut failures = Vec::new();
    for (topic, partition, sync) in syncs {
        match sync.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "making a produce durable failed");
                failures.push((topic, partition, flush_error(&e)));
            }
            // A sync that panicked is not durable: report it as a storage error.
            Err(_) => failures.push((topic, partition, ResponseError::KafkaStorageError)),
        }
    }
    failures
}
