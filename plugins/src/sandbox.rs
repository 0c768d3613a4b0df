//! One plugin instance's sandbox: the store data (WASI with only what was granted, the
//! memory cap, what a consumer emitted), how a store is built with its limits set before
//! any guest code runs, and how a failed call is classified.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use weir_client::{ProducerRecord, Topic};

use crate::engine::EPOCH_TICK;
use crate::error::{CallError, LoadError};
use crate::settings::PluginSettings;

/// The data of a plugin's store.
pub(crate) struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) plugin: String,
    pub(crate) config: Vec<(String, String)>,
    /// What a consumer emitted during the current call, ready to produce.
    pub(crate) emitted: Vec<ProducerRecord>,
    /// The topics emitted to lately: records share these names rather than each
    /// allocating its own.
    pub(crate) emit_topics: Vec<Topic>,
    /// Why the last `emit-batch` buffer could not be read, if it could not.
    pub(crate) malformed_emit: Option<String>,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A fresh store for `plugin` with its limits and grants, and a deadline already set so
/// that instantiation (which runs guest code) is bounded too.
pub(crate) fn new_store(
    engine: &Engine,
    plugin: &str,
    settings: &PluginSettings,
) -> Result<Store<SandboxState>, LoadError> {
    let mut wasi = WasiCtxBuilder::new();
    // Panic messages go to the runner's stderr; stdin and stdout stay closed.
    wasi.inherit_stderr();
    for dir in &settings.grants.read_dirs {
        let guest = dir.to_string_lossy().into_owned();
        wasi.preopened_dir(dir, guest, FsPerms::ReadOnly)
            .map_err(|e| LoadError::Grant {
                name: plugin.to_string(),
                path: dir.clone(),
                reason: format!("{e:#}"),
            })?;
    }
    for name in &settings.grants.env {
        if let Ok(value) = std::env::var(name) {
            wasi.env(name, value);
        }
    }
    // wasmtime-wasi refuses TCP, UDP and name lookups unless allowed; say so anyway, so
    // the default does not depend on theirs.
    let network = settings.grants.network;
    wasi.allow_tcp(network)
        .allow_udp(network)
        .allow_ip_name_lookup(network);
    if network {
        wasi.inherit_network();
    }
    let limits = StoreLimitsBuilder::new()
        .memory_size(settings.memory_limit)
        .trap_on_grow_failure(true)
        .build();
    let state = SandboxState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        limits,
        plugin: plugin.to_string(),
        config: settings.config.clone(),
        emitted: Vec::new(),
        emit_topics: Vec::new(),
        malformed_emit: None,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    set_deadline(&mut store, settings.deadline);
    Ok(store)
}

/// Arms the deadline for the next call.
pub(crate) fn set_deadline(store: &mut Store<SandboxState>, deadline: Duration) {
    let ticks = deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64;
    // One tick more: the current tick may be about to end.
    store.set_epoch_deadline(ticks.max(1) + 1);
}

/// What a failed call (a wasmtime error, not the plugin's own `Err`) means.
pub(crate) fn classify(error: &wasmtime::Error, settings: &PluginSettings) -> CallError {
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        return CallError::Deadline(settings.deadline);
    }
    let text = format!("{error:#}");
    if text.contains("forcing trap when growing memory") {
        return CallError::MemoryCap(settings.memory_limit);
    }
    CallError::Trap(text)
}

/// Runs a call into the guest, turning a panic of a host function into a trap. wasmtime-wasi's
/// synchronous I/O (streams, files, sockets; a guest's panic message on stderr) blocks on
/// Tokio, which panics on an async runtime's worker thread — where the producer calls its
/// partitioner. The call fails instead; the instance is then replaced.
pub(crate) fn guarded<R>(call: impl FnOnce() -> wasmtime::Result<R>) -> wasmtime::Result<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a host function panicked".to_string());
            Err(wasmtime::Error::msg(format!(
                "the plugin asked for I/O the host could not serve here: {message}"
            )))
        }
    }
}
