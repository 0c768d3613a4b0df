//! Committing positions to the group (`commit_sync`, `commit_async`, auto-commit), reading
//! them back (`committed`), and closing, which commits and leaves.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use super::{Consumer, Position};
use crate::error::{Error, Result};
use crate::record::TopicPartition;

impl Consumer {
    /// Every assigned partition's position: what a commit of "everything consumed" sends.
    pub(crate) fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.assignment
            .iter()
            .filter_map(|(tp, s)| match s.position {
                Position::At(offset) => Some((tp.clone(), offset)),
                _ => None,
            })
            .collect()
    }

    /// Commits the position of every assigned partition (the offset after the last record
    /// `poll` returned) and waits for the coordinator's answer.
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.positions();
        self.commit_offsets_sync(offsets).await
    }

    /// Commits the given offsets (the next offset to read, per partition) and waits.
    pub async fn commit_offsets_sync(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> Result<()> {
        let group = self.group.as_ref().ok_or(Error::NoGroup)?;
        let (generation, member_id) = group.commit_identity();
        let offsets: BTreeMap<TopicPartition, i64> = offsets.into_iter().collect();
        group
            .coordinator
            .commit(generation, &member_id, &offsets)
            .await
    }

    /// Commits every assigned partition's position in the background. The returned future
    /// tells the outcome; dropping it does not cancel the commit.
    pub fn commit_async(&mut self) -> impl Future<Output = Result<()>> + Send + use<> {
        let offsets = self.positions();
        let started = self.group.as_ref().ok_or(Error::NoGroup).map(|group| {
            let coordinator = Arc::clone(&group.coordinator);
            let (generation, member_id) = group.commit_identity();
            tokio::spawn(async move { coordinator.commit(generation, &member_id, &offsets).await })
        });
        async move { started?.await.unwrap_or(Err(Error::Closed)) }
    }

    /// The committed offsets of `partitions` (`None` where the group has none).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<i64>>> {
        let group = self.group.as_ref().ok_or(Error::NoGroup)?;
        group.coordinator.committed(partitions).await
    }

    /// Starts an auto-commit when one is due.
    pub(crate) fn maybe_auto_commit(&mut self) {
        let interval = self.config.auto_commit_interval;
        let due = self.config.enable_auto_commit
            && self
                .group
                .as_ref()
                .is_some_and(|g| g.last_auto_commit.elapsed() >= interval);
        if !due {
            return;
        }
        if let Some(group) = &mut self.group {
            group.last_auto_commit = Instant::now();
        }
        let commit = self.commit_async();
        tokio::spawn(async move {
            if let Err(e) = commit.await {
                tracing::warn!(error = %e, "auto-commit failed");
            }
        });
    }

    /// Commits (when auto-commit is on), leaves the group and drops the consumer.
    pub async fn close(mut self) -> Result<()> {
        let mut result = Ok(());
        if self.config.enable_auto_commit && self.group.is_some() {
            result = self.commit_sync().await;
        }
        if self.group.as_ref().is_some_and(|g| g.joined) {
            let revoked = self.assignment();
            self.call_listener(&revoked, true).await;
        }
        self.leave().await;
        result
    }
}

impl Drop for Consumer {
    /// Leaves the group in the background (when configured), so partitions move at once.
    fn drop(&mut self) {
        if !self.config.leave_group_on_close {
            return;
        }
        let Some(group) = &self.group else {
            return;
        };
        let member_id = std::mem::take(&mut group.member.lock().id);
        if member_id.is_empty() {
            return;
        }
        let coordinator = Arc::clone(&group.coordinator);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = coordinator.leave(&member_id).await;
            });
        }
    }
}
