//! Database sources (`kind = "postgres" | "mysql" | "sqlite"`): incremental polling of a
//! table by an incrementing column or a timestamp with the incrementing column as
//! tie-break, a custom query with a `:cursor` bind, and on Postgres `LISTEN`/`NOTIFY` as a
//! trigger to poll at once. Every row becomes a JSON event; the source partition is the
//! table (or `query`) and its position the cursor as text, saved once the broker has
//! acknowledged the rows before it.
//!
//! A lost connection (the server restarted, the session was killed) is not a failure: the
//! source warns, waits with a growing backoff, and catches up by query once the database
//! answers again, so notifications missed meanwhile lose nothing.
//!
//! | module | owns |
//! |---|---|
//! | `connection` | the pool, catalog look-ups, running queries into rows |
//! | `dialect` | quoting, placeholders and casts per database |
//! | `polling` | the incremental queries and the settled (xmin) check |
//! | `row_json` | rows as typed JSON |
//! | `error` | what stops a database source |
//! | `cdc` | Postgres change data capture (`mode = "cdc"`) through a logical replication slot |

pub mod cdc;
mod connection;
pub(crate) mod dialect;
pub(crate) mod error;
mod polling;
pub(crate) mod row_json;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use sqlx::postgres::PgListener;
use tokio::time::Instant;

use crate::config::{Database, SqlMode, SqlSettings};
use crate::error::SourceError;
use crate::source::{Checkpoint, Payload, Source, SourceEvent};
use connection::{Connection, FetchedRow, Param};
pub use error::SqlError;
use error::{is_connection_lost, redact};
use polling::TablePoll;

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How soon to look again at rows held back as unsettled (their transaction was younger
/// than one still running): such transactions are usually short.
const SETTLE_RETRY: Duration = Duration::from_millis(100);
/// The first wait after a lost connection.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What a poll runs.
#[derive(Debug)]
enum Plan {
    Table(TablePoll),
    Query {
        sql: String,
        binds: usize,
        /// The row column the cursor is taken from.
        column: String,
    },
}

/// A database source; see the module documentation.
pub struct SqlSource {
    settings: SqlSettings,
    partition: Arc<str>,
    running: Option<Running>,
    buffered: VecDeque<SourceEvent>,
    warnings: Vec<String>,
    /// Rows seen but not handed out yet (unsettled, or waiting out the safety lag).
    held_back: u64,
}

struct Running {
    connection: Connection,
    plan: Plan,
    cursor: Option<Vec<String>>,
    /// Non-Postgres tables with a safety lag: the newest cursor value seen, and when.
    bound: Option<(String, Instant)>,
    next_poll: Instant,
    backoff: Duration,
    listener: Option<PgListener>,
}

impl SqlSource {
    /// A source for `settings`; nothing is opened until [`Source::start`].
    pub fn new(settings: SqlSettings) -> Self {
        let partition = match &settings.table {
            Some(table) if !matches!(settings.mode, SqlMode::Query { .. }) => table.clone(),
            _ => "query".to_owned(),
        };
        Self {
            settings,
            partition: Arc::from(partition),
            running: None,
            buffered: VecDeque::new(),
            warnings: Vec::new(),
            held_back: 0,
        }
    }

    /// Connects to the database `settings` name and disconnects: whether it can be reached,
    /// checked before a pipeline starts so a wrong `url` is reported as a config mistake.
    pub async fn probe(settings: &SqlSettings) -> Result<(), SqlError> {
        let connection = Connection::open(settings.database, &settings.url)
            .await
            .map_err(|error| SqlError::Connect {
                url: redact(&settings.url),
                error,
            })?;
        connection.close().await;
        Ok(())
    }

    async fn open(&self) -> Result<Running, SqlError> {
        let settings = &self.settings;
        let connection = Connection::open(settings.database, &settings.url)
            .await
            .map_err(|error| SqlError::Connect {
                url: redact(&settings.url),
                error,
            })?;
        let plan = match &settings.mode {
            SqlMode::Query { text } => {
                let (sql, binds) = polling::custom_query(settings.database, text);
                Plan::Query {
                    sql,
                    binds,
                    column: settings.column.clone(),
                }
            }
            mode => {
                let table = settings.table.clone().unwrap_or_default();
                let columns =
                    connection
                        .columns(&table)
                        .await
                        .map_err(|error| SqlError::Query {
                            sql: dialect::columns_query(settings.database).to_owned(),
                            error,
                        })?;
                let timestamp = match mode {
                    SqlMode::Timestamp { column } => Some(column.as_str()),
                    SqlMode::Notify {
                        timestamp_column, ..
                    } => timestamp_column.as_deref(),
                    _ => None,
                };
                let cursor: Vec<&str> = timestamp
                    .into_iter()
                    .chain([settings.column.as_str()])
                    .collect();
                Plan::Table(TablePoll::new(
                    settings.database,
                    &table,
                    &columns,
                    &cursor,
                    settings.batch_size,
                )?)
            }
        };
        let listener = match (&settings.mode, &connection) {
            (
                SqlMode::Notify {
                    channel,
                    install_trigger,
                    ..
                },
                Connection::Postgres(pool),
            ) => {
                let failed = |error| SqlError::Notify {
                    channel: channel.clone(),
                    error,
                };
                if *install_trigger {
                    let table = settings.table.clone().unwrap_or_default();
                    connection
                        .execute(&notify_trigger(&table, channel))
                        .await
                        .map_err(failed)?;
                }
                let mut listener = PgListener::connect_with(pool).await.map_err(failed)?;
                listener.listen(channel).await.map_err(failed)?;
                Some(listener)
            }
            _ => None,
        };
        Ok(Running {
            connection,
            plan,
            cursor: None,
            bound: None,
            next_poll: Instant::now(),
            backoff: FIRST_BACKOFF,
            listener,
        })
    }

    /// Waits until the next poll is due, or a notification says to poll now.
    async fn wait(&mut self) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        let due = running.next_poll;
        let Some(listener) = running.listener.as_mut() else {
            tokio::time::sleep_until(due).await;
            return;
        };
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(_)) => {}
                Ok(None) => self.warnings.push(
                    "the LISTEN connection was lost; reconnecting, and catching up by query".to_owned(),
                ),
                Err(error) => {
                    self.warnings.push(format!("LISTEN: {error}; polling meanwhile"));
                    tokio::time::sleep_until(due).await;
                }
            },
            () = tokio::time::sleep_until(due) => {}
        }
    }

    /// Runs one poll: the events it yields, in cursor order.
    async fn poll(&mut self) -> Result<Vec<SourceEvent>, SqlError> {
        let Some(running) = self.running.as_mut() else {
            return Ok(Vec::new());
        };
        let interval = self.settings.poll_interval;
        let lag = self.settings.safety_lag;
        let uses_bound = self.settings.database != Database::Postgres && !lag.is_zero();
        let now = Instant::now();
        let (sql, params, limit) = match &running.plan {
            Plan::Query { sql, binds, .. } => {
                let cursor = running
                    .cursor
                    .as_ref()
                    .and_then(|c| c.first().cloned())
                    .unwrap_or_else(|| self.settings.initial_cursor.clone());
                let param = match cursor.parse::<i64>() {
                    Ok(n) => Param::Int(n),
                    Err(_) => Param::Text(cursor),
                };
                let binds = if self.settings.database == Database::Postgres {
                    1
                } else {
                    *binds
                };
                (sql.clone(), vec![param; binds], None)
            }
            Plan::Table(table) => {
                let cursor = running.cursor.as_deref();
                if uses_bound {
                    match &running.bound {
                        Some((bound, seen)) if now.duration_since(*seen) >= lag => {
                            let (sql, params) = table.rows_after(cursor, Some(bound));
                            (sql, params, Some(table.batch()))
                        }
                        Some((_, seen)) => {
                            running.next_poll = *seen + lag;
                            return Ok(Vec::new());
                        }
                        None => {
                            let (sql, params) = table.bound_after(cursor);
                            let rows = running.connection.fetch(&sql, &params).await;
                            let rows = rows.map_err(|error| SqlError::Query { sql, error })?;
                            let newest = rows
                                .into_iter()
                                .next()
                                .and_then(|r| r.cursor.into_iter().next().flatten());
                            running.next_poll = match newest {
                                Some(newest) => {
                                    running.bound = Some((newest, now));
                                    self.held_back = 1;
                                    now + lag
                                }
                                None => now + interval,
                            };
                            return Ok(Vec::new());
                        }
                    }
                } else {
                    let (sql, params) = table.rows_after(cursor, None);
                    (sql, params, Some(table.batch()))
                }
            }
        };
        let rows = running
            .connection
            .fetch(&sql, &params)
            .await
            .map_err(|error| SqlError::Query { sql, error })?;
        let fetched = rows.len();
        let full = limit.is_some_and(|limit| fetched >= limit as usize);
        if !full {
            running.bound = None;
        }
        let settled: Vec<FetchedRow> = rows.into_iter().take_while(|row| row.settled).collect();
        self.held_back = (fetched - settled.len()) as u64;
        running.next_poll = if full && settled.len() == fetched {
            now
        } else if settled.len() < fetched {
            now + interval.min(SETTLE_RETRY)
        } else {
            now + interval
        };
        let mut events = Vec::with_capacity(settled.len());
        for row in settled {
            let cursor = match &running.plan {
                Plan::Query { column, .. } => {
                    let Some(value) = row.value.get(column) else {
                        return Err(SqlError::MissingCursorColumn {
                            column: column.clone(),
                        });
                    };
                    vec![match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    }]
                }
                Plan::Table(_) => row
                    .cursor
                    .iter()
                    .map(|c| c.clone().unwrap_or_default())
                    .collect(),
            };
            let value = Value::Object(row.value);
            let raw = Bytes::from(value.to_string());
            events.push(SourceEvent {
                partition: Arc::clone(&self.partition),
                position: json!({ "cursor": cursor }),
                payload: Payload::Json { raw, value },
                key: None,
                headers: vec![("weir.table", Bytes::from(self.partition.to_string()))],
            });
            running.cursor = Some(cursor);
        }
        Ok(events)
    }
}

impl Source for SqlSource {
    async fn start(&mut self, checkpoint: Checkpoint) -> Result<Checkpoint, SourceError> {
        let mut running = self.open().await?;
        let mut resumed = Checkpoint::new();
        if let Some(position) = checkpoint.get(&*self.partition) {
            let cursor: Option<Vec<String>> =
                position
                    .get("cursor")
                    .and_then(Value::as_array)
                    .map(|values| {
                        values
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    });
            if let Some(cursor) = cursor {
                running.cursor = Some(cursor);
                resumed.insert(self.partition.to_string(), position.clone());
            }
        }
        self.running = Some(running);
        Ok(resumed)
    }

    async fn next_events(&mut self, max: usize) -> Result<Vec<SourceEvent>, SourceError> {
        if self.buffered.is_empty() {
            self.wait().await;
            match self.poll().await {
                Ok(events) => {
                    if let Some(running) = self.running.as_mut() {
                        running.backoff = FIRST_BACKOFF;
                    }
                    self.buffered.extend(events);
                }
                Err(SqlError::Query { error, .. }) if is_connection_lost(&error) => {
                    if let Some(running) = self.running.as_mut() {
                        self.warnings.push(format!(
                            "database connection lost ({error}); retrying in {:?}",
                            running.backoff
                        ));
                        running.next_poll = Instant::now() + running.backoff;
                        running.backoff = (running.backoff * 2).min(MAX_BACKOFF);
                    }
                    return Ok(Vec::new());
                }
                Err(error) => return Err(error.into()),
            }
        }
        let take = max.max(1).min(self.buffered.len());
        Ok(self.buffered.drain(..take).collect())
    }

    fn lag(&self) -> Option<u64> {
        Some(self.held_back + self.buffered.len() as u64)
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// The trigger function and statement trigger that notify `channel` after inserts and
/// updates on `table`.
fn notify_trigger(table: &str, channel: &str) -> String {
    let function = dialect::quote(Database::Postgres, &format!("weir_notify_{channel}"));
    let trigger = dialect::quote(Database::Postgres, &format!("weir_notify_{channel}"));
    let table = dialect::quote(Database::Postgres, table);
    let literal = format!("'{}'", channel.replace('\'', "''"));
    format!(
        "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS \
         $weir$ BEGIN PERFORM pg_notify({literal}, TG_TABLE_NAME); RETURN NULL; END $weir$; \
         CREATE OR REPLACE TRIGGER {trigger} AFTER INSERT OR UPDATE ON {table} \
         FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )
}
