//! Database sources against real servers: PostgreSQL and MariaDB on the machine (or
//! throwaway instances started from the installed binaries when those do not answer), and
//! SQLite files; each test in its own scratch schema or database, dropped afterwards.

#![allow(clippy::unwrap_used)] // tests: a failure is a failed test

mod bad_input;
mod broker;
mod cdc;
mod databases;
mod example;
mod modes;
mod outage;
mod types;
