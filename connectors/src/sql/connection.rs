//! One pool per source, of whichever database it reads, and the few operations the source
//! needs from it: list a table's columns, run a query with text or integer binds and turn
//! the rows into [`FetchedRow`]s, run statements.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Column as _, Row};

use super::dialect;
use super::row_json::{self, OWN_PREFIX};
use crate::config::Database;

/// How long to wait for a connection from the pool (or a new one) before calling the
/// database unreachable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A bind parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    /// Bound as text (cursors, cast back in the SQL).
    Text(String),
    /// Bound as a 64-bit integer (a custom query's integer cursor).
    Int(i64),
}

/// A row as the source uses it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FetchedRow {
    /// The row's columns as JSON.
    pub(crate) value: Map<String, Value>,
    /// `__weir_cursor0`, `__weir_cursor1`, …: the cursor columns as text.
    pub(crate) cursor: Vec<Option<String>>,
    /// `__weir_settled` (Postgres): no transaction still running can commit a row before
    /// this one. True where the query has no such column.
    pub(crate) settled: bool,
}

/// A pool on one database.
#[derive(Debug, Clone)]
pub(crate) enum Connection {
    Postgres(PgPool),
    Mysql(MySqlPool),
    Sqlite(SqlitePool),
}

impl Connection {
    /// Connects to `url`, failing at once if the database cannot be reached.
    pub(crate) async fn open(database: Database, url: &str) -> Result<Self, sqlx::Error> {
        Ok(match database {
            Database::Postgres => Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?,
            ),
            Database::Mysql => Self::Mysql(
                MySqlPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?,
            ),
            Database::Sqlite => {
                // Reading a file another process writes: never create it, wait on locks.
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(false)
                    .busy_timeout(ACQUIRE_TIMEOUT);
                Self::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_with(options)
                        .await?,
                )
            }
        })
    }

    /// Closes every connection of the pool.
    pub(crate) async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Mysql(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }

    /// The database this pool is on.
    pub(crate) fn database(&self) -> Database {
        match self {
            Self::Postgres(_) => Database::Postgres,
            Self::Mysql(_) => Database::Mysql,
            Self::Sqlite(_) => Database::Sqlite,
        }
    }

    /// `(name, type)` of each column of `table`, in order; empty when there is no such
    /// table.
    pub(crate) async fn columns(&self, table: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
        let sql = dialect::columns_query(self.database());
        let pairs = |rows: Vec<(String, String)>| rows;
        Ok(match self {
            Self::Postgres(pool) => pairs(
                sqlx::query_as(sql)
                    .bind(dialect::quote(Database::Postgres, table))
                    .fetch_all(pool)
                    .await?,
            ),
            Self::Mysql(pool) => {
                let (schema, name) = match table.rsplit_once('.') {
                    Some((schema, name)) => (Some(schema), name),
                    None => (None, table),
                };
                let rows = sqlx::query(sql)
                    .bind(schema)
                    .bind(name)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok((
                            row.try_get_unchecked::<String, _>(0)?,
                            row.try_get_unchecked::<String, _>(1)?,
                        ))
                    })
                    .collect::<Result<_, sqlx::Error>>()?
            }
            Self::Sqlite(pool) => sqlx::query_as(sql).bind(table).fetch_all(pool).await?,
        })
    }

    /// Runs `sql` with `params` and returns its rows.
    pub(crate) async fn fetch(
        &self,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<FetchedRow>, sqlx::Error> {
        macro_rules! run {
            ($pool:expr, $to_json:path) => {{
                let mut query = sqlx::query(sql);
                for param in params {
                    query = match param {
                        Param::Text(text) => query.bind(text.clone()),
                        Param::Int(n) => query.bind(*n),
                    };
                }
                let rows = query.fetch_all($pool).await?;
                rows.iter()
                    .map(|row| {
                        let mut cursor = Vec::new();
                        let mut settled = true;
                        for (index, column) in row.columns().iter().enumerate() {
                            let name = column.name();
                            if name == "__weir_settled" {
                                settled = row.try_get::<bool, _>(index)?;
                            } else if name.starts_with(OWN_PREFIX) {
                                cursor.push(row.try_get_unchecked::<Option<String>, _>(index)?);
                            }
                        }
                        Ok(FetchedRow {
                            value: $to_json(row),
                            cursor,
                            settled,
                        })
                    })
                    .collect()
            }};
        }
        match self {
            Self::Postgres(pool) => run!(pool, row_json::postgres),
            Self::Mysql(pool) => run!(pool, row_json::mysql),
            Self::Sqlite(pool) => run!(pool, row_json::sqlite),
        }
    }

    /// Runs statements (several, separated by `;`) without binds.
    pub(crate) async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Self::Mysql(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Self::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
    }
}
