//! InitProducerId: gives an idempotent producer its id and epoch, or bumps the epoch of the
//! id it already has (KIP-360), fencing its older incarnation. Transactions are not
//! supported: a transactional id is refused.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::dispatch::Context;
use crate::handlers::code;

pub(crate) fn handle(ctx: &Context, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request
        .transactional_id
        .as_ref()
        .is_some_and(|t| !t.0.is_empty())
    {
        return response.with_error_code(code(ResponseError::InvalidRequest));
    }
    let (id, epoch) = (request.producer_id.0, request.producer_epoch);
    if id >= 0 && (0..i16::MAX - 1).contains(&epoch) {
        return response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch + 1);
    }
    match ctx.broker.producer_ids.next() {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "allocating a producer id failed");
            response.with_error_code(code(ResponseError::KafkaStorageError))
        }
    }
}
