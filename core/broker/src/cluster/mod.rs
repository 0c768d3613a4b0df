//! The cluster: metadata in a Raft quorum (`openraft`) and the controller that drives it.
//! Every broker runs a Raft node — voters from `controller_quorum_voters`, other brokers as
//! learners — applies the committed metadata log to a [`state::ClusterState`], and answers
//! Metadata from it. Writes (topics, broker registration and fencing, ISR changes) are
//! proposed to the Raft leader, forwarded there by whichever broker received them.
//!
//! | module | owns |
//! |---|---|
//! | `command` | the metadata log's entries and the refusals applying one can give |
//! | `state` | the applied metadata and its pure apply function (elections happen here) |
//! | `reassignment` | moving a partition's replicas: add, catch up, then remove (KIP-455) |
//! | `preferred_leaders` | handing leadership back to each partition's first replica |
//! | `raft_log` | the Raft log, vote and commit point, persisted under the data directory |
//! | `raft_state_machine` | applying entries to the state, snapshots on disk |
//! | `rpc` | the controller port's length-prefixed frames and messages |
//! | `raft_network` | openraft's network over those frames |
//! | `controller` | proposing, forwarding, heartbeats, fencing, leader rebalance, joining |
//! | `liveness` | the leader's record of heartbeats: whose session expired |
//! | `node` | a broker's cluster membership: controller, roles and ISR upkeep |

pub(crate) mod command;
pub(crate) mod controller;
pub(crate) mod liveness;
pub(crate) mod node;
pub(crate) mod preferred_leaders;
pub(crate) mod raft_log;
pub(crate) mod raft_network;
pub(crate) mod raft_state_machine;
pub(crate) mod reassignment;
pub(crate) mod rpc;
pub(crate) mod state;

use std::io::Cursor;

use command::{ClusterCommand, CommandOutcome};

/// A Raft node id: the broker's `node_id`.
pub(crate) type NodeId = u64;

openraft::declare_raft_types!(
    /// The metadata log's types: commands in, outcomes out.
    pub(crate) TypeConfig:
        D = ClusterCommand,
        R = CommandOutcome,
);
