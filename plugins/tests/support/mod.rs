//! What the plugin tests share: the example plugins built for `wasm32-wasip2`, and an
//! in-process broker.

#![allow(dead_code, unreachable_pub)]

pub mod broker;
pub mod example_plugins;
