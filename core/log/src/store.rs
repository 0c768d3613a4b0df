//! `LogStore`: every partition log of a broker across its `log.dirs`.
//!
//! A new partition goes to the directory holding the fewest partitions; on restart each
//! partition is found again wherever it is. Each directory is locked (`.lock`) so two
//! brokers never share one. A maintenance thread runs retention and compaction every
//! `log.retention.check.interval.ms` and the `flush.ms` check every second.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::clock::Clock;
use crate::config::LogConfig;
use crate::error::{IoError, StoreError};
use crate::partition::PartitionLog;
use crate::topic::TopicPartition;

const DELETE_SUFFIX: &str = ".deleting";

/// All partition logs of one broker.
pub struct LogStore {
    dirs: Vec<PathBuf>,
    /// Held for the store's lifetime: the OS lock on each directory's `.lock` file.
    _locks: Vec<File>,
    default_config: LogConfig,
    clock: Arc<dyn Clock>,
    partitions: RwLock<HashMap<TopicPartition, (usize, Arc<PartitionLog>)>>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("dirs", &self.dirs)
            .field("partitions", &self.partitions.read().len())
            .finish()
    }
}

impl LogStore {
    /// Opens (creating when needed) every directory in `dirs` and every partition found in
    /// them, with `default_config`; call [`PartitionLog::set_config`] for topic overrides.
    pub fn open(
        dirs: &[PathBuf],
        default_config: LogConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        if dirs.is_empty() {
            return Err(StoreError::NoLogDirs);
        }
        let mut locks = Vec::new();
        let mut partitions: HashMap<TopicPartition, (usize, Arc<PartitionLog>)> = HashMap::new();
        for (i, dir) in dirs.iter().enumerate() {
            fs::create_dir_all(dir).map_err(|e| IoError::new("creating", dir, e))?;
            locks.push(lock_dir(dir)?);
            for entry in fs::read_dir(dir).map_err(|e| IoError::new("listing", dir, e))? {
                let entry = entry.map_err(|e| IoError::new("listing", dir, e))?;
                let path = entry.path();
                if !path.is_dir() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(DELETE_SUFFIX) {
                    fs::remove_dir_all(&path).map_err(|e| IoError::new("deleting", &path, e))?;
                    continue;
                }
                let Some(tp) = TopicPartition::from_dir_name(&name) else {
                    tracing::warn!(path = %path.display(), "ignoring a directory that is not a partition");
                    continue;
                };
                if let Some((first, _)) = partitions.get(&tp) {
                    return Err(StoreError::Duplicate {
                        name: tp.to_string(),
                        first: dirs[*first].clone(),
                        second: dir.clone(),
                    });
                }
                let log = PartitionLog::open(&path, default_config, Arc::clone(&clock))?;
                partitions.insert(tp, (i, Arc::new(log)));
            }
        }
        Ok(Self {
            dirs: dirs.to_vec(),
            _locks: locks,
            default_config,
            clock,
            partitions: RwLock::new(partitions),
        })
    }

    /// Creates a new partition log in the least-loaded directory.
    pub fn create(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
    ) -> Result<Arc<PartitionLog>, StoreError> {
        let mut partitions = self.partitions.write();
        if partitions.contains_key(tp) {
            return Err(StoreError::AlreadyExists(tp.to_string()));
        }
        let mut load = vec![0usize; self.dirs.len()];
        for (dir, _) in partitions.values() {
            load[*dir] += 1;
        }
        let dir = (0..self.dirs.len()).min_by_key(|&i| load[i]).unwrap_or(0);
        let path = self.dirs[dir].join(tp.dir_name());
        let log = Arc::new(PartitionLog::open(&path, config, Arc::clone(&self.clock))?);
        crate::checkpoint::sync_dir(&self.dirs[dir])?;
        partitions.insert(tp.clone(), (dir, Arc::clone(&log)));
        Ok(log)
    }

    /// The partition's log, if it exists.
    pub fn partition(&self, tp: &TopicPartition) -> Option<Arc<PartitionLog>> {
        self.partitions
            .read()
            .get(tp)
            .map(|(_, log)| Arc::clone(log))
    }

    /// Every partition with its log.
    pub fn partitions(&self) -> Vec<(TopicPartition, Arc<PartitionLog>)> {
        let mut all: Vec<_> = self
            .partitions
            .read()
            .iter()
            .map(|(tp, (_, log))| (tp.clone(), Arc::clone(log)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The log directory holding a partition.
    pub fn dir_of(&self, tp: &TopicPartition) -> Option<&Path> {
        let index = self.partitions.read().get(tp).map(|(dir, _)| *dir)?;
        Some(&self.dirs[index])
    }

    /// Removes a partition and its files (renamed first, so a crash midway leaves a
    /// directory that the next open deletes rather than a half-deleted partition).
    pub fn delete(&self, tp: &TopicPartition) -> Result<bool, StoreError> {
        let Some((_, log)) = self.partitions.write().remove(tp) else {
            return Ok(false);
        };
        let _ = log.close();
        let path = log.dir().to_path_buf();
        let doomed = path.with_file_name(format!("{}{DELETE_SUFFIX}", tp.dir_name()));
        fs::rename(&path, &doomed).map_err(|e| IoError::new("renaming", &path, e))?;
        fs::remove_dir_all(&doomed).map_err(|e| IoError::new("deleting", &doomed, e))?;
        Ok(true)
    }

    /// Runs retention on every partition; failures are logged and the rest go on.
    pub fn enforce_retention(&self) {
        for (tp, log) in self.partitions() {
            if let Err(e) = log.enforce_retention() {
                tracing::error!(partition = %tp, error = %e, "retention check failed");
            }
        }
    }

    /// Runs a compaction pass on every partition whose `cleanup.policy` includes compact;
    /// failures are logged and the rest go on.
    pub fn compact(&self) {
        for (tp, log) in self.partitions() {
            if let Err(e) = log.compact() {
                tracing::error!(partition = %tp, error = %e, "compaction failed");
            }
        }
    }

    /// Syncs every partition whose `flush.ms` is due.
    pub fn flush_due(&self) {
        for (tp, log) in self.partitions() {
            if let Err(e) = log.flush_if_due() {
                tracing::error!(partition = %tp, error = %e, "periodic flush failed");
            }
        }
    }

    /// Closes every partition cleanly (synced, clean-shutdown marker written).
    pub fn close(&self) -> Result<(), StoreError> {
        let mut first_error = None;
        for (tp, log) in self.partitions() {
            if let Err(e) = log.close() {
                tracing::error!(partition = %tp, error = %e, "closing partition failed");
                first_error.get_or_insert(StoreError::from(e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The default settings for new partitions.
    pub fn default_config(&self) -> LogConfig {
        self.default_config
    }

    /// Starts the maintenance thread: retention and compaction every
    /// `retention_check_interval`, the
    /// `flush.ms` check every second. It stops when the returned handle is dropped.
    pub fn start_maintenance(
        self: &Arc<Self>,
        retention_check_interval: Duration,
    ) -> MaintenanceTask {
        let (stop, stopped) = mpsc::channel::<()>();
        let store = Arc::clone(self);
        let tick = retention_check_interval.min(Duration::from_secs(1));
        let thread = std::thread::Builder::new()
            .name("log-maintenance".into())
            .spawn(move || {
                let mut next_retention = Instant::now() + retention_check_interval;
                loop {
                    match stopped.recv_timeout(tick) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    store.flush_due();
                    if Instant::now() >= next_retention {
                        store.enforce_retention();
                        store.compact();
                        next_retention = Instant::now() + retention_check_interval;
                    }
                }
            })
            .expect("spawning the log maintenance thread");
        MaintenanceTask {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// The running maintenance thread; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct MaintenanceTask {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for MaintenanceTask {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock_dir(dir: &Path) -> Result<File, IoError> {
    let path = dir.join(".lock");
    let file = File::create(&path).map_err(|e| IoError::new("creating", &path, e))?;
    file.try_lock().map_err(|e| {
        let source = match e {
            fs::TryLockError::WouldBlock => std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another process (a second broker?) is using this log directory",
            ),
            fs::TryLockError::Error(e) => e,
        };
        IoError::new("locking", &path, source)
    })?;
    Ok(file)
}
