//! The entries of the metadata log: each change to the cluster a controller commits, and
//! why the state machine may refuse one.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One change to the cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ClusterCommand {
    /// A broker is alive at this Kafka address (first start, restart, or after fencing).
    /// The first registration also names the cluster (`cluster_id`, proposed by the leader).
    RegisterBroker {
        id: i32,
        host: String,
        port: i32,
        cluster_id: String,
        /// Which run of the broker process (see `BrokerInfo::incarnation`).
        #[serde(default)]
        incarnation: u64,
    },
    /// A broker missed its heartbeats: it leads nothing and leaves the ISRs.
    FenceBroker { id: i32 },
    /// A broker is stopping gracefully (Kafka's controlled shutdown): the partitions it
    /// leads move to another live in-sync replica, it leaves every ISR it is not the last
    /// member of, and until it registers again it may neither rejoin an ISR nor be elected.
    /// Never an unclean election: a partition it alone holds stays with it until it is
    /// fenced when its session ends, as after a crash.
    ShutDownBroker { id: i32 },
    /// The consumer groups of coordinator slot `slot` (a hash of the group id, as Kafka maps
    /// groups to `__consumer_offsets` partitions) are coordinated by `broker` from now on,
    /// provided the slot's coordinator is still `replacing` (`None`: it has none yet) and
    /// that broker is no longer live. Every broker answers FindCoordinator from this, so a
    /// group has one coordinator whichever broker a client asks.
    AssignCoordinatorSlot {
        slot: u32,
        broker: i32,
        replacing: Option<i32>,
    },
    /// A new topic; replicas are assigned when applied, over the brokers live then.
    CreateTopic {
        name: String,
        id: Uuid,
        partitions: u32,
        replication_factor: u16,
        configs: Vec<(String, String)>,
    },
    /// A topic and its partitions go.
    DeleteTopic { name: String },
    /// A topic grows to `count` partitions.
    CreatePartitions { name: String, count: u32 },
    /// A topic's config overrides are replaced.
    AlterConfigs {
        name: String,
        configs: Vec<(String, String)>,
    },
    /// A partition leader changes its ISR; applies only if `leader` and `partition_epoch`
    /// are still current.
    AlterIsr {
        topic: String,
        partition: i32,
        leader: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    },
    /// A partition moves to `target` replicas (KIP-455): new ones are added and catch up
    /// before the ones not in `target` leave. `None` cancels the reassignment in progress.
    /// Without `allow_factor_change`, the target must keep the replica count.
    ReassignPartition {
        topic: String,
        partition: i32,
        target: Option<Vec<i32>>,
        allow_factor_change: bool,
    },
    /// The partitions these brokers prefer to lead (they are their first replica) go back
    /// to them where they are live and in the ISR (see `preferred_leaders`).
    ElectPreferredLeaders { brokers: Vec<i32> },
    /// Changes nothing. A broker that started proposes it: once applied there, its metadata
    /// holds everything committed before, so what it lacks is truly gone.
    Barrier { node: i32 },
}

/// Why the state machine refused a command; each maps to a Kafka error at the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("topic {0} already exists")]
    TopicExists(String),
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    #[error("broker {0} is not registered")]
    UnknownBroker(i32),
    #[error("partition count {0} must be more than the current count")]
    PartitionCount(u32),
    #[error("replication factor {requested} is larger than the {live} live brokers")]
    ReplicationFactor { requested: u16, live: usize },
    #[error("the ISR change was based on an outdated partition state")]
    StaleIsr,
    #[error("the ISR must hold the leader and only assigned, unfenced replicas")]
    InvalidIsr,
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("invalid replica assignment: {0}")]
    InvalidAssignment(String),
    #[error("the replica count would change from {from} to {to}")]
    FactorChange { from: usize, to: usize },
    #[error("no reassignment is in progress for this partition")]
    NoReassignment,
    #[error("the coordinator of group slot {0} changed meanwhile or is live")]
    StaleCoordinator(u32),
}

/// What applying a command gave.
pub(crate) type CommandOutcome = Result<(), Refusal>;
