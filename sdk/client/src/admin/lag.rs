//! A group's lag: for each partition it has committed to or is assigned, the committed
//! offset against the partition's log end (ListOffsets `LATEST`).

use std::collections::BTreeMap;

use super::{Admin, AdminError, MemberDescription};
use crate::consumer::offsets::{LATEST, list_offsets};
use crate::record::TopicPartition;

/// Where a group stands in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The member it is assigned to, if the group has one for it.
    pub member: Option<String>,
    /// The group's committed offset, `None` if it committed none.
    pub committed: Option<i64>,
    /// The offset the next record will get.
    pub log_end: i64,
    /// `log_end - committed`, `None` without a committed offset.
    pub lag: Option<i64>,
}

impl Admin {
    /// `group`'s lag in every partition it committed to or has assigned, sorted.
    pub async fn group_lag(&self, group: &str) -> Result<Vec<PartitionLag>, AdminError> {
        let committed = self.list_group_offsets(group).await?;
        let members: Vec<MemberDescription> = self
            .describe_groups(&[group.to_string()])
            .await?
            .into_iter()
            .flat_map(|g| g.members)
            .collect();
        let mut owner: BTreeMap<TopicPartition, Option<String>> =
            committed.keys().map(|tp| (tp.clone(), None)).collect();
        for member in &members {
            for tp in &member.assignment {
                owner.insert(tp.clone(), Some(member.member_id.clone()));
            }
        }
        let partitions: Vec<TopicPartition> = owner.keys().cloned().collect();
        let ends = if partitions.is_empty() {
            Default::default()
        } else {
            list_offsets(
                &self.cluster,
                &partitions,
                LATEST,
                self.config.request_timeout,
                self.config.retry_backoff,
            )
            .await?
        };
        Ok(owner
            .into_iter()
            .map(|(tp, member)| {
                let committed = committed.get(&tp).copied();
                let log_end = ends.get(&tp).copied().unwrap_or(-1);
                PartitionLag {
                    lag: committed.map(|c| (log_end - c).max(0)),
                    partition: tp,
                    member,
                    committed,
                    log_end,
                }
            })
            .collect())
    }
}
