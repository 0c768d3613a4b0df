//! LeaveGroup: members leave at once instead of waiting for their session to expire, so the
//! rest rebalance sooner. v3+ names a batch of members, static ones by instance id.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::dispatch::Context;
use crate::group::{GroupError, LeavingMember};
use crate::handlers::group_codes::group_code;

pub(crate) fn handle(ctx: &Context, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let group_id = request.group_id.0.as_str();
    let leaving: Vec<LeavingMember> = if ctx.version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.to_string(),
            instance_id: None,
        }]
    };
    let outcome = if group_id.is_empty() {
        Err(GroupError::InvalidGroupId)
    } else if !ctx.broker.coordinates(group_id) {
        Err(GroupError::NotCoordinator)
    } else {
        ctx.broker.groups.leave(group_id, &leaving)
    };
    let results = match outcome {
        Ok(results) => results,
        Err(error) => return LeaveGroupResponse::default().with_error_code(group_code(error)),
    };
    if ctx.version < 3 {
        let error = results.first().and_then(|r| r.err());
        return LeaveGroupResponse::default().with_error_code(error.map_or(0, group_code));
    }
    let members = request
        .members
        .into_iter()
        .zip(results)
        .map(|(member, result)| {
            MemberResponse::default()
                .with_member_id(member.member_id)
                .with_group_instance_id(member.group_instance_id)
                .with_error_code(result.err().map_or(0, group_code))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
