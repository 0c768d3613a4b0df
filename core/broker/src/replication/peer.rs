//! `PeerConnection`: a follower's connection to its partition leader's Kafka listener. It
//! speaks the same protocol through the same `kafka-protocol` codecs clients use, one request
//! at a time (a follower has one fetch in flight per partition).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{FetchRequest, FetchResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fetch v12 carries `last_fetched_epoch` and answers `diverging_epoch` (KIP-595): the
/// follower learns where its history departs from the leader's in the fetch itself.
pub(crate) const FETCH_VERSION: i16 = 12;
/// The largest response a follower accepts.
const MAX_FRAME: usize = 256 << 20;

/// Why a call to the leader failed; the follower reconnects and retries.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    #[error("connecting to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("talking to {address}: {source}")]
    Io {
        address: String,
        source: std::io::Error,
    },
    #[error("{address} did not answer within {timeout:?}")]
    Timeout { address: String, timeout: Duration },
    #[error("encoding or decoding a fetch with {address}: {message}")]
    Codec { address: String, message: String },
}

/// One open connection to a leader.
#[derive(Debug)]
pub(crate) struct PeerConnection {
    address: String,
    stream: TcpStream,
    correlation_id: i32,
    client_id: StrBytes,
}

impl PeerConnection {
    pub(crate) async fn open(address: &str, node_id: i32) -> Result<Self, PeerError> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address))
            .await
            .map_err(|_| PeerError::Timeout {
                address: address.to_string(),
                timeout: Duration::from_secs(5),
            })?
            .map_err(|source| PeerError::Connect {
                address: address.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        Ok(Self {
            address: address.to_string(),
            stream,
            correlation_id: 0,
            client_id: StrBytes::from_string(format!("weir-replica-{node_id}")),
        })
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Sends a fetch and waits for its answer (the leader long-polls up to `max_wait_ms`).
    pub(crate) async fn fetch(
        &mut self,
        request: &FetchRequest,
        timeout: Duration,
    ) -> Result<FetchResponse, PeerError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let frame = self.frame(request)?;
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let len = self.stream.read_i32().await?;
            let len = usize::try_from(len)
                .ok()
                .filter(|l| (4..=MAX_FRAME).contains(l))
                .ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "bad frame length")
                })?;
            let mut buf = BytesMut::zeroed(len);
            self.stream.read_exact(&mut buf).await?;
            Ok::<Bytes, std::io::Error>(buf.freeze())
        };
        let mut bytes = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| PeerError::Timeout {
                address: self.address.clone(),
                timeout,
            })?
            .map_err(|source| PeerError::Io {
                address: self.address.clone(),
                source,
            })?;
        let codec = |message: String| PeerError::Codec {
            address: self.address.clone(),
            message,
        };
        let header =
            ResponseHeader::decode(&mut bytes, FetchResponse::header_version(FETCH_VERSION))
                .map_err(|e| codec(e.to_string()))?;
        if header.correlation_id != self.correlation_id {
            return Err(codec(format!(
                "answer to request {} where {} was expected",
                header.correlation_id, self.correlation_id
            )));
        }
        FetchResponse::decode(&mut bytes, FETCH_VERSION).map_err(|e| codec(e.to_string()))
    }

    fn frame(&self, request: &FetchRequest) -> Result<BytesMut, PeerError> {
        let codec = |e: String| PeerError::Codec {
            address: self.address.clone(),
            message: e,
        };
        let mut header = RequestHeader::default();
        header.request_api_key = FetchRequest::KEY;
        header.request_api_version = FETCH_VERSION;
        header.correlation_id = self.correlation_id;
        header.client_id = Some(self.client_id.clone());
        let mut buf = BytesMut::with_capacity(256);
        buf.put_i32(0);
        header
            .encode(&mut buf, FetchRequest::header_version(FETCH_VERSION))
            .map_err(|e| codec(e.to_string()))?;
        request
            .encode(&mut buf, FETCH_VERSION)
            .map_err(|e| codec(e.to_string()))?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        Ok(buf)
    }
}
