//! The server side of change data capture, all over plain SQL: the `wal_level` check, the
//! publication and the logical replication slot (created if missing, checked to be this
//! connector's when present), peeking at the slot's changes without consuming them,
//! advancing it once the broker has acknowledged, the heartbeat, and the slot's lag.
//!
//! A publication this source creates carries the comment `weir connector NAME slot SLOT`,
//! which is how another connector's slot or publication is recognised.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::lsn::Lsn;
use crate::config::{CdcSettings, Database};
use crate::sql::dialect::quote;
use crate::sql::error::SqlError;

/// How long to wait for a pooled connection before calling the database unreachable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an existing slot may stay in use by another session before it counts as taken.
const ACTIVE_WAIT: Duration = Duration::from_secs(5);
/// The prefix of the heartbeat messages written into the WAL.
pub(crate) const HEARTBEAT_PREFIX: &str = "weir-heartbeat";

/// Connection options under which pgoutput's text values have one form: UTC ISO
/// timestamps, hex bytea, floats that round-trip.
pub(crate) fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(PgConnectOptions::from_str(url)?.options([
        ("TimeZone", "UTC"),
        ("DateStyle", "ISO"),
        ("bytea_output", "hex"),
        ("extra_float_digits", "3"),
    ]))
}

/// A pool for the source's SQL: peeks, advances, heartbeats.
pub(crate) async fn pool(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(connect_options(url)?)
        .await
}

/// Fails with what to change unless `wal_level` (as the server reports it) allows logical
/// decoding.
pub(crate) fn check_wal_level(current: &str) -> Result<(), SqlError> {
    if current == "logical" {
        Ok(())
    } else {
        Err(SqlError::WalLevel {
            current: current.to_owned(),
        })
    }
}

fn query_failed(sql: &str) -> impl FnOnce(sqlx::Error) -> SqlError + '_ {
    move |error| SqlError::Query {
        sql: sql.to_owned(),
        error,
    }
}

/// A captured table: its schema and name as the catalog has them, and its key columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CapturedTable {
    pub(crate) schema: String,
    pub(crate) name: String,
    /// The primary key's columns, in key order (empty without one).
    pub(crate) primary_key: Vec<String>,
    /// `(name, type)` of each column, for the snapshot's query.
    pub(crate) columns: Vec<(String, String)>,
}

impl CapturedTable {
    /// `"schema"."name"`.
    pub(crate) fn quoted(&self) -> String {
        format!(
            "{}.{}",
            quote(Database::Postgres, &self.schema),
            quote(Database::Postgres, &self.name)
        )
    }
}

/// Looks up each configured table: it must exist.
pub(crate) async fn captured_tables(
    pool: &PgPool,
    tables: &[String],
) -> Result<Vec<CapturedTable>, SqlError> {
    const NAME: &str = "SELECT n.nspname::text, c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)";
    const KEY: &str = "SELECT a.attname::text FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
         ORDER BY array_position(i.indkey, a.attnum)";
    let columns_sql = crate::sql::dialect::columns_query(Database::Postgres);
    let mut found = Vec::new();
    for table in tables {
        let quoted = quote(Database::Postgres, table);
        let names: Option<(String, String)> = sqlx::query_as(NAME)
            .bind(&quoted)
            .fetch_optional(pool)
            .await
            .map_err(query_failed(NAME))?;
        let Some((schema, name)) = names else {
            return Err(SqlError::MissingTable {
                table: table.clone(),
            });
        };
        let primary_key: Vec<(String,)> = sqlx::query_as(KEY)
            .bind(&quoted)
            .fetch_all(pool)
            .await
            .map_err(query_failed(KEY))?;
        let columns: Vec<(String, String)> = sqlx::query_as(columns_sql)
            .bind(&quoted)
            .fetch_all(pool)
            .await
            .map_err(query_failed(columns_sql))?;
        found.push(CapturedTable {
            schema,
            name,
            primary_key: primary_key.into_iter().map(|(c,)| c).collect(),
            columns,
        });
    }
    Ok(found)
}

/// The comment recording which connector and slot a publication serves.
fn owner_comment(settings: &CdcSettings) -> String {
    format!(
        "weir connector {} slot {}",
        settings.connector, settings.slot
    )
}

/// `(connector, slot)` from an owner comment.
fn parse_owner(comment: &str) -> Option<(&str, &str)> {
    comment
        .strip_prefix("weir connector ")?
        .rsplit_once(" slot ")
}

/// Creates the publication `FOR TABLE …` if missing, or adds tables it lacks; fails when it
/// or the slot is recorded as another connector's.
pub(crate) async fn ensure_publication(
    pool: &PgPool,
    settings: &CdcSettings,
    tables: &[CapturedTable],
) -> Result<(), SqlError> {
    const OWNERS: &str = "SELECT pubname::text, obj_description(oid, 'pg_publication') \
         FROM pg_publication";
    let owners: Vec<(String, Option<String>)> = sqlx::query_as(OWNERS)
        .fetch_all(pool)
        .await
        .map_err(query_failed(OWNERS))?;
    let mut exists = false;
    for (publication, comment) in &owners {
        let owner = comment.as_deref().and_then(parse_owner);
        if *publication == settings.publication {
            exists = true;
            if let Some((owner, _)) = owner
                && owner != settings.connector
            {
                return Err(SqlError::PublicationTaken {
                    publication: publication.clone(),
                    owner: owner.to_owned(),
                    connector: settings.connector.clone(),
                });
            }
        } else if let Some((owner, slot)) = owner
            && slot == settings.slot
            && owner != settings.connector
        {
            return Err(SqlError::SlotTaken {
                slot: settings.slot.clone(),
                connector: settings.connector.clone(),
                reason: format!("connector {owner} reads it (publication {publication})"),
            });
        }
    }
    let publication = quote(Database::Postgres, &settings.publication);
    let list = tables
        .iter()
        .map(CapturedTable::quoted)
        .collect::<Vec<_>>()
        .join(", ");
    let sql = if exists {
        const LISTED: &str = "SELECT schemaname::text, tablename::text FROM pg_publication_tables \
             WHERE pubname = $1";
        let listed: Vec<(String, String)> = sqlx::query_as(LISTED)
            .bind(&settings.publication)
            .fetch_all(pool)
            .await
            .map_err(query_failed(LISTED))?;
        let missing: Vec<String> = tables
            .iter()
            .filter(|t| !listed.iter().any(|(s, n)| *s == t.schema && *n == t.name))
            .map(CapturedTable::quoted)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        format!(
            "ALTER PUBLICATION {publication} ADD TABLE {}",
            missing.join(", ")
        )
    } else {
        format!(
            "CREATE PUBLICATION {publication} FOR TABLE {list}; \
             COMMENT ON PUBLICATION {publication} IS '{}'",
            owner_comment(settings).replace('\'', "''")
        )
    };
    sqlx::raw_sql(&sql)
        .execute(pool)
        .await
        .map_err(query_failed(&sql))?;
    Ok(())
}

/// The slot as found or created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotState {
    /// Whether this call created it.
    pub(crate) created: bool,
    /// Its confirmed position: changes committed after it are still to be read.
    pub(crate) confirmed: Lsn,
}

/// Creates the slot with `pgoutput` if missing; an existing one must use `pgoutput` on this
/// database and not be in use by another session.
pub(crate) async fn ensure_slot(
    pool: &PgPool,
    settings: &CdcSettings,
) -> Result<SlotState, SqlError> {
    const FIND: &str = "SELECT plugin::text, database::text, current_database()::text, \
         active_pid, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1";
    type Found = (
        Option<String>,
        Option<String>,
        String,
        Option<i32>,
        Option<String>,
    );
    // A process that just stopped may still be in its last peek for a moment.
    let deadline = tokio::time::Instant::now() + ACTIVE_WAIT;
    let found: Option<Found> = loop {
        let found: Option<Found> = sqlx::query_as(FIND)
            .bind(&settings.slot)
            .fetch_optional(pool)
            .await
            .map_err(query_failed(FIND))?;
        match &found {
            Some((_, _, _, Some(_), _)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => break found,
        }
    };
    let taken = |reason: String| SqlError::SlotTaken {
        slot: settings.slot.clone(),
        connector: settings.connector.clone(),
        reason,
    };
    if let Some((plugin, database, current, active_pid, confirmed)) = found {
        let plugin = plugin.unwrap_or_else(|| "none (a physical slot)".to_owned());
        if plugin != "pgoutput" {
            return Err(taken(format!("it decodes with {plugin}, not pgoutput")));
        }
        let database = database.unwrap_or_default();
        if database != current {
            return Err(taken(format!(
                "it is on database {database}, not {current}"
            )));
        }
        if let Some(pid) = active_pid {
            return Err(taken(format!("server process {pid} is reading it")));
        }
        return Ok(SlotState {
            created: false,
            confirmed: confirmed
                .as_deref()
                .and_then(Lsn::parse)
                .unwrap_or_default(),
        });
    }
    const CREATE: &str = "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')";
    let (lsn,): (String,) = sqlx::query_as(CREATE)
        .bind(&settings.slot)
        .fetch_one(pool)
        .await
        .map_err(query_failed(CREATE))?;
    Ok(SlotState {
        created: true,
        confirmed: Lsn::parse(&lsn).unwrap_or_default(),
    })
}

/// The SQL that peeks at up to `$2` changes of slot `$1` for publication `$3`.
pub(crate) const PEEK: &str = "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, \
     'proto_version', '1', 'publication_names', $3, 'messages', 'true')";

/// The slot's next changes, whole transactions only, without consuming them: each a
/// pgoutput message with its LSN.
pub(crate) async fn peek(
    pool: &PgPool,
    settings: &CdcSettings,
    max_changes: i32,
) -> Result<Vec<(Lsn, Vec<u8>)>, sqlx::Error> {
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(PEEK)
        .bind(&settings.slot)
        .bind(max_changes)
        .bind(quote(Database::Postgres, &settings.publication))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(lsn, data)| (Lsn::parse(&lsn).unwrap_or_default(), data))
        .collect())
}

/// What one read of the slot did: where it advanced the slot to first, if it did, and the
/// changes it peeked at.
pub(crate) struct SlotRead {
    pub(crate) advanced: Option<Lsn>,
    pub(crate) rows: Vec<(Lsn, Vec<u8>)>,
}

/// Advances the slot to `advance_to` (when given), then peeks at up to `max_changes`: one
/// after the other, because a slot serves one session at a time (another session's call
/// fails with SQLSTATE 55006), and in one call so that a caller keeping this future whole
/// never overlaps the two. Fails with the SQL that failed.
pub(crate) async fn advance_and_peek(
    pool: &PgPool,
    settings: &CdcSettings,
    advance_to: Option<Lsn>,
    max_changes: i32,
) -> Result<SlotRead, (&'static str, sqlx::Error)> {
    if let Some(to) = advance_to {
        advance(pool, &settings.slot, to)
            .await
            .map_err(|error| (ADVANCE, error))?;
    }
    let rows = peek(pool, settings, max_changes)
        .await
        .map_err(|error| (PEEK, error))?;
    Ok(SlotRead {
        advanced: advance_to,
        rows,
    })
}

/// The SQL that moves slot `$1` to `$2`.
pub(crate) const ADVANCE: &str =
    "SELECT end_lsn::text FROM pg_replication_slot_advance($1, $2::text::pg_lsn)";

/// Moves the slot's confirmed position to `to`, so the server may drop the WAL before it.
pub(crate) async fn advance(pool: &PgPool, slot: &str, to: Lsn) -> Result<(), sqlx::Error> {
    sqlx::query(ADVANCE)
        .bind(slot)
        .bind(to.to_string())
        .execute(pool)
        .await
        .map(drop)
}

/// Writes a non-transactional heartbeat message into the WAL: the slot sees it even when the
/// captured tables are quiet, and can advance past it.
pub(crate) async fn heartbeat(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_logical_emit_message(false, $1, '')")
        .bind(HEARTBEAT_PREFIX)
        .execute(pool)
        .await
        .map(drop)
}

/// How many bytes of WAL the slot holds back: the current WAL position less its confirmed
/// position.
pub(crate) async fn lag(pool: &PgPool, slot: &str) -> Result<Option<u64>, sqlx::Error> {
    let lag: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint \
         FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(slot)
    .fetch_optional(pool)
    .await?;
    Ok(lag.and_then(|(bytes,)| bytes).map(|b| b.max(0) as u64))
}

/// The server's `wal_level`.
pub(crate) async fn wal_level(pool: &PgPool) -> Result<String, SqlError> {
    const SHOW: &str = "SELECT current_setting('wal_level')";
    let (level,): (String,) = sqlx::query_as(SHOW)
        .fetch_one(pool)
        .await
        .map_err(query_failed(SHOW))?;
    Ok(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_exactly_what_to_change_when_wal_level_is_not_logical() {
        assert!(check_wal_level("logical").is_ok());
        let message = check_wal_level("replica").unwrap_err().to_string();
        assert!(message.contains("wal_level = replica"), "{message}");
        assert!(
            message.contains("ALTER SYSTEM SET wal_level = logical"),
            "{message}"
        );
        assert!(message.contains("restart PostgreSQL"), "{message}");
    }

    #[test]
    fn reads_the_owner_comment() {
        assert_eq!(
            parse_owner("weir connector orders slot weir_orders"),
            Some(("orders", "weir_orders"))
        );
        assert_eq!(parse_owner("someone else's"), None);
    }
}
