//! CreatePartitions: grows topics to a larger partition count; on one broker every new
//! replica is this broker.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::dispatch::Context;
use crate::handlers::code;
use crate::handlers::create_topics::error_code;

pub(crate) fn handle(ctx: &Context, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let node = ctx.broker.config.node_id();
    let results = request
        .topics
        .into_iter()
        .map(|wanted| {
            let result = CreatePartitionsTopicResult::default().with_name(wanted.name.clone());
            let fail = |error: ResponseError, message: String| {
                result
                    .clone()
                    .with_error_code(code(error))
                    .with_error_message(Some(StrBytes::from_string(message)))
            };
            let foreign = wanted
                .assignments
                .iter()
                .flatten()
                .any(|a| a.broker_ids.iter().any(|b| b.0 != node));
            if foreign {
                return fail(
                    ResponseError::InvalidReplicaAssignment,
                    format!("only broker {node} exists"),
                );
            }
            let count = u32::try_from(wanted.count).unwrap_or(0);
            match ctx
                .broker
                .topics
                .add_partitions(&wanted.name.0, count, request.validate_only)
            {
                Ok(_) => result,
                Err(e) => fail(error_code(&e), e.to_string()),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
