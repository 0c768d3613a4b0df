//! openraft's network: a [`ControllerLink`] per target controller, carrying AppendEntries,
//! Vote and InstallSnapshot over the controller port. An unreachable peer is reported as
//! such, so openraft backs off and retries.

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::rpc::{ControllerLink, ControllerRequest, ControllerResponse};
use super::{NodeId, TypeConfig};

/// Makes a link per target node.
#[derive(Debug, Default)]
pub(crate) struct ControllerNetwork;

impl RaftNetworkFactory<TypeConfig> for ControllerNetwork {
    type Network = PeerController;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerController {
            target,
            link: ControllerLink::new(node.addr.clone()),
        }
    }
}

/// The link to one other controller.
#[derive(Debug)]
pub(crate) struct PeerController {
    target: NodeId,
    link: ControllerLink,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerController {
    async fn call(
        &mut self,
        request: ControllerRequest,
        option: &RPCOption,
    ) -> Result<ControllerResponse, Unreachable> {
        self.link
            .call(&request, option.hard_ttl())
            .await
            .map_err(|e| Unreachable::new(&e))
    }

    /// A response of the wrong kind is a network fault; a controller that is stopping is
    /// as good as unreachable.
    fn unexpected<E: std::error::Error>(
        &self,
        response: &ControllerResponse,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        let e = std::io::Error::other(format!(
            "controller {} at {} answered {response:?}",
            self.target,
            self.link.address()
        ));
        match response {
            ControllerResponse::Failed(_) => RPCError::Unreachable(Unreachable::new(&e)),
            _ => RPCError::Network(NetworkError::new(&e)),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerController {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self
            .call(ControllerRequest::AppendEntries(rpc), &option)
            .await?
        {
            ControllerResponse::AppendEntries(Ok(r)) => Ok(r),
            ControllerResponse::AppendEntries(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self
            .call(ControllerRequest::InstallSnapshot(rpc), &option)
            .await?
        {
            ControllerResponse::InstallSnapshot(Ok(r)) => Ok(r),
            ControllerResponse::InstallSnapshot(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.call(ControllerRequest::Vote(rpc), &option).await? {
            ControllerResponse::Vote(Ok(r)) => Ok(r),
            ControllerResponse::Vote(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }
}
