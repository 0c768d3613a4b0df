//! ListGroups: every group this broker coordinates (those with members and those with only
//! committed offsets; in a cluster, not those whose coordinator is now another broker),
//! optionally filtered by state (v4+).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::dispatch::Context;

pub(crate) fn handle(ctx: &Context, request: ListGroupsRequest) -> ListGroupsResponse {
    let groups = ctx
        .broker
        .groups
        .list()
        .into_iter()
        .filter(|g| ctx.broker.coordinates(&g.group_id))
        .filter(|g| {
            request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(g.state.name()))
        })
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type));
            if ctx.version >= 4 {
                listed.with_group_state(StrBytes::from_static_str(g.state.name()))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
