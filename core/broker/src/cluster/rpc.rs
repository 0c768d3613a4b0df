//! The controller port: each message is a `u32` big-endian length and a JSON body, request
//! then response on the same connection. It carries openraft's RPCs between controllers and
//! the brokers' own requests to the Raft leader (proposals, heartbeats, joins).

use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::command::{ClusterCommand, CommandOutcome};
use super::{NodeId, TypeConfig};

/// The largest frame either side accepts (snapshots of the metadata are small).
const MAX_FRAME: usize = 64 << 20;

/// A request on the controller port.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ControllerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Commit this command (sent to the Raft leader).
    Propose(ClusterCommand),
    /// A broker is alive and serves clients at `host:port`.
    Heartbeat {
        id: i32,
        host: String,
        port: i32,
        /// Which run of the broker process: a new one registers again.
        #[serde(default)]
        incarnation: u64,
    },
    /// A broker that is not a voter asks to follow the metadata log as a learner.
    Join {
        id: NodeId,
        address: String,
    },
}

/// The answer to a [`ControllerRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ControllerResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The command was committed at `index` with this outcome.
    Proposed {
        index: u64,
        outcome: CommandOutcome,
    },
    Done,
    /// This node is not the Raft leader; `leader` is, if known.
    NotLeader {
        leader: Option<NodeId>,
    },
    /// The leader could not do it (storage or shutdown); retry later.
    Failed(String),
}

/// Writes one frame.
pub(crate) async fn write_frame<T: Serialize>(
    stream: &mut TcpStream,
    message: &T,
) -> std::io::Result<()> {
    let body = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await
}

/// Reads one frame; `None` when the peer closed the connection between frames.
pub(crate) async fn read_frame<T: DeserializeOwned>(
    stream: &mut TcpStream,
) -> std::io::Result<Option<T>> {
    let len = match stream.read_u32().await {
        Ok(len) => len as usize,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("controller frame of {len} bytes is over the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A connection to one controller address, reopened after any failure.
#[derive(Debug)]
pub(crate) struct ControllerLink {
    address: String,
    stream: Option<TcpStream>,
}

impl ControllerLink {
    pub(crate) fn new(address: String) -> Self {
        Self {
            address,
            stream: None,
        }
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Sends a request and waits up to `timeout` for its answer.
    pub(crate) async fn call(
        &mut self,
        request: &ControllerRequest,
        timeout: Duration,
    ) -> std::io::Result<ControllerResponse> {
        let exchange = async {
            if self.stream.is_none() {
                let stream = TcpStream::connect(&self.address).await?;
                let _ = stream.set_nodelay(true);
                self.stream = Some(stream);
            }
            let stream = self
                .stream
                .as_mut()
                .ok_or_else(|| std::io::Error::other("no stream"))?;
            write_frame(stream, request).await?;
            read_frame(stream).await?.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "controller closed the connection",
                )
            })
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{} did not answer within {timeout:?}", self.address),
            )),
        };
        if result.is_err() {
            // The stream may hold half a frame: start the next call on a fresh one.
            self.stream = None;
        }
        result
    }
}
