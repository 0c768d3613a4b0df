//! The file source's reader thread: expands the globs, opens new files, reads every tracked
//! file to its end, hands events to the async side through a bounded channel (so a slow
//! broker slows reading instead of filling memory), and sleeps until a change event or the
//! poll interval.
//!
//! A file is tracked by identity, not path: renamed (rotated) it is read on to its end
//! through the descriptor already open, then let go once the glob no longer finds it under
//! any name for `ROTATE_WAIT` and nothing more arrived; the new file at the old path is a new
//! identity, read from its beginning.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::discovery::PathPatterns;
use super::identity::FileIdentity;
use super::tracked::TrackedFile;
use crate::config::{FileSettings, StartAt};
use crate::source::{Checkpoint, SourceEvent};

/// How long a file the glob no longer finds is kept open after its last byte, for writers
/// that still append to a rotated file for a moment.
const ROTATE_WAIT: Duration = Duration::from_secs(1);
/// Events handed over at once.
const HANDOFF_EVENTS: usize = 4096;

/// Shared with the async side: problems to report and the current lag.
#[derive(Debug, Default)]
pub(crate) struct TailerReport {
    pub(crate) warnings: Mutex<Vec<String>>,
    pub(crate) lag_bytes: AtomicU64,
}

/// Where a checkpointed file resumes.
#[derive(Debug, Clone, Copy)]
struct Resume {
    offset: u64,
    lines: u64,
}

/// The reader thread's state.
pub(crate) struct Tailer {
    settings: FileSettings,
    patterns: PathPatterns,
    tracked: Vec<TrackedFile>,
    /// Checkpointed files not found yet, by identity.
    resume: HashMap<FileIdentity, Resume>,
    /// Paths (with the problem) already warned about, so a lasting problem is told once.
    reported: BTreeMap<PathBuf, String>,
    report: Arc<TailerReport>,
}

impl Tailer {
    /// A tailer resuming from `checkpoint`; call [`Tailer::first_scan`] next.
    pub(crate) fn new(
        settings: FileSettings,
        patterns: PathPatterns,
        checkpoint: &Checkpoint,
        report: Arc<TailerReport>,
    ) -> Self {
        let mut resume = HashMap::new();
        for (partition, position) in checkpoint {
            let identity = FileIdentity::parse(partition);
            let offset = position.get(0).and_then(serde_json::Value::as_u64);
            let lines = position.get(1).and_then(serde_json::Value::as_u64);
            match (identity, offset, lines) {
                (Some(identity), Some(offset), Some(lines)) => {
                    resume.insert(identity, Resume { offset, lines });
                }
                _ => {
                    tracing::warn!(partition, %position, "ignoring a checkpoint entry that is not a file's")
                }
            }
        }
        Self {
            settings,
            patterns,
            tracked: Vec::new(),
            resume,
            reported: BTreeMap::new(),
            report,
        }
    }

    /// The first look at the files: matches checkpoints by identity first (also among the
    /// other files of the watched directories, where a file rotated while the connector was
    /// down now lives), then applies `start_at` to the files without one. Returns the
    /// checkpoint entries that matched a file.
    pub(crate) fn first_scan(&mut self, checkpoint: &Checkpoint) -> Checkpoint {
        self.scan(true);
        if !self.resume.is_empty() {
            self.find_rotated();
        }
        let live: BTreeSet<String> = self
            .tracked
            .iter()
            .filter_map(|file| file.identity.map(|identity| identity.to_string()))
            .collect();
        let matched: Checkpoint = checkpoint
            .iter()
            .filter(|(partition, _)| live.contains(*partition))
            .map(|(partition, position)| (partition.clone(), position.clone()))
            .collect();
        let forgotten = self.resume.len();
        if forgotten > 0 {
            tracing::info!(
                forgotten,
                "checkpoint entries match no file any more (deleted or rewritten); dropping them"
            );
        }
        matched
    }

    /// Runs until the async side hangs up.
    pub(crate) fn run(
        mut self,
        events: mpsc::Sender<Vec<SourceEvent>>,
        wake: std::sync::mpsc::Receiver<()>,
    ) {
        let mut last_scan = Instant::now();
        loop {
            if events.is_closed() {
                return;
            }
            if last_scan.elapsed() >= self.settings.poll_interval {
                self.scan(false);
                last_scan = Instant::now();
            }
            let (batch, read_any) = self.read_round();
            let mut lag = 0;
            for file in &self.tracked {
                lag += file.lag();
            }
            self.report.lag_bytes.store(lag, Ordering::Relaxed);
            for chunk in chunks(batch) {
                if events.blocking_send(chunk).is_err() {
                    return;
                }
            }
            self.let_go_of_rotated();
            if !read_any {
                match wake.recv_timeout(self.settings.poll_interval) {
                    Ok(()) => while wake.try_recv().is_ok() {},
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(self.settings.poll_interval);
                    }
                }
            }
        }
    }

    /// Reads every tracked file once (one chunk each).
    fn read_round(&mut self) -> (Vec<SourceEvent>, bool) {
        let mut out = Vec::new();
        let mut read_any = false;
        let mut failed = Vec::new();
        for (index, file) in self.tracked.iter_mut().enumerate() {
            match file.read(&self.settings, &mut out) {
                Ok(outcome) => {
                    read_any |= outcome.bytes > 0;
                    for warning in outcome.warnings {
                        warn(&self.report, warning);
                    }
                }
                Err(error) => {
                    warn(
                        &self.report,
                        format!("{}: {error}; no longer reading it", file.path.display()),
                    );
                    failed.push(index);
                }
            }
        }
        for index in failed.into_iter().rev() {
            self.tracked.remove(index);
        }
        (out, read_any)
    }

    /// Expands the globs and starts tracking files not tracked yet.
    fn scan(&mut self, first: bool) {
        let found = self.patterns.expand();
        let mut problems_now = BTreeSet::new();
        for (path, problem) in found.problems {
            problems_now.insert(path.clone());
            self.problem(&path, problem);
        }
        let mut seen = vec![false; self.tracked.len()];
        for path in found.files {
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(error) => {
                    problems_now.insert(path.clone());
                    self.problem(&path, format!("cannot open: {error}"));
                    continue;
                }
            };
            let metadata = match file.metadata() {
                Ok(metadata) => metadata,
                Err(error) => {
                    problems_now.insert(path.clone());
                    self.problem(&path, format!("cannot stat: {error}"));
                    continue;
                }
            };
            if let Some(index) = self
                .tracked
                .iter()
                .position(|t| tracked_inode(t, &metadata))
            {
                seen[index] = true;
                self.tracked[index].set_path(&path);
                continue;
            }
            let identity = match FileIdentity::of(&file, &metadata) {
                Ok(identity) => identity,
                Err(error) => {
                    problems_now.insert(path.clone());
                    self.problem(&path, format!("cannot read: {error}"));
                    continue;
                }
            };
            let resume = identity.and_then(|identity| self.resume.remove(&identity));
            let (offset, lines) = match resume {
                Some(resume) if resume.offset <= metadata.len() => (resume.offset, resume.lines),
                Some(resume) => {
                    warn(
                        &self.report,
                        format!(
                            "{}: shorter ({} bytes) than its checkpoint ({}); reading it again from the start",
                            path.display(),
                            metadata.len(),
                            resume.offset
                        ),
                    );
                    (0, 0)
                }
                None if first && self.settings.start_at == StartAt::End => (metadata.len(), 0),
                None => (0, 0),
            };
            tracing::info!(path = %path.display(), offset, "reading file");
            self.tracked.push(TrackedFile::new(
                path,
                file,
                &metadata,
                identity,
                offset,
                lines,
                &self.settings,
            ));
            seen.push(true);
        }
        // A problem that went away is reported again if it comes back.
        self.reported.retain(|path, _| problems_now.contains(path));
        let now = Instant::now();
        for (file, seen) in self.tracked.iter_mut().zip(seen) {
            if seen {
                file.unseen_since = None;
            } else {
                file.unseen_since.get_or_insert(now);
            }
        }
    }

    /// Looks for checkpointed files among all the files of the watched directories: a file
    /// rotated away while the connector was down is read to its end under its new name.
    fn find_rotated(&mut self) {
        for directory in self.patterns.directories() {
            let Ok(entries) = std::fs::read_dir(&directory) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(file) = File::open(&path) else {
                    continue;
                };
                let Ok(metadata) = file.metadata() else {
                    continue;
                };
                if !metadata.is_file() {
                    continue;
                }
                let candidates: Vec<FileIdentity> = self
                    .resume
                    .keys()
                    .filter(|id| id.same_inode(&metadata))
                    .copied()
                    .collect();
                for candidate in candidates {
                    if !candidate.matches(&file, &metadata).unwrap_or(false) {
                        continue;
                    }
                    let Some(resume) = self.resume.remove(&candidate) else {
                        continue;
                    };
                    tracing::info!(path = %path.display(), offset = resume.offset, "reading a rotated file to its end");
                    let mut tracked = TrackedFile::new(
                        path.clone(),
                        file,
                        &metadata,
                        Some(candidate),
                        resume.offset,
                        resume.lines,
                        &self.settings,
                    );
                    tracked.unseen_since = Some(Instant::now());
                    self.tracked.push(tracked);
                    break;
                }
            }
        }
    }

    /// Stops reading files the glob no longer finds, once read to their end and quiet for
    /// `ROTATE_WAIT`.
    fn let_go_of_rotated(&mut self) {
        self.tracked.retain(|file| {
            let gone = file.at_end
                && file
                    .unseen_since
                    .is_some_and(|since| since.elapsed() >= ROTATE_WAIT);
            if gone {
                tracing::info!(path = %file.path.display(), "finished a file that was rotated away or deleted");
            }
            !gone
        });
    }

    fn problem(&mut self, path: &Path, problem: String) {
        if self.reported.get(path) == Some(&problem) {
            return;
        }
        self.reported.insert(path.to_path_buf(), problem.clone());
        warn(&self.report, format!("{}: {problem}", path.display()));
    }
}

fn tracked_inode(file: &TrackedFile, metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    file.inode == (metadata.dev(), metadata.ino())
}

fn warn(report: &TailerReport, warning: String) {
    tracing::warn!("{warning}");
    let mut warnings = report
        .warnings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    warnings.push(warning);
}

fn chunks(mut events: Vec<SourceEvent>) -> Vec<Vec<SourceEvent>> {
    let mut out = Vec::new();
    while events.len() > HANDOFF_EVENTS {
        let rest = events.split_off(HANDOFF_EVENTS);
        out.push(std::mem::replace(&mut events, rest));
    }
    if !events.is_empty() {
        out.push(events);
    }
    out
}
