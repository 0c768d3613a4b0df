//! The group coordinator, as a client sees it: finding it (FindCoordinator, old and
//! batched forms), and the group RPCs (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch) with their version differences. No membership logic here:
//! `membership` drives these calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::offset_fetch;
use crate::record::TopicPartition;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn broker_error(what: &str, code: i16) -> Result<()> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(Error::Broker {
            what: what.to_string(),
            error,
        }),
    }
}

/// Whether `error` means the coordinator moved or is not ready.
pub(crate) fn coordinator_moved(error: &Error) -> bool {
    matches!(
        error,
        Error::Broker {
            error: ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress,
            ..
        } | Error::ConnectionClosed { .. }
            | Error::Connect { .. }
            | Error::RequestTimeout { .. }
    )
}

/// What JoinGroup answered.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) generation: i32,
    pub(crate) member_id: String,
    pub(crate) protocol: String,
    pub(crate) leader: bool,
    /// With the leader only: each member's subscribed topics.
    pub(crate) members: BTreeMap<String, Vec<String>>,
}

/// The coordinator of one group.
#[derive(Debug)]
pub(crate) struct Coordinator {
    cluster: Arc<Cluster>,
    group_id: String,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    backoff: Duration,
    timeout: Duration,
}

impl Coordinator {
    pub(crate) fn new(
        cluster: Arc<Cluster>,
        group_id: String,
        backoff: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            cluster,
            group_id,
            connection: tokio::sync::Mutex::new(None),
            backoff,
            timeout,
        }
    }

    /// The connection to the coordinator, finding it first if needed (retrying while it is
    /// not available, up to the request timeout).
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(c));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.find().await {
                Ok(address) => match self.cluster.connect(&address).await {
                    Ok(c) => {
                        *slot = Some(Arc::clone(&c));
                        return Ok(c);
                    }
                    Err(e) if Instant::now() >= deadline => return Err(e),
                    Err(_) => {}
                },
                Err(e) if !e.is_retriable() || Instant::now() >= deadline => return Err(e),
                Err(e) => {
                    tracing::debug!(group = %self.group_id, error = %e, "coordinator not found yet")
                }
            }
            tokio::time::sleep(self.backoff).await;
        }
    }

    /// Forgets the coordinator (it moved or its connection failed).
    pub(crate) async fn invalidate(&self) {
        *self.connection.lock().await = None;
    }

    async fn find(&self) -> Result<String> {
        let connection = self.cluster.any().await?;
        let version = connection.version(ApiKey::FindCoordinator)?;
        let mut request = FindCoordinatorRequest::default();
        if version >= 4 {
            request.coordinator_keys = vec![s(&self.group_id)];
        } else {
            request.key = s(&self.group_id);
        }
        let response = connection.call_at(&request, version).await?;
        let (code, host, port) = if version >= 4 {
            let c = response
                .coordinators
                .into_iter()
                .next()
                .ok_or(Error::Broker {
                    what: "FindCoordinator".to_string(),
                    error: ResponseError::CoordinatorNotAvailable,
                })?;
            (c.error_code, c.host, c.port)
        } else {
            (response.error_code, response.host, response.port)
        };
        broker_error("FindCoordinator", code)?;
        Ok(format!("{}:{port}", host.as_str()))
    }

    /// The error a coordinator's answer carries, if any; when it says the coordinator moved
    /// or is not ready (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE), forgets it so the next
    /// call finds it again instead of asking the same broker until the session ends.
    async fn checked(&self, what: &str, code: i16) -> Result<()> {
        let result = broker_error(what, code);
        if let Err(e) = &result
            && coordinator_moved(e)
        {
            self.invalidate().await;
        }
        result
    }

    /// Calls the coordinator; when it moved, forgets it so the next call finds it again.
    async fn call<R, F>(&self, api: ApiKey, timeout: Duration, build: F) -> Result<R::Response>
    where
        R: crate::connection::Request,
        F: FnOnce(i16) -> R,
    {
        let connection = self.connection().await?;
        let version = connection.version(api)?;
        let result = connection
            .call_within(&build(version), version, timeout)
            .await;
        if let Err(e) = &result
            && coordinator_moved(e)
        {
            self.invalidate().await;
        }
        result
    }

    /// JoinGroup, handling MEMBER_ID_REQUIRED (KIP-394) by joining again with the id given.
    pub(crate) async fn join(
        &self,
        member_id: &str,
        topics: &[String],
        protocols: &[&str],
        session_timeout: Duration,
        rebalance_timeout: Duration,
    ) -> Result<Joined> {
        let mut member_id = member_id.to_string();
        let metadata = encode_subscription(topics);
        loop {
            let response = self
                .call(
                    ApiKey::JoinGroup,
                    rebalance_timeout + Duration::from_secs(5),
                    |_| {
                        JoinGroupRequest::default()
                            .with_group_id(GroupId(s(&self.group_id)))
                            .with_session_timeout_ms(session_timeout.as_millis() as i32)
                            .with_rebalance_timeout_ms(rebalance_timeout.as_millis() as i32)
                            .with_member_id(s(&member_id))
                            .with_protocol_type(s("consumer"))
                            .with_protocols(
                                protocols
                                    .iter()
                                    .map(|p| {
                                        JoinGroupRequestProtocol::default()
                                            .with_name(s(p))
                                            .with_metadata(metadata.clone())
                                    })
                                    .collect(),
                            )
                    },
                )
                .await?;
            if response.error_code == ResponseError::MemberIdRequired.code() {
                member_id = response.member_id.to_string();
                continue;
            }
            self.checked("JoinGroup", response.error_code).await?;
            let me = response.member_id.to_string();
            let mut members = BTreeMap::new();
            for m in &response.members {
                members.insert(m.member_id.to_string(), decode_subscription(&m.metadata)?);
            }
            return Ok(Joined {
                generation: response.generation_id,
                leader: response.leader.as_str() == me,
                member_id: me,
                protocol: response
                    .protocol_name
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                members,
            });
        }
    }

    /// SyncGroup: the leader sends every member's assignment; everyone gets their own.
    pub(crate) async fn sync(
        &self,
        generation: i32,
        member_id: &str,
        protocol: &str,
        assignments: &BTreeMap<String, Vec<TopicPartition>>,
        rebalance_timeout: Duration,
    ) -> Result<Vec<TopicPartition>> {
        let response = self
            .call(
                ApiKey::SyncGroup,
                rebalance_timeout + Duration::from_secs(5),
                |version| {
                    let mut request = SyncGroupRequest::default()
                        .with_group_id(GroupId(s(&self.group_id)))
                        .with_generation_id(generation)
                        .with_member_id(s(member_id))
                        .with_assignments(
                            assignments
                                .iter()
                                .map(|(m, tps)| {
                                    SyncGroupRequestAssignment::default()
                                        .with_member_id(s(m))
                                        .with_assignment(encode_assignment(tps))
                                })
                                .collect(),
                        );
                    if version >= 5 {
                        request.protocol_type = Some(s("consumer"));
                        request.protocol_name = Some(s(protocol));
                    }
                    request
                },
            )
            .await?;
        self.checked("SyncGroup", response.error_code).await?;
        decode_assignment(&response.assignment)
    }

    /// One heartbeat.
    pub(crate) async fn heartbeat(&self, generation: i32, member_id: &str) -> Result<()> {
        let response = self
            .call(ApiKey::Heartbeat, self.timeout, |_| {
                HeartbeatRequest::default()
                    .with_group_id(GroupId(s(&self.group_id)))
                    .with_generation_id(generation)
                    .with_member_id(s(member_id))
            })
            .await?;
        self.checked("Heartbeat", response.error_code).await
    }

    /// LeaveGroup.
    pub(crate) async fn leave(&self, member_id: &str) -> Result<()> {
        let response = self
            .call(ApiKey::LeaveGroup, self.timeout, |version| {
                let request =
                    LeaveGroupRequest::default().with_group_id(GroupId(s(&self.group_id)));
                if version >= 3 {
                    request
                        .with_members(vec![MemberIdentity::default().with_member_id(s(member_id))])
                } else {
                    request.with_member_id(s(member_id))
                }
            })
            .await?;
        self.checked("LeaveGroup", response.error_code).await?;
        for m in &response.members {
            self.checked("LeaveGroup", m.error_code).await?;
        }
        Ok(())
    }

    /// OffsetCommit of `offsets` (generation -1 and no member id outside group management).
    pub(crate) async fn commit(
        &self,
        generation: i32,
        member_id: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (tp, offset) in offsets {
            let p = OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(*offset)
                .with_committed_metadata(Some(StrBytes::default()));
            match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s(&tp.topic)))
                        .with_partitions(vec![p]),
                ),
            }
        }
        let response = self
            .call(ApiKey::OffsetCommit, self.timeout, |_| {
                OffsetCommitRequest::default()
                    .with_group_id(GroupId(s(&self.group_id)))
                    .with_generation_id_or_member_epoch(generation)
                    .with_member_id(s(member_id))
                    .with_topics(topics)
            })
            .await?;
        for topic in response.topics {
            for p in topic.partitions {
                let what = format!(
                    "OffsetCommit of {}-{}",
                    topic.name.0.as_str(),
                    p.partition_index
                );
                self.checked(&what, p.error_code).await?;
            }
        }
        Ok(())
    }

    /// OffsetFetch: each partition's committed offset, `None` when there is none.
    pub(crate) async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<i64>>> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let response = self
            .call(ApiKey::OffsetFetch, self.timeout, |version| {
                offset_fetch::request(&self.group_id, Some(&by_topic), version)
            })
            .await?;
        self.checked("OffsetFetch", offset_fetch::group_error(&response))
            .await?;
        let mut out = HashMap::new();
        for p in offset_fetch::partitions(&response) {
            self.checked(
                &format!("OffsetFetch of {}-{}", p.topic, p.partition),
                p.error_code,
            )
            .await?;
            out.insert(
                TopicPartition::new(p.topic, p.partition),
                (p.offset >= 0).then_some(p.offset),
            );
        }
        Ok(out)
    }
}
