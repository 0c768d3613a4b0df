//! The consumer a plugin author implements, what it may answer ([`Error`]), how it emits
//! records ([`Emitter`]), and the glue that runs it behind the WIT export (called by
//! [`crate::export_consumer!`]).

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::record::{Config, Record};
use crate::wire::decode_batch;

/// Handles the records the runner's consumer reads, one at a time.
pub trait Consumer: Sized + 'static {
    /// Builds the consumer from the plugin's `[config]`; an error refuses the plugin.
    fn new(config: &Config) -> Result<Self, String>;

    /// Handles one record. Records emitted through `out` are produced only if this returns
    /// `Ok`, and before the input's offset is committed.
    fn consume(&mut self, record: &Record<'_>, out: &mut Emitter) -> Result<(), Error>;
}

/// Why a record could not be handled, and what the runner should do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A passing problem (a service down): try the record again after a backoff.
    Retry(String),
    /// The record itself is bad: send it to the dead-letter topic with this reason.
    DeadLetter(String),
}

/// A record a consumer wants produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// The topic to produce to.
    pub topic: String,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl OutRecord {
    /// A record with a value.
    pub fn new(topic: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            topic: topic.into(),
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }
}

/// Collects the records one input record emits; they reach the host only if that record
/// succeeds, so a failing record leaves nothing behind.
#[derive(Debug, Default)]
pub struct Emitter {
    records: Vec<OutRecord>,
}

impl Emitter {
    /// Emits `record`.
    pub fn emit(&mut self, record: OutRecord) {
        self.records.push(record);
    }

    /// What was emitted so far (for tests of plugin logic).
    pub fn records(&self) -> &[OutRecord] {
        &self.records
    }

    /// Takes the emitted records out (for tests of plugin logic and the export glue).
    pub fn take(&mut self) -> Vec<OutRecord> {
        std::mem::take(&mut self.records)
    }
}

/// Where the export glue keeps the plugin's one instance.
#[doc(hidden)]
pub type Slot<C> = LocalKey<RefCell<Option<C>>>;

#[doc(hidden)]
pub fn init<C: Consumer>(
    slot: &'static Slot<C>,
    config: Vec<(String, String)>,
) -> Result<(), String> {
    let consumer = C::new(&Config::new(config))?;
    slot.with(|s| *s.borrow_mut() = Some(consumer));
    Ok(())
}

/// Runs the batch record by record; `deliver` hands one successful record's emits to the
/// host. On failure, the index of the failing record.
#[doc(hidden)]
pub fn call<C: Consumer>(
    slot: &'static Slot<C>,
    batch: &[u8],
    mut deliver: impl FnMut(Vec<OutRecord>),
) -> Result<(), (u32, Error)> {
    let records = decode_batch(batch).map_err(|e| (0, Error::DeadLetter(e.to_string())))?;
    slot.with(|s| {
        let mut guard = s.borrow_mut();
        let Some(consumer) = guard.as_mut() else {
            return Err((0, Error::Retry("consume called before init".to_string())));
        };
        let mut out = Emitter::default();
        for (i, record) in records.iter().enumerate() {
            consumer
                .consume(record, &mut out)
                .map_err(|e| (i as u32, e))?;
            if !out.records.is_empty() {
                deliver(out.take());
            }
        }
        Ok(())
    })
}

/// Log severities for [`log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Details for debugging.
    Debug,
    /// Normal events.
    Info,
    /// Something odd that was handled.
    Warn,
    /// Something failed.
    Error,
}

/// Writes a line to the runner's log. Outside a plugin (native tests of plugin logic) the
/// line goes to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::__bindings::consumer::weir::plugin::host;
        let level = match level {
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?}: {message}");
}

/// A value of the plugin's `[config]` table, asked of the host at any time (the same
/// values [`Consumer::new`] got). Outside a plugin there is no host: always `None`.
pub fn config(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::__bindings::consumer::weir::plugin::host::config(key)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        None
    }
}
