//! `Controller`: this broker's Raft node for the metadata log and the controller duties that
//! go with it. Any broker may propose a command; one that is not the Raft leader forwards it
//! to the leader over the controller port and waits until its own state machine has applied
//! it, so what a client changed through one broker is what that broker then answers.
//!
//! Liveness: every broker heartbeats to the Raft leader, which keeps the times in memory
//! (they are not log entries). A leader that has not heard from a live broker within
//! `broker_session_timeout_ms` commits `FenceBroker`, which moves its partitions' leadership
//! to the ISR. A newly elected leader first gives every broker a full session to be heard,
//! but the previous leader's session runs from its last AppendEntries here (see
//! [`super::liveness`]).
//!
//! The leader also moves leadership back to preferred replicas every
//! `leader_imbalance_check_interval_seconds` (see [`super::preferred_leaders`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft, SnapshotPolicy};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::command::{ClusterCommand, CommandOutcome};
use super::liveness::{LeaderContact, Liveness};
use super::preferred_leaders;
use super::raft_log::RaftLogFile;
use super::raft_network::ControllerNetwork;
use super::raft_state_machine::{Applied, MetadataStateMachine};
use super::rpc::{ControllerLink, ControllerRequest, ControllerResponse, read_frame, write_frame};
use super::state::ClusterState;
use super::{NodeId, TypeConfig};
use crate::config::ClusterConfig;

/// How long a proposal may look for a leader and wait to be applied.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the leader checks for brokers whose session expired.
const FENCE_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long in-flight Raft calls may take to finish when the broker stops.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(300);
/// Raft's own timing: elections within a second of a controller dying. A follower that
/// knew a leader waits out its lease (openraft makes it the election timeout's maximum)
/// and then an election timeout: 0.8-1 s here, with eight heartbeats in the shortest.
const RAFT_HEARTBEAT_MS: u64 = 100;
const RAFT_ELECTION_MIN_MS: u64 = 300;
const RAFT_ELECTION_MAX_MS: u64 = 500;

/// Why the controller could not start or a proposal could not be committed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControllerError {
    #[error("opening the metadata log in {dir}: {source}")]
    Storage { dir: String, source: std::io::Error },
    #[error("listening for controllers on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("starting the Raft node: {0}")]
    Raft(String),
    #[error("no controller leader committed the change within {0:?}")]
    NoLeader(Duration),
    #[error("the broker is stopping")]
    Stopping,
}

/// This broker's controller.
pub(crate) struct Controller {
    node_id: NodeId,
    /// Proposed with the first registration, should this node lead then.
    cluster_id: String,
    config: ClusterConfig,
    raft: Raft<TypeConfig>,
    applied: watch::Receiver<Applied>,
    liveness: Mutex<Liveness>,
    /// The last Raft leader heard from here, for the next term's [`Liveness`].
    leader_contact: Mutex<Option<LeaderContact>>,
    /// Set when the broker stops: requests then get no answer from a stopped Raft node.
    stopping: AtomicBool,
    /// The leader's duties (fencing, leader rebalance) and joining: stopped before the Raft
    /// node, so none is left waiting inside it for a commit that cannot come.
    duties: Mutex<Vec<JoinHandle<()>>>,
    /// This run of the broker process (random at start), sent with every heartbeat.
    incarnation: u64,
    /// Set just before the Raft node stops: requests from peers still being handled (a
    /// forwarded proposal that cannot commit without a quorum) are dropped then.
    halted: watch::Sender<bool>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("node_id", &self.node_id)
            .finish()
    }
}

impl Controller {
    /// Opens the metadata log under `dir`, listens on the controller port and joins the
    /// quorum: the lowest voter initializes a new one, brokers that are not voters ask to
    /// learn it.
    pub(crate) async fn start(
        node_id: i32,
        cluster_id: String,
        config: &ClusterConfig,
        dir: &Path,
    ) -> Result<Arc<Self>, ControllerError> {
        let storage = |source| ControllerError::Storage {
            dir: dir.display().to_string(),
            source,
        };
        let log = RaftLogFile::open(dir).map_err(storage)?;
        let state_machine = MetadataStateMachine::open(dir).map_err(storage)?;
        let applied = state_machine.subscribe();
        let raft_config = openraft::Config {
            cluster_name: "weir".into(),
            heartbeat_interval: RAFT_HEARTBEAT_MS,
            election_timeout_min: RAFT_ELECTION_MIN_MS,
            election_timeout_max: RAFT_ELECTION_MAX_MS,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 100,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ControllerError::Raft(e.to_string()))?;
        // The port first: a Raft node started and then dropped, when the port is taken,
        // would log errors from its running core until the process exits.
        let listener = TcpListener::bind(config.controller_listener())
            .await
            .map_err(|source| ControllerError::Bind {
                address: config.controller_listener().to_string(),
                source,
            })?;
        let id = node_id as NodeId;
        let raft = Raft::new(
            id,
            Arc::new(raft_config),
            ControllerNetwork,
            log,
            state_machine,
        )
        .await
        .map_err(|e| ControllerError::Raft(e.to_string()))?;
        let controller = Arc::new(Self {
            node_id: id,
            cluster_id,
            config: config.clone(),
            raft,
            applied,
            liveness: Mutex::new(Liveness::default()),
            leader_contact: Mutex::new(None),
            stopping: AtomicBool::new(false),
            duties: Mutex::new(Vec::new()),
            halted: watch::Sender::new(false),
            incarnation: uuid::Uuid::new_v4().as_u64_pair().0,
        });
        tokio::spawn(Arc::clone(&controller).accept(listener));
        if config.voters().contains_key(&id) {
            let members: BTreeMap<NodeId, BasicNode> = config
                .voters()
                .iter()
                .map(|(id, address)| (*id, BasicNode::new(address)))
                .collect();
            let initialized = controller
                .raft
                .is_initialized()
                .await
                .map_err(|e| ControllerError::Raft(e.to_string()))?;
            // The lowest voter bootstraps a new quorum; the others learn the membership from
            // it (a second initialize racing with the first would be refused).
            let bootstraps = config.voters().keys().next() == Some(&id);
            if !initialized
                && bootstraps
                && let Err(e) = controller.raft.initialize(members).await
            {
                tracing::info!(error = %e, "metadata quorum already initialized");
            }
        }
        let mut duties = vec![
            tokio::spawn(Arc::clone(&controller).fence_expired_sessions()),
            tokio::spawn(Arc::clone(&controller).rebalance_leaders()),
        ];
        if !config.voters().contains_key(&id) {
            duties.push(tokio::spawn(Arc::clone(&controller).join()));
        }
        *controller.duties.lock() = duties;
        tracing::info!(
            node = node_id,
            listener = config.controller_listener(),
            "controller started"
        );
        Ok(controller)
    }

    /// The applied metadata, as it changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Applied> {
        self.applied.clone()
    }

    /// The applied metadata now.
    pub(crate) fn state(&self) -> Arc<ClusterState> {
        Arc::clone(&self.applied.borrow().state)
    }

    /// The Raft leader, if one is known.
    pub(crate) fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Stops the Raft node: new requests and proposals are turned away first, and those
    /// already inside Raft get a moment to finish, so none is cut off mid-call.
    pub(crate) async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for duty in self.duties.lock().drain(..) {
            duty.abort();
        }
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        self.halted.send_replace(true);
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "stopping the Raft node");
        }
    }

    /// Commits `command` through the Raft leader and waits until this broker applied it.
    pub(crate) async fn propose(
        &self,
        command: ClusterCommand,
    ) -> Result<CommandOutcome, ControllerError> {
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return Err(ControllerError::Stopping);
            }
            if let Some((index, outcome)) = self.try_propose(&command).await {
                let mut applied = self.applied.clone();
                let waited =
                    tokio::time::timeout_at(deadline, applied.wait_for(|a| a.index >= index)).await;
                return match waited {
                    Ok(Ok(_)) => Ok(outcome),
                    _ => Err(ControllerError::NoLeader(PROPOSE_TIMEOUT)),
                };
            }
            if Instant::now() >= deadline {
                return Err(ControllerError::NoLeader(PROPOSE_TIMEOUT));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One attempt: here if this node leads, else at the leader. `None` to retry.
    async fn try_propose(&self, command: &ClusterCommand) -> Option<(u64, CommandOutcome)> {
        match self.raft.client_write(command.clone()).await {
            Ok(written) => Some((written.log_id.index, written.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                let address = forward.leader_node?.addr;
                let mut link = ControllerLink::new(address);
                match link
                    .call(
                        &ControllerRequest::Propose(command.clone()),
                        PROPOSE_TIMEOUT,
                    )
                    .await
                {
                    Ok(ControllerResponse::Proposed { index, outcome }) => Some((index, outcome)),
                    Ok(other) => {
                        tracing::debug!(?other, "leader did not take the proposal; retrying");
                        None
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "forwarding a proposal failed; retrying");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "proposing to the metadata log failed; retrying");
                None
            }
        }
    }

    /// The controller address of node `id`, from the membership.
    fn address_of(&self, id: NodeId) -> Option<String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone())
            .or_else(|| self.config.voters().get(&id).cloned())
    }

    /// Sends this broker's heartbeat to the Raft leader (or records it, when this is it).
    pub(crate) async fn heartbeat(
        &self,
        link: &mut Option<ControllerLink>,
        id: i32,
        host: &str,
        port: i32,
    ) {
        let Some(leader) = self.leader() else {
            return;
        };
        if leader == self.node_id {
            self.heartbeat_received(id, host.to_string(), port, self.incarnation)
                .await;
            return;
        }
        let Some(address) = self.address_of(leader) else {
            return;
        };
        if link.as_ref().is_none_or(|l| l.address() != address) {
            *link = Some(ControllerLink::new(address));
        }
        if let Some(link) = link.as_mut() {
            let request = ControllerRequest::Heartbeat {
                id,
                host: host.to_string(),
                port,
                incarnation: self.incarnation,
            };
            // Not a whole session: a call stuck on a leader that vanished (cut off, frozen)
            // must end in time for the next heartbeat to reach its successor, which gives
            // every broker one session from its election.
            let patience =
                (self.config.session_timeout() / 3).max(self.config.heartbeat_interval());
            if let Err(e) = link.call(&request, patience).await {
                tracing::debug!(error = %e, "heartbeat to the controller leader failed");
            }
        }
    }

    /// On the leader: a broker is alive; register it if the metadata says otherwise.
    async fn heartbeat_received(
        &self,
        id: i32,
        host: String,
        port: i32,
        incarnation: u64,
    ) -> ControllerResponse {
        if self.leader() != Some(self.node_id) {
            return ControllerResponse::NotLeader {
                leader: self.leader(),
            };
        }
        self.liveness.lock().heard(id, Instant::now());
        if !self.state().is_registered_as(id, &host, port, incarnation) {
            tracing::info!(broker = id, %host, port, "registering broker");
            let command = ClusterCommand::RegisterBroker {
                id,
                host,
                port,
                cluster_id: self.cluster_id.clone(),
                incarnation,
            };
            if let Err(e) = self.propose(command).await {
                return ControllerResponse::Failed(e.to_string());
            }
        }
        ControllerResponse::Done
    }

    /// On the leader: fences brokers whose session expired.
    async fn fence_expired_sessions(self: Arc<Self>) {
        let mut tick = tokio::time::interval(FENCE_CHECK_INTERVAL);
        loop {
            tick.tick().await;
            let (leader, term) = {
                let metrics = self.raft.metrics();
                let m = metrics.borrow();
                (m.current_leader, m.current_term)
            };
            if leader != Some(self.node_id) {
                self.liveness.lock().clear();
                continue;
            }
            let now = Instant::now();
            let session = self.config.session_timeout();
            let expired: Vec<i32> = {
                let mut liveness = self.liveness.lock();
                if liveness.term() != Some(term) {
                    // A live previous leader hears of this one with its first AppendEntries
                    // and heartbeats within an interval: a few intervals are its due.
                    let grace = (self.config.heartbeat_interval() * 3).min(session);
                    let previous = *self.leader_contact.lock();
                    liveness.start_term(term, now, previous, session, grace);
                }
                liveness.expired(&self.state().unfenced_brokers(), now, session)
            };
            for id in expired {
                tracing::warn!(broker = id, timeout = ?self.config.session_timeout(), "broker missed its heartbeats; fencing it");
                if let Err(e) = self.propose(ClusterCommand::FenceBroker { id }).await {
                    tracing::warn!(broker = id, error = %e, "fencing failed; will retry");
                }
            }
        }
    }

    /// On the leader: hands leadership back to preferred replicas where a broker's share of
    /// partitions led elsewhere is over the threshold.
    async fn rebalance_leaders(self: Arc<Self>) {
        let Some(interval) = self.config.leader_imbalance_check_interval() else {
            return;
        };
        let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.leader() != Some(self.node_id) {
                continue;
            }
            let percentage = self.config.leader_imbalance_percentage();
            let brokers = preferred_leaders::imbalanced_brokers(&self.state(), percentage);
            if brokers.is_empty() {
                continue;
            }
            if let Err(e) = self
                .propose(ClusterCommand::ElectPreferredLeaders { brokers })
                .await
            {
                tracing::warn!(error = %e, "handing leadership back to preferred replicas failed; will retry");
            }
        }
    }

    /// A broker that is not a voter asks the voters, until one that leads adds it as a
    /// learner of the metadata log.
    async fn join(self: Arc<Self>) {
        let request = ControllerRequest::Join {
            id: self.node_id,
            address: self.config.controller_listener().to_string(),
        };
        let voters: Vec<String> = self.config.voters().values().cloned().collect();
        let mut next = 0;
        loop {
            let mut link = ControllerLink::new(voters[next % voters.len()].clone());
            match link.call(&request, Duration::from_secs(10)).await {
                Ok(ControllerResponse::Done) => {
                    tracing::info!("joined the metadata quorum as a learner");
                    return;
                }
                Ok(ControllerResponse::NotLeader {
                    leader: Some(leader),
                }) => {
                    if let Some(i) = self.config.voters().keys().position(|id| *id == leader) {
                        next = i;
                        continue;
                    }
                    next += 1;
                }
                _ => next += 1,
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn accept(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(Arc::clone(&self).serve(stream, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a controller connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn serve(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr) {
        let mut halted = self.halted.subscribe();
        loop {
            let request = match read_frame::<ControllerRequest>(&mut stream).await {
                Ok(Some(request)) => request,
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "controller connection failed");
                    return;
                }
            };
            let response = tokio::select! {
                response = self.handle(request) => response,
                _ = halted.wait_for(|halted| *halted) => return,
            };
            if let Err(e) = write_frame(&mut stream, &response).await {
                tracing::debug!(%peer, error = %e, "controller connection failed");
                return;
            }
        }
    }

    async fn handle(&self, request: ControllerRequest) -> ControllerResponse {
        if self.stopping.load(Ordering::SeqCst) {
            return ControllerResponse::Failed("this controller is stopping".into());
        }
        match request {
            ControllerRequest::AppendEntries(rpc) => {
                // Only a leader sends these: it is alive now.
                if let Some(leader) = rpc.vote.leader_id().voted_for()
                    && leader != self.node_id
                {
                    *self.leader_contact.lock() = Some(LeaderContact {
                        leader: leader as i32,
                        at: Instant::now(),
                    });
                }
                ControllerResponse::AppendEntries(self.raft.append_entries(rpc).await)
            }
            ControllerRequest::Vote(rpc) => ControllerResponse::Vote(self.raft.vote(rpc).await),
            ControllerRequest::InstallSnapshot(rpc) => {
                ControllerResponse::InstallSnapshot(self.raft.install_snapshot(rpc).await)
            }
            ControllerRequest::Propose(command) => match self.raft.client_write(command).await {
                Ok(written) => ControllerResponse::Proposed {
                    index: written.log_id.index,
                    outcome: written.data,
                },
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    ControllerResponse::NotLeader {
                        leader: f.leader_id,
                    }
                }
                Err(e) => ControllerResponse::Failed(e.to_string()),
            },
            ControllerRequest::Heartbeat {
                id,
                host,
                port,
                incarnation,
            } => self.heartbeat_received(id, host, port, incarnation).await,
            ControllerRequest::Join { id, address } => {
                match self
                    .raft
                    .add_learner(id, BasicNode::new(address), false)
                    .await
                {
                    Ok(_) => ControllerResponse::Done,
                    Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                        ControllerResponse::NotLeader {
                            leader: f.leader_id,
                        }
                    }
                    Err(e) => ControllerResponse::Failed(e.to_string()),
                }
            }
        }
    }
}
