//! Each connector's status (running or failed with its reason, events and bytes produced,
//! dead letters, lag behind its source, recent warnings), shared between the runner that
//! updates it and whoever shows it: the logs, and the status file that `weir connect`
//! rewrites every second (written to a temporary name and renamed, so a reader never sees
//! half of it) for `weir connector list|status`.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

/// How many recent warnings a status keeps.
const KEPT_WARNINGS: usize = 20;

/// Where a connector is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorState {
    /// Loading its checkpoint and opening its source.
    Starting,
    /// Reading and producing.
    Running,
    /// Stopped by an error it cannot go on after.
    Failed(String),
    /// Stopped on request, everything acknowledged delivered and checkpointed.
    Stopped,
}

/// One connector's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorStatus {
    /// The connector's name.
    pub name: String,
    /// Its source kind (`file`).
    pub kind: String,
    /// The topic it produces to.
    pub topic: String,
    /// Running, failed, ….
    pub state: ConnectorState,
    /// Events acknowledged by the broker.
    pub events: u64,
    /// Bytes of keys and values acknowledged.
    pub bytes: u64,
    /// Events sent to the dead-letter topic (counted in `events` too).
    pub dead_letters: u64,
    /// Events `when` filtered out.
    pub filtered: u64,
    /// Events read again after a restart and found already in the topic, so not produced
    /// twice.
    pub deduplicated: u64,
    /// Batches emitted and acknowledged.
    pub batches: u64,
    /// Checkpoints saved.
    pub checkpoints: u64,
    /// How far behind its source it is, in the source's unit (bytes for files).
    pub lag: Option<u64>,
    /// The most recent warnings, oldest first.
    pub warnings: Vec<String>,
}

/// A status shared between a runner and its readers.
pub type StatusHandle = Arc<Mutex<ConnectorStatus>>;

impl ConnectorStatus {
    /// A status for a connector about to start.
    pub fn starting(name: &str, kind: &str, topic: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind: kind.to_owned(),
            topic: topic.to_owned(),
            state: ConnectorState::Starting,
            events: 0,
            bytes: 0,
            dead_letters: 0,
            filtered: 0,
            deduplicated: 0,
            batches: 0,
            checkpoints: 0,
            lag: None,
            warnings: Vec::new(),
        }
    }

    /// A new shared handle on this status.
    pub fn into_handle(self) -> StatusHandle {
        Arc::new(Mutex::new(self))
    }

    /// Adds a warning, dropping the oldest beyond the kept number.
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
        if self.warnings.len() > KEPT_WARNINGS {
            let excess = self.warnings.len() - KEPT_WARNINGS;
            self.warnings.drain(..excess);
        }
    }

    /// The status as JSON, as the status file holds it.
    pub fn to_json(&self) -> Value {
        let (state, reason) = match &self.state {
            ConnectorState::Starting => ("starting", None),
            ConnectorState::Running => ("running", None),
            ConnectorState::Failed(reason) => ("failed", Some(reason.clone())),
            ConnectorState::Stopped => ("stopped", None),
        };
        json!({
            "name": self.name,
            "kind": self.kind,
            "topic": self.topic,
            "state": state,
            "reason": reason,
            "events": self.events,
            "bytes": self.bytes,
            "dead_letters": self.dead_letters,
            "filtered": self.filtered,
            "deduplicated": self.deduplicated,
            "batches": self.batches,
            "checkpoints": self.checkpoints,
            "lag": self.lag,
            "warnings": self.warnings,
        })
    }

    /// Reads what [`ConnectorStatus::to_json`] wrote; `None` if it is not such a status.
    pub fn from_json(value: &Value) -> Option<Self> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let count = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
        let state = match text("state")?.as_str() {
            "starting" => ConnectorState::Starting,
            "running" => ConnectorState::Running,
            "failed" => ConnectorState::Failed(text("reason").unwrap_or_default()),
            "stopped" => ConnectorState::Stopped,
            _ => return None,
        };
        Some(Self {
            name: text("name")?,
            kind: text("kind").unwrap_or_default(),
            topic: text("topic").unwrap_or_default(),
            state,
            events: count("events"),
            bytes: count("bytes"),
            dead_letters: count("dead_letters"),
            filtered: count("filtered"),
            deduplicated: count("deduplicated"),
            batches: count("batches"),
            checkpoints: count("checkpoints"),
            lag: value.get("lag").and_then(Value::as_u64),
            warnings: value
                .get("warnings")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|w| w.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Locks a status, even one whose holder panicked (the numbers are still the best known).
pub fn lock(status: &StatusHandle) -> std::sync::MutexGuard<'_, ConnectorStatus> {
    status.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The status file of one `weir connect` process: its pid, when it was written, and every
/// connector's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The process that wrote it.
    pub pid: u32,
    /// When, in milliseconds since the epoch.
    pub written_at_ms: u64,
    /// The connectors, in config order.
    pub connectors: Vec<ConnectorStatus>,
}

impl StatusReport {
    /// Writes the report to `path` (through a temporary file and a rename).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let value = json!({
            "pid": self.pid,
            "written_at_ms": self.written_at_ms,
            "connectors": self.connectors.iter().map(ConnectorStatus::to_json).collect::<Vec<_>>(),
        });
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        std::fs::write(&temporary, format!("{value:#}\n"))?;
        std::fs::rename(&temporary, path)
    }

    /// Reads a report written by [`StatusReport::write`].
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read(path)?;
        let invalid = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a weir connect status file",
            )
        };
        let value: Value = serde_json::from_slice(&text).map_err(|_| invalid())?;
        Ok(Self {
            pid: value
                .get("pid")
                .and_then(Value::as_u64)
                .ok_or_else(invalid)? as u32,
            written_at_ms: value
                .get("written_at_ms")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            connectors: value
                .get("connectors")
                .and_then(Value::as_array)
                .ok_or_else(invalid)?
                .iter()
                .filter_map(ConnectorStatus::from_json)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_report_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let mut failed = ConnectorStatus::starting("b", "file", "t");
        failed.state = ConnectorState::Failed("broker gone".to_owned());
        failed.warn("x.log: permission denied".to_owned());
        let mut running = ConnectorStatus::starting("a", "file", "t");
        running.state = ConnectorState::Running;
        running.events = 5;
        running.lag = Some(12);
        let report = StatusReport {
            pid: 42,
            written_at_ms: 7,
            connectors: vec![running, failed],
        };
        report.write(&path).unwrap();
        assert_eq!(StatusReport::read(&path).unwrap(), report);
    }
}
