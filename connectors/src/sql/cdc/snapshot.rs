//! The initial snapshot: every row of the captured tables as they stood at one moment,
//! read in a `REPEATABLE READ` transaction opened after the slot exists, a batch at a time
//! through a cursor.
//!
//! Over SQL a slot cannot export its snapshot, so the two overlap: a transaction that
//! committed after the slot's consistent point but before the snapshot was taken is both
//! in the snapshot and in the slot's stream. The snapshot's transaction ids
//! (`pg_current_snapshot()`: `xmin:xmax:xip…`) tell which: a streamed transaction whose
//! id the snapshot sees as committed is already in it and is skipped ([`SnapshotXids`]).
//! Transactions committed after the snapshot's WAL position cannot be visible in it, so the
//! check stops once the stream passes that position. That position is the WAL *insert*
//! position: an asynchronous commit (`synchronous_commit = off`) is visible before its
//! commit record is written out, so the write position may lie before commits the
//! snapshot sees.
//!
//! **The edge at the slot's creation.** A transaction whose commit record lies before the
//! slot's consistent point is not streamed, so the snapshot must see it. It does once the
//! transaction has left the server's list of running transactions, which a committing
//! backend does a moment after writing its commit record and marking it committed (longer
//! when it waits for a synchronous standby). The snapshot is taken after the slot exists,
//! so only such a transaction caught in that moment could be missing: the snapshot is
//! taken again until none of the transactions it sees as running is already committed.
//! (Commit times play no part: visibility is by transaction id, so a row committed "in
//! the same microsecond" as the slot is either before its consistent point, and then
//! visible to the snapshot, or after it, and then streamed.)

use serde_json::{Map, Value, json};
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};

use super::lsn::Lsn;
use super::slot::{CapturedTable, connect_options};
use crate::config::Database;
use crate::sql::dialect::{pg_decodes_natively, quote};
use crate::sql::row_json;

/// Which transactions a snapshot saw as committed, and the WAL position when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotXids {
    xmin: u64,
    xmax: u64,
    in_progress: Vec<u64>,
    /// `pg_current_wal_lsn()` just after the snapshot: nothing committed after it is in it.
    pub(crate) lsn: Lsn,
}

impl SnapshotXids {
    /// From `pg_current_snapshot()::text` (`xmin:xmax:xip,…`) and the WAL position.
    pub(crate) fn parse(text: &str, lsn: Lsn) -> Option<Self> {
        let mut parts = text.split(':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let in_progress = match parts.next()? {
            "" => Vec::new(),
            list => list
                .split(',')
                .map(|x| x.parse().ok())
                .collect::<Option<Vec<u64>>>()?,
        };
        Some(Self {
            xmin,
            xmax,
            in_progress,
            lsn,
        })
    }

    /// Whether the transaction `xid` (32 bits, as pgoutput sends it) had committed when
    /// the snapshot was taken. The 64-bit id is the one nearest the snapshot's `xmax`.
    pub(crate) fn saw(&self, xid: u32) -> bool {
        let offset = i64::from(xid.wrapping_sub(self.xmax as u32) as i32);
        let full = self.xmax as i64 + offset;
        let Ok(full) = u64::try_from(full) else {
            return true;
        };
        full < self.xmin || (full < self.xmax && !self.in_progress.contains(&full))
    }

    /// As saved in a checkpoint.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "xids": format!(
                "{}:{}:{}",
                self.xmin,
                self.xmax,
                self.in_progress.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            ),
            "lsn": self.lsn.to_string(),
        })
    }

    /// From a checkpoint.
    pub(crate) fn from_json(value: &Value) -> Option<Self> {
        let lsn = Lsn::parse(value.get("lsn")?.as_str()?)?;
        Self::parse(value.get("xids")?.as_str()?, lsn)
    }
}

/// What the snapshot task sends: first what the snapshot saw, then batches of rows.
pub(crate) enum SnapshotBatch {
    /// The snapshot is taken.
    Taken(SnapshotXids),
    /// Rows of `table`; `last` on the snapshot's last batch.
    Rows {
        table: CapturedTable,
        rows: Vec<Map<String, Value>>,
        last: bool,
    },
    /// Every table is read.
    Done,
}

/// Reads the snapshot in its own task, so that a read the source abandons half-way (its
/// caller may drop it at any await) never loses rows a cursor already handed over: the
/// source receives batches from a channel, which is safe to abandon.
pub(crate) fn spawn(
    url: String,
    tables: Vec<CapturedTable>,
    batch: u32,
) -> tokio::sync::mpsc::Receiver<Result<SnapshotBatch, sqlx::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let mut reader = match SnapshotReader::open(&url, tables, batch).await {
            Ok(reader) => reader,
            Err(error) => {
                let _ = sender.send(Err(error)).await;
                return;
            }
        };
        if sender
            .send(Ok(SnapshotBatch::Taken(reader.xids.clone())))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let next = match reader.next_rows().await {
                Ok(Some((table, rows, last))) => SnapshotBatch::Rows { table, rows, last },
                Ok(None) => SnapshotBatch::Done,
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                    return;
                }
            };
            let done = matches!(next, SnapshotBatch::Done);
            if sender.send(Ok(next)).await.is_err() || done {
                return;
            }
        }
    });
    receiver
}

/// Reads the tables' rows in one transaction.
struct SnapshotReader {
    connection: PgConnection,
    tables: Vec<CapturedTable>,
    /// The table being read, by index; its cursor is open.
    table: usize,
    batch: u32,
    xids: SnapshotXids,
    /// The batch after the one handed out, read ahead to know which batch is the last.
    ahead: Option<(CapturedTable, Vec<Map<String, Value>>)>,
    /// Whether the transaction is committed (every table read).
    finished: bool,
}

/// The name of the cursor over the table being read.
const CURSOR: &str = "weir_snapshot";
/// The snapshot, the WAL insert position after it, and whether a transaction it sees as
/// running is already committed (it is between its commit record and leaving the list of
/// running transactions), all from the statement that takes the snapshot.
const TAKE_SNAPSHOT: &str = "SELECT pg_current_snapshot()::text, pg_current_wal_insert_lsn()::text, \
     EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) x \
     WHERE pg_xact_status(x) = 'committed')";
/// The wait before taking the snapshot again when it caught a transaction mid-commit.
const RETAKE_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

impl SnapshotReader {
    /// Opens the snapshot transaction and the first table's cursor.
    async fn open(url: &str, tables: Vec<CapturedTable>, batch: u32) -> Result<Self, sqlx::Error> {
        let mut connection = PgConnection::connect_with(&connect_options(url)?).await?;
        let (xids, lsn) = loop {
            connection
                .execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?;
            // The first statement takes the snapshot; the WAL position is read after it.
            let (xids, lsn, mid_commit): (String, String, bool) = sqlx::query_as(TAKE_SNAPSHOT)
                .fetch_one(&mut connection)
                .await?;
            if !mid_commit {
                break (xids, lsn);
            }
            connection.execute("ROLLBACK").await?;
            tokio::time::sleep(RETAKE_WAIT).await;
        };
        let xids = SnapshotXids::parse(&xids, Lsn::parse(&lsn).unwrap_or_default())
            .ok_or_else(|| sqlx::Error::Protocol(format!("unreadable snapshot {xids}")))?;
        let mut reader = Self {
            connection,
            tables,
            table: 0,
            batch,
            xids,
            ahead: None,
            finished: false,
        };
        reader.open_cursor().await?;
        Ok(reader)
    }

    async fn open_cursor(&mut self) -> Result<(), sqlx::Error> {
        let Some(table) = self.tables.get(self.table) else {
            return Ok(());
        };
        // Types without a native decoder are selected as text, as polling does.
        let columns = table
            .columns
            .iter()
            .map(|(name, column_type)| {
                let quoted = quote(Database::Postgres, name);
                if pg_decodes_natively(column_type) {
                    quoted
                } else {
                    format!("{quoted}::text AS {quoted}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "DECLARE {CURSOR} NO SCROLL CURSOR FOR SELECT {columns} FROM {}",
            table.quoted()
        );
        self.connection.execute(sql.as_str()).await.map(drop)
    }

    /// The next rows, the table they are from, and whether they are the snapshot's last;
    /// `None` once every table is read.
    async fn next_rows(
        &mut self,
    ) -> Result<Option<(CapturedTable, Vec<Map<String, Value>>, bool)>, sqlx::Error> {
        let current = match self.ahead.take() {
            Some(current) => Some(current),
            None => self.next_batch().await?,
        };
        let Some((table, rows)) = current else {
            return Ok(None);
        };
        self.ahead = self.next_batch().await?;
        Ok(Some((table, rows, self.ahead.is_none())))
    }

    async fn next_batch(
        &mut self,
    ) -> Result<Option<(CapturedTable, Vec<Map<String, Value>>)>, sqlx::Error> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let Some(table) = self.tables.get(self.table).cloned() else {
                self.connection.execute("COMMIT").await?;
                self.finished = true;
                return Ok(None);
            };
            let rows = sqlx::query(&format!("FETCH FORWARD {} FROM {CURSOR}", self.batch))
                .fetch_all(&mut self.connection)
                .await?;
            if rows.is_empty() {
                self.connection
                    .execute(format!("CLOSE {CURSOR}").as_str())
                    .await?;
                self.table += 1;
                self.open_cursor().await?;
                continue;
            }
            let rows = rows.iter().map(row_json::postgres).collect();
            return Ok(Some((table, rows)));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tells_which_transactions_the_snapshot_saw() {
        let xids = SnapshotXids::parse("100:105:101,103", Lsn(7)).unwrap();
        assert!(xids.saw(99));
        assert!(xids.saw(102) && xids.saw(104));
        assert!(!xids.saw(101) && !xids.saw(103));
        assert!(!xids.saw(105) && !xids.saw(200));
        assert_eq!(SnapshotXids::from_json(&xids.to_json()), Some(xids));
        let empty = SnapshotXids::parse("5:5:", Lsn(1)).unwrap();
        assert!(empty.saw(4) && !empty.saw(5));
    }

    #[test]
    fn compares_ids_across_the_32_bit_wrap() {
        // xmax is just past 2^32: xid 0xFFFF_FFF0 is the older transaction before the wrap.
        let xids = SnapshotXids::parse("4294967290:4294967300:", Lsn(1)).unwrap();
        assert!(xids.saw(0xFFFF_FFFB));
        assert!(!xids.saw(5)); // 2^32 + 5 > xmax
        assert!(xids.saw(2)); // 2^32 + 2 < xmax
    }
}
