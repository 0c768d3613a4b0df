//! The file source: paths and globs tailed like a log shipper does. Files are found by
//! expanding the globs every `poll_interval` (so new files are picked up), changes are
//! noticed through inotify (`notify`) with polling as the fallback (or only, with
//! `watch = "poll"`), and each file is a source partition named by its identity (device,
//! inode and a checksum of its first bytes), whose position is `[offset, lines]`: the byte
//! after the last line handed out, and that line's number.
//!
//! | module | owns |
//! |---|---|
//! | `identity` | device + inode + fingerprint, and matching them to a file |
//! | `framing` | lines with a held partial line and a length limit |
//! | `tracked` | one open file: reading, truncation and rewrite checks, events |
//! | `discovery` | glob expansion and the directories to watch |
//! | `tailer` | the reader thread: scan, read, hand over, wait |

mod discovery;
mod framing;
mod identity;
mod tailer;
mod tracked;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use notify::Watcher as _;
use tokio::sync::mpsc;

use crate::config::{FileSettings, Watch};
use crate::error::SourceError;
use crate::source::{Checkpoint, Source, SourceEvent};
use discovery::PathPatterns;
use tailer::{Tailer, TailerReport};

/// Batches of events the reader thread may have handed over and not yet taken.
const CHANNEL_BATCHES: usize = 16;

/// A file source; see the module documentation.
pub struct FileSource {
    settings: FileSettings,
    events: Option<mpsc::Receiver<Vec<SourceEvent>>>,
    buffered: VecDeque<SourceEvent>,
    report: Arc<TailerReport>,
    /// Kept alive for as long as the source: dropping it stops the change events.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl FileSource {
    /// A source for `settings`; nothing is read until [`Source::start`].
    pub fn new(settings: FileSettings) -> Self {
        Self {
            settings,
            events: None,
            buffered: VecDeque::new(),
            report: Arc::new(TailerReport::default()),
            _watcher: None,
        }
    }
}

impl Source for FileSource {
    async fn start(&mut self, checkpoint: Checkpoint) -> Result<Checkpoint, SourceError> {
        let patterns = PathPatterns::new(&self.settings.paths)?;
        let (wake_tx, wake_rx) = std::sync::mpsc::channel();
        if self.settings.watch == Watch::Notify {
            self._watcher = watch(&patterns, wake_tx);
        }
        let mut tailer = Tailer::new(
            self.settings.clone(),
            patterns,
            &checkpoint,
            Arc::clone(&self.report),
        );
        let resumed = tokio::task::spawn_blocking(move || {
            let resumed = tailer.first_scan(&checkpoint);
            (tailer, resumed)
        })
        .await;
        let (tailer, resumed) = resumed.map_err(|_| SourceError::Stopped)?;
        let (sender, receiver) = mpsc::channel(CHANNEL_BATCHES);
        std::thread::Builder::new()
            .name("weir-file-source".to_owned())
            .spawn(move || tailer.run(sender, wake_rx))
            .map_err(|error| SourceError::Io {
                path: "<reader thread>".into(),
                error,
            })?;
        self.events = Some(receiver);
        Ok(resumed)
    }

    async fn next_events(&mut self, max: usize) -> Result<Vec<SourceEvent>, SourceError> {
        if self.buffered.is_empty() {
            let Some(events) = self.events.as_mut() else {
                return Err(SourceError::Stopped);
            };
            match tokio::time::timeout(self.settings.poll_interval, events.recv()).await {
                Ok(Some(batch)) => self.buffered.extend(batch),
                Ok(None) => return Err(SourceError::Stopped),
                Err(_) => return Ok(Vec::new()),
            }
        }
        let take = max.max(1).min(self.buffered.len());
        Ok(self.buffered.drain(..take).collect())
    }

    fn lag(&self) -> Option<u64> {
        Some(self.report.lag_bytes.load(Ordering::Relaxed))
    }

    fn take_warnings(&mut self) -> Vec<String> {
        let mut warnings = self
            .report
            .warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *warnings)
    }
}

/// Watches the directories the patterns live in; every change wakes the reader. `None`
/// (polling only) if the OS refuses, which is logged.
fn watch(
    patterns: &PathPatterns,
    wake: std::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher = match notify::recommended_watcher(move |_event| {
        let _ = wake.send(());
    }) {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "no change events from the OS; polling only");
            return None;
        }
    };
    for directory in patterns.directories() {
        if let Err(error) = watcher.watch(&directory, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(directory = %directory.display(), %error, "cannot watch; polling it");
        }
    }
    Some(watcher)
}
