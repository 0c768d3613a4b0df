//! `weir connect` with a database source, end to end: a real broker process, a real
//! connector process SIGKILLed at random points, a real PostgreSQL written by `psql`.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

#[path = "../connect/harness.rs"]
#[allow(dead_code)]
mod harness;

mod sigkill;
