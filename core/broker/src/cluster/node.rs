//! `ClusterNode`: a broker's part in the cluster once it serves — its controller, and the
//! loops that keep it in step: applying metadata to partition roles, heartbeating to the
//! controller leader, and, for the partitions it leads, proposing ISR changes. Once at
//! start, after catching up with the metadata, it deletes the logs of topics deleted while
//! it was down, and from then on the copies of partitions it is no longer a replica of.
//!
//! A graceful stop is Kafka's controlled shutdown: heartbeats stop, and the controller moves
//! the partitions the broker leads to their other in-sync replicas and takes it out of the
//! ISRs while it still answers clients (with NOT_LEADER_OR_FOLLOWER, so they find the new
//! leaders at once instead of after its session).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::command::ClusterCommand;
use super::controller::{Controller, ControllerError};
use super::state::ClusterState;
use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;
use crate::replication::roles::{self, FollowerLoops};

/// How often a leader looks for followers to drop from or add to the ISR.
const ISR_CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// The running cluster membership of one broker.
#[derive(Debug)]
pub(crate) struct ClusterNode {
    pub(crate) controller: Arc<Controller>,
    /// Stopped first on a graceful stop: a heartbeat would register the broker again.
    heartbeat: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    /// How long the controller waits before fencing a silent broker: the longest a graceful
    /// stop waits for its hand-over.
    session_timeout: Duration,
    /// Turns true once this broker has applied the metadata committed before it started:
    /// until then its view (after a restart, an old snapshot) may name stale coordinators.
    caught_up: watch::Receiver<bool>,
    /// Coordinator slots this broker is proposing an assignment for, so that clients
    /// retrying FindCoordinator do not queue one proposal per retry.
    assigning: Mutex<BTreeSet<u32>>,
}

impl ClusterNode {
    /// Starts the controller and the loops.
    pub(crate) async fn start(broker: &Arc<Broker>) -> Result<Self, ControllerError> {
        let Some(config) = broker.config.cluster() else {
            return Err(ControllerError::Raft("no cluster configured".into()));
        };
        let dir = broker.config.log_dirs()[0].join("raft");
        let cluster_id = broker.topics.cluster_id().to_string();
        let controller =
            Controller::start(broker.config.node_id(), cluster_id, config, &dir).await?;
        let (caught_up, caught_up_seen) = watch::channel(false);
        let caught_up_here = caught_up_seen.clone();
        let tasks = vec![
            tokio::spawn(follow_metadata(
                Arc::clone(broker),
                Arc::clone(&controller),
                caught_up_seen,
            )),
            tokio::spawn(maintain_isr(Arc::clone(broker), Arc::clone(&controller))),
            tokio::spawn(catch_up(
                Arc::clone(broker),
                Arc::clone(&controller),
                caught_up,
            )),
        ];
        let heartbeat = tokio::spawn(heartbeat(Arc::clone(broker), Arc::clone(&controller)));
        Ok(Self {
            controller,
            heartbeat,
            tasks,
            session_timeout: config.session_timeout(),
            caught_up: caught_up_here,
            assigning: Mutex::new(BTreeSet::new()),
        })
    }

    /// The coordinator the metadata names for consumer group `group`, once this broker has
    /// caught up with the metadata (`None` before, or when the group's slot has none).
    pub(crate) fn group_coordinator(&self, group: &str) -> Option<i32> {
        if !self.caught_up() {
            return None;
        }
        self.controller.state().group_coordinator(group)
    }

    /// Whether this broker has caught up with the metadata committed before it started.
    pub(crate) fn caught_up(&self) -> bool {
        *self.caught_up.borrow()
    }

    /// Claims the proposal for coordinator slot `slot`: false when one is already running.
    pub(crate) fn start_assigning(&self, slot: u32) -> bool {
        self.assigning.lock().insert(slot)
    }

    /// Releases the claim of [`Self::start_assigning`].
    pub(crate) fn done_assigning(&self, slot: u32) {
        self.assigning.lock().remove(&slot);
    }

    /// Controlled shutdown: the partitions this broker leads move to other live in-sync
    /// replicas and it leaves the ISRs it shares (`ShutDownBroker`), while it still answers
    /// clients. Waits at most a session (what the controller would otherwise take to fence
    /// it); without a quorum the broker stops anyway and is fenced when the controller is back.
    pub(crate) async fn hand_over_leadership(&self, broker: &Broker) {
        self.heartbeat.abort();
        let me = broker.config.node_id();
        if !self.controller.state().shares_an_isr(me) {
            // Nothing to hand over (and no need to wait for a quorum that may be gone).
            return;
        }
        let patience = self.session_timeout;
        let shut_down = self
            .controller
            .propose(ClusterCommand::ShutDownBroker { id: me });
        match tokio::time::timeout(patience, shut_down).await {
            Ok(Ok(Ok(()))) => {
                tracing::info!("handed leadership and ISR places over to the other replicas")
            }
            Ok(Ok(Err(refusal))) => {
                tracing::info!(%refusal, "the controller refused the hand-over before stopping")
            }
            Ok(Err(e)) => {
                tracing::info!(error = %e, "no hand-over before stopping: the controller will fence this broker when its session ends")
            }
            Err(_) => tracing::info!(
                ?patience,
                "no hand-over before stopping: the controller did not commit it in time"
            ),
        }
    }

    /// Stops the loops and the Raft node.
    pub(crate) async fn stop(&self) {
        self.heartbeat.abort();
        for task in &self.tasks {
            task.abort();
        }
        self.controller.shutdown().await;
    }
}

/// Applies every new metadata state to the partitions here. Copies of partitions this
/// broker is not a replica of are deleted only once it caught up: a state replayed at start
/// may be older than one that makes it a replica again, in the ISR with that very copy.
async fn follow_metadata(
    broker: Arc<Broker>,
    controller: Arc<Controller>,
    mut caught_up: watch::Receiver<bool>,
) {
    let mut applied = controller.subscribe();
    let mut loops = FollowerLoops::default();
    let mut previous = Arc::new(ClusterState::default());
    // Until the catch-up task reports (or ends, when the broker stops), its flag is watched.
    let mut catching_up = true;
    loop {
        let state = Arc::clone(&applied.borrow_and_update().state);
        let drop_copies = *caught_up.borrow_and_update();
        roles::apply(&broker, &previous, &state, &mut loops, drop_copies);
        previous = state;
        let changed = if catching_up && !drop_copies {
            tokio::select! {
                changed = applied.changed() => changed,
                flag = caught_up.changed() => {
                    catching_up = flag.is_ok();
                    Ok(())
                }
            }
        } else {
            applied.changed().await
        };
        if changed.is_err() {
            return;
        }
    }
}

async fn heartbeat(broker: Arc<Broker>, controller: Arc<Controller>) {
    let Some(config) = broker.config.cluster() else {
        return;
    };
    let mut tick = tokio::time::interval(config.heartbeat_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut link = None;
    loop {
        tick.tick().await;
        controller
            .heartbeat(
                &mut link,
                broker.config.node_id(),
                &broker.advertised_host,
                broker.advertised_port,
            )
            .await;
    }
}

/// Proposes the ISR changes the partitions this broker leads call for.
async fn maintain_isr(broker: Arc<Broker>, controller: Arc<Controller>) {
    let Some(lag_max) = broker.config.cluster().map(|c| c.replica_lag_time_max()) else {
        return;
    };
    let mut tick = tokio::time::interval(ISR_CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let joinable = controller.state().live_brokers();
        for topic in broker.topics.list() {
            for partition in &topic.partitions {
                let Some((term, isr)) =
                    partition
                        .replica
                        .proposed_isr(lag_max, &partition.log, &joinable)
                else {
                    continue;
                };
                tracing::info!(topic = %topic.name, partition = partition.index, from = ?term.isr, to = ?isr, "proposing an ISR change");
                let command = ClusterCommand::AlterIsr {
                    topic: topic.name.clone(),
                    partition: partition.index,
                    leader: term.node,
                    partition_epoch: term.partition_epoch,
                    isr,
                };
                match controller.propose(command).await {
                    Ok(Ok(())) => {}
                    Ok(Err(refusal)) => {
                        // Applied and refused: it never will be, stop counting its additions.
                        partition.replica.withdraw_proposed_isr();
                        tracing::debug!(topic = %topic.name, partition = partition.index, %refusal, "ISR change refused")
                    }
                    Err(e) => tracing::warn!(error = %e, "ISR change not committed"),
                }
            }
        }
    }
}

/// Waits until this broker caught up with the metadata — a barrier committed through the
/// leader is applied here — then deletes the logs of topics the metadata no longer has
/// (deleted while it was down) and lets the metadata loop delete copies of partitions it
/// no longer hosts. Before that, what the replayed state lacks may only be not replayed yet.
/// Local topics are listed before the state is read, so a topic created meanwhile is in it.
async fn catch_up(
    broker: Arc<Broker>,
    controller: Arc<Controller>,
    caught_up: watch::Sender<bool>,
) {
    let barrier = ClusterCommand::Barrier {
        node: broker.config.node_id(),
    };
    loop {
        match controller.propose(barrier.clone()).await {
            Ok(_) => break,
            Err(ControllerError::Stopping) => return,
            Err(e) => tracing::debug!(error = %e, "metadata barrier not committed yet; retrying"),
        }
    }
    let local = broker.topics.list();
    let state = controller.state();
    for topic in local {
        // A topic whose name now has another id is replaced by the metadata loop.
        if state.topics.contains_key(&topic.name) || topic.name == OFFSETS_TOPIC || topic.internal {
            continue;
        }
        tracing::info!(topic = %topic.name, "deleting the logs of a topic deleted while this broker was down");
        if let Err(e) = broker.topics.delete_with_id(&topic.name, topic.id) {
            tracing::warn!(topic = %topic.name, error = %e, "deleting a stray topic's logs");
        }
    }
    caught_up.send_replace(true);
}
