//! `weir-plugin-sdk`: what a plugin author depends on to write a weir partitioner or consumer
//! in Rust and build it for `wasm32-wasip2`.
//!
//! It will wrap the WIT bindings of `plugins/wit/` in plain Rust types (`Record`, `Headers`,
//! `Error::Retry` / `Error::DeadLetter`) and a one-line export macro.
//!
//! Status: not built yet (issue "WASM plugins").
