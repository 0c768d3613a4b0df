//! FindCoordinator: alone, this broker coordinates every group. In a cluster the metadata
//! names one coordinator per slot of groups (a hash of the group id), so every broker gives
//! the same answer; a slot without a live coordinator gets one (the live broker coordinating
//! the fewest slots) through the controller, and meanwhile the answer is
//! COORDINATOR_NOT_AVAILABLE, which clients retry.
//! Transactions are not supported, so a transaction coordinator is never available. v4+
//! asks for many keys at once.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::cluster::command::ClusterCommand;
use crate::cluster::state::coordinator_slot;
use crate::dispatch::Context;
use crate::handlers::cluster_topics::commit;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

/// A coordinator's id, host and port, or why there is none.
type Found = Result<(i32, StrBytes, i32), (ResponseError, &'static str)>;

pub(crate) fn handle(ctx: &Context, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let find = |key: &str| -> Found {
        match request.key_type {
            GROUP => coordinator_of(&ctx.broker, key),
            TRANSACTION => Err((
                ResponseError::CoordinatorNotAvailable,
                "transactions are not supported by weir",
            )),
            _ => Err((
                ResponseError::InvalidRequest,
                "unknown coordinator key type",
            )),
        }
    };
    let mut response = FindCoordinatorResponse::default();
    if ctx.version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let coordinator = Coordinator::default().with_key(key.clone());
                match find(key.as_str()) {
                    Ok((node, host, port)) => coordinator
                        .with_node_id(BrokerId(node))
                        .with_host(host)
                        .with_port(port),
                    Err((error, message)) => coordinator
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_static_str(message))),
                }
            })
            .collect();
        return response;
    }
    match find(request.key.as_str()) {
        Ok((node, host, port)) => {
            response.node_id = BrokerId(node);
            response.host = host;
            response.port = port;
        }
        Err((error, message)) => {
            response.error_code = error.code();
            response.node_id = BrokerId(-1);
            response.port = -1;
            if ctx.version >= 1 {
                response.error_message = Some(StrBytes::from_static_str(message));
            }
        }
    }
    response
}

/// The coordinator of consumer group `group`.
fn coordinator_of(broker: &Arc<Broker>, group: &str) -> Found {
    let Some(node) = broker.cluster() else {
        return Ok((
            broker.config.node_id(),
            StrBytes::from_string(broker.advertised_host.clone()),
            broker.advertised_port,
        ));
    };
    if !node.caught_up() {
        return Err((
            ResponseError::CoordinatorNotAvailable,
            "this broker is still catching up with the cluster metadata",
        ));
    }
    let state = node.controller.state();
    let current = state.group_coordinator(group);
    if let Some(id) = current.filter(|id| state.live_brokers().contains(id))
        && let Some(info) = state.brokers.get(&id)
    {
        return Ok((id, StrBytes::from_string(info.host.clone()), info.port));
    }
    // None yet, or its broker is down: the group's slot moves (the offsets committed there
    // stay behind, as they are not replicated).
    let Some(candidate) = state.coordinator_candidate() else {
        return Err((
            ResponseError::CoordinatorNotAvailable,
            "no live broker to coordinate the group",
        ));
    };
    let slot = coordinator_slot(group);
    if node.start_assigning(slot) {
        let command = ClusterCommand::AssignCoordinatorSlot {
            slot,
            broker: candidate,
            replacing: current,
        };
        let broker = Arc::clone(broker);
        tokio::spawn(async move {
            match commit(&broker, command).await {
                Ok(()) => {
                    tracing::info!(
                        slot,
                        coordinator = candidate,
                        "assigned a group coordinator"
                    )
                }
                // Another broker assigned one first: the next lookup finds it.
                Err((ResponseError::CoordinatorNotAvailable, _)) => {}
                Err((_, message)) => {
                    tracing::warn!(slot, %message, "assigning a group coordinator failed")
                }
            }
            if let Some(node) = broker.cluster() {
                node.done_assigning(slot);
            }
        });
    }
    Err((
        ResponseError::CoordinatorNotAvailable,
        "the group's coordinator is being assigned; retry",
    ))
}
