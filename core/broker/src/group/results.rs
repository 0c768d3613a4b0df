//! What the group state machine answers: the errors it refuses requests with, the results
//! of JoinGroup and SyncGroup, and the [`Answer`]s it queues for requests it held.

use bytes::Bytes;

/// Why the coordinator refused a group request; each is one Kafka error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GroupError {
    #[error("the group id is empty")]
    InvalidGroupId,
    #[error("the group is being deleted; find the coordinator again and retry")]
    CoordinatorNotAvailable,
    #[error("another broker coordinates this group; find the coordinator again")]
    NotCoordinator,
    #[error("the session timeout is outside the broker's allowed range")]
    InvalidSessionTimeout,
    #[error("the member's protocol type or protocols do not match the group's")]
    InconsistentGroupProtocol,
    #[error("rejoin with the member id this response carries")]
    MemberIdRequired,
    #[error("the group does not know this member id")]
    UnknownMemberId,
    #[error("another member with the same group.instance.id took over")]
    FencedInstanceId,
    #[error("the generation id is not the group's current one")]
    IllegalGeneration,
    #[error("the group is rebalancing; rejoin")]
    RebalanceInProgress,
    #[error("the group does not exist")]
    GroupIdNotFound,
    #[error("the group still has members")]
    NonEmptyGroup,
    #[error("the group's members still subscribe to the topic")]
    SubscribedToTopic,
}

/// A member of the group as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinedMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinResult {
    pub(crate) error: Option<GroupError>,
    pub(crate) member_id: String,
    pub(crate) generation_id: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    /// KIP-814: the member is the leader but must not assign (a static leader rejoined).
    pub(crate) skip_assignment: bool,
    /// Every member with its metadata, for the leader; empty for the others.
    pub(crate) members: Vec<JoinedMember>,
}

impl JoinResult {
    pub(crate) fn error(member_id: impl Into<String>, error: GroupError) -> Self {
        Self {
            error: Some(error),
            member_id: member_id.into(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

/// What a successful SyncGroup returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) assignment: Bytes,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
}

/// The answer to a SyncGroup.
pub(crate) type SyncResult = Result<Assignment, GroupError>;

/// An answer to a request the group held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Join {
        member_id: String,
        result: JoinResult,
    },
    Sync {
        member_id: String,
        result: SyncResult,
    },
}
