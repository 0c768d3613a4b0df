//! `MetadataStateMachine`: applies committed metadata entries to the [`ClusterState`] and
//! publishes each applied state to the broker (a `watch`), builds and installs snapshots,
//! and keeps the latest snapshot in `raft/snapshot` so a restart starts from it and replays
//! only the log after it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::command::CommandOutcome;
use super::raft_log::{read_json, write_atomically};
use super::state::ClusterState;
use super::{NodeId, TypeConfig};

const SNAPSHOT_FILE: &str = "snapshot";

/// The applied metadata as the broker sees it: the state and the index it reflects.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    pub(crate) index: u64,
    pub(crate) state: Arc<ClusterState>,
}

/// What a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SnapshotData {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    state: ClusterState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    data: SnapshotData,
    snapshot: Option<StoredSnapshot>,
    snapshots_built: u64,
}

/// The state machine, shared by openraft and the snapshot builder.
#[derive(Debug, Clone)]
pub(crate) struct MetadataStateMachine {
    dir: PathBuf,
    inner: Arc<Mutex<Inner>>,
    applied: Arc<watch::Sender<Applied>>,
}

impl MetadataStateMachine {
    /// Opens the state machine in `dir`, starting from the stored snapshot if any.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut inner = Inner::default();
        if let Some(snapshot) = read_json::<StoredSnapshot>(&dir.join(SNAPSHOT_FILE))? {
            inner.data = serde_json::from_slice(&snapshot.data).map_err(std::io::Error::other)?;
            inner.snapshot = Some(snapshot);
        }
        let applied = Applied {
            index: inner.data.last_applied.map_or(0, |l| l.index),
            state: Arc::new(inner.data.state.clone()),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            inner: Arc::new(Mutex::new(inner)),
            applied: Arc::new(watch::Sender::new(applied)),
        })
    }

    /// The applied state, updated after every applied batch of entries.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Applied> {
        self.applied.subscribe()
    }

    fn publish(&self, data: &SnapshotData) {
        self.applied.send_replace(Applied {
            index: data.last_applied.map_or(0, |l| l.index),
            state: Arc::new(data.state.clone()),
        });
    }

    // openraft's own error type, as its storage traits return it.
    #[allow(clippy::result_large_err)]
    fn store(&self, snapshot: &StoredSnapshot) -> Result<(), StorageError<NodeId>> {
        let bytes = serde_json::to_vec(snapshot)
            .map_err(|e| StorageIOError::write_snapshot(Some(snapshot.meta.signature()), &e))?;
        write_atomically(&self.dir.join(SNAPSHOT_FILE), &bytes)
            .map_err(|e| StorageIOError::write_snapshot(Some(snapshot.meta.signature()), &e))?;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for MetadataStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let stored = {
            let mut inner = self.inner.lock();
            inner.snapshots_built += 1;
            let data = serde_json::to_vec(&inner.data)
                .map_err(|e| StorageIOError::read_state_machine(&e))?;
            let last = inner.data.last_applied;
            let snapshot_id = match last {
                Some(last) => format!(
                    "{}-{}-{}",
                    last.leader_id, last.index, inner.snapshots_built
                ),
                None => format!("--{}", inner.snapshots_built),
            };
            let stored = StoredSnapshot {
                meta: SnapshotMeta {
                    last_log_id: last,
                    last_membership: inner.data.membership.clone(),
                    snapshot_id,
                },
                data,
            };
            inner.snapshot = Some(stored.clone());
            stored
        };
        self.store(&stored)?;
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for MetadataStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let inner = self.inner.lock();
        Ok((inner.data.last_applied, inner.data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandOutcome>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.inner.lock();
        let mut outcomes = Vec::new();
        for entry in entries {
            inner.data.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => outcomes.push(Ok(())),
                EntryPayload::Normal(command) => {
                    let outcome = inner.data.state.apply(&command);
                    if let Err(refusal) = &outcome {
                        tracing::debug!(?command, %refusal, "metadata command refused");
                    }
                    outcomes.push(outcome);
                }
                EntryPayload::Membership(membership) => {
                    inner.data.membership = StoredMembership::new(Some(entry.log_id), membership);
                    outcomes.push(Ok(()));
                }
            }
        }
        self.publish(&inner.data);
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let data: SnapshotData = serde_json::from_slice(&stored.data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.store(&stored)?;
        let mut inner = self.inner.lock();
        inner.data = data;
        inner.snapshot = Some(stored);
        self.publish(&inner.data);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(self.inner.lock().snapshot.clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
