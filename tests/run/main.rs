//! `weir run` end to end: each example pipeline run as a real process, driven through its
//! data source, its output topic read back exactly, then SIGKILLed mid-stream and restarted
//! with nothing lost; a pipeline against a separate broker process (`[cluster]`); and one
//! config mistake of each kind reported with file, line and key.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

#[path = "../../plugins/tests/support/example_plugins.rs"]
mod example_plugins;

mod config_errors;
mod ecommerce;
mod external;
mod harness;
mod logs;
