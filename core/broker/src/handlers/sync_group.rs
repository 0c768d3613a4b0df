//! SyncGroup: the leader sends the assignment it computed, and every member gets its own.
//! A follower's SyncGroup is held until the leader's arrives, without blocking the
//! connection's other requests.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::dispatch::{Context, Reply, encode_response};
use crate::group::{GroupError, Pending, SyncRequest, SyncResult};
use crate::handlers::group_codes::group_code;

pub(crate) fn handle(ctx: Context, request: SyncGroupRequest) -> Reply {
    let group_id = request.group_id.0.to_string();
    if group_id.is_empty() {
        return ctx.ready(&response(Err(GroupError::InvalidGroupId), ctx.version));
    }
    if !ctx.broker.coordinates(&group_id) {
        return ctx.ready(&response(Err(GroupError::NotCoordinator), ctx.version));
    }
    let sync = SyncRequest {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|i| i.to_string()),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.map(|p| p.to_string()),
        protocol_name: request.protocol_name.map(|p| p.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    match ctx.broker.groups.sync(&group_id, sync) {
        Pending::Ready(result) => ctx.ready(&response(result, ctx.version)),
        held => Reply::Later(Box::pin(async move {
            let result = held
                .resolve(|| Err(GroupError::CoordinatorNotAvailable))
                .await;
            encode_response(
                ctx.correlation_id,
                ctx.version,
                &response(result, ctx.version),
            )
        })),
    }
}

fn response(result: SyncResult, version: i16) -> SyncGroupResponse {
    match result {
        Ok(assignment) => {
            let mut response = SyncGroupResponse::default().with_assignment(assignment.assignment);
            if version >= 5 {
                response.protocol_type = assignment.protocol_type.map(StrBytes::from_string);
                response.protocol_name = assignment.protocol_name.map(StrBytes::from_string);
            }
            response
        }
        Err(error) => SyncGroupResponse::default().with_error_code(group_code(error)),
    }
}
