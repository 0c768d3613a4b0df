//! Turns a request frame into a reply: reads the header, checks the API and version against
//! what weir supports, decodes the body with `kafka-protocol`, calls the API's handler and
//! encodes its response with the response header the version calls for.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use crate::broker::Broker;
use crate::handlers;

/// What the connection writes back for one request.
pub(crate) enum Reply {
    /// Nothing (a produce with `acks=0`).
    None,
    /// A response ready now.
    Ready(BytesMut),
    /// A response that completes later (after an fsync, or when a fetch has data).
    Later(Pin<Box<dyn Future<Output = BytesMut> + Send>>),
}

/// Why a connection is closed instead of answered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DispatchError {
    #[error("frame of {0} bytes is too short for a request header")]
    ShortFrame(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} version {version} is not supported (weir supports {min}..={max})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("{api:?} v{version} request does not decode: {reason}")]
    Malformed {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

/// The APIs weir serves and the versions of each, as advertised in ApiVersions. Versions
/// stop where a newer one needs something weir lacks (topic ids in Produce/Fetch, the
/// KIP-848 consumer protocol and its member epochs in OffsetCommit/OffsetFetch, group types
/// in ListGroups and DescribeGroups).
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
];

pub(crate) fn supported(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|(_, min, max)| (*min, *max))
}

/// Decodes and answers one request frame from the client at `client_host` (`/ip`, as Kafka
/// shows hosts).
pub(crate) async fn dispatch(
    broker: &Arc<Broker>,
    client_host: &str,
    mut frame: Bytes,
) -> Result<Reply, DispatchError> {
    if frame.len() < 8 {
        return Err(DispatchError::ShortFrame(frame.len()));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(key).map_err(|()| DispatchError::UnknownApiKey(key))?;
    let Some((min, max)) = supported(api) else {
        return Err(DispatchError::UnsupportedVersion {
            api,
            version,
            min: 0,
            max: -1,
        });
    };
    if !(min..=max).contains(&version) {
        if api == ApiKey::ApiVersions {
            // KIP-511: answer in v0 with UNSUPPORTED_VERSION and our range; the client retries.
            return Ok(Reply::Ready(handlers::api_versions::unsupported(
                correlation_id,
            )));
        }
        return Err(DispatchError::UnsupportedVersion {
            api,
            version,
            min,
            max,
        });
    }
    let malformed = |reason: String| DispatchError::Malformed {
        api,
        version,
        reason,
    };
    let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|e| malformed(e.to_string()))?;
    let ctx = Context {
        broker: Arc::clone(broker),
        correlation_id,
        version,
        client_id: header.client_id.as_ref().map(|c| c.to_string()),
        client_host: client_host.to_string(),
    };
    macro_rules! decode {
        ($ty:ty) => {{
            let request =
                <$ty>::decode(&mut frame, version).map_err(|e| malformed(e.to_string()))?;
            if frame.has_remaining() {
                tracing::debug!(
                    ?api,
                    version,
                    trailing = frame.remaining(),
                    "ignoring trailing request bytes"
                );
            }
            request
        }};
    }
    use kafka_protocol::messages as m;
    let reply = match api {
        ApiKey::ApiVersions => ctx.ready(&handlers::api_versions::handle(&decode!(
            m::ApiVersionsRequest
        ))),
        ApiKey::Metadata => ctx.ready(&handlers::metadata::handle(
            &ctx,
            decode!(m::MetadataRequest),
        )),
        ApiKey::Produce => handlers::produce::handle(ctx, decode!(m::ProduceRequest)),
        ApiKey::Fetch => handlers::fetch::handle(ctx, decode!(m::FetchRequest)),
        ApiKey::ListOffsets => ctx.ready(&handlers::list_offsets::handle(
            &ctx,
            decode!(m::ListOffsetsRequest),
        )),
        ApiKey::CreateTopics if ctx.broker.cluster().is_some() => {
            handlers::cluster_topics::create_topics(ctx, decode!(m::CreateTopicsRequest))
        }
        ApiKey::DeleteTopics if ctx.broker.cluster().is_some() => {
            handlers::cluster_topics::delete_topics(ctx, decode!(m::DeleteTopicsRequest))
        }
        ApiKey::CreatePartitions if ctx.broker.cluster().is_some() => {
            handlers::cluster_topics::create_partitions(ctx, decode!(m::CreatePartitionsRequest))
        }
        ApiKey::CreateTopics => ctx.ready(&handlers::create_topics::handle(
            &ctx,
            decode!(m::CreateTopicsRequest),
        )),
        ApiKey::DeleteTopics => ctx.ready(&handlers::delete_topics::handle(
            &ctx,
            decode!(m::DeleteTopicsRequest),
        )),
        ApiKey::InitProducerId => ctx.ready(&handlers::init_producer_id::handle(
            &ctx,
            decode!(m::InitProducerIdRequest),
        )),
        ApiKey::CreatePartitions => ctx.ready(&handlers::create_partitions::handle(
            &ctx,
            decode!(m::CreatePartitionsRequest),
        )),
        ApiKey::DescribeConfigs => ctx.ready(&handlers::describe_configs::handle(
            &ctx,
            decode!(m::DescribeConfigsRequest),
        )),
        ApiKey::AlterConfigs => {
            handlers::alter_configs::handle(ctx, decode!(m::AlterConfigsRequest))
        }
        ApiKey::IncrementalAlterConfigs => handlers::alter_configs::handle_incremental(
            ctx,
            decode!(m::IncrementalAlterConfigsRequest),
        ),
        ApiKey::FindCoordinator => ctx.ready(&handlers::find_coordinator::handle(
            &ctx,
            decode!(m::FindCoordinatorRequest),
        )),
        ApiKey::JoinGroup => handlers::join_group::handle(ctx, decode!(m::JoinGroupRequest)),
        ApiKey::SyncGroup => handlers::sync_group::handle(ctx, decode!(m::SyncGroupRequest)),
        ApiKey::Heartbeat => ctx.ready(&handlers::heartbeat::handle(
            &ctx,
            decode!(m::HeartbeatRequest),
        )),
        ApiKey::LeaveGroup => ctx.ready(&handlers::leave_group::handle(
            &ctx,
            decode!(m::LeaveGroupRequest),
        )),
        ApiKey::OffsetCommit => {
            handlers::offset_commit::handle(ctx, decode!(m::OffsetCommitRequest))
        }
        ApiKey::OffsetFetch => ctx.ready(&handlers::offset_fetch::handle(
            &ctx,
            decode!(m::OffsetFetchRequest),
        )),
        ApiKey::ListGroups => ctx.ready(&handlers::list_groups::handle(
            &ctx,
            decode!(m::ListGroupsRequest),
        )),
        ApiKey::DescribeGroups => ctx.ready(&handlers::describe_groups::handle(
            &ctx,
            decode!(m::DescribeGroupsRequest),
        )),
        ApiKey::DeleteGroups => {
            handlers::delete_groups::handle(ctx, decode!(m::DeleteGroupsRequest))
        }
        ApiKey::OffsetDelete => {
            handlers::offset_delete::handle(ctx, decode!(m::OffsetDeleteRequest))
        }
        ApiKey::AlterPartitionReassignments => handlers::alter_partition_reassignments::handle(
            ctx,
            decode!(m::AlterPartitionReassignmentsRequest),
        ),
        ApiKey::ListPartitionReassignments => {
            ctx.ready(&handlers::list_partition_reassignments::handle(
                &ctx,
                decode!(m::ListPartitionReassignmentsRequest),
            ))
        }
        _ => {
            return Err(DispatchError::UnsupportedVersion {
                api,
                version,
                min: 0,
                max: -1,
            });
        }
    };
    Ok(reply)
}

/// What a handler knows about the request it answers.
pub(crate) struct Context {
    pub(crate) broker: Arc<Broker>,
    pub(crate) correlation_id: i32,
    pub(crate) version: i16,
    pub(crate) client_id: Option<String>,
    /// The client's address as Kafka shows it (`/127.0.0.1`).
    pub(crate) client_host: String,
}

impl Context {
    /// Encodes a response now.
    pub(crate) fn ready<R: Encodable + HeaderVersion>(&self, response: &R) -> Reply {
        Reply::Ready(encode_response(self.correlation_id, self.version, response))
    }
}

/// A size-prefixed response frame: header (v0 or flexible v1) then body. Empty when the
/// response cannot be encoded at this version (a handler bug, logged): the connection is
/// then closed rather than sent a corrupt frame.
pub(crate) fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &R,
) -> BytesMut {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0; 4]);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let encoded = header
        .encode(&mut buf, R::header_version(version))
        .and_then(|()| response.encode(&mut buf, version));
    if let Err(e) = encoded {
        tracing::error!(response = std::any::type_name::<R>(), version, error = %e, "encoding a response failed");
        return BytesMut::new();
    }
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf
}
