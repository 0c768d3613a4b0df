//! The incremental queries over a table: rows whose cursor (one column, or a timestamp with
//! the incrementing column as tie-break) is above the last one read, in cursor order, a
//! batch at a time; cursors travel as text and are cast back to the column's type in SQL,
//! so any orderable column works and values round-trip exactly.
//!
//! Postgres queries also say, per row, whether it is *settled*: its transaction is older
//! than the oldest one still running (the snapshot's `xmin`), so no transaction still
//! running can commit a row that sorts before it. The source stops at the first unsettled
//! row, which is what keeps a transaction that took a lower id but commits later from being
//! skipped. Elsewhere a bound query (`MAX` of the cursor) and a safety lag serve instead.

use super::connection::Param;
use super::dialect::{as_text, from_text, quote};
use super::error::SqlError;
use crate::config::Database;

/// Whether the oldest running transaction is younger than the row's: `age` compares
/// transaction ids modulo 2^32 correctly, so this holds across wraparound.
const PG_SETTLED: &str = "age(t.xmin) > age(((pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
     % 4294967296)::text)::xid) AS \"__weir_settled\"";

/// The incremental query of one table.
#[derive(Debug, Clone)]
pub(crate) struct TablePoll {
    database: Database,
    table: String,
    select: String,
    /// The cursor columns, quoted, with their types: `[column]` or `[timestamp, column]`.
    cursor: Vec<(String, String)>,
    batch: u32,
}

impl TablePoll {
    /// The query of `table`, whose columns are `columns` (`(name, type)` from the catalog),
    /// with `cursor` naming the cursor columns in order.
    pub(crate) fn new(
        database: Database,
        table: &str,
        columns: &[(String, String)],
        cursor: &[&str],
        batch: u32,
    ) -> Result<Self, SqlError> {
        if columns.is_empty() {
            return Err(SqlError::MissingTable {
                table: table.to_owned(),
            });
        }
        let mut cursor_columns = Vec::new();
        for name in cursor {
            let Some((_, column_type)) = columns.iter().find(|(c, _)| c == name) else {
                return Err(SqlError::MissingColumn {
                    table: table.to_owned(),
                    column: (*name).to_owned(),
                    columns: columns
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            cursor_columns.push((quote(database, name), column_type.clone()));
        }
        let mut select: Vec<String> = match database {
            // Types without a native decoder are selected as text, so nothing is lost.
            Database::Postgres => columns
                .iter()
                .map(|(name, column_type)| {
                    let quoted = quote(database, name);
                    if super::dialect::pg_decodes_natively(column_type) {
                        format!("t.{quoted}")
                    } else {
                        format!("t.{quoted}::text AS {quoted}")
                    }
                })
                .collect(),
            Database::Mysql | Database::Sqlite => vec!["t.*".to_owned()],
        };
        for (index, (quoted, _)) in cursor_columns.iter().enumerate() {
            select.push(format!(
                "{} AS {}",
                as_text(database, &format!("t.{quoted}")),
                quote(database, &format!("__weir_cursor{index}"))
            ));
        }
        if database == Database::Postgres {
            select.push(PG_SETTLED.to_owned());
        }
        Ok(Self {
            database,
            table: quote(database, table),
            select: select.join(", "),
            cursor: cursor_columns,
            batch,
        })
    }

    /// How many rows one query returns at most.
    pub(crate) fn batch(&self) -> u32 {
        self.batch
    }

    /// The next rows after `cursor` (all rows from the start without one), up to `bound` on
    /// the first cursor column when given.
    pub(crate) fn rows_after(
        &self,
        cursor: Option<&[String]>,
        bound: Option<&str>,
    ) -> (String, Vec<Param>) {
        let (mut condition, mut params) = self.after(cursor);
        if let Some(bound) = bound {
            params.push(Param::Text(bound.to_owned()));
            condition.push_str(&format!(
                " AND t.{} <= {}",
                self.cursor[0].0,
                from_text(self.database, params.len(), &self.cursor[0].1)
            ));
        }
        let order = self
            .cursor
            .iter()
            .map(|(quoted, _)| format!("t.{quoted}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {} FROM {} t WHERE {condition} ORDER BY {order} LIMIT {}",
            self.select, self.table, self.batch
        );
        (sql, params)
    }

    /// The largest first cursor column after `cursor`, as text (`__weir_cursor0`), or a
    /// NULL when there is no newer row.
    pub(crate) fn bound_after(&self, cursor: Option<&[String]>) -> (String, Vec<Param>) {
        let (condition, params) = self.after(cursor);
        let sql = format!(
            "SELECT {} AS {} FROM {} t WHERE {condition}",
            as_text(self.database, &format!("MAX(t.{})", self.cursor[0].0)),
            quote(self.database, "__weir_cursor0"),
            self.table
        );
        (sql, params)
    }

    fn after(&self, cursor: Option<&[String]>) -> (String, Vec<Param>) {
        let db = self.database;
        let mut condition = self
            .cursor
            .iter()
            .map(|(quoted, _)| format!("t.{quoted} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut params = Vec::new();
        let Some(values) = cursor.filter(|v| v.len() == self.cursor.len()) else {
            return (condition, params);
        };
        match (&self.cursor[..], values) {
            ([(column, column_type)], [value]) => {
                params.push(Param::Text(value.clone()));
                condition.push_str(&format!(
                    " AND t.{column} > {}",
                    from_text(db, 1, column_type)
                ));
            }
            // After (ts, id): written so the `(ts, id)` index gives a range starting at
            // the cursor. `ts > $1 OR (ts = $1 AND id > $2)` would say the same, but no
            // planner turns that OR into a range, so each poll would scan the index from
            // its start and polling a large table would slow down quadratically.
            ([(ts, ts_type), (id, id_type)], [ts_value, id_value]) if db == Database::Postgres => {
                params.push(Param::Text(ts_value.clone()));
                params.push(Param::Text(id_value.clone()));
                condition.push_str(&format!(
                    " AND (t.{ts}, t.{id}) > ({}, {})",
                    from_text(db, 1, ts_type),
                    from_text(db, 2, id_type)
                ));
            }
            // MySQL and SQLite: a range on the timestamp, the tie-break as a filter inside it
            // (the same rows; MariaDB does not use an index for row comparisons).
            ([(ts, ts_type), (id, id_type)], [ts_value, id_value]) => {
                params.push(Param::Text(ts_value.clone()));
                params.push(Param::Text(ts_value.clone()));
                params.push(Param::Text(id_value.clone()));
                condition.push_str(&format!(
                    " AND t.{ts} >= {} AND (t.{ts} > {} OR t.{id} > {})",
                    from_text(db, 1, ts_type),
                    from_text(db, 2, ts_type),
                    from_text(db, 3, id_type)
                ));
            }
            _ => {}
        }
        (condition, params)
    }
}

/// A custom query with `:cursor` replaced by placeholders, and how many there are (MySQL
/// and SQLite bind each one separately).
pub(crate) fn custom_query(database: Database, text: &str) -> (String, usize) {
    let count = text.matches(":cursor").count();
    let mut sql = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(":cursor") {
        sql.push_str(&rest[..at]);
        sql.push_str(&super::dialect::placeholder(database, 1));
        rest = &rest[at + ":cursor".len()..];
    }
    sql.push_str(rest);
    (sql, count)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn columns() -> Vec<(String, String)> {
        vec![
            ("id".into(), "bigint".into()),
            ("updated_at".into(), "timestamp with time zone".into()),
            ("tag".into(), "uuid".into()),
        ]
    }

    #[test]
    fn timestamp_cursor_breaks_ties_on_the_id() {
        let poll = TablePoll::new(
            Database::Postgres,
            "orders",
            &columns(),
            &["updated_at", "id"],
            10,
        )
        .unwrap();
        let (sql, params) = poll.rows_after(Some(&["t0".into(), "7".into()]), None);
        assert!(sql.contains("t.\"tag\"::text AS \"tag\""), "{sql}");
        assert!(
            sql.contains(
                "(t.\"updated_at\", t.\"id\") > \
                 (CAST($1 AS timestamp with time zone), CAST($2 AS bigint))"
            ),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY t.\"updated_at\", t.\"id\" LIMIT 10"),
            "{sql}"
        );
        assert_eq!(params.len(), 2);
        let sqlite = TablePoll::new(
            Database::Sqlite,
            "orders",
            &columns(),
            &["updated_at", "id"],
            10,
        )
        .unwrap();
        let (sql, params) = sqlite.rows_after(Some(&["t0".into(), "7".into()]), None);
        assert!(
            sql.contains("t.\"updated_at\" >= ? AND (t.\"updated_at\" > ? OR t.\"id\" > ?)"),
            "{sql}"
        );
        assert_eq!(params.len(), 3);
    }

    #[test]
    fn names_what_is_missing() {
        let error = TablePoll::new(Database::Sqlite, "orders", &columns(), &["nope"], 10)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "table orders has no column nope (it has: id, updated_at, tag)"
        );
        let error = TablePoll::new(Database::Sqlite, "gone", &[], &["id"], 10)
            .unwrap_err()
            .to_string();
        assert_eq!(error, "table gone does not exist");
    }

    #[test]
    fn replaces_every_cursor_placeholder() {
        let (sql, count) = custom_query(
            Database::Mysql,
            "SELECT * FROM t WHERE a > :cursor OR b > :cursor",
        );
        assert_eq!(sql, "SELECT * FROM t WHERE a > ? OR b > ?");
        assert_eq!(count, 2);
        let (sql, _) = custom_query(Database::Postgres, "x > :cursor");
        assert_eq!(sql, "x > $1");
    }
}
