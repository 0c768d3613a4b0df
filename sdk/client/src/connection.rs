//! One TCP connection to one broker. Requests are pipelined: each is written under a short
//! write lock and waits for the response carrying its correlation id, which a reader task
//! hands back. The first exchange is ApiVersions (v3, falling back to v0 as KIP-511 asks),
//! and every later request uses the highest version both sides speak. A request that times
//! out closes the connection, as the Java client does: the stream's state is unknown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// The versions this client implements, per API: the negotiated version never exceeds them.
const CLIENT_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 0, 8),
    (ApiKey::OffsetFetch, 0, 8),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
];

/// The largest response frame accepted (Kafka's `socket.request.max.bytes` is 100 MiB).
const MAX_FRAME: usize = 200 * 1024 * 1024;

/// A short name for an API, for errors and logs.
pub(crate) fn api_name(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::AlterPartitionReassignments => "AlterPartitionReassignments",
        ApiKey::ListPartitionReassignments => "ListPartitionReassignments",
        ApiKey::DescribeGroups => "DescribeGroups",
        _ => "request",
    }
}

type Waiter = oneshot::Sender<Result<Bytes>>;

/// Responses not yet received, by correlation id; `None` once the connection is dead.
type Pending = Arc<Mutex<Option<HashMap<i32, Waiter>>>>;

/// A connection to one broker.
#[derive(Debug)]
pub(crate) struct Connection {
    address: String,
    client_id: StrBytes,
    request_timeout: Duration,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_correlation_id: AtomicI32,
    closed: Arc<AtomicBool>,
    versions: HashMap<i16, (i16, i16)>,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn codec_error(api: ApiKey, version: i16, e: impl std::fmt::Display) -> Error {
    Error::Codec {
        api: api_name(api),
        version,
        reason: e.to_string(),
    }
}

/// A request this client sends, and the response it gets back. (`kafka-protocol` ties its
/// own `Request` trait to its broker feature, which a client does not need.)
pub(crate) trait Request: Encodable {
    /// The API.
    const API: ApiKey;
    /// The response message.
    type Response: Decodable + HeaderVersion;
}

macro_rules! requests {
    ($($request:ident => $response:ident, $api:ident;)*) => {
        $(impl Request for $request {
            const API: ApiKey = ApiKey::$api;
            type Response = $response;
        })*
    };
}

requests! {
    ProduceRequest => ProduceResponse, Produce;
    FetchRequest => FetchResponse, Fetch;
    ListOffsetsRequest => ListOffsetsResponse, ListOffsets;
    MetadataRequest => MetadataResponse, Metadata;
    ApiVersionsRequest => ApiVersionsResponse, ApiVersions;
    InitProducerIdRequest => InitProducerIdResponse, InitProducerId;
    CreateTopicsRequest => CreateTopicsResponse, CreateTopics;
    FindCoordinatorRequest => FindCoordinatorResponse, FindCoordinator;
    JoinGroupRequest => JoinGroupResponse, JoinGroup;
    SyncGroupRequest => SyncGroupResponse, SyncGroup;
    HeartbeatRequest => HeartbeatResponse, Heartbeat;
    LeaveGroupRequest => LeaveGroupResponse, LeaveGroup;
    OffsetCommitRequest => OffsetCommitResponse, OffsetCommit;
    OffsetFetchRequest => OffsetFetchResponse, OffsetFetch;
    DeleteTopicsRequest => DeleteTopicsResponse, DeleteTopics;
    CreatePartitionsRequest => CreatePartitionsResponse, CreatePartitions;
    DescribeConfigsRequest => DescribeConfigsResponse, DescribeConfigs;
    IncrementalAlterConfigsRequest => IncrementalAlterConfigsResponse, IncrementalAlterConfigs;
    ListGroupsRequest => ListGroupsResponse, ListGroups;
    DescribeGroupsRequest => DescribeGroupsResponse, DescribeGroups;
    AlterPartitionReassignmentsRequest => AlterPartitionReassignmentsResponse, AlterPartitionReassignments;
    ListPartitionReassignmentsRequest => ListPartitionReassignmentsResponse, ListPartitionReassignments;
}

fn api_key<R: Request>() -> ApiKey {
    R::API
}

/// Encodes a length-prefixed request frame.
fn frame<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
) -> Result<BytesMut> {
    let api = api_key::<R>();
    let mut header = RequestHeader::default();
    header.request_api_key = R::API as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(client_id.clone());
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    header
        .encode(&mut buf, api.request_header_version(version))
        .map_err(|e| codec_error(api, version, e))?;
    request
        .encode(&mut buf, version)
        .map_err(|e| codec_error(api, version, e))?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// Decodes a response (without its length prefix, correlation id included).
fn decode_response<R: Request>(mut bytes: Bytes, version: i16) -> Result<R::Response> {
    let api = api_key::<R>();
    ResponseHeader::decode(&mut bytes, R::Response::header_version(version))
        .map_err(|e| codec_error(api, version, e))?;
    R::Response::decode(&mut bytes, version).map_err(|e| codec_error(api, version, e))
}

async fn read_frame(stream: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Bytes> {
    let len = stream.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=MAX_FRAME).contains(l))
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad frame length {len}"),
            )
        })?;
    let mut buf = BytesMut::zeroed(len);
    stream.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}

/// What the connection is opened with.
#[derive(Debug, Clone)]
pub(crate) struct ConnectOptions {
    pub(crate) client_id: String,
    pub(crate) request_timeout: Duration,
}

impl Connection {
    /// Connects and negotiates API versions.
    pub(crate) async fn open(address: &str, options: &ConnectOptions) -> Result<Arc<Self>> {
        let connect_error = |source| Error::Connect {
            address: address.to_string(),
            source,
        };
        let mut stream = tokio::time::timeout(options.request_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| connect_error(std::io::ErrorKind::TimedOut.into()))?
            .map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        let client_id = StrBytes::from_string(options.client_id.clone());
        let negotiate = Self::negotiate(&mut stream, &client_id, address);
        let versions = tokio::time::timeout(options.request_timeout, negotiate)
            .await
            .map_err(|_| Error::RequestTimeout {
                api: "ApiVersions",
                address: address.to_string(),
                timeout: options.request_timeout,
            })??;
        let (read, write) = stream.into_split();
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let closed = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_loop(
            read,
            Arc::clone(&pending),
            Arc::clone(&closed),
            address.to_string(),
        ));
        tracing::debug!(address, "connected");
        Ok(Arc::new(Self {
            address: address.to_string(),
            client_id,
            request_timeout: options.request_timeout,
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_correlation_id: AtomicI32::new(1),
            closed,
            versions,
            reader,
        }))
    }

    /// ApiVersions v3, or v0 when the broker answers UNSUPPORTED_VERSION.
    async fn negotiate(
        stream: &mut TcpStream,
        client_id: &StrBytes,
        address: &str,
    ) -> Result<HashMap<i16, (i16, i16)>> {
        let closed = |_| Error::ConnectionClosed {
            address: address.to_string(),
        };
        for version in [3, 0] {
            let mut request = ApiVersionsRequest::default();
            if version >= 3 {
                request.client_software_name = StrBytes::from_static_str("weir-client");
                request.client_software_version =
                    StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
            }
            let bytes = frame(&request, version, 0, client_id)?;
            stream.write_all(&bytes).await.map_err(closed)?;
            let response = read_frame(stream).await.map_err(closed)?;
            // KIP-511: a broker that does not know this version answers in v0.
            let response = decode_response::<ApiVersionsRequest>(response.clone(), version)
                .or_else(|e| decode_response::<ApiVersionsRequest>(response, 0).map_err(|_| e))?;
            let ApiVersionsResponse {
                error_code,
                api_keys,
                ..
            } = response;
            match ResponseError::try_from_code(error_code) {
                None => {
                    return Ok(api_keys
                        .into_iter()
                        .map(|k| (k.api_key, (k.min_version, k.max_version)))
                        .collect());
                }
                Some(ResponseError::UnsupportedVersion) if version > 0 => continue,
                Some(error) => {
                    return Err(Error::Broker {
                        what: "ApiVersions".to_string(),
                        error,
                    });
                }
            }
        }
        Err(Error::UnsupportedApi {
            api: "ApiVersions",
            address: address.to_string(),
        })
    }

    /// Whether the connection is dead (closed by either side, or timed out).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The highest version of `api` both sides speak.
    pub(crate) fn version(&self, api: ApiKey) -> Result<i16> {
        let unsupported = || Error::UnsupportedApi {
            api: api_name(api),
            address: self.address.clone(),
        };
        let (_, client_min, client_max) = CLIENT_VERSIONS
            .iter()
            .find(|(k, _, _)| *k == api)
            .ok_or_else(unsupported)?;
        let (broker_min, broker_max) = self.versions.get(&(api as i16)).ok_or_else(unsupported)?;
        let version = (*client_max).min(*broker_max);
        if version < (*client_min).max(*broker_min) {
            return Err(unsupported());
        }
        Ok(version)
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub(crate) async fn call<R: Request>(&self, request: &R) -> Result<R::Response> {
        let version = self.version(api_key::<R>())?;
        self.call_at(request, version).await
    }

    /// Sends `request` at `version` and waits for its response, up to the request timeout.
    pub(crate) async fn call_at<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<R::Response> {
        self.call_within(request, version, self.request_timeout)
            .await
    }

    /// As [`Self::call_at`] with a given timeout (long polls add their wait to it).
    pub(crate) async fn call_within<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        let (correlation_id, rx) = self.write_request(request, version).await?;
        self.await_response::<R>(correlation_id, rx, version, timeout)
            .await
    }

    /// Writes `request` now and returns a future for its response: requests written one
    /// after the other reach the broker in that order, while their answers are awaited
    /// concurrently (a producer's pipelined batches rely on this).
    pub(crate) async fn send_pipelined<R: Request>(
        self: &Arc<Self>,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<impl std::future::Future<Output = Result<R::Response>> + Send + use<R>> {
        let (correlation_id, rx) = self.write_request(request, version).await?;
        let connection = Arc::clone(self);
        Ok(async move {
            connection
                .await_response::<R>(correlation_id, rx, version, timeout)
                .await
        })
    }

    async fn write_request<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<(i32, oneshot::Receiver<Result<Bytes>>)> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let bytes = frame(request, version, correlation_id, &self.client_id)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock();
            let Some(map) = pending.as_mut() else {
                return Err(self.closed_error());
            };
            map.insert(correlation_id, tx);
        }
        if let Err(e) = self.write(&bytes).await {
            if let Some(map) = self.pending.lock().as_mut() {
                map.remove(&correlation_id);
            }
            return Err(e);
        }
        Ok((correlation_id, rx))
    }

    async fn await_response<R: Request>(
        &self,
        correlation_id: i32,
        rx: oneshot::Receiver<Result<Bytes>>,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(response))) => decode_response::<R>(response, version),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                tracing::warn!(address = %self.address, api = api_name(api_key::<R>()), correlation_id, "request timed out; closing the connection");
                self.close();
                Err(Error::RequestTimeout {
                    api: api_name(api_key::<R>()),
                    address: self.address.clone(),
                    timeout,
                })
            }
        }
    }

    /// Sends `request` at `version` without waiting for a response (a produce with
    /// `acks=0`, which the broker does not answer).
    pub(crate) async fn send_only<R: Request>(&self, request: &R, version: i16) -> Result<()> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let bytes = frame(request, version, correlation_id, &self.client_id)?;
        self.write(&bytes).await
    }

    async fn write(&self, bytes: &[u8]) -> Result<()> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let mut writer = self.writer.lock().await;
        if let Err(e) = writer.write_all(bytes).await {
            tracing::debug!(address = %self.address, error = %e, "write failed");
            drop(writer);
            self.close();
            return Err(self.closed_error());
        }
        Ok(())
    }

    fn closed_error(&self) -> Error {
        Error::ConnectionClosed {
            address: self.address.clone(),
        }
    }

    /// Closes the connection: pending requests fail with `ConnectionClosed`.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.reader.abort();
        fail_pending(&self.pending, &self.address);
    }
}

fn fail_pending(pending: &Pending, address: &str) {
    let waiters = pending.lock().take();
    for (_, waiter) in waiters.into_iter().flatten() {
        let _ = waiter.send(Err(Error::ConnectionClosed {
            address: address.to_string(),
        }));
    }
}

async fn read_loop(
    mut read: OwnedReadHalf,
    pending: Pending,
    closed: Arc<AtomicBool>,
    address: String,
) {
    loop {
        match read_frame(&mut read).await {
            Ok(mut frame) => {
                let correlation_id = frame.clone().get_i32();
                let waiter = pending
                    .lock()
                    .as_mut()
                    .and_then(|m| m.remove(&correlation_id));
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(Ok(std::mem::take(&mut frame)));
                    }
                    None => tracing::debug!(%address, correlation_id, "response nobody waits for"),
                }
            }
            Err(e) => {
                tracing::debug!(%address, error = %e, "connection closed");
                break;
            }
        }
    }
    closed.store(true, Ordering::Release);
    fail_pending(&pending, &address);
}
