//! `weir-plugins`: the WebAssembly host for weir plugins.
//!
//! Plugins are WebAssembly components implementing the interfaces in `plugins/wit/`
//! (`weir:plugin@0.2.0`), written with `weir-plugin-sdk`. One [`PluginEngine`] compiles them
//! (cached on disk by the wasm's hash and the wasmtime version) and each instance runs in its
//! own store with a deadline per call, a memory cap and WASI with nothing granted unless its
//! settings say so. A plugin that traps, loops or runs out of memory fails one call; the next
//! call gets a fresh instance.
//!
//! | module | owns |
//! |---|---|
//! | [`engine`] | the shared engine, the compile cache, the epoch thread |
//! | [`settings`] | [`PluginSettings`]: deadline, memory cap, grants, the plugin's config |
//! | `sandbox` | a store with its limits; classifying a failed call |
//! | `instance` | an instance's lifecycle: link, start, replace after a failed call |
//! | [`partitioner`] | [`WasmPartitioner`], the client's `Partitioner` backed by a plugin |
//! | [`consumer`] | [`WasmConsumer`], one consumer plugin instance and its host imports |
//! | [`runner`] | group members feeding batches to a consumer plugin; dead letters |
//! | [`error`] | [`LoadError`], [`CallError`] |

pub mod consumer;
pub mod engine;
pub mod error;
mod instance;
pub mod partitioner;
pub mod runner;
mod sandbox;
pub mod settings;

pub use consumer::{BatchOutcome, Failure, WasmConsumer};
pub use engine::{CompiledPlugin, PluginEngine};
pub use error::{CallError, LoadError};
pub use partitioner::WasmPartitioner;
pub use runner::{RunnerConfig, RunnerError, RunnerProgress, RunnerStats};
pub use settings::{Grants, KeyStyle, PluginSettings};
