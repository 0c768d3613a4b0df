//! DeleteGroups: removes empty groups and their committed offsets (tombstones in
//! `__consumer_offsets`, answered once durable). A group with members is NON_EMPTY_GROUP.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::dispatch::{Context, Reply, encode_response};
use crate::handlers::group_codes::{not_durable_code, now_ms, store_code};

pub(crate) fn handle(ctx: Context, request: DeleteGroupsRequest) -> Reply {
    let now = now_ms();
    let mut results = Vec::with_capacity(request.groups_names.len());
    let mut pending = Vec::new();
    for group_id in request.groups_names {
        let mut result = DeletableGroupResult::default();
        if !ctx.broker.coordinates(group_id.0.as_str()) {
            results.push(
                result
                    .with_group_id(group_id)
                    .with_error_code(ResponseError::NotCoordinator.code()),
            );
            continue;
        }
        match ctx.broker.groups.delete_group(group_id.0.as_str(), now) {
            Ok(Some(durable)) => pending.push((results.len(), durable)),
            Ok(None) => {}
            Err(error) => result.error_code = store_code(&error),
        }
        results.push(result.with_group_id(group_id));
    }
    let (correlation_id, version) = (ctx.correlation_id, ctx.version);
    let answer = move |results| {
        let response = DeleteGroupsResponse::default().with_results(results);
        encode_response(correlation_id, version, &response)
    };
    if pending.is_empty() {
        return Reply::Ready(answer(results));
    }
    Reply::Later(Box::pin(async move {
        for (index, durable) in pending {
            if let Err(error) = durable.wait().await {
                results[index].error_code = not_durable_code(&error);
            }
        }
        answer(results)
    }))
}
