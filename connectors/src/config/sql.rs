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

const MODES: [(&str, &str); 4] = [
    ("incrementing", "incrementing"),
    ("timestamp", "timestamp"),
    ("query", "query"),
    ("notify", "notify"),
];

impl SqlSettings {
    pub(super) fn read(table: &mut TableReader<'_>, database: Database) -> Option<Self> {
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
        let mode = table.one_of("mode", &MODES).unwrap_or("incrementing");
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
