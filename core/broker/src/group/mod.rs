//! The consumer-group coordinator (Kafka's classic group protocol): members join, the leader
//! client computes the assignment and the coordinator passes it to every member; committed
//! offsets are stored durably in the internal topic `__consumer_offsets`. Alone, this broker is
//! the coordinator of every group; in a cluster, of the groups whose slot the metadata assigns
//! it (`Broker::coordinates`; FindCoordinator assigns slots), and its offsets topic is its own.
//!
//! | module | owns |
//! |---|---|
//! | `state`, `join`, `membership`, `member`, `results` | the pure per-group state machine |
//! | `coordinator` | the groups behind a lock, held requests, the timer task |
//! | `offsets` | committed offsets: the map, the log appends, replay at open |
//! | `offset_record`, `record_batch` | the records in `__consumer_offsets` and their batches |
//! | `subscription` | the topics in consumer-protocol metadata (for OffsetDelete) |

mod coordinator;
mod join;
mod member;
mod membership;
mod offset_record;
mod offsets;
mod record_batch;
mod results;
mod state;
mod subscription;

pub(crate) use coordinator::{GroupCoordinator, Pending, StoreOffsetsError};
pub(crate) use join::JoinRequest;
pub(crate) use member::{MemberInfo, Protocol};
pub(crate) use membership::{LeavingMember, SyncRequest};
pub(crate) use offset_record::CommittedOffset;
pub(crate) use offsets::{OFFSETS_TOPIC, PartitionId};
pub(crate) use results::{GroupError, JoinResult, SyncResult};
pub(crate) use state::GroupConfig;

#[cfg(test)]
mod state_tests;

#[cfg(test)]
mod coordinator_tests;
