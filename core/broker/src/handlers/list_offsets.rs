//! ListOffsets: the earliest offset (-2), the latest (-1, the high watermark), or the first
//! offset whose timestamp is at least the one given.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::dispatch::Context;
use crate::handlers::code;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

pub(crate) fn handle(ctx: &Context, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|wanted| {
            let topic = ctx.broker.topics.get(&wanted.name.0);
            let partitions = wanted
                .partitions
                .iter()
                .map(|p| {
                    let mut response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    if ctx.version >= 4 {
                        response.leader_epoch = 0;
                    }
                    let Some(partition) =
                        topic.as_ref().and_then(|t| t.partition(p.partition_index))
                    else {
                        return response
                            .with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    if !partition.replica.serves_clients() {
                        return response.with_error_code(code(ResponseError::NotLeaderOrFollower));
                    }
                    if let Some(term) = partition.replica.leader_term()
                        && ctx.version >= 4
                    {
                        response.leader_epoch = term.epoch;
                    }
                    let log = &partition.log;
                    match p.timestamp {
                        LATEST => {
                            response.with_offset(partition.replica.high_watermark(log) as i64)
                        }
                        EARLIEST => response.with_offset(log.log_start_offset() as i64),
                        timestamp => match log.offset_for_timestamp(timestamp) {
                            Ok(Some((offset, found))) => {
                                response.with_offset(offset as i64).with_timestamp(found)
                            }
                            Ok(None) => response,
                            Err(e) => {
                                tracing::error!(error = %e, "offset lookup by time failed");
                                response.with_error_code(code(ResponseError::KafkaStorageError))
                            }
                        },
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(wanted.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
