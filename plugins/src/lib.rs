//! `weir-plugins`: the WebAssembly host for weir plugins.
//!
//! It will load WASM components (wasmtime's component model) that implement the interfaces
//! in `plugins/wit/`, and run partitioner and consumer plugins under fuel or epoch deadlines
//! and a memory cap, so a plugin that traps or loops fails one call, never the broker.
//!
//! Status: not built yet (issue "WASM plugins").
