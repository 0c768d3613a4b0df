//! `weir-connectors`: source connectors hosted by weir.
//!
//! It will own the `Source` trait and its runner, emit policies (thresholds and CEL
//! triggers), checkpoints saved only after the broker acknowledged what precedes them, and
//! the file, Postgres, MySQL and SQLite sources. Connectors produce through `weir-client`.
//!
//! Status: not built yet (issues "Source connectors" and "Source connectors for databases").
