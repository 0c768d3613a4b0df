//! JoinGroup: held until the rebalance completes (every known member rejoined, or the
//! rebalance timeout passed), without blocking the connection's other requests. The leader's
//! answer lists every member with its metadata; the others learn who leads.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::dispatch::{Context, Reply, encode_response};
use crate::group::{GroupError, JoinRequest, JoinResult, MemberInfo, Pending, Protocol};
use crate::handlers::group_codes::{group_code, millis};

pub(crate) fn handle(ctx: Context, request: JoinGroupRequest) -> Reply {
    let group_id = request.group_id.0.to_string();
    let member_id = request.member_id.to_string();
    if group_id.is_empty() {
        let result = JoinResult::error(member_id, GroupError::InvalidGroupId);
        return ctx.ready(&response(result, ctx.version));
    }
    if !ctx.broker.coordinates(&group_id) {
        let result = JoinResult::error(member_id, GroupError::NotCoordinator);
        return ctx.ready(&response(result, ctx.version));
    }
    let instance_id = request.group_instance_id.map(|i| i.to_string());
    let client_id = ctx.client_id.clone().unwrap_or_default();
    let prefix = instance_id.as_deref().unwrap_or(&client_id);
    let new_member_id = format!("{prefix}-{}", Uuid::new_v4());
    // v0 has no rebalance timeout: the session timeout serves as both.
    let rebalance_timeout = if ctx.version >= 1 {
        request.rebalance_timeout_ms
    } else {
        request.session_timeout_ms
    };
    let join = JoinRequest {
        member_id: member_id.clone(),
        instance_id,
        protocol_type: request.protocol_type.to_string(),
        info: MemberInfo {
            client_id,
            client_host: ctx.client_host.clone(),
            session_timeout: millis(request.session_timeout_ms),
            rebalance_timeout: millis(rebalance_timeout),
            protocols: request
                .protocols
                .into_iter()
                .map(|p| Protocol {
                    name: p.name.to_string(),
                    metadata: p.metadata,
                })
                .collect(),
        },
        require_known_member_id: ctx.version >= 4,
        supports_skip_assignment: ctx.version >= 9,
        new_member_id,
    };
    match ctx.broker.groups.join(&group_id, join) {
        Pending::Ready(result) => ctx.ready(&response(result, ctx.version)),
        held => Reply::Later(Box::pin(async move {
            let gone = || JoinResult::error(member_id, GroupError::CoordinatorNotAvailable);
            let result = held.resolve(gone).await;
            encode_response(
                ctx.correlation_id,
                ctx.version,
                &response(result, ctx.version),
            )
        })),
    }
}

fn response(result: JoinResult, version: i16) -> JoinGroupResponse {
    if let Some(error) = result.error
        && error != GroupError::MemberIdRequired
    {
        tracing::debug!(member = %result.member_id, %error, "JoinGroup refused");
    }
    let text = |s: String| StrBytes::from_string(s);
    let mut response = JoinGroupResponse::default()
        .with_error_code(result.error.map_or(0, group_code))
        .with_generation_id(result.generation_id)
        .with_leader(text(result.leader))
        .with_member_id(text(result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|m| {
                    let member = JoinGroupResponseMember::default()
                        .with_member_id(text(m.member_id))
                        .with_metadata(m.metadata);
                    if version >= 5 {
                        member.with_group_instance_id(m.instance_id.map(text))
                    } else {
                        member
                    }
                })
                .collect(),
        );
    if version >= 7 {
        response.protocol_type = result.protocol_type.map(text);
        response.protocol_name = result.protocol_name.map(text);
    } else {
        // Not nullable before v7.
        response.protocol_name = Some(text(result.protocol_name.unwrap_or_default()));
    }
    if version >= 9 {
        response.skip_assignment = result.skip_assignment;
    }
    response
}
