//! Reads weir's TOML files (the broker's config, connector configs, `weir run` pipelines) into
//! typed settings, with errors that name the file, line, column and key path of every mistake.
//!
//! A [`Source`] is a file's name and text. [`Source::read`] parses it and hands the caller a
//! [`TableReader`] for the root table, which takes typed values key by key (strings, integers,
//! durations such as `"7d"`, sizes such as `"1GiB"`, nested tables, `[topics.NAME]` tables and
//! `[[sources]]` arrays). Mistakes are gathered rather than returned one at a time, so a single
//! run reports all of them as [`ConfigErrors`]; keys that no read asked for are reported as
//! unknown, with the nearest valid key as a hint. No serde: reads are explicit, so every error
//! knows exactly which key and which byte of the file it is about.
//!
//! A source made with [`Source::with_env`] expands `${NAME}` and `${NAME:-default}` in
//! string values ([`env`]); a variable that is not set is an error at its key.

pub mod env;
mod error;
mod reader;
mod source;
mod suggest;
pub mod units;

pub use error::{ConfigError, ConfigErrors, Position};
pub use reader::TableReader;
pub use source::Source;
pub use units::Limit;
