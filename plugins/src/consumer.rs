//! [`WasmConsumer`]: one consumer plugin instance. It hands a batch of records to the plugin
//! as one flat buffer and gives back what the plugin emitted and where it failed; the host
//! imports (`emit`, `log`, `config`) are served here.

use bytes::Bytes;
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};
use weir_client::{ConsumerRecord, Header, ProducerRecord, Topic};
use weir_plugin_sdk::wire::{BatchWriter, for_each_emitted};

use crate::engine::{CompiledPlugin, PluginEngine};
use crate::error::{CallError, LoadError};
use crate::instance::{PluginInstance, PluginWorld};
use crate::sandbox::{SandboxState, guarded};
use crate::settings::PluginSettings;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "consumer-plugin",
    });
}

use bindings::exports::weir::plugin::consumer::Failure as WitFailure;
use bindings::weir::plugin::host::{self, Level};
use bindings::{ConsumerPlugin, ConsumerPluginPre};

impl PluginWorld for ConsumerPlugin {
    type Pre = ConsumerPluginPre<SandboxState>;
    const KIND: &'static str = "consumer";

    fn link(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
        ConsumerPlugin::add_to_linker::<SandboxState, HasSelf<SandboxState>>(linker, |s| s)
    }

    fn prepare(pre: InstancePre<SandboxState>) -> wasmtime::Result<Self::Pre> {
        ConsumerPluginPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<SandboxState>) -> wasmtime::Result<Self> {
        pre.instantiate(store)
    }

    fn init(
        &self,
        store: &mut Store<SandboxState>,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        self.weir_plugin_consumer().call_init(store, config)
    }
}

impl host::Host for SandboxState {
    /// The records stay in the one buffer lifted from the guest: keys, values and header
    /// values are slices of it.
    fn emit_batch(&mut self, records: Vec<u8>) {
        let buffer = Bytes::from(records);
        let before = self.emitted.len();
        if let Some(count) = buffer.get(..4) {
            let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]);
            self.emitted.reserve(count.min(1 << 16) as usize);
        }
        let slice = |b: &[u8]| buffer.slice_ref(b);
        let (emitted, topics) = (&mut self.emitted, &mut self.emit_topics);
        let decoded = for_each_emitted(&buffer, |r| {
            emitted.push(ProducerRecord {
                topic: shared_topic(topics, r.topic),
                partition: None,
                key: r.key.map(slice),
                value: r.value.map(slice),
                headers: r
                    .headers
                    .iter()
                    .map(|(key, value)| Header {
                        key: key.to_string(),
                        value: value.map(slice),
                    })
                    .collect(),
                timestamp: None,
            })
        });
        if let Err(e) = decoded {
            // Only a plugin not built with the SDK gets here; the call fails as a trap would.
            self.emitted.truncate(before);
            self.malformed_emit = Some(e.to_string());
        }
    }

    fn log(&mut self, level: Level, message: String) {
        let plugin = self.plugin.as_str();
        match level {
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.config
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }
}

/// `name` from the topics emitted to lately, or added to them (a plugin emitting to more
/// topics than are kept starts the list over).
fn shared_topic(topics: &mut Vec<Topic>, name: &str) -> Topic {
    const KEPT: usize = 32;
    if let Some(topic) = topics.iter().find(|t| t.as_str() == name) {
        return topic.clone();
    }
    if topics.len() == KEPT {
        topics.clear();
    }
    let topic = Topic::from(name);
    topics.push(topic.clone());
    topic
}

/// Why a batch stopped short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The plugin asked for the record to be tried again later.
    Retry(String),
    /// The plugin asked for the record to be dead-lettered.
    DeadLetter(String),
    /// The call trapped, hit its deadline or memory cap: which record is not known, and
    /// nothing the call emitted is kept.
    Call(CallError),
}

/// What one batch call gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The records emitted by the records handled before the failure (all of them when
    /// there is none), ready to produce.
    pub emitted: Vec<ProducerRecord>,
    /// Where and why the batch stopped: the index of the failing record in the batch (when
    /// known) and the failure.
    pub failure: Option<(Option<usize>, Failure)>,
}

/// A consumer plugin instance.
pub struct WasmConsumer {
    instance: PluginInstance<ConsumerPlugin>,
    writer: BatchWriter,
}

impl std::fmt::Debug for WasmConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmConsumer")
            .field("name", &self.instance.name())
            .field("settings", self.instance.settings())
            .finish()
    }
}

impl WasmConsumer {
    /// Starts an instance of a compiled consumer plugin (instantiation and `init`).
    pub fn new(
        engine: &PluginEngine,
        plugin: &CompiledPlugin,
        settings: PluginSettings,
    ) -> Result<Self, LoadError> {
        Ok(Self {
            instance: PluginInstance::new(engine, plugin, settings)?,
            writer: BatchWriter::default(),
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.instance.name()
    }

    /// Hands `records` to the plugin as one batch.
    pub fn consume(&mut self, records: &[ConsumerRecord]) -> BatchOutcome {
        let failed = |error| BatchOutcome {
            emitted: Vec::new(),
            failure: Some((None, Failure::Call(error))),
        };
        self.writer.clear();
        for r in records {
            self.writer.push(
                &r.topic,
                r.partition,
                r.offset,
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                r.headers
                    .iter()
                    .map(|h| (h.key.as_str(), h.value.as_deref())),
            );
        }
        let (store, plugin) = match self.instance.ready() {
            Ok(live) => live,
            Err(error) => return failed(error),
        };
        store.data_mut().emitted.clear();
        store.data_mut().malformed_emit = None;
        let batch = self.writer.bytes();
        let result = guarded(|| {
            plugin
                .weir_plugin_consumer()
                .call_consume(&mut *store, batch)
        });
        let emitted = std::mem::take(&mut store.data_mut().emitted);
        if let Some(reason) = store.data_mut().malformed_emit.take() {
            return failed(CallError::Trap(format!("emit-batch: {reason}")));
        }
        match result {
            Ok(Ok(())) => BatchOutcome {
                emitted,
                failure: None,
            },
            Ok(Err(error)) => BatchOutcome {
                emitted,
                failure: Some((
                    Some(error.index as usize),
                    match error.failure {
                        WitFailure::Retry(m) => Failure::Retry(m),
                        WitFailure::DeadLetter(m) => Failure::DeadLetter(m),
                    },
                )),
            },
            Err(e) => failed(self.instance.failed(&e)),
        }
    }
}
