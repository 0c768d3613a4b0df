//! [`WasmConsumer`]: one consumer plugin instance. It hands a batch of records to the plugin
//! as one flat buffer and gives back what the plugin emitted and where it failed; the host
//! imports (`emit`, `log`, `config`) are served here.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};
use weir_client::ConsumerRecord;
use weir_plugin_sdk::wire::BatchWriter;

use crate::engine::{CompiledPlugin, PluginEngine};
use crate::error::{CallError, LoadError};
use crate::sandbox::{Emitted, SandboxState, classify, guarded, new_store, set_deadline};
use crate::settings::PluginSettings;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "consumer-plugin",
    });
}

use bindings::exports::weir::plugin::consumer::Failure as WitFailure;
use bindings::weir::plugin::host::{self, FlatHeader, Level};
use bindings::{ConsumerPlugin, ConsumerPluginPre};

impl host::Host for SandboxState {
    fn emit(
        &mut self,
        topic: String,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<FlatHeader>,
    ) {
        self.emitted.push(Emitted {
            topic,
            key,
            value,
            headers: headers.into_iter().map(|h| (h.key, h.value)).collect(),
        });
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
    /// there is none).
    pub emitted: Vec<Emitted>,
    /// Where and why the batch stopped: the index of the failing record in the batch (when
    /// known) and the failure.
    pub failure: Option<(Option<usize>, Failure)>,
}

/// A consumer plugin instance.
pub struct WasmConsumer {
    name: String,
    settings: PluginSettings,
    engine: PluginEngine,
    pre: ConsumerPluginPre<SandboxState>,
    instance: Option<(Store<SandboxState>, ConsumerPlugin)>,
    writer: BatchWriter,
}

impl std::fmt::Debug for WasmConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmConsumer")
            .field("name", &self.name)
            .field("settings", &self.settings)
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
        let interface = |reason: String| LoadError::Interface {
            name: plugin.name.clone(),
            kind: "consumer",
            reason,
        };
        let mut linker = Linker::<SandboxState>::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| interface(format!("{e:#}")))?;
        ConsumerPlugin::add_to_linker::<SandboxState, HasSelf<SandboxState>>(&mut linker, |s| s)
            .map_err(|e| interface(format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&plugin.component)
            .map_err(|e| interface(format!("{e:#}")))?;
        let pre = ConsumerPluginPre::new(pre).map_err(|e| interface(format!("{e:#}")))?;
        let mut consumer = Self {
            name: plugin.name.clone(),
            settings,
            engine: engine.clone(),
            pre,
            instance: None,
            writer: BatchWriter::default(),
        };
        consumer.instance = Some(consumer.start()?);
        Ok(consumer)
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn start(&self) -> Result<(Store<SandboxState>, ConsumerPlugin), LoadError> {
        let mut store = new_store(self.engine.engine(), &self.name, &self.settings)?;
        let started = |source| LoadError::Start {
            name: self.name.clone(),
            source,
        };
        let plugin = guarded(|| self.pre.instantiate(&mut store))
            .map_err(|e| started(classify(&e, &self.settings)))?;
        set_deadline(&mut store, self.settings.deadline);
        match guarded(|| {
            plugin
                .weir_plugin_consumer()
                .call_init(&mut store, &self.settings.config)
        }) {
            Ok(Ok(())) => Ok((store, plugin)),
            Ok(Err(reason)) => Err(LoadError::Refused {
                name: self.name.clone(),
                reason,
            }),
            Err(e) => Err(started(classify(&e, &self.settings))),
        }
    }

    /// Hands `records` to the plugin as one batch.
    pub fn consume(&mut self, records: &[ConsumerRecord]) -> BatchOutcome {
        if self.instance.is_none() {
            match self.start() {
                Ok(started) => self.instance = Some(started),
                Err(LoadError::Start { source, .. }) => {
                    return BatchOutcome {
                        emitted: Vec::new(),
                        failure: Some((None, Failure::Call(source))),
                    };
                }
                Err(other) => {
                    return BatchOutcome {
                        emitted: Vec::new(),
                        failure: Some((None, Failure::Call(CallError::Trap(other.to_string())))),
                    };
                }
            }
        }
        let Some((store, plugin)) = self.instance.as_mut() else {
            unreachable!("started above");
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
        store.data_mut().emitted.clear();
        set_deadline(store, self.settings.deadline);
        let batch = self.writer.bytes();
        let result = guarded(|| {
            plugin
                .weir_plugin_consumer()
                .call_consume(&mut *store, batch)
        });
        let emitted = std::mem::take(&mut store.data_mut().emitted);
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
            Err(e) => {
                let error = classify(&e, &self.settings);
                self.instance = None;
                BatchOutcome {
                    emitted: Vec::new(),
                    failure: Some((None, Failure::Call(error))),
                }
            }
        }
    }
}
