//! [`RebalanceListener`]: what an application is told when group membership moves
//! partitions, with the consumer in hand (to commit, seek or look up positions).

use futures::future::BoxFuture;

use super::Consumer;
use crate::record::TopicPartition;

/// Called from inside `poll` around a rebalance: `on_partitions_revoked` with the
/// partitions about to be taken away (before the group rejoins: commit here), then
/// `on_partitions_assigned` with the new assignment (seek here). Do not call `poll` from
/// a callback.
///
/// ```
/// use futures::future::BoxFuture;
/// use weir_client::{Consumer, RebalanceListener, TopicPartition};
///
/// struct CommitOnRevoke;
///
/// impl RebalanceListener for CommitOnRevoke {
///     fn on_partitions_revoked<'a>(
///         &'a mut self,
///         consumer: &'a mut Consumer,
///         _revoked: &'a [TopicPartition],
///     ) -> BoxFuture<'a, ()> {
///         Box::pin(async move {
///             let _ = consumer.commit_sync().await;
///         })
///     }
/// }
/// ```
pub trait RebalanceListener: Send + Sync {
    /// The consumer is about to lose `partitions`.
    fn on_partitions_revoked<'a>(
        &'a mut self,
        _consumer: &'a mut Consumer,
        _partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// The consumer now owns `partitions`.
    fn on_partitions_assigned<'a>(
        &'a mut self,
        _consumer: &'a mut Consumer,
        _partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}
