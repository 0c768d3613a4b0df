//! [`WasmPartitioner`]: a partitioner plugin behind the client's [`Partitioner`] trait, so
//! the SDK producer, `weir produce` and connectors can route records with it.

use std::path::Path;
use std::sync::OnceLock;

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};
use weir_client::murmur2::partition_for_key;
use weir_client::{PartitionError, Partitioner, Partitions, ProducerRecord};
use weir_plugin_sdk::partitioner::REFUSED;
use weir_plugin_sdk::wire::PartitionCallWriter;

use crate::engine::{CompiledPlugin, PluginEngine};
use crate::error::{CallError, LoadError};
use crate::instance::{PluginInstance, PluginWorld};
use crate::sandbox::{SandboxState, guarded};
use crate::settings::PluginSettings;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "partitioner-plugin",
    });
}

use bindings::{PartitionerPlugin, PartitionerPluginPre};

impl PluginWorld for PartitionerPlugin {
    type Pre = PartitionerPluginPre<SandboxState>;
    const KIND: &'static str = "partitioner";

    fn link(_: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
        Ok(())
    }

    fn prepare(pre: InstancePre<SandboxState>) -> wasmtime::Result<Self::Pre> {
        PartitionerPluginPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<SandboxState>) -> wasmtime::Result<Self> {
        pre.instantiate(store)
    }

    fn init(
        &self,
        store: &mut Store<SandboxState>,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        self.weir_plugin_partitioner().call_init(store, config)
    }
}

/// A partitioner plugin instance. A call that traps or runs past its deadline fails that
/// record only; the next call gets a fresh instance.
pub struct WasmPartitioner {
    instance: PluginInstance<PartitionerPlugin>,
    writer: PartitionCallWriter,
}

impl std::fmt::Debug for WasmPartitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPartitioner")
            .field("name", &self.instance.name())
            .field("settings", self.instance.settings())
            .finish()
    }
}

/// The engine `load` uses: one per process, cached in the default cache directory.
fn shared_engine() -> Result<PluginEngine, LoadError> {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let engine = PluginEngine::new(PluginEngine::default_cache_dir().as_deref())?;
    Ok(ENGINE.get_or_init(|| engine).clone())
}

impl WasmPartitioner {
    /// Loads the partitioner plugin at `path` on the process's shared engine, and starts
    /// it (instantiation and `init` with `settings.config`).
    pub fn load(path: &Path, settings: PluginSettings) -> Result<Self, LoadError> {
        let engine = shared_engine()?;
        let plugin = engine.compile_file(path)?;
        Self::new(&engine, &plugin, settings)
    }

    /// Starts an instance of a compiled partitioner plugin.
    pub fn new(
        engine: &PluginEngine,
        plugin: &CompiledPlugin,
        settings: PluginSettings,
    ) -> Result<Self, LoadError> {
        Ok(Self {
            instance: PluginInstance::new(engine, plugin, settings)?,
            writer: PartitionCallWriter::default(),
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.instance.name()
    }

    /// A failed call as the producer reports it.
    fn refused(&self, error: &CallError) -> PartitionError {
        PartitionError::new(format!("plugin {} {error}", self.instance.name()))
    }

    /// Asks the plugin for `record`'s partition.
    pub fn call(
        &mut self,
        record: &ProducerRecord,
        partitions: &Partitions<'_>,
    ) -> Result<i32, CallError> {
        let mut answers = self.call_once(&[record], partitions)?;
        answers
            .pop()
            .unwrap_or_else(|| Err(CallError::Plugin("answered no partition".to_string())))
    }

    /// Asks the plugin for the partitions of a run of records in one call, one answer per
    /// record appended to `out`. When the call traps or times out, each record is asked
    /// again on its own, so only the records that fail get an error.
    pub fn call_run(
        &mut self,
        records: &[&ProducerRecord],
        partitions: &Partitions<'_>,
        out: &mut Vec<Result<i32, CallError>>,
    ) {
        match self.call_once(records, partitions) {
            Ok(answers) => out.extend(answers),
            Err(error) if records.len() == 1 => out.push(Err(error)),
            Err(_) => out.extend(records.iter().map(|r| self.call(r, partitions))),
        }
    }

    /// One `partition` call for `records`: an answer per record, or why the call failed.
    fn call_once(
        &mut self,
        records: &[&ProducerRecord],
        partitions: &Partitions<'_>,
    ) -> Result<Vec<Result<i32, CallError>>, CallError> {
        let (store, plugin) = self.instance.ready()?;
        let count = partitions.count();
        self.writer.start(
            partitions.topic(),
            u32::try_from(partitions.batch_size()).unwrap_or(u32::MAX),
            partitions.fills().iter().map(|f| {
                (
                    u32::try_from(f.open_bytes).unwrap_or(u32::MAX),
                    u32::try_from(f.in_flight).unwrap_or(u32::MAX),
                )
            }),
        );
        for record in records {
            self.writer.push(
                record.key.as_deref(),
                record.value.as_deref(),
                record
                    .headers
                    .iter()
                    .map(|h| (h.key.as_str(), h.value.as_deref())),
            );
        }
        let exports = plugin.weir_plugin_partitioner();
        let answers = match guarded(|| exports.call_partition(&mut *store, self.writer.bytes())) {
            Ok(answers) => answers,
            Err(e) => return Err(self.instance.failed(&e)),
        };
        let refusals = if answers.len() != records.len() || answers.contains(&REFUSED) {
            match guarded(|| exports.call_refusals(&mut *store)) {
                Ok(refusals) => refusals,
                Err(e) => return Err(self.instance.failed(&e)),
            }
        } else {
            Vec::new()
        };
        if answers.len() != records.len() {
            return Err(CallError::Plugin(format!(
                "answered {} partitions for {} records{}",
                answers.len(),
                records.len(),
                refusals
                    .first()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )));
        }
        let mut refusals = refusals.into_iter();
        Ok(answers
            .into_iter()
            .map(|partition| match partition {
                p if (0..count).contains(&p) => Ok(p),
                REFUSED => Err(CallError::Plugin(
                    refusals
                        .next()
                        .unwrap_or_else(|| "refused without a reason".to_string()),
                )),
                partition => Err(CallError::OutOfRange { partition, count }),
            })
            .collect())
    }
}

impl Partitioner for WasmPartitioner {
    /// For callers that cannot take an error (the producer uses `try_partition`): a failed
    /// call is logged and the record placed as the default partitioner places keyed
    /// records, or on partition 0 without a key.
    fn partition(&mut self, record: &ProducerRecord, partitions: &Partitions<'_>) -> i32 {
        match self.call(record, partitions) {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(plugin = %self.instance.name(), %error, "partitioner plugin failed; using the key hash");
                record
                    .key
                    .as_ref()
                    .map_or(0, |k| partition_for_key(k, partitions.count().max(1)))
            }
        }
    }

    fn try_partition(
        &mut self,
        record: &ProducerRecord,
        partitions: &Partitions<'_>,
    ) -> Result<i32, PartitionError> {
        self.call(record, partitions).map_err(|e| self.refused(&e))
    }

    /// A plugin call has a fixed cost of several hundred nanoseconds; a run shares it.
    fn partitions_runs(&self) -> bool {
        true
    }

    fn try_partition_run(
        &mut self,
        records: &[&ProducerRecord],
        partitions: &Partitions<'_>,
        out: &mut Vec<Result<i32, PartitionError>>,
    ) {
        let mut answers = Vec::with_capacity(records.len());
        self.call_run(records, partitions, &mut answers);
        out.extend(answers.into_iter().map(|a| a.map_err(|e| self.refused(&e))));
    }
}
