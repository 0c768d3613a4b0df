//! Change data capture from Postgres (`mode = "cdc"`) against the real server: changes in
//! commit order with old values, the initial snapshot, a crash mid-stream, heartbeats on a
//! quiet slot. Each test has its own slot and publication (named after its scratch schema),
//! dropped when it ends.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection as _;

use weir_connectors::config::{CdcSettings, Database, SqlMode, SqlSettings};
use weir_connectors::sql::cdc::CdcSource;
use weir_connectors::{Checkpoint, Source as _, SourceEvent};

use crate::broker::{Connect, TestBroker};
use crate::databases::{Kind, Scratch, postgres_server};

const WAIT: Duration = Duration::from_secs(30);

/// Drops the test's slot and publication when the test ends, even when it fails.
struct SlotGuard {
    name: String,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let Ok(mut c) =
                    sqlx::PgConnection::connect(&format!("{}/test", postgres_server())).await
                else {
                    return;
                };
                // The connector's last peek may still hold the slot for a moment.
                for _ in 0..50 {
                    let dropped = sqlx::query(
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                         WHERE slot_name = $1",
                    )
                    .bind(&name)
                    .execute(&mut c)
                    .await;
                    if dropped.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let _ = sqlx::raw_sql(&format!("DROP PUBLICATION IF EXISTS {name}"))
                    .execute(&mut c)
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}

/// A CDC source of `tables` in `db`, with slot and publication named after the schema.
fn cdc_source(db: &Scratch, tables: &[&str], extra: &str) -> String {
    let tables = tables
        .iter()
        .map(|t| format!("\"{}\"", db.table(t)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[sources]]\nname = \"orders\"\nkind = \"postgres\"\nurl = \"{}\"\ntopic = \"orders\"\n\
         mode = \"cdc\"\ntables = [{tables}]\nslot = \"{name}\"\npublication = \"{name}\"\n\
         poll_interval = \"20ms\"\n{extra}\n[sources.emit]\nmax_records = 50\nmax_delay = \"20ms\"\n",
        db.url,
        name = db.name,
    )
}

/// The slot's `confirmed_flush_lsn` as a number, once it exists.
async fn confirmed_flush(db: &Scratch) -> Option<u64> {
    let mut c = db.pg().await;
    let lsn: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(&db.name)
    .fetch_optional(&mut c)
    .await
    .unwrap();
    lsn.and_then(|(lsn,)| lsn).map(|text| lsn_value(&text))
}

fn lsn_value(text: &str) -> u64 {
    let (high, low) = text.split_once('/').unwrap();
    u64::from_str_radix(high, 16).unwrap() << 32 | u64::from_str_radix(low, 16).unwrap()
}

async fn wait_for_slot(db: &Scratch) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while confirmed_flush(db).await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was not created"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ops(records: &[(Option<String>, Value)]) -> Vec<(String, Option<String>)> {
    records
        .iter()
        .map(|(key, v)| (v["op"].as_str().unwrap().to_owned(), key.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_updates_and_deletes_arrive_in_commit_order_with_old_values() {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    db.exec(
        "CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, total numeric(10,2), \
         placed timestamptz, doc text); ALTER TABLE orders REPLICA IDENTITY FULL; \
         CREATE TABLE plain (id int PRIMARY KEY, v text)",
    )
    .await;
    let broker = TestBroker::start().await;
    let connect = Connect::start(
        &broker,
        &["orders"],
        &cdc_source(&db, &["orders", "plain"], ""),
    );
    wait_for_slot(&db).await;
    db.exec(
        "BEGIN; INSERT INTO orders VALUES (1, 'new', 19.99, '2024-05-01 10:00:00+02', NULL), \
         (2, 'new', 5, NULL, NULL); COMMIT; \
         UPDATE orders SET status = 'shipped' WHERE id = 2; \
         DELETE FROM orders WHERE id = 1; \
         INSERT INTO plain VALUES (7, 'a'); UPDATE plain SET v = 'b' WHERE id = 7; \
         DELETE FROM plain WHERE id = 7; TRUNCATE plain",
    )
    .await;
    let records = broker.records("orders", 8, WAIT).await;
    assert_eq!(connect.stop().await, vec![]);
    assert_eq!(
        ops(&records),
        [
            ("insert", Some("1")),
            ("insert", Some("2")),
            ("update", Some("2")),
            ("delete", Some("1")),
            ("insert", Some("7")),
            ("update", Some("7")),
            ("delete", Some("7")),
            ("truncate", None),
        ]
        .map(|(op, key)| (op.to_owned(), key.map(str::to_owned)))
    );
    let first = &records[0].1;
    assert_eq!(first["table"], "orders");
    assert_eq!(first["schema"], db.name.as_str());
    assert_eq!(first["after"]["total"], 19.99);
    assert_eq!(first["after"]["placed"], "2024-05-01T08:00:00Z");
    assert_eq!(first["before"], Value::Null);
    assert!(first["commit_time"].as_str().unwrap().ends_with('Z'));
    // Under REPLICA IDENTITY FULL the update carries the whole old row.
    assert_eq!(records[2].1["before"]["status"], "new");
    assert_eq!(records[2].1["after"]["status"], "shipped");
    assert_eq!(records[3].1["before"]["id"], 1);
    assert_eq!(records[3].1["after"], Value::Null);
    // With the default replica identity: no old row for an update, only the key for a
    // delete.
    assert_eq!(records[5].1["before"], Value::Null);
    assert_eq!(records[6].1["before"], serde_json::json!({"id": 7}));
    // Both rows of the first transaction share its commit LSN; later ones come after.
    let commits: Vec<u64> = records
        .iter()
        .map(|(_, v)| lsn_value(v["commit_lsn"].as_str().unwrap()))
        .collect();
    assert_eq!(commits[0], commits[1]);
    assert!(commits.windows(2).all(|w| w[0] <= w[1]), "{commits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_toast_columns_are_marked_not_invented() {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    db.exec(
        "CREATE TABLE docs (id int PRIMARY KEY, status text, body text); \
         ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL",
    )
    .await;
    let broker = TestBroker::start().await;
    let connect = Connect::start(&broker, &["orders"], &cdc_source(&db, &["docs"], ""));
    wait_for_slot(&db).await;
    db.exec(
        "INSERT INTO docs VALUES (1, 'a', repeat('x', 100000)); \
         UPDATE docs SET status = 'b' WHERE id = 1",
    )
    .await;
    let records = broker.records("orders", 2, WAIT).await;
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].1["after"]["body"].as_str().unwrap().len(),
        100_000
    );
    assert_eq!(
        records[1].1["after"]["body"],
        serde_json::json!({"$unchanged_toast": true})
    );
    assert_eq!(records[1].1["after"]["status"], "b");
    assert_eq!(connect.stop().await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_stream_loses_and_repeats_no_row() {
    snapshot_then_stream(false).await;
}

/// Asynchronous commits become visible before their commit record is written out, so a
/// snapshot can see transactions committed past the WAL write position it read: the
/// overlap must be judged by the insert position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_stream_with_asynchronous_commits_loses_and_repeats_no_row() {
    snapshot_then_stream(true).await;
}

/// 500 rows, then 200 inserted one per transaction while the slot is created and the
/// snapshot read (with `synchronous_commit = off` when `asynchronous`): each arrives once.
async fn snapshot_then_stream(asynchronous: bool) {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    db.exec(
        "CREATE TABLE orders (id bigint PRIMARY KEY, item text); \
         INSERT INTO orders SELECT n, 'before ' || n FROM generate_series(1, 500) n",
    )
    .await;
    let broker = TestBroker::start().await;
    let connect = Connect::start(
        &broker,
        &["orders"],
        &cdc_source(&db, &["orders"], "snapshot = true\nbatch_size = 64"),
    );
    // Rows keep arriving while the slot is created and the snapshot read.
    let writer = {
        let mut c = db.pg().await;
        if asynchronous {
            sqlx::raw_sql("SET synchronous_commit = off")
                .execute(&mut c)
                .await
                .unwrap();
        }
        tokio::spawn(async move {
            for n in 501..=700 {
                sqlx::query("INSERT INTO orders VALUES ($1, 'after')")
                    .bind(n as i64)
                    .execute(&mut c)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    writer.await.unwrap();
    let records = broker.records("orders", 700, WAIT).await;
    assert_eq!(connect.stop().await, vec![]);
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, v) in &records {
        *seen.entry(v["after"]["id"].as_i64().unwrap()).or_default() += 1;
    }
    let missing: Vec<i64> = (1..=700).filter(|n| !seen.contains_key(n)).collect();
    let repeated: Vec<(&i64, &usize)> = seen.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        missing.is_empty(),
        "{} missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        repeated.is_empty(),
        "{} repeated, e.g. {:?}",
        repeated.len(),
        &repeated[..repeated.len().min(10)]
    );
    assert!(records.iter().take(500).all(|(_, v)| v["op"] == "read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stream_loses_nothing_and_the_slot_never_passes_the_acknowledged_lsn() {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    db.exec("CREATE TABLE orders (id bigint PRIMARY KEY, item text)")
        .await;
    let broker = TestBroker::start().await;
    let config = cdc_source(&db, &["orders"], "heartbeat_interval = \"100ms\"");
    let connect = Connect::start(&broker, &["orders"], &config);
    wait_for_slot(&db).await;
    const TOTAL: i64 = 5000;
    let writer = {
        let mut c = db.pg().await;
        tokio::spawn(async move {
            for n in (1..=TOTAL).step_by(10) {
                sqlx::query("INSERT INTO orders SELECT g, 'x' FROM generate_series($1, $2) g")
                    .bind(n)
                    .bind(n + 9)
                    .execute(&mut c)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // While it runs: the slot's confirmed position, then what the topic holds. Every
    // transaction committed before that position must already be in the topic.
    let mut samples = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let confirmed = confirmed_flush(&db).await.unwrap();
        // Read for long enough to see all of it (a poll returns at most 500 records; a
        // short read undercounts on a slow machine). Reading later only adds records, so
        // the check stays sound.
        let held = broker
            .records("orders", usize::MAX, Duration::from_secs(1))
            .await;
        samples.push((confirmed, held.len()));
    }
    connect.kill();
    let at_kill = confirmed_flush(&db).await.unwrap();
    let before_restart = broker
        .records("orders", usize::MAX, Duration::from_secs(2))
        .await;
    writer.await.unwrap();
    let connect = Connect::start(&broker, &["orders"], &config);
    let records = broker
        .records("orders", usize::MAX, Duration::from_secs(1))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut records = records;
    while tokio::time::Instant::now() < deadline {
        let ids: std::collections::BTreeSet<i64> = records
            .iter()
            .map(|(_, v)| v["after"]["id"].as_i64().unwrap())
            .collect();
        if ids.len() as i64 == TOTAL {
            break;
        }
        records = broker
            .records("orders", usize::MAX, Duration::from_millis(500))
            .await;
    }
    assert_eq!(connect.stop().await, vec![]);
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, v) in &records {
        *seen.entry(v["after"]["id"].as_i64().unwrap()).or_default() += 1;
    }
    let missing: Vec<i64> = (1..=TOTAL).filter(|n| !seen.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "missing {} rows, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let duplicates: usize = seen.values().map(|c| c - 1).sum();
    eprintln!(
        "crash test: {} records, {duplicates} duplicates, {} in the topic at the kill",
        records.len(),
        before_restart.len()
    );
    // Each row's transaction commit LSN, from the final topic.
    let commit_of: BTreeMap<i64, u64> = records
        .iter()
        .map(|(_, v)| {
            (
                v["after"]["id"].as_i64().unwrap(),
                lsn_value(v["commit_lsn"].as_str().unwrap()),
            )
        })
        .collect();
    samples.push((at_kill, before_restart.len()));
    for (confirmed, held) in samples {
        let needed = commit_of.values().filter(|lsn| **lsn < confirmed).count();
        assert!(
            needed <= held,
            "the slot confirmed up to {confirmed:X} covering {needed} rows while the topic held {held}"
        );
    }
    // Duplicates are bounded by the unacknowledged window (a few emit batches of 50).
    assert!(duplicates <= 8 * 50, "{duplicates} duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_advance_a_quiet_slot() {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    db.exec("CREATE TABLE orders (id bigint PRIMARY KEY); CREATE TABLE other (id int)")
        .await;
    let broker = TestBroker::start().await;
    let connect = Connect::start(
        &broker,
        &["orders"],
        &cdc_source(&db, &["orders"], "heartbeat_interval = \"100ms\""),
    );
    wait_for_slot(&db).await;
    let start = confirmed_flush(&db).await.unwrap();
    // WAL the captured table has no part in.
    db.exec("INSERT INTO other SELECT generate_series(1, 1000)")
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut current = start;
    while current <= start && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        current = confirmed_flush(&db).await.unwrap();
    }
    assert!(current > start, "the slot stayed at {start:X}");
    let lag = (0..50).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        connect.status("orders").and_then(|s| s["lag"].as_u64())
    });
    assert!(lag.is_some(), "the status reports the slot's lag");
    assert_eq!(connect.stop().await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_of_another_connector_is_a_clear_error() {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    db.exec("CREATE TABLE orders (id bigint PRIMARY KEY)").await;
    db.exec(&format!(
        "CREATE PUBLICATION {name}_other FOR TABLE orders; \
         COMMENT ON PUBLICATION {name}_other IS 'weir connector billing slot {name}'",
        name = db.name
    ))
    .await;
    let broker = TestBroker::start().await;
    let connect = Connect::start(&broker, &["orders"], &cdc_source(&db, &["orders"], ""));
    let failed = connect.stop().await;
    db.exec(&format!("DROP PUBLICATION {}_other", db.name))
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].1.contains("connector billing") && failed[0].1.contains(&db.name),
        "{}",
        failed[0].1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_with_another_plugin_is_a_clear_error() {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    db.exec("CREATE TABLE orders (id bigint PRIMARY KEY)").await;
    db.exec(&format!(
        "SELECT pg_create_logical_replication_slot('{}', 'test_decoding')",
        db.name
    ))
    .await;
    let broker = TestBroker::start().await;
    let connect = Connect::start(&broker, &["orders"], &cdc_source(&db, &["orders"], ""));
    let failed = connect.stop().await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "orders");
    assert!(
        failed[0].1.contains("test_decoding") && failed[0].1.contains("connector orders"),
        "{}",
        failed[0].1
    );
}

/// A CDC source driven directly (no runner, no broker), its own heartbeats off.
fn direct_source(db: &Scratch) -> CdcSource {
    let cdc = CdcSettings {
        connector: db.name.clone(),
        tables: vec![db.table("orders")],
        slot: db.name.clone(),
        publication: db.name.clone(),
        snapshot: false,
        heartbeat_interval: Duration::from_secs(3600),
    };
    let sql = SqlSettings {
        database: Database::Postgres,
        url: db.url.clone(),
        mode: SqlMode::Cdc(cdc.clone()),
        table: None,
        column: String::new(),
        key_columns: Vec::new(),
        poll_interval: Duration::from_millis(20),
        batch_size: 1000,
        safety_lag: Duration::ZERO,
        initial_cursor: String::new(),
    };
    CdcSource::new(sql, cdc)
}

/// The next `count` events of `source`.
async fn next_events(source: &mut CdcSource, count: usize) -> Vec<SourceEvent> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut events = Vec::new();
    while events.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} events arrived",
            events.len()
        );
        events.extend(source.next_events(count - events.len()).await.unwrap());
    }
    events
}

/// A direct source on a new `orders` table in `db` that handed out two rows, and the
/// checkpoint of both, acknowledged: the source, the checkpoint and its LSN.
async fn two_rows_acknowledged(db: &Scratch) -> (CdcSource, Checkpoint, u64) {
    db.exec("CREATE TABLE orders (id bigint PRIMARY KEY)").await;
    let mut source = direct_source(db);
    source.start(Checkpoint::new()).await.unwrap();
    db.exec("INSERT INTO orders VALUES (1), (2)").await;
    let events = next_events(&mut source, 2).await;
    let checkpoint = Checkpoint::from([(db.name.clone(), events[1].position.clone())]);
    let lsn = lsn_value(checkpoint[&db.name]["lsn"].as_str().unwrap());
    source.acknowledged(&checkpoint);
    (source, checkpoint, lsn)
}

/// The runner recognises an event read again after a crash by its id, which hashes its
/// position, so a transaction read again must carry the positions it had the first time —
/// also when the slot had moved past a heartbeat that the saved checkpoint had not (before,
/// all but the last event of such a transaction got new ids: the SIGKILL test's 249
/// duplicates of a 250-row transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_read_again_after_a_crash_has_the_positions_it_had() {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    let (mut first, checkpoint, saved) = two_rows_acknowledged(&db).await;
    // A quiet point after everything handed out was acknowledged: the slot moves past it.
    db.exec("SELECT pg_logical_emit_message(false, 'weir-test', '')")
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while confirmed_flush(&db).await.unwrap() <= saved {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot did not move past the heartbeat"
        );
        assert_eq!(first.next_events(10).await.unwrap(), vec![]);
    }
    db.exec("INSERT INTO orders VALUES (3), (4), (5)").await;
    let handed_out = next_events(&mut first, 3).await;
    // A crash before the checkpoint of these three is saved: the next run starts from the
    // earlier one, behind the slot.
    drop(first);
    let mut second = direct_source(&db);
    second.start(checkpoint).await.unwrap();
    let read_again = next_events(&mut second, 3).await;
    let positions = |events: &[SourceEvent]| -> Vec<Value> {
        events.iter().map(|e| e.position.clone()).collect()
    };
    assert_eq!(positions(&read_again), positions(&handed_out));
    assert_eq!(read_again, handed_out);
}

/// Between reads the slot stays where the last read left it; a stop moves it to what the
/// broker acknowledged, so the server can drop that WAL and a restart does not read it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_moves_the_slot_to_the_acknowledged_position() {
    let db = Scratch::new(Kind::Postgres).await;
    let _slot = SlotGuard {
        name: db.name.clone(),
    };
    let (mut source, _, acked) = two_rows_acknowledged(&db).await;
    assert!(
        confirmed_flush(&db).await.unwrap() < acked,
        "no read since the acknowledgement, so the slot is still behind it"
    );
    source.stop().await;
    assert!(confirmed_flush(&db).await.unwrap() >= acked);
}
