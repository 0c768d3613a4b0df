//! The settings of database sources: `kind = "postgres"`, `"mysql"` (MySQL and MariaDB) and
//! `"sqlite"`, or `"sql"` for the database the `url`'s scheme names. `url` may name environment variables (`"${ORDERS_DB_URL}"`, or
//! `"${ORDERS_DB_URL:-sqlite://orders.db}"` with a default) so secrets stay
//! out of the file; a variable that is not set is a config error at that key.

use std::time::Duration;

use weir_config::TableReader;

/// Which database a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// An SQLite file.
    Sqlite,
}

impl Database {
    /// The database a URL's scheme names (`postgres://`, `postgresql://`, `mysql://`,
    /// `sqlite:`), for `kind = "sql"`.
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?;
        match scheme {
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" => Some(Self::Mysql),
            "sqlite" => Some(Self::Sqlite),
            _ => None,
        }
    }

    /// The `kind` naming it.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
        }
    }
}

/// How a database source learns about new rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlMode {
    /// `mode = "incrementing"`: rows whose `column` is above the cursor.
    Incrementing,
    /// `mode = "timestamp"`: rows whose `(timestamp_column, column)` is above the cursor, so
    /// updates arrive too and rows sharing a timestamp are neither lost nor repeated.
    Timestamp {
        /// `timestamp_column`.
        column: String,
    },
    /// `mode = "query"`: the `query`, with `:cursor` bound to the last row's `column`.
    Query {
        /// The query as written.
        text: String,
    },
    /// `mode = "notify"` (Postgres): incrementing or timestamp polling, run at once on each
    /// notification on `channel`, and every `poll_interval` regardless.
    Notify {
        /// `channel` to `LISTEN` on (default `weir_<table>`).
        channel: String,
        /// `install_trigger`: create a trigger on the table that notifies the channel.
        install_trigger: bool,
        /// `timestamp_column`, when set: timestamp polling instead of incrementing.
        timestamp_column: Option<String>,
    },
    /// `mode = "cdc"` (Postgres): change data capture through a logical replication slot
    /// decoded with `pgoutput`.
    Cdc(CdcSettings),
}

/// The settings of `mode = "cdc"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdcSettings {
    /// The connector's name, recorded as the owner of the publication.
    pub connector: String,
    /// `tables` (or `table`): the tables captured, optionally schema-qualified.
    pub tables: Vec<String>,
    /// `slot` (default `weir_<connector>`): the logical replication slot.
    pub slot: String,
    /// `publication` (default `weir_<connector>`): created `FOR TABLE …` if missing.
    pub publication: String,
    /// `snapshot` (default false): emit the tables' rows as they are first, then changes.
    pub snapshot: bool,
    /// `heartbeat_interval` (default 10 s): how often to write a WAL message so the slot
    /// advances even when the captured tables are quiet.
    pub heartbeat_interval: Duration,
}

/// `kind = "postgres" | "mysql" | "sqlite"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSettings {
    /// The database kind.
    pub database: Database,
    /// `url`, with environment variables expanded.
    pub url: String,
    /// `mode`.
    pub mode: SqlMode,
    /// `table` (required except in query mode).
    pub table: Option<String>,
    /// `column`: the incrementing column, the tie-break in timestamp mode, the cursor in
    /// query mode.
    pub column: String,
    /// `key`: the columns whose values make each record's key.
    pub key_columns: Vec<String>,
    /// `poll_interval` (default 1 s).
    pub poll_interval: Duration,
    /// `batch_size` (default 1000): rows fetched per query.
    pub batch_size: u32,
    /// `safety_lag` (MySQL and SQLite, default 0 for SQLite, 2 s for MySQL): how long a new
    /// row must have been visible before the cursor moves past it, so a transaction that
    /// took a lower id but commits later is still read. Postgres uses the snapshot's `xmin`
    /// instead and ignores this.
    pub safety_lag: Duration,
    /// `initial_cursor` (query mode, default 0): the value `:cursor` has on the first run.
    pub initial_cursor: String,
}

const MODES: [(&str, &str); 5] = [
    ("incrementing", "incrementing"),
    ("timestamp", "timestamp"),
    ("query", "query"),
    ("notify", "notify"),
    ("cdc", "cdc"),
];

/// Keys that only some modes read, and those modes: a key set in another mode would be
/// silently ignored (a CDC `tables` list on a polling source, say), so it is an error.
const MODE_KEYS: [(&str, &[&str]); 12] = [
    ("tables", &["cdc"]),
    ("slot", &["cdc"]),
    ("publication", &["cdc"]),
    ("snapshot", &["cdc"]),
    ("heartbeat_interval", &["cdc"]),
    ("channel", &["notify"]),
    ("install_trigger", &["notify"]),
    ("query", &["query"]),
    ("initial_cursor", &["query"]),
    ("timestamp_column", &["timestamp", "notify"]),
    ("column", POLLING_MODES),
    ("safety_lag", POLLING_MODES),
];
const POLLING_MODES: &[&str] = &["incrementing", "timestamp", "query", "notify"];

/// Rejects each key of [`MODE_KEYS`] that is set but not read in `mode`.
fn reject_keys_of_other_modes(table: &mut TableReader<'_>, mode: &str) {
    for (key, modes) in MODE_KEYS {
        if table.has(key) && !modes.contains(&mode) {
            let only = modes
                .iter()
                .map(|m| format!("mode = \"{m}\""))
                .collect::<Vec<_>>()
                .join(" or ");
            table.reject(
                key,
                format!("only used in {only}, not in mode = \"{mode}\""),
            );
        }
    }
}

/// `weir_` and the connector name as a slot name can have it: lower-case letters, digits
/// and underscores, at most 63 bytes.
fn default_slot_name(connector: &str) -> String {
    let mut name: String = format!("weir_{connector}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(63);
    name
}

impl SqlSettings {
    pub(super) fn read(
        table: &mut TableReader<'_>,
        database: Database,
        connector: &str,
    ) -> Option<Self> {
        let url = table.string("url");
        let url = match url {
            Some(text) => match expand_env(&text) {
                Ok(url) => Some(url),
                Err(message) => {
                    table.reject("url", message);
                    None
                }
            },
            None => {
                table.reject_table("url = \"…\" is required for a database source");
                None
            }
        };
        let chosen = table.one_of("mode", &MODES);
        // A mode written wrongly is reported already; other keys are not judged against it.
        let mode_known = chosen.is_some() || !table.has("mode");
        let mode = chosen.unwrap_or("incrementing");
        let name = table.string("table");
        let column = table.string("column");
        let timestamp_column = table.string("timestamp_column");
        let query = table.string("query");
        let channel = table.string("channel");
        let install_trigger = table.bool("install_trigger").unwrap_or(false);
        let key_columns = table.strings("key").unwrap_or_default();
        let poll_interval = table.duration("poll_interval");
        let poll_interval =
            table.ensure("poll_interval", poll_interval, "positive", |d| !d.is_zero());
        let batch_size = table.integer("batch_size", 1..=1_000_000u32);
        let safety_lag = table.duration("safety_lag");
        let initial_cursor = table.string("initial_cursor");
        let tables = table.strings("tables");
        let slot = table.string("slot");
        let slot = table.ensure(
            "slot",
            slot,
            "lower-case letters, digits and _ (at most 63)",
            |s: &String| {
                !s.is_empty()
                    && s.len() <= 63
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            },
        );
        let publication = table.string("publication");
        let snapshot = table.bool("snapshot").unwrap_or(false);
        let heartbeat = table.duration("heartbeat_interval");
        let heartbeat = table.ensure("heartbeat_interval", heartbeat, "positive", |d| {
            !d.is_zero()
        });
        if mode_known {
            reject_keys_of_other_modes(table, mode);
        }
        if mode == "cdc" {
            if database != Database::Postgres {
                table.reject("mode", "mode = \"cdc\" needs kind = \"postgres\"");
                return None;
            }
            let tables: Vec<String> = match (tables, name) {
                (Some(tables), None) if !tables.is_empty() => tables,
                (None, Some(name)) => vec![name],
                (Some(_), Some(_)) => {
                    table.reject_table("set tables = [...] or table = \"…\", not both");
                    return None;
                }
                _ => {
                    table.reject_table("tables = [\"…\"] is required in mode = \"cdc\"");
                    return None;
                }
            };
            let default_name = default_slot_name(connector);
            return Some(Self {
                database,
                url: url?,
                mode: SqlMode::Cdc(CdcSettings {
                    connector: connector.to_owned(),
                    tables: tables.clone(),
                    slot: slot.unwrap_or_else(|| default_name.clone()),
                    publication: publication.unwrap_or(default_name),
                    snapshot,
                    heartbeat_interval: heartbeat.unwrap_or(Duration::from_secs(10)),
                }),
                table: tables.first().cloned(),
                column: String::new(),
                key_columns,
                poll_interval: poll_interval.unwrap_or(Duration::from_millis(200)),
                batch_size: batch_size.unwrap_or(10_000),
                safety_lag: Duration::ZERO,
                initial_cursor: String::new(),
            });
        }
        if mode != "query" && name.is_none() {
            table.reject_table(format!("table = \"…\" is required in mode = \"{mode}\""));
        }
        if column.is_none() {
            table.reject_table("column = \"…\" (the incrementing or cursor column) is required");
        }
        if mode == "timestamp" && timestamp_column.is_none() {
            table.reject_table("timestamp_column = \"…\" is required in mode = \"timestamp\"");
        }
        if mode == "notify" && database != Database::Postgres {
            table.reject("mode", "mode = \"notify\" needs kind = \"postgres\"");
        }
        let mode = match mode {
            "timestamp" => SqlMode::Timestamp {
                column: timestamp_column?,
            },
            "query" => match query {
                Some(text) if text.contains(":cursor") => SqlMode::Query { text },
                Some(_) => {
                    table.reject("query", "must use :cursor where the last cursor value goes");
                    return None;
                }
                None => {
                    table.reject_table("query = \"SELECT … WHERE id > :cursor …\" is required");
                    return None;
                }
            },
            "notify" => SqlMode::Notify {
                channel: channel
                    .unwrap_or_else(|| format!("weir_{}", name.clone().unwrap_or_default())),
                install_trigger,
                timestamp_column,
            },
            _ => SqlMode::Incrementing,
        };
        let default_lag = match database {
            Database::Mysql => Duration::from_secs(2),
            Database::Postgres | Database::Sqlite => Duration::ZERO,
        };
        Some(Self {
            database,
            url: url?,
            mode,
            table: name,
            column: column?,
            key_columns,
            poll_interval: poll_interval.unwrap_or(Duration::from_secs(1)),
            batch_size: batch_size.unwrap_or(1000),
            safety_lag: safety_lag.unwrap_or(default_lag),
            initial_cursor: initial_cursor.unwrap_or_else(|| "0".to_owned()),
        })
    }
}

/// Replaces each `${NAME}` and `${NAME:-default}` with the environment variable's value.
fn expand_env(text: &str) -> Result<String, String> {
    weir_config::env::expand_from_process(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn derives_a_valid_slot_name_from_the_connector() {
        assert_eq!(default_slot_name("Orders-CDC.v2"), "weir_orders_cdc_v2");
        assert_eq!(default_slot_name(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn expands_environment_variables() {
        // SAFETY-free: the name is unique to this test.
        let set = std::env::var("PATH").unwrap();
        assert_eq!(expand_env("a${PATH}b").unwrap(), format!("a{set}b"));
        assert!(
            expand_env("${WEIR_SURELY_NOT_SET_42}")
                .unwrap_err()
                .contains("WEIR_SURELY_NOT_SET_42")
        );
        assert!(expand_env("x${Y").is_err());
    }
}
