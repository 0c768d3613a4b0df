//! FindCoordinator: this broker is the coordinator of every group. Transactions are not
//! supported, so a transaction coordinator is never available. v4+ asks for many keys at
//! once.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::dispatch::Context;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub(crate) fn handle(ctx: &Context, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let broker = &ctx.broker;
    let node = BrokerId(broker.config.node_id());
    let host = StrBytes::from_string(broker.advertised_host.clone());
    let port = broker.advertised_port;
    let refusal = match request.key_type {
        GROUP => None,
        TRANSACTION => Some((
            ResponseError::CoordinatorNotAvailable,
            "transactions are not supported by weir",
        )),
        _ => Some((
            ResponseError::InvalidRequest,
            "unknown coordinator key type",
        )),
    };
    let mut response = FindCoordinatorResponse::default();
    if ctx.version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let coordinator = Coordinator::default().with_key(key);
                match refusal {
                    None => coordinator
                        .with_node_id(node)
                        .with_host(host.clone())
                        .with_port(port),
                    Some((error, message)) => coordinator
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_static_str(message))),
                }
            })
            .collect();
        return response;
    }
    match refusal {
        None => {
            response.node_id = node;
            response.host = host;
            response.port = port;
        }
        Some((error, message)) => {
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
