//! One file being read: its open descriptor (so a renamed or deleted file is still read to
//! its end), identity, read position and framer, and the checks that notice truncation and
//! in-place rewrites.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::framing::{Frame, LineFramer};
use super::identity::FileIdentity;
use crate::config::{FileSettings, Framing};
use crate::source::{Payload, SourceEvent};

/// The largest read from one file before the others get a turn.
const READ_CHUNK: usize = 1024 * 1024;

/// What reading a file found besides events.
#[derive(Debug, Default)]
pub(crate) struct ReadOutcome {
    /// Bytes read.
    pub(crate) bytes: usize,
    /// Problems worth a warning (truncation, rewrite).
    pub(crate) warnings: Vec<String>,
}

/// A file the source reads.
#[derive(Debug)]
pub(crate) struct TrackedFile {
    pub(crate) path: PathBuf,
    path_header: Bytes,
    file: File,
    /// Device and inode, known from the start (the identity needs a first byte).
    pub(crate) inode: (u64, u64),
    /// Known once the file has a byte to fingerprint.
    pub(crate) identity: Option<FileIdentity>,
    partition: Option<Arc<str>>,
    /// The next byte to read.
    offset: u64,
    framer: LineFramer,
    /// The size seen at the previous whole-file check, to tell that a file stopped growing.
    last_size: Option<u64>,
    /// Since when the glob no longer finds this file (renamed away, deleted).
    pub(crate) unseen_since: Option<Instant>,
    /// Whether the last read reached the end of the file.
    pub(crate) at_end: bool,
}

impl TrackedFile {
    /// Starts reading `file` at `offset`, where line `lines + 1` begins.
    pub(crate) fn new(
        path: PathBuf,
        file: File,
        metadata: &std::fs::Metadata,
        identity: Option<FileIdentity>,
        offset: u64,
        lines: u64,
        settings: &FileSettings,
    ) -> Self {
        let path_header = Bytes::from(path.display().to_string());
        Self {
            path,
            path_header,
            file,
            inode: {
                use std::os::unix::fs::MetadataExt as _;
                (metadata.dev(), metadata.ino())
            },
            partition: identity.map(|id| Arc::from(id.to_string())),
            identity,
            offset,
            framer: LineFramer::new(
                settings.delimiter.clone(),
                settings.max_line_bytes,
                offset,
                lines,
            ),
            last_size: None,
            unseen_since: None,
            at_end: false,
        }
    }

    /// Where this file was found last.
    pub(crate) fn set_path(&mut self, path: &Path) {
        if self.path != path {
            self.path = path.to_path_buf();
            self.path_header = Bytes::from(path.display().to_string());
        }
    }

    /// Bytes of the file not yet read into complete events.
    pub(crate) fn lag(&self) -> u64 {
        let size = self.file.metadata().map_or(0, |m| m.len());
        size.saturating_sub(self.framer.resume_offset())
    }

    /// Reads what was appended since the last call (up to one chunk) and appends its events
    /// to `out`.
    pub(crate) fn read(
        &mut self,
        settings: &FileSettings,
        out: &mut Vec<SourceEvent>,
    ) -> std::io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::default();
        let metadata = self.file.metadata()?;
        let size = metadata.len();
        if self.identity.is_none() {
            self.identity = FileIdentity::of(&self.file, &metadata)?;
            let Some(identity) = self.identity else {
                self.at_end = true;
                return Ok(outcome);
            };
            self.partition = Some(Arc::from(identity.to_string()));
        }
        let identity = self.identity.unwrap_or_else(|| unreachable!("set above"));
        if size < self.offset || !identity.matches(&self.file, &metadata)? {
            let why = if size < self.offset {
                format!("truncated from {} to {size} bytes", self.offset)
            } else {
                "rewritten in place (its first bytes changed)".to_owned()
            };
            outcome.warnings.push(format!(
                "{}: {why}; reading it again from the start",
                self.path.display()
            ));
            self.restart(settings)?;
            if self.identity.is_none() {
                self.at_end = true;
                return Ok(outcome);
            }
        }
        if size <= self.offset {
            self.at_end = true;
            return Ok(outcome);
        }
        if settings.framing == Framing::WholeFile {
            return self.read_whole(size, out, outcome);
        }
        let want = ((size - self.offset) as usize).min(READ_CHUNK);
        let mut buffer = BytesMut::zeroed(want);
        let read = self.file.read_at(&mut buffer, self.offset)?;
        buffer.truncate(read);
        self.offset += read as u64;
        self.at_end = self.offset >= size;
        outcome.bytes = read;
        let mut frames = Vec::new();
        self.framer.push(&buffer, &mut frames);
        let partition = self.partition();
        for frame in frames {
            out.push(self.event(&partition, frame, settings.framing));
        }
        Ok(outcome)
    }

    /// Starts over from byte 0 under the file's current identity.
    fn restart(&mut self, settings: &FileSettings) -> std::io::Result<()> {
        let metadata = self.file.metadata()?;
        self.identity = FileIdentity::of(&self.file, &metadata)?;
        self.partition = self.identity.map(|id| Arc::from(id.to_string()));
        self.offset = 0;
        self.last_size = None;
        self.framer = LineFramer::new(settings.delimiter.clone(), settings.max_line_bytes, 0, 0);
        Ok(())
    }

    fn partition(&self) -> Arc<str> {
        self.partition
            .clone()
            .unwrap_or_else(|| Arc::from("unidentified"))
    }

    /// A whole file is one event, read once its size held still for one poll.
    fn read_whole(
        &mut self,
        size: u64,
        out: &mut Vec<SourceEvent>,
        mut outcome: ReadOutcome,
    ) -> std::io::Result<ReadOutcome> {
        if self.last_size != Some(size) {
            self.last_size = Some(size);
            self.at_end = false;
            return Ok(outcome);
        }
        let mut buffer = BytesMut::zeroed((size - self.offset) as usize);
        let mut filled = 0;
        while filled < buffer.len() {
            match self
                .file
                .read_at(&mut buffer[filled..], self.offset + filled as u64)?
            {
                0 => break,
                n => filled += n,
            }
        }
        buffer.truncate(filled);
        self.offset += filled as u64;
        self.at_end = true;
        outcome.bytes = filled;
        let position = serde_json::json!([self.offset, 1]);
        out.push(SourceEvent {
            partition: self.partition(),
            position,
            payload: Payload::Text(buffer.freeze()),
            key: None,
            headers: vec![("weir.path", self.path_header.clone())],
        });
        Ok(outcome)
    }

    fn event(&self, partition: &Arc<str>, frame: Frame, framing: Framing) -> SourceEvent {
        let payload = match (frame.oversized, framing) {
            (Some(length), _) => Payload::Invalid {
                reason: format!(
                    "line {} of {} is {length} bytes, longer than max_line_bytes ({})",
                    frame.line,
                    self.path.display(),
                    frame.bytes.len()
                ),
                raw: frame.bytes,
            },
            (None, Framing::Json) => match serde_json::from_slice(&frame.bytes) {
                Ok(value) => Payload::Json {
                    raw: frame.bytes,
                    value,
                },
                Err(error) => Payload::Invalid {
                    reason: format!(
                        "line {} of {} is not JSON: {error}",
                        frame.line,
                        self.path.display()
                    ),
                    raw: frame.bytes,
                },
            },
            (None, _) => Payload::Text(frame.bytes),
        };
        SourceEvent {
            partition: Arc::clone(partition),
            position: serde_json::json!([frame.end, frame.line]),
            payload,
            key: None,
            headers: vec![
                ("weir.path", self.path_header.clone()),
                ("weir.line", Bytes::from(frame.line.to_string())),
            ],
        }
    }
}
