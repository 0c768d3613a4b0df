//! The settings of `kind = "file"` sources.

use std::path::PathBuf;
use std::time::Duration;

use weir_config::TableReader;

/// Where a file seen for the first time (no checkpoint matches it) is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// From its first byte (the default).
    #[default]
    Beginning,
    /// From its end when the connector first sees it: only what is appended later. Files
    /// that appear while the connector runs are always read from the beginning (a rotated
    /// log's new file starts empty, and what is written to it must not be lost).
    End,
}

/// How file bytes become events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// One event per delimited line (the default).
    #[default]
    Lines,
    /// One event per line, parsed as JSON; a line that is not JSON goes to the dead-letter
    /// topic.
    Json,
    /// One event per file, read once the file stopped growing (files dropped into a
    /// directory).
    WholeFile,
}

/// How the source learns that files changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Watch {
    /// Change events from the OS (inotify), with polling at `poll_interval` as a safety net.
    #[default]
    Notify,
    /// Polling only, for filesystems without change events (NFS, some FUSE mounts).
    Poll,
}

/// `kind = "file"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// `paths`: files and globs (`/var/log/app/*.log`), relative to the config file.
    pub paths: Vec<PathBuf>,
    /// `start_at`: `"beginning"` or `"end"`.
    pub start_at: StartAt,
    /// `framing`: `"lines"`, `"json"` or `"whole_file"`.
    pub framing: Framing,
    /// `delimiter` (default `"\n"`).
    pub delimiter: Vec<u8>,
    /// `max_line_bytes` (default 1 MiB): a longer line becomes an error event in the
    /// dead-letter topic (its first `max_line_bytes`), and reading goes on after it.
    pub max_line_bytes: usize,
    /// `watch`: `"notify"` or `"poll"`.
    pub watch: Watch,
    /// `poll_interval` (default 250 ms): how often files are checked without a change event,
    /// and how often the globs are expanded again.
    pub poll_interval: Duration,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            start_at: StartAt::default(),
            framing: Framing::default(),
            delimiter: b"\n".to_vec(),
            max_line_bytes: 1024 * 1024,
            watch: Watch::default(),
            poll_interval: Duration::from_millis(250),
        }
    }
}

const START_AT: [(&str, StartAt); 2] = [("beginning", StartAt::Beginning), ("end", StartAt::End)];
const FRAMING: [(&str, Framing); 3] = [
    ("lines", Framing::Lines),
    ("json", Framing::Json),
    ("whole_file", Framing::WholeFile),
];
const WATCH: [(&str, Watch); 2] = [("notify", Watch::Notify), ("poll", Watch::Poll)];

impl FileSettings {
    pub(super) fn read(table: &mut TableReader<'_>) -> Option<Self> {
        let defaults = Self::default();
        let paths = table.file_paths("paths");
        let paths = table.ensure("paths", paths, "a non-empty list of paths or globs", |p| {
            !p.is_empty()
        });
        if !table.has("paths") {
            table.reject_table("paths = [\"/path/*.log\", …] is required for a file source");
        }
        let start_at = table.one_of("start_at", &START_AT).unwrap_or_default();
        let framing = table.one_of("framing", &FRAMING).unwrap_or_default();
        let delimiter = table.string("delimiter");
        let delimiter = table.ensure("delimiter", delimiter, "non-empty", |d| !d.is_empty());
        let max_line_bytes = table.size("max_line_bytes");
        let max_line_bytes = table.ensure("max_line_bytes", max_line_bytes, "positive", |n| *n > 0);
        let watch = table.one_of("watch", &WATCH).unwrap_or_default();
        let poll_interval = table.duration("poll_interval");
        let poll_interval =
            table.ensure("poll_interval", poll_interval, "positive", |d| !d.is_zero());
        Some(Self {
            paths: paths?,
            start_at,
            framing,
            delimiter: delimiter.map_or(defaults.delimiter, String::into_bytes),
            max_line_bytes: max_line_bytes.map_or(defaults.max_line_bytes, |n| n as usize),
            watch,
            poll_interval: poll_interval.unwrap_or(defaults.poll_interval),
        })
    }
}
