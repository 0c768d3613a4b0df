//! The consumer a plugin author implements, what it may answer ([`Error`]), how it emits
//! records ([`Emitter`]), and the glue that runs it behind the WIT export (called by
//! [`crate::export_consumer!`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::thread::LocalKey;

use crate::record::{Config, Record};
use crate::wire::{EmitWriter, EmittedView, decode_batch, decode_emitted};

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

/// A record a consumer wants produced. Its parts may borrow (the input record's bytes, the
/// plugin's own strings) or own; nothing is copied until [`Emitter::emit`] encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord<'a> {
    /// The topic to produce to.
    pub topic: Cow<'a, str>,
    /// The key.
    pub key: Option<Cow<'a, [u8]>>,
    /// The value.
    pub value: Option<Cow<'a, [u8]>>,
    /// Headers, in order.
    pub headers: Vec<OutHeader<'a>>,
}

/// A header of an [`OutRecord`]: its key and value (`None` is a null value).
pub type OutHeader<'a> = (Cow<'a, str>, Option<Cow<'a, [u8]>>);

/// What an [`OutRecord`] key, value or header value can be made of: borrowed text or bytes
/// (kept as a borrow) or an owned `String`/`Vec<u8>` (moved in).
pub trait IntoBytes<'a> {
    /// The bytes, borrowed or owned.
    fn into_bytes(self) -> Cow<'a, [u8]>;
}

impl<'a> IntoBytes<'a> for &'a [u8] {
    fn into_bytes(self) -> Cow<'a, [u8]> {
        Cow::Borrowed(self)
    }
}

impl<'a, const N: usize> IntoBytes<'a> for &'a [u8; N] {
    fn into_bytes(self) -> Cow<'a, [u8]> {
        Cow::Borrowed(self)
    }
}

impl<'a> IntoBytes<'a> for &'a str {
    fn into_bytes(self) -> Cow<'a, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl<'a> IntoBytes<'a> for &'a String {
    fn into_bytes(self) -> Cow<'a, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl<'a> IntoBytes<'a> for &'a Vec<u8> {
    fn into_bytes(self) -> Cow<'a, [u8]> {
        Cow::Borrowed(self)
    }
}

impl IntoBytes<'_> for String {
    fn into_bytes(self) -> Cow<'static, [u8]> {
        Cow::Owned(self.into_bytes())
    }
}

impl IntoBytes<'_> for Vec<u8> {
    fn into_bytes(self) -> Cow<'static, [u8]> {
        Cow::Owned(self)
    }
}

impl<'a> OutRecord<'a> {
    /// A record with a value.
    pub fn new(topic: impl Into<Cow<'a, str>>, value: impl IntoBytes<'a>) -> Self {
        Self {
            topic: topic.into(),
            key: None,
            value: Some(value.into_bytes()),
            headers: Vec::new(),
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl IntoBytes<'a>) -> Self {
        self.key = Some(key.into_bytes());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<Cow<'a, str>>, value: impl IntoBytes<'a>) -> Self {
        self.headers.push((key.into(), Some(value.into_bytes())));
        self
    }
}

/// Collects the records one batch emits, encoded as they come (one buffer for the batch,
/// handed to the host in one call). The records a failing input record emitted are dropped,
/// so it leaves nothing behind.
#[derive(Debug, Default)]
pub struct Emitter {
    writer: EmitWriter,
}

impl Emitter {
    /// Emits `record`.
    pub fn emit(&mut self, record: OutRecord<'_>) {
        self.writer.push(
            &record.topic,
            record.key.as_deref(),
            record.value.as_deref(),
            record
                .headers
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_deref())),
        );
    }

    /// How many records were emitted.
    pub fn len(&self) -> usize {
        self.writer.len()
    }

    /// Whether nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.writer.is_empty()
    }

    /// What was emitted, decoded (for tests of plugin logic).
    pub fn records(&mut self) -> Vec<EmittedView<'_>> {
        decode_emitted(self.writer.bytes()).unwrap_or_default()
    }

    /// The emitted records in the emit layout (`plugins/wit/README.md`), as they cross to
    /// the host.
    pub fn encoded(&mut self) -> &[u8] {
        self.writer.bytes()
    }

    /// Forgets everything emitted (for tests of plugin logic).
    pub fn clear(&mut self) {
        self.writer.clear();
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

/// Runs the batch record by record, emitting into `out`; on failure, the index of the
/// failing record, whose emits are dropped (those of the records before it are kept).
#[doc(hidden)]
pub fn call<C: Consumer>(
    slot: &'static Slot<C>,
    batch: &[u8],
    out: &mut Emitter,
) -> Result<(), (u32, Error)> {
    let records = decode_batch(batch).map_err(|e| (0, Error::DeadLetter(e.to_string())))?;
    slot.with(|s| {
        let mut guard = s.borrow_mut();
        let Some(consumer) = guard.as_mut() else {
            return Err((0, Error::Retry("consume called before init".to_string())));
        };
        for (i, record) in records.iter().enumerate() {
            let before = out.writer.mark();
            if let Err(e) = consumer.consume(record, out) {
                out.writer.truncate(before);
                return Err((i as u32, e));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::wire::BatchWriter;

    /// Echoes each value to `out`; on `bad` it emits once more, then fails.
    struct Echo;

    impl Consumer for Echo {
        fn new(_: &Config) -> Result<Self, String> {
            Ok(Self)
        }

        fn consume(&mut self, record: &Record<'_>, out: &mut Emitter) -> Result<(), Error> {
            let value = record.value.unwrap_or_default();
            out.emit(
                OutRecord::new("out", value)
                    .with_key(record.topic)
                    .with_header("offset", record.offset.to_string()),
            );
            if value == b"bad" {
                out.emit(OutRecord::new("out", b"half-done"));
                return Err(Error::DeadLetter("bad value".into()));
            }
            Ok(())
        }
    }

    std::thread_local! {
        static SLOT: RefCell<Option<Echo>> = const { RefCell::new(None) };
    }

    #[test]
    fn a_failing_records_emits_are_dropped_and_earlier_ones_kept() {
        init(&SLOT, Vec::new()).unwrap();
        let mut batch = BatchWriter::default();
        for (offset, value) in [(1, "a"), (2, "b"), (3, "bad"), (4, "c")] {
            batch.push(
                "in",
                0,
                offset,
                0,
                None,
                Some(value.as_bytes()),
                std::iter::empty(),
            );
        }
        let mut out = Emitter::default();
        let (index, error) = call(&SLOT, batch.bytes(), &mut out).unwrap_err();
        assert_eq!((index, error), (2, Error::DeadLetter("bad value".into())));
        let emitted = out.records();
        let values: Vec<&[u8]> = emitted.iter().map(|r| r.value.unwrap()).collect();
        assert_eq!(values, [&b"a"[..], b"b"]);
        assert_eq!(emitted[1].key, Some(&b"in"[..]));
        assert_eq!(emitted[1].headers.get("offset"), Some(&b"2"[..]));
    }
}
