//! DescribeGroups: state, protocol and members of each group; member metadata and
//! assignments only once the group is stable. An unknown group is `Dead`, as in Kafka.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::dispatch::Context;

/// Kafka's "operations not requested" marker for authorized-operations fields.
const NOT_REQUESTED: i32 = i32::MIN;
/// READ, DELETE and DESCRIBE (Kafka's ACL operation codes 3, 6, 8): weir has no ACLs, so
/// every group operation is allowed.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub(crate) fn handle(ctx: &Context, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let operations = if request.include_authorized_operations {
        GROUP_OPERATIONS
    } else {
        NOT_REQUESTED
    };
    let text = StrBytes::from_string;
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            if !ctx.broker.coordinates(group_id.0.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(group_id)
                    .with_error_code(ResponseError::NotCoordinator.code());
            }
            let description = ctx.broker.groups.describe(group_id.0.as_str());
            let members = description
                .members
                .into_iter()
                .map(|m| {
                    let member = DescribedGroupMember::default()
                        .with_member_id(text(m.member_id))
                        .with_client_id(text(m.client_id))
                        .with_client_host(text(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment);
                    if ctx.version >= 4 {
                        member.with_group_instance_id(m.instance_id.map(text))
                    } else {
                        member
                    }
                })
                .collect();
            let described = DescribedGroup::default()
                .with_group_id(group_id)
                .with_group_state(StrBytes::from_static_str(description.state.name()))
                .with_protocol_type(text(description.protocol_type))
                .with_protocol_data(text(description.protocol))
                .with_members(members);
            if ctx.version >= 3 {
                described.with_authorized_operations(operations)
            } else {
                described
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
