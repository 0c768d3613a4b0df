//! Consumer groups: list them (every broker coordinates some), describe them (state,
//! members, each member's assignment decoded from the consumer protocol) and read their
//! committed offsets, each asked of the group's coordinator.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, GroupId, ListGroupsRequest};

use super::{Admin, AdminError, KafkaCode, s};
use crate::connection::Connection;
use crate::consumer::coordinator::Coordinator;
use crate::consumer::protocol::decode_assignment;
use crate::offset_fetch;
use crate::record::TopicPartition;

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// `consumer` for consumer groups; empty for groups with only committed offsets.
    pub protocol_type: String,
    /// `Stable`, `PreparingRebalance`, `Empty`, … (empty when the broker does not say).
    pub state: String,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its static membership id, if it has one.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The host it connects from.
    pub client_host: String,
    /// The partitions assigned to it (empty while the group rebalances).
    pub assignment: Vec<TopicPartition>,
}

/// A group: its state, protocol and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead`.
    pub state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// The assignor chosen (`range`, `roundrobin`, …).
    pub protocol: String,
    /// The members, sorted by member id.
    pub members: Vec<MemberDescription>,
}

impl Admin {
    pub(super) async fn coordinator(&self, group: &str) -> Result<Arc<Connection>, AdminError> {
        let coordinator = Coordinator::new(
            Arc::clone(&self.cluster),
            group.to_string(),
            self.config.retry_backoff,
            self.config.request_timeout,
        );
        Ok(coordinator.connection().await?)
    }

    /// Every group of the cluster, sorted by id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, AdminError> {
        let mut out = Vec::new();
        for connection in self.every_broker().await? {
            let response = connection.call(&ListGroupsRequest::default()).await?;
            if let Some(error) = ResponseError::try_from_code(response.error_code) {
                return Err(AdminError::Group {
                    group: String::new(),
                    code: KafkaCode(error),
                });
            }
            out.extend(response.groups.into_iter().map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: g.group_state.to_string(),
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    /// Describes `groups`. A group that does not exist is described as `Dead` with no
    /// members, as Kafka does.
    pub async fn describe_groups(
        &self,
        groups: &[String],
    ) -> Result<Vec<GroupDescription>, AdminError> {
        let mut out = Vec::new();
        for group in groups {
            let connection = self.coordinator(group).await?;
            let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
            let response = connection.call(&request).await?;
            for described in response.groups {
                AdminError::group(group, described.error_code)?;
                let consumer = described.protocol_type.as_str() == "consumer";
                let mut members: Vec<MemberDescription> = described
                    .members
                    .into_iter()
                    .map(|m| MemberDescription {
                        member_id: m.member_id.to_string(),
                        group_instance_id: m.group_instance_id.map(|i| i.to_string()),
                        client_id: m.client_id.to_string(),
                        client_host: m.client_host.to_string(),
                        // A member's assignment is opaque unless the group speaks the
                        // consumer protocol; one that does not decode is shown as none.
                        assignment: if consumer {
                            decode_assignment(&m.member_assignment).unwrap_or_default()
                        } else {
                            Vec::new()
                        },
                    })
                    .collect();
                members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
                out.push(GroupDescription {
                    group_id: described.group_id.0.to_string(),
                    state: described.group_state.to_string(),
                    protocol_type: described.protocol_type.to_string(),
                    protocol: described.protocol_data.to_string(),
                    members,
                });
            }
        }
        Ok(out)
    }

    /// The offsets `group` has committed, for every partition it committed one for.
    pub async fn list_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, i64>, AdminError> {
        let connection = self.coordinator(group).await?;
        let version = connection.version(ApiKey::OffsetFetch)?;
        let request = offset_fetch::request(group, None, version);
        let response = connection.call_at(&request, version).await?;
        AdminError::group(group, offset_fetch::group_error(&response))?;
        let mut out = BTreeMap::new();
        for p in offset_fetch::partitions(&response) {
            if let Some(error) = ResponseError::try_from_code(p.error_code) {
                return Err(AdminError::Partition {
                    topic: p.topic.to_string(),
                    partition: p.partition,
                    code: KafkaCode(error),
                });
            }
            if p.offset >= 0 {
                out.insert(TopicPartition::new(p.topic, p.partition), p.offset);
            }
        }
        Ok(out)
    }
}
