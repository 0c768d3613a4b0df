//! `weir connect` with the file source, end to end: a real broker process, a real connector
//! process, real files appended, rotated, truncated and deleted, and the topic read back.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod emit;
mod files;
mod harness;
mod restart;
