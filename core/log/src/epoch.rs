//! The leader-epoch history of a partition: for each epoch, the first offset a leader of
//! that epoch appended. A returning replica asks the new leader where its epoch ended
//! (OffsetForLeaderEpoch) and truncates to that, so divergent records never survive.

use std::path::{Path, PathBuf};

use crate::checkpoint;
use crate::error::{IoError, OpenError};

/// Name of the checkpoint file in the partition directory.
pub(crate) const FILE_NAME: &str = "leader-epoch-checkpoint";

/// Epoch → start offset, ascending in both, persisted on every change.
#[derive(Debug)]
pub(crate) struct LeaderEpochs {
    path: PathBuf,
    entries: Vec<(i32, u64)>,
}

impl LeaderEpochs {
    /// Loads the history from `dir` (empty when there is no checkpoint yet).
    pub(crate) fn load(dir: &Path) -> Result<Self, OpenError> {
        let path = dir.join(FILE_NAME);
        let entries = checkpoint::read(&path, 2)?
            .unwrap_or_default()
            .into_iter()
            .map(|row| (row[0] as i32, row[1] as u64))
            .collect();
        Ok(Self { path, entries })
    }

    /// The newest epoch, if any batch was ever appended with one.
    pub(crate) fn latest(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    /// Records that `epoch` starts at `start_offset` if it is newer than the latest one;
    /// returns whether anything changed (and was persisted).
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: u64) -> Result<bool, IoError> {
        if epoch < 0 || self.latest().is_some_and(|latest| epoch <= latest) {
            return Ok(false);
        }
        self.entries.push((epoch, start_offset));
        self.persist()?;
        Ok(true)
    }

    /// Forgets epochs that start at or after `end_offset` (the log was truncated there).
    pub(crate) fn truncate_from_end(&mut self, end_offset: u64) -> Result<(), IoError> {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start < end_offset);
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// Forgets epochs that ended before `start_offset` (retention removed their records);
    /// the epoch in force at `start_offset` is kept, starting there.
    pub(crate) fn truncate_from_start(&mut self, start_offset: u64) -> Result<(), IoError> {
        let in_force = self.entries.iter().rposition(|(_, s)| *s <= start_offset);
        let Some(first_kept) = in_force else {
            return Ok(());
        };
        if first_kept == 0 && self.entries[0].1 == start_offset {
            return Ok(());
        }
        self.entries.drain(..first_kept);
        self.entries[0].1 = start_offset;
        self.persist()
    }

    /// Kafka's OffsetForLeaderEpoch answer: the largest epoch not above `epoch` and the
    /// offset where it ended (the start of the next epoch, or the log end for the latest).
    /// `None` when `epoch` precedes every known epoch.
    pub(crate) fn end_offset_for(&self, epoch: i32, log_end: u64) -> Option<(i32, u64)> {
        let i = self.entries.iter().rposition(|(e, _)| *e <= epoch)?;
        let end = self.entries.get(i + 1).map_or(log_end, |(_, start)| *start);
        Some((self.entries[i].0, end))
    }

    /// All entries, oldest first.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[(i32, u64)] {
        &self.entries
    }

    fn persist(&self) -> Result<(), IoError> {
        let rows: Vec<Vec<i64>> = self
            .entries
            .iter()
            .map(|(e, s)| vec![i64::from(*e), *s as i64])
            .collect();
        checkpoint::write(&self.path, &rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_offset_for_leader_epoch_like_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let mut epochs = LeaderEpochs::load(dir.path()).unwrap();
        assert!(epochs.assign(1, 0).unwrap());
        assert!(!epochs.assign(1, 5).unwrap());
        assert!(epochs.assign(3, 10).unwrap());
        assert_eq!(epochs.end_offset_for(0, 20), None);
        assert_eq!(epochs.end_offset_for(1, 20), Some((1, 10)));
        assert_eq!(epochs.end_offset_for(2, 20), Some((1, 10)));
        assert_eq!(epochs.end_offset_for(3, 20), Some((3, 20)));
        assert_eq!(epochs.end_offset_for(9, 20), Some((3, 20)));

        let reloaded = LeaderEpochs::load(dir.path()).unwrap();
        assert_eq!(reloaded.entries(), &[(1, 0), (3, 10)]);

        epochs.truncate_from_end(10).unwrap();
        assert_eq!(epochs.entries(), &[(1, 0)]);
        epochs.assign(4, 10).unwrap();
        epochs.truncate_from_start(12).unwrap();
        assert_eq!(epochs.entries(), &[(4, 12)]);
        assert_eq!(
            LeaderEpochs::load(dir.path()).unwrap().entries(),
            &[(4, 12)]
        );
    }
}
