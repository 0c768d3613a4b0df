//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::dispatch::Context;
use crate::handlers::group_codes::group_code;

pub(crate) fn handle(ctx: &Context, request: HeartbeatRequest) -> HeartbeatResponse {
    let group_id = request.group_id.0.as_str();
    let error_code = if group_id.is_empty() {
        ResponseError::InvalidGroupId.code()
    } else if !ctx.broker.coordinates(group_id) {
        ResponseError::NotCoordinator.code()
    } else {
        ctx.broker
            .groups
            .heartbeat(
                group_id,
                request.member_id.as_str(),
                request.group_instance_id.as_deref(),
                request.generation_id,
            )
            .map_or_else(group_code, |()| 0)
    };
    HeartbeatResponse::default().with_error_code(error_code)
}
