//! Group coordinator errors as Kafka error codes, and the clock commits are stamped with:
//! what the group handlers share.

use kafka_protocol::ResponseError;
use weir_log::{AppendError, BatchError};

use crate::group::{GroupError, StoreOffsetsError};

/// The Kafka error code of a refused group request.
pub(crate) fn group_code(error: GroupError) -> i16 {
    let error = match error {
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::NotCoordinator => ResponseError::NotCoordinator,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::SubscribedToTopic => ResponseError::GroupSubscribedToTopic,
    };
    error.code()
}

/// The Kafka error code of offsets that could not be stored: the group's refusal, or a
/// retriable COORDINATOR_NOT_AVAILABLE when the offsets log failed.
pub(crate) fn store_code(error: &StoreOffsetsError) -> i16 {
    match error {
        StoreOffsetsError::Group(error) => group_code(*error),
        StoreOffsetsError::Append(AppendError::InvalidBatch(BatchError::TooLarge { .. })) => {
            ResponseError::InvalidCommitOffsetSize.code()
        }
        StoreOffsetsError::Append(error) => {
            tracing::error!(%error, "appending to the offsets log failed");
            ResponseError::CoordinatorNotAvailable.code()
        }
    }
}

/// The code answered when an append to the offsets log did not become durable.
pub(crate) fn not_durable_code(error: &weir_log::FlushError) -> i16 {
    tracing::error!(%error, "making committed offsets durable failed");
    ResponseError::CoordinatorNotAvailable.code()
}

/// Wall-clock milliseconds since the epoch, the commit timestamp of offsets.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A Kafka millisecond timeout as a duration (negative is zero).
pub(crate) fn millis(ms: i32) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
