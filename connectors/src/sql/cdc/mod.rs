//! Change data capture from Postgres (`kind = "postgres"`, `mode = "cdc"`): a logical
//! replication slot decoded with `pgoutput` for a publication of the captured tables, read
//! over plain SQL with `pg_logical_slot_peek_binary_changes`, which does not consume.
//! Each insert, update, delete and truncate becomes a JSON event
//! `{op, table, schema, lsn, commit_lsn, commit_time, before, after}` keyed by the row's
//! primary key (or `key`), in commit order.
//!
//! **Acknowledgement.** The source partition is the slot; an event's position is the end
//! LSN of the last transaction whose events are all before it (plus, inside a transaction,
//! that transaction's end and how many of its events came before). The slot is advanced
//! with `pg_replication_slot_advance` only to a position the runner reported as saved, that
//! is, acknowledged by the broker. After a crash the slot replays from its confirmed
//! position and the source skips what the checkpoint says is already in the topic, so
//! duplicates are at most the events sent but not yet acknowledged when it stopped.
//!
//! **Reading.** Each read first advances the slot to what is acknowledged, then peeks,
//! both in one task that nothing else overlaps: a slot serves one session at a time, so an
//! advance sent while a peek is still running fails as "slot busy". Reads follow each
//! other at once while changes flow; after a read finds none the wait doubles from 2 ms up
//! to `poll_interval`.
//!
//! **Quiet slots.** A heartbeat (`pg_logical_emit_message`) every `heartbeat_interval`
//! gives the slot something to read when the captured tables are quiet; once every event
//! handed out is acknowledged, the slot advances past heartbeats and transactions that had
//! no events, so it does not hold WAL forever. The connector's lag is the WAL the slot holds
//! back, in bytes.
//!
//! **Snapshot.** With `snapshot = true` the tables' rows are first emitted as `op = "read"`
//! events from a snapshot taken after the slot exists; see [`snapshot`] for how the overlap
//! with the stream is removed. A snapshot interrupted before its last row was acknowledged
//! is taken again from the start on restart (its rows may then repeat): at-least-once.
//!
//! | module | owns |
//! |---|---|
//! | `slot` | the server side: checks, publication, slot, peek, advance, heartbeat, lag |
//! | `pgoutput` | decoding the slot's messages |
//! | `values` | column text as typed JSON; unchanged TOAST as a marker |
//! | `snapshot` | the initial snapshot and which streamed transactions it already holds |
//! | `lsn` | WAL positions |

mod lsn;
mod pgoutput;
mod slot;
mod snapshot;
mod values;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::{Map, Value, json};
use sqlx::postgres::PgPool;
use tokio::time::Instant;

use crate::config::{CdcSettings, SqlSettings};
use crate::error::SourceError;
use crate::source::{Checkpoint, Payload, Source, SourceEvent};
use crate::sql::error::{SqlError, is_connection_lost, redact};
pub use lsn::Lsn;
pub use pgoutput::DecodeError;
use pgoutput::{Message, OldTuple, Relation};
use slot::CapturedTable;
use snapshot::{SnapshotBatch, SnapshotXids};
pub use values::UNCHANGED_TOAST;

/// The first wait after a lost connection, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often to read the slot's lag for the status at most.
const LAG_INTERVAL: Duration = Duration::from_secs(1);
/// The wait before peeking again after the first peek that found no change: it doubles
/// with each further empty peek up to `poll_interval`, so a busy slot is read again almost
/// at once and a quiet one costs the server little.
const FIRST_IDLE_WAIT: Duration = Duration::from_millis(2);

/// What waits to be handed to the runner.
enum Buffered {
    /// An event, with the end LSN of its transaction.
    Event(SourceEvent, Lsn),
    /// A point in the stream with no event before it that is not already buffered: once
    /// everything before it is acknowledged, the slot may advance to it.
    Quiet(Lsn),
}

/// A change decoded, waiting for its transaction's commit.
struct Change {
    op: &'static str,
    relation: u32,
    lsn: Lsn,
    before: Option<Map<String, Value>>,
    after: Option<Map<String, Value>>,
}

/// The transaction being decoded.
struct OpenTransaction {
    xid: u32,
    changes: Vec<Change>,
}

struct Running {
    pool: PgPool,
    tables: Vec<CapturedTable>,
    /// The slot's confirmed position as this source last set or found it.
    advanced: Lsn,
    next_peek: Instant,
    next_heartbeat: Instant,
    next_lag: Instant,
    backoff: Duration,
    snapshot: Option<tokio::sync::mpsc::Receiver<Result<SnapshotBatch, sqlx::Error>>>,
    /// A read of the slot (advance, then peek) under way.
    read: Option<tokio::task::JoinHandle<Result<slot::SlotRead, (&'static str, sqlx::Error)>>>,
    /// The wait before the next peek if this one finds nothing.
    idle_wait: Duration,
}

/// The CDC source; see the module documentation.
pub struct CdcSource {
    settings: SqlSettings,
    cdc: CdcSettings,
    partition: Arc<str>,
    running: Option<Running>,
    buffered: VecDeque<Buffered>,
    warnings: Vec<String>,
    relations: HashMap<u32, Relation>,
    /// The slot lag in bytes, as last read.
    lag: Option<u64>,
    /// Every transaction ending at or before this is acknowledged.
    acked: Lsn,
    /// At start: a transaction the checkpoint saw part of, and how many of its events.
    partial: Option<(Lsn, u64)>,
    /// Transactions ending at or before this are buffered or handed out already.
    decoded_through: Lsn,
    /// The end of the transaction of the last event handed out.
    last_event_end: Lsn,
    /// The last quiet point handed out.
    quiet_through: Lsn,
    /// While streamed transactions may still be in the snapshot: what it saw.
    snapshot_xids: Option<SnapshotXids>,
    /// Whether the snapshot is still to be taken or finished.
    snapshot_pending: bool,
    /// Rows of the last peek that were already decoded before: the next peek asks for this
    /// many more, so it always reaches new changes.
    skipped_rows: usize,
}

impl CdcSource {
    /// A CDC source for `settings` (the connection, batch size, poll interval and key
    /// columns) and `cdc` (its `mode = "cdc"` settings); nothing is opened until
    /// [`Source::start`].
    pub fn new(settings: SqlSettings, cdc: CdcSettings) -> Self {
        Self {
            partition: Arc::from(cdc.slot.as_str()),
            settings,
            cdc,
            running: None,
            buffered: VecDeque::new(),
            warnings: Vec::new(),
            relations: HashMap::new(),
            lag: None,
            acked: Lsn::default(),
            partial: None,
            decoded_through: Lsn::default(),
            last_event_end: Lsn::default(),
            quiet_through: Lsn::default(),
            snapshot_xids: None,
            snapshot_pending: false,
            skipped_rows: 0,
        }
    }

    async fn open(&mut self, checkpoint: &Checkpoint) -> Result<Checkpoint, SqlError> {
        let url = &self.settings.url;
        let pool = slot::pool(url).await.map_err(|error| SqlError::Connect {
            url: redact(url),
            error,
        })?;
        slot::check_wal_level(&slot::wal_level(&pool).await?)?;
        let tables = slot::captured_tables(&pool, &self.cdc.tables).await?;
        slot::ensure_publication(&pool, &self.cdc, &tables).await?;
        let state = slot::ensure_slot(&pool, &self.cdc).await?;
        let mut resumed = Checkpoint::new();
        let position = checkpoint.get(&*self.partition);
        let saved_lsn = position
            .and_then(|p| p.get("lsn"))
            .and_then(Value::as_str)
            .and_then(Lsn::parse);
        let snapshot_done = position
            .and_then(|p| p.get("snapshot_done"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let mut advanced = state.confirmed;
        if let (Some(position), Some(lsn)) = (position, saved_lsn) {
            self.acked = lsn;
            self.partial = position
                .get("tx")
                .and_then(Value::as_str)
                .and_then(Lsn::parse)
                .zip(position.get("done").and_then(Value::as_u64));
            self.snapshot_xids = position.get("snapshot").and_then(SnapshotXids::from_json);
            // The last acknowledgement before a stop may not have reached the slot yet.
            if lsn > state.confirmed {
                slot::advance(&pool, &self.cdc.slot, lsn)
                    .await
                    .map_err(|error| SqlError::Query {
                        sql: slot::ADVANCE.to_owned(),
                        error,
                    })?;
                advanced = lsn;
            }
            resumed.insert(self.partition.to_string(), position.clone());
        }
        self.snapshot_pending = self.cdc.snapshot && (saved_lsn.is_none() || !snapshot_done);
        if self.snapshot_pending {
            self.snapshot_xids = None;
            self.partial = None;
        }
        // A transaction's events carry the point decoded before it, and events read again
        // must carry what they had the first time (their ids hash it). The slot may stand past
        // the checkpoint (moved past quiet points the checkpoint does not record); what lies
        // before the slot is not read again, so the last point decoded was at least there.
        self.decoded_through = self.acked.max(advanced);
        self.last_event_end = self.acked;
        tracing::info!(
            slot = self.cdc.slot,
            created = state.created,
            confirmed = %state.confirmed,
            resume = %self.acked,
            snapshot = self.snapshot_pending,
            "change data capture starting"
        );
        let now = Instant::now();
        self.running = Some(Running {
            pool,
            tables,
            advanced,
            next_peek: now,
            next_heartbeat: now + self.cdc.heartbeat_interval,
            next_lag: now,
            backoff: FIRST_BACKOFF,
            snapshot: None,
            read: None,
            idle_wait: FIRST_IDLE_WAIT,
        });
        Ok(resumed)
    }

    /// The position that says everything before the current point is handed out, for a
    /// checkpoint.
    fn position(&self, lsn: Lsn, within: Option<(Lsn, u64)>, snapshot_done: bool) -> Value {
        let mut position = json!({ "lsn": lsn.to_string() });
        if let Some((tx, done)) = within {
            position["tx"] = json!(tx.to_string());
            position["done"] = json!(done);
        }
        if let Some(xids) = &self.snapshot_xids {
            position["snapshot"] = xids.to_json();
        }
        if !snapshot_done {
            position["snapshot_done"] = json!(false);
        }
        position
    }

    /// Reads the next batch of snapshot rows into the buffer; the last row of the last
    /// table carries a position that says the snapshot is done.
    async fn read_snapshot(&mut self) -> Result<(), sqlx::Error> {
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        let snapshot = running.snapshot.get_or_insert_with(|| {
            snapshot::spawn(
                self.settings.url.clone(),
                running.tables.clone(),
                self.settings.batch_size,
            )
        });
        let (table, rows, last) = match snapshot.recv().await {
            Some(Ok(SnapshotBatch::Taken(xids))) => {
                self.snapshot_xids = Some(xids);
                return Ok(());
            }
            Some(Ok(SnapshotBatch::Rows { table, rows, last })) => (table, rows, last),
            Some(Err(error)) => {
                running.snapshot = None;
                return Err(error);
            }
            Some(Ok(SnapshotBatch::Done)) | None => {
                // Every table is read (an empty snapshot has no row to say so, and is
                // simply taken again after a restart).
                running.snapshot = None;
                self.snapshot_pending = false;
                return Ok(());
            }
        };
        let position = self.position(self.acked, None, false);
        let count = rows.len();
        for (index, row) in rows.into_iter().enumerate() {
            // The very last row's position says the snapshot is done.
            let position = if last && index + 1 == count {
                self.position(self.acked, None, true)
            } else {
                position.clone()
            };
            let key = self.key(&table.schema, &table.name, &row, &[]);
            let value = json!({
                "op": "read",
                "table": table.name,
                "schema": table.schema,
                "lsn": null,
                "commit_lsn": null,
                "commit_time": null,
                "before": null,
                "after": Value::Object(row),
            });
            let event = self.event(value, position, key);
            self.buffered.push_back(Buffered::Event(event, self.acked));
        }
        Ok(())
    }

    fn event(&self, value: Value, position: Value, key: Option<Bytes>) -> SourceEvent {
        let raw = Bytes::from(value.to_string());
        SourceEvent {
            partition: Arc::clone(&self.partition),
            position,
            payload: Payload::Json { raw, value },
            key,
            headers: vec![("weir.slot", Bytes::from(self.cdc.slot.clone()))],
        }
    }

    /// The record key of a row of `schema.name`: the configured `key` columns, else the
    /// primary key, else the replica identity key columns `identity`; joined with `|`.
    fn key(
        &self,
        schema: &str,
        name: &str,
        row: &Map<String, Value>,
        identity: &[String],
    ) -> Option<Bytes> {
        let primary = self
            .running
            .as_ref()
            .and_then(|r| {
                r.tables
                    .iter()
                    .find(|t| t.schema == schema && t.name == name)
            })
            .map(|t| t.primary_key.as_slice())
            .unwrap_or_default();
        let columns = if !self.settings.key_columns.is_empty() {
            self.settings.key_columns.as_slice()
        } else if !primary.is_empty() {
            primary
        } else {
            identity
        };
        if columns.is_empty() {
            return None;
        }
        let mut parts = Vec::with_capacity(columns.len());
        for column in columns {
            match row.get(column)? {
                Value::Null => return None,
                Value::String(text) => parts.push(text.clone()),
                other => parts.push(other.to_string()),
            }
        }
        Some(Bytes::from(parts.join("|")))
    }

    /// Where the slot may advance to now, if further than it is: the acknowledged
    /// position, or past quiet points once every event handed out is acknowledged.
    fn advance_target(&self) -> Option<Lsn> {
        let running = self.running.as_ref()?;
        let target = if self.acked >= self.last_event_end {
            self.acked.max(self.quiet_through)
        } else {
            self.acked
        };
        (target > running.advanced && !self.snapshot_pending).then_some(target)
    }

    /// Advances the slot as acknowledgements allow, peeks at it and buffers the
    /// transactions not handed out yet.
    async fn read_changes(&mut self) -> Result<(), SqlError> {
        let advance_to = self.advance_target();
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        let limit = (self.settings.batch_size as usize + self.skipped_rows).min(i32::MAX as usize);
        // Advancing first means the peek decodes little that was handed out before. Both
        // run in one task, awaited through its handle and kept until it finishes: the
        // runner may drop this call at any await, and an advance or peek abandoned
        // half-way would keep the slot busy on the server while the next one starts.
        let read = running.read.get_or_insert_with(|| {
            let (pool, cdc) = (running.pool.clone(), self.cdc.clone());
            tokio::spawn(async move {
                slot::advance_and_peek(&pool, &cdc, advance_to, limit as i32).await
            })
        });
        let finished = read.await;
        running.read = None;
        let read = finished
            .unwrap_or(Err((slot::PEEK, sqlx::Error::WorkerCrashed)))
            .map_err(|(sql, error)| SqlError::Query {
                sql: sql.to_owned(),
                error,
            })?;
        if let Some(lsn) = read.advanced {
            running.advanced = running.advanced.max(lsn);
        }
        let rows = read.rows;
        let mut open: Option<OpenTransaction> = None;
        let mut skipped = 0;
        for (lsn, data) in rows {
            let message = pgoutput::decode(&data).map_err(|error| SqlError::Decode {
                slot: self.cdc.slot.clone(),
                error,
            })?;
            match message {
                Message::Relation(relation) => {
                    self.relations.insert(relation.id, relation);
                }
                Message::Begin { xid, .. } => {
                    open = Some(OpenTransaction {
                        xid,
                        changes: Vec::new(),
                    });
                }
                Message::Commit {
                    commit_lsn,
                    end_lsn,
                    commit_time,
                } => {
                    let Some(transaction) = open.take() else {
                        continue;
                    };
                    if end_lsn <= self.decoded_through {
                        skipped += transaction.changes.len() + 2;
                        continue;
                    }
                    self.commit(transaction, commit_lsn, end_lsn, commit_time)?;
                }
                Message::Emitted {
                    transactional: false,
                    lsn,
                    ..
                } => {
                    if lsn > self.decoded_through {
                        self.decoded_through = lsn;
                        self.buffered.push_back(Buffered::Quiet(lsn));
                    } else {
                        skipped += 1;
                    }
                }
                message => {
                    if let Some(transaction) = open.as_mut() {
                        transaction.changes.extend(self.changes(message, lsn)?);
                    }
                }
            }
        }
        self.skipped_rows = skipped;
        Ok(())
    }

    /// A change message as [`Change`]s (a truncate of several tables is one per table);
    /// none for messages that are not changes.
    fn changes(&self, message: Message, lsn: Lsn) -> Result<Vec<Change>, SqlError> {
        let relation_of = |id: u32| {
            self.relations
                .get(&id)
                .ok_or_else(|| SqlError::UnknownRelation {
                    slot: self.cdc.slot.clone(),
                    relation: id,
                })
        };
        let old_image = |relation: &Relation, old: &OldTuple| match old {
            OldTuple::Key(values) => values::row(relation, values, true),
            OldTuple::Full(values) => values::row(relation, values, false),
        };
        Ok(vec![match message {
            Message::Insert { relation, new } => {
                let r = relation_of(relation)?;
                Change {
                    op: "insert",
                    relation,
                    lsn,
                    before: None,
                    after: Some(values::row(r, &new, false)),
                }
            }
            Message::Update { relation, old, new } => {
                let r = relation_of(relation)?;
                Change {
                    op: "update",
                    relation,
                    lsn,
                    before: old.as_ref().map(|old| old_image(r, old)),
                    after: Some(values::row(r, &new, false)),
                }
            }
            Message::Delete { relation, old } => {
                let r = relation_of(relation)?;
                Change {
                    op: "delete",
                    relation,
                    lsn,
                    before: Some(old_image(r, &old)),
                    after: None,
                }
            }
            Message::Truncate { relations } => {
                return relations
                    .into_iter()
                    .map(|relation| {
                        relation_of(relation)?;
                        Ok(Change {
                            op: "truncate",
                            relation,
                            lsn,
                            before: None,
                            after: None,
                        })
                    })
                    .collect();
            }
            _ => return Ok(Vec::new()),
        }])
    }

    /// Buffers a committed transaction's events, unless they are already in the topic
    /// (the checkpoint's partial transaction) or in the snapshot.
    fn commit(
        &mut self,
        transaction: OpenTransaction,
        commit_lsn: Lsn,
        end_lsn: Lsn,
        commit_time: i64,
    ) -> Result<(), SqlError> {
        let before = self.decoded_through;
        self.decoded_through = end_lsn;
        if let Some(xids) = &self.snapshot_xids {
            if commit_lsn > xids.lsn {
                // Committed after the snapshot: neither this nor anything later is in it.
                self.snapshot_xids = None;
            } else if xids.saw(transaction.xid) {
                self.buffered.push_back(Buffered::Quiet(end_lsn));
                return Ok(());
            }
        }
        let mut already = 0;
        if let Some((tx, done)) = self.partial
            && tx == end_lsn
        {
            already = done as usize;
            self.partial = None;
        }
        let count = transaction.changes.len();
        if count <= already {
            self.buffered.push_back(Buffered::Quiet(end_lsn));
            return Ok(());
        }
        let commit_time = commit_time_rfc3339(commit_time);
        for (index, change) in transaction.changes.into_iter().enumerate().skip(already) {
            let Some(relation) = self.relations.get(&change.relation) else {
                return Err(SqlError::UnknownRelation {
                    slot: self.cdc.slot.clone(),
                    relation: change.relation,
                });
            };
            let identity: Vec<String> = relation
                .columns
                .iter()
                .filter(|c| c.key)
                .map(|c| c.name.clone())
                .collect();
            let image = change.after.as_ref().or(change.before.as_ref());
            let key =
                image.and_then(|row| self.key(&relation.schema, &relation.name, row, &identity));
            let value = json!({
                "op": change.op,
                "table": relation.name,
                "schema": relation.schema,
                "lsn": change.lsn.to_string(),
                "commit_lsn": commit_lsn.to_string(),
                "commit_time": commit_time,
                "before": change.before.map(Value::Object),
                "after": change.after.map(Value::Object),
            });
            let position = if index + 1 == count {
                self.position(end_lsn, None, true)
            } else {
                self.position(before, Some((end_lsn, index as u64 + 1)), true)
            };
            let event = self.event(value, position, key);
            self.buffered.push_back(Buffered::Event(event, end_lsn));
        }
        Ok(())
    }

    /// Writes a heartbeat when due and refreshes the lag. (The slot advances with each
    /// read, see [`Self::read_changes`].)
    async fn maintain(&mut self) -> Result<(), sqlx::Error> {
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= running.next_heartbeat && !self.snapshot_pending {
            slot::heartbeat(&running.pool).await?;
            running.next_heartbeat = now + self.cdc.heartbeat_interval;
        }
        if now >= running.next_lag {
            self.lag = slot::lag(&running.pool, &self.cdc.slot).await?;
            running.next_lag = now + LAG_INTERVAL;
        }
        Ok(())
    }

    /// One round: finish a read under way, or else keep the slot in shape and read
    /// snapshot rows or changes when the buffer is empty.
    async fn round(&mut self) -> Result<(), SqlError> {
        if self.running.as_ref().is_some_and(|r| r.read.is_some()) {
            return self.read_changes_paced().await;
        }
        self.maintain().await.map_err(|error| SqlError::Query {
            sql: "heartbeat or slot lag".to_owned(),
            error,
        })?;
        if !self.buffered.is_empty() {
            return Ok(());
        }
        if self.snapshot_pending {
            return self.read_snapshot().await.map_err(|error| SqlError::Query {
                sql: "the initial snapshot".to_owned(),
                error,
            });
        }
        if let Some(running) = self.running.as_ref() {
            tokio::time::sleep_until(running.next_peek).await;
        }
        self.read_changes_paced().await
    }

    /// Reads changes, then sets when to read next: at once after changes (more may be
    /// waiting), else after a wait that grows while the slot stays quiet.
    async fn read_changes_paced(&mut self) -> Result<(), SqlError> {
        self.read_changes().await?;
        let found = self
            .buffered
            .iter()
            .any(|b| matches!(b, Buffered::Event(..)));
        let poll_interval = self.settings.poll_interval;
        if let Some(running) = self.running.as_mut() {
            let now = Instant::now();
            if found {
                running.next_peek = now;
                running.idle_wait = FIRST_IDLE_WAIT.min(poll_interval);
            } else {
                running.next_peek = now + running.idle_wait;
                running.idle_wait = (running.idle_wait * 2).min(poll_interval);
            }
        }
        Ok(())
    }
}

/// Whether `error` says another session holds the slot (SQLSTATE 55006): usually the
/// last peek of a process that just stopped, which ends by itself.
fn slot_busy(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("55006"))
}

/// pgoutput's commit time (microseconds since 2000-01-01 UTC) as RFC 3339.
fn commit_time_rfc3339(micros: i64) -> Value {
    const POSTGRES_EPOCH: i64 = 946_684_800;
    let time: Option<DateTime<Utc>> = Utc
        .timestamp_opt(
            POSTGRES_EPOCH + micros.div_euclid(1_000_000),
            (micros.rem_euclid(1_000_000) * 1000) as u32,
        )
        .single();
    time.map_or(Value::Null, |t| crate::sql::row_json::rfc3339(&t))
}

impl Source for CdcSource {
    async fn start(&mut self, checkpoint: Checkpoint) -> Result<Checkpoint, SourceError> {
        Ok(self.open(&checkpoint).await?)
    }

    async fn next_events(&mut self, max: usize) -> Result<Vec<SourceEvent>, SourceError> {
        match self.round().await {
            Ok(()) => {
                if let Some(running) = self.running.as_mut() {
                    running.backoff = FIRST_BACKOFF;
                }
            }
            Err(SqlError::Query { error, .. })
                if is_connection_lost(&error) || slot_busy(&error) =>
            {
                if let Some(running) = self.running.as_mut() {
                    let what = if slot_busy(&error) {
                        "replication slot busy"
                    } else {
                        "database connection lost"
                    };
                    self.warnings.push(format!(
                        "{what} ({error}); retrying in {:?}",
                        running.backoff
                    ));
                    if running.snapshot.take().is_some() {
                        self.warnings
                            .push("the initial snapshot is taken again from the start".to_owned());
                    }
                    tokio::time::sleep(running.backoff).await;
                    running.backoff = (running.backoff * 2).min(MAX_BACKOFF);
                }
                return Ok(Vec::new());
            }
            Err(error) => return Err(error.into()),
        }
        let mut events = Vec::new();
        while events.len() < max.max(1) {
            match self.buffered.pop_front() {
                Some(Buffered::Event(event, end)) => {
                    self.last_event_end = end;
                    events.push(event);
                }
                Some(Buffered::Quiet(lsn)) => self.quiet_through = self.quiet_through.max(lsn),
                None => break,
            }
        }
        Ok(events)
    }

    fn acknowledged(&mut self, checkpoint: &Checkpoint) {
        let acked = checkpoint
            .get(&*self.partition)
            .and_then(|p| p.get("lsn"))
            .and_then(Value::as_str)
            .and_then(Lsn::parse);
        if let Some(lsn) = acked {
            self.acked = self.acked.max(lsn);
        }
    }

    /// Moves the slot to the last acknowledged position before the source goes away, so
    /// the server can drop that WAL and a restart does not read it again.
    async fn stop(&mut self) {
        // A read under way holds the slot; an advance beside it would be refused.
        if let Some(read) = self.running.as_mut().and_then(|r| r.read.take()) {
            let _ = read.await;
        }
        let (Some(to), Some(running)) = (self.advance_target(), self.running.as_ref()) else {
            return;
        };
        if let Err(error) = slot::advance(&running.pool, &self.cdc.slot, to).await {
            tracing::warn!(
                slot = self.cdc.slot,
                %error,
                "could not advance the slot on stop; a restart reads from its last position"
            );
        }
    }

    fn lag(&self) -> Option<u64> {
        self.lag
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_times_are_rfc3339() {
        assert_eq!(commit_time_rfc3339(0), json!("2000-01-01T00:00:00Z"));
        assert_eq!(
            commit_time_rfc3339(1_500_000),
            json!("2000-01-01T00:00:01.500Z")
        );
    }
}
