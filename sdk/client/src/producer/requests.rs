//! The producer's requests: a Produce built from outgoing batches and sent to a leader
//! (not waiting for an answer with `acks=0`), and InitProducerId.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use tokio::sync::mpsc;

use super::accumulator::Outgoing;
use super::config::Acks;
use super::sender::Event;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// One Produce request for `outgoing`, and the partitions it carries, in order.
pub(super) fn produce_request(
    acks: Acks,
    timeout: Duration,
    outgoing: Vec<Outgoing>,
) -> (ProduceRequest, Vec<(TopicPartition, u64)>) {
    let batches: Vec<(TopicPartition, u64)> =
        outgoing.iter().map(|o| (o.tp.clone(), o.id)).collect();
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for o in outgoing {
        let data = PartitionProduceData::default()
            .with_index(o.tp.partition)
            .with_records(Some(o.bytes));
        match topics.iter_mut().find(|t| t.name.0.as_str() == o.tp.topic) {
            Some(t) => t.partition_data.push(data),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(o.tp.topic)))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    let request = ProduceRequest::default()
        .with_acks(acks.wire())
        .with_timeout_ms(timeout.as_millis() as i32)
        .with_topic_data(topics);
    (request, batches)
}

/// A Produce on its way: written, its answer pending.
pub(super) type PendingProduce = BoxFuture<'static, Result<ProduceResponse>>;

/// Writes a Produce to broker `node` and returns its pending answer; with `acks=0` an
/// empty response stands for "written".
pub(super) async fn start_produce(
    cluster: &Cluster,
    node: i32,
    request: &ProduceRequest,
    acks: Acks,
    timeout: Duration,
) -> Result<PendingProduce> {
    let connection = cluster.broker(node).await?;
    let version = connection.version(ApiKey::Produce)?;
    if acks == Acks::None {
        connection.send_only(request, version).await?;
        return Ok(Box::pin(async { Ok(ProduceResponse::default()) }));
    }
    let pending = connection.send_pipelined(request, version, timeout).await?;
    Ok(Box::pin(pending))
}

/// Asks any broker for a producer id (or, given one, for its epoch to be bumped).
pub(super) async fn init_producer_id(cluster: &Cluster, id: i64, epoch: i16) -> Result<(i64, i16)> {
    let connection = cluster.any().await?;
    let version = connection.version(ApiKey::InitProducerId)?;
    let mut request = InitProducerIdRequest::default().with_transaction_timeout_ms(-1);
    if version >= 3 {
        request = request
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch);
    } else {
        request = request
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    let response = connection.call_at(&request, version).await?;
    if let Some(error) = ResponseError::try_from_code(response.error_code) {
        return Err(Error::Broker {
            what: "InitProducerId".to_string(),
            error,
        });
    }
    Ok((response.producer_id.0, response.producer_epoch))
}

/// A Produce request and the batches it carries.
pub(super) type Queued = (ProduceRequest, Vec<(TopicPartition, u64)>);

/// Writes one broker's Produce requests in order, each answer awaited on its own.
pub(super) async fn write_loop(
    cluster: Arc<Cluster>,
    node: i32,
    acks: Acks,
    timeout: Duration,
    mut requests: mpsc::UnboundedReceiver<Queued>,
    events: mpsc::UnboundedSender<Event>,
) {
    while let Some((request, batches)) = requests.recv().await {
        match start_produce(&cluster, node, &request, acks, timeout).await {
            Ok(pending) => {
                let events = events.clone();
                tokio::spawn(async move {
                    let result = pending.await;
                    let _ = events.send(Event::Produced {
                        node,
                        batches,
                        result,
                    });
                });
            }
            Err(e) => {
                let _ = events.send(Event::Produced {
                    node,
                    batches,
                    result: Err(e),
                });
            }
        }
    }
}
