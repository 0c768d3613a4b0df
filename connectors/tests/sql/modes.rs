//! Each polling mode delivers rows once and in order, across a restart of the connector.

use std::time::Duration;

use crate::broker::{Connect, TestBroker, ids};
use crate::databases::{Kind, Scratch};

const WAIT: Duration = Duration::from_secs(20);

fn source(db: &Scratch, name: &str, topic: &str, settings: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nkind = \"{}\"\nurl = \"{}\"\ntopic = \"{topic}\"\n\
         poll_interval = \"50ms\"\n{settings}\n[sources.emit]\nmax_records = 50\nmax_delay = \"20ms\"\n",
        db.kind.config_kind(),
        db.url,
    )
}

fn insert_values(from: i64, to: i64) -> String {
    (from..=to)
        .map(|n| format!("({n}, 'c{}', 'item {n}')", n % 3))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows inserted before and while the source runs arrive once, in id order; after a
/// restart the source resumes from its checkpoint without repeating any.
async fn incrementing(kind: Kind) {
    let db = Scratch::new(kind).await;
    db.exec(&format!(
        "CREATE TABLE orders ({}, customer TEXT NOT NULL, item TEXT)",
        db.serial()
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO orders (id, customer, item) VALUES {}",
        insert_values(1, 5)
    ))
    .await;
    let broker = TestBroker::start().await;
    let config = source(
        &db,
        "orders",
        "orders",
        &format!(
            "mode = \"incrementing\"\ntable = \"{}\"\ncolumn = \"id\"\nkey = [\"customer\"]\n\
             batch_size = 4\nsafety_lag = \"200ms\"",
            db.table("orders")
        ),
    );
    let connect = Connect::start(&broker, &["orders"], &config);
    for n in 6..=12 {
        db.exec(&format!(
            "INSERT INTO orders (id, customer, item) VALUES {}",
            insert_values(n, n)
        ))
        .await;
    }
    let records = broker.records("orders", 12, WAIT).await;
    assert_eq!(ids(&records), (1..=12).collect::<Vec<_>>());
    assert_eq!(records[3].0.as_deref(), Some("c1"));
    assert_eq!(records[3].1["item"], "item 4");
    assert_eq!(connect.stop().await, vec![]);

    db.exec(&format!(
        "INSERT INTO orders (id, customer, item) VALUES {}",
        insert_values(13, 15)
    ))
    .await;
    let connect = Connect::start(&broker, &["orders"], &config);
    let records = broker.records("orders", 15, WAIT).await;
    assert_eq!(ids(&records), (1..=15).collect::<Vec<_>>());
    assert_eq!(connect.stop().await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_incrementing_delivers_each_row_once_in_order() {
    incrementing(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_incrementing_delivers_each_row_once_in_order() {
    incrementing(Kind::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_incrementing_delivers_each_row_once_in_order() {
    incrementing(Kind::Sqlite).await;
}

/// Timestamp mode: 10 rows sharing one timestamp, read 3 at a time, are neither lost nor
/// repeated; an update (a newer timestamp) arrives as a new event.
async fn timestamp(kind: Kind) {
    let db = Scratch::new(kind).await;
    let ts_type = match kind {
        Kind::Postgres => "timestamptz",
        Kind::Mariadb => "DATETIME(6)",
        Kind::Sqlite => "TIMESTAMP",
    };
    db.exec(&format!(
        "CREATE TABLE orders ({}, status TEXT NOT NULL, updated_at {ts_type} NOT NULL)",
        db.serial()
    ))
    .await;
    let same: Vec<String> = (1..=10)
        .map(|n| format!("({n}, 'new', '2024-05-01 10:00:00')"))
        .collect();
    db.exec(&format!(
        "INSERT INTO orders (id, status, updated_at) VALUES {}",
        same.join(", ")
    ))
    .await;
    let broker = TestBroker::start().await;
    let config = source(
        &db,
        "orders",
        "orders",
        &format!(
            "mode = \"timestamp\"\ntable = \"{}\"\ncolumn = \"id\"\ntimestamp_column = \"updated_at\"\n\
             batch_size = 3\nsafety_lag = \"200ms\"",
            db.table("orders")
        ),
    );
    let connect = Connect::start(&broker, &["orders"], &config);
    let records = broker.records("orders", 10, WAIT).await;
    assert_eq!(ids(&records), (1..=10).collect::<Vec<_>>());
    assert_eq!(records[0].1["updated_at"], "2024-05-01T10:00:00Z");
    db.exec(
        "UPDATE orders SET status = 'shipped', updated_at = '2024-05-01 11:00:00' WHERE id = 4; \
         UPDATE orders SET status = 'paid', updated_at = '2024-05-01 10:30:00' WHERE id = 9",
    )
    .await;
    let records = broker.records("orders", 12, WAIT).await;
    assert_eq!(records.len(), 12, "{records:?}");
    assert_eq!(records[10].1["id"], 9);
    assert_eq!(records[10].1["status"], "paid");
    assert_eq!(records[11].1["id"], 4);
    assert_eq!(records[11].1["status"], "shipped");
    assert_eq!(connect.stop().await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_timestamp_mode_keeps_ties_and_sees_updates() {
    timestamp(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_timestamp_mode_keeps_ties_and_sees_updates() {
    timestamp(Kind::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_timestamp_mode_keeps_ties_and_sees_updates() {
    timestamp(Kind::Sqlite).await;
}

/// A custom query with a `:cursor` bind, filtering rows.
async fn query(kind: Kind) {
    let db = Scratch::new(kind).await;
    db.exec(&format!(
        "CREATE TABLE orders ({}, customer TEXT NOT NULL, item TEXT)",
        db.serial()
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO orders (id, customer, item) VALUES {}",
        insert_values(1, 9)
    ))
    .await;
    let broker = TestBroker::start().await;
    let config = source(
        &db,
        "orders",
        "orders",
        &format!(
            "mode = \"query\"\ncolumn = \"id\"\nquery = \"SELECT id, item FROM {} \
             WHERE id > :cursor AND customer <> 'c0' ORDER BY id LIMIT 2\"",
            db.table("orders")
        ),
    );
    let connect = Connect::start(&broker, &["orders"], &config);
    let records = broker.records("orders", 6, WAIT).await;
    assert_eq!(ids(&records), vec![1, 2, 4, 5, 7, 8]);
    assert_eq!(connect.stop().await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_query_mode_binds_the_cursor() {
    query(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_query_mode_binds_the_cursor() {
    query(Kind::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_query_mode_binds_the_cursor() {
    query(Kind::Sqlite).await;
}

/// Two overlapping transactions commit out of id order: the row with the lower id, committed
/// last, is not skipped. Postgres holds rows back until the snapshot's xmin passes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_out_of_order_commits_are_not_skipped() {
    use sqlx::Executor as _;
    let db = Scratch::new(Kind::Postgres).await;
    db.exec(&format!("CREATE TABLE orders ({}, item TEXT)", db.serial()))
        .await;
    let broker = TestBroker::start().await;
    let config = source(
        &db,
        "orders",
        "orders",
        &format!(
            "mode = \"incrementing\"\ntable = \"{}\"\ncolumn = \"id\"",
            db.table("orders")
        ),
    );
    let connect = Connect::start(&broker, &["orders"], &config);
    let mut first = db.pg().await;
    let mut second = db.pg().await;
    first.execute("BEGIN").await.unwrap();
    first
        .execute("INSERT INTO orders (item) VALUES ('slow')")
        .await
        .unwrap();
    second
        .execute("INSERT INTO orders (item) VALUES ('fast')")
        .await
        .unwrap();
    // The source sees id 2 committed while id 1 is not: it must wait.
    let early = broker
        .records("orders", 1, Duration::from_millis(800))
        .await;
    assert!(early.is_empty(), "id 2 went out before id 1: {early:?}");
    first.execute("COMMIT").await.unwrap();
    let records = broker.records("orders", 2, WAIT).await;
    assert_eq!(ids(&records), vec![1, 2]);
    assert_eq!(records[0].1["item"], "slow");
    assert_eq!(connect.stop().await, vec![]);
}

/// MariaDB: the same, with the safety lag covering the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_out_of_order_commits_within_the_safety_lag_are_not_skipped() {
    use sqlx::Executor as _;
    let db = Scratch::new(Kind::Mariadb).await;
    db.exec(&format!("CREATE TABLE orders ({}, item TEXT)", db.serial()))
        .await;
    let broker = TestBroker::start().await;
    let config = source(
        &db,
        "orders",
        "orders",
        &format!(
            "mode = \"incrementing\"\ntable = \"{}\"\ncolumn = \"id\"\nsafety_lag = \"1500ms\"",
            db.table("orders")
        ),
    );
    let connect = Connect::start(&broker, &["orders"], &config);
    let mut first = db.mysql().await;
    let mut second = db.mysql().await;
    first.execute("BEGIN").await.unwrap();
    first
        .execute("INSERT INTO orders (item) VALUES ('slow')")
        .await
        .unwrap();
    second
        .execute("INSERT INTO orders (item) VALUES ('fast')")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.execute("COMMIT").await.unwrap();
    let records = broker.records("orders", 2, WAIT).await;
    assert_eq!(ids(&records), vec![1, 2]);
    assert_eq!(connect.stop().await, vec![]);
}

/// Notify mode: with a 30 s poll interval, rows still arrive at once, because the trigger
/// the source installed notifies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notify_polls_on_each_notification() {
    let db = Scratch::new(Kind::Postgres).await;
    db.exec(&format!("CREATE TABLE orders ({}, item TEXT)", db.serial()))
        .await;
    let broker = TestBroker::start().await;
    let config = format!(
        "[[sources]]\nname = \"orders\"\nkind = \"postgres\"\nurl = \"{}\"\ntopic = \"orders\"\n\
         mode = \"notify\"\ntable = \"{}\"\ncolumn = \"id\"\nchannel = \"{}_orders\"\n\
         install_trigger = true\npoll_interval = \"30s\"\n\
         [sources.emit]\nmax_records = 1\n",
        db.url,
        db.table("orders"),
        db.name
    );
    let connect = Connect::start(&broker, &["orders"], &config);
    // The first poll (at start) finds nothing; give LISTEN time to be in place.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in 1..=3 {
        db.exec(&format!("INSERT INTO orders (item) VALUES ('n{n}')"))
            .await;
        // Well within the 30 s poll interval: only the notification can have triggered it.
        let records = broker.records("orders", n, Duration::from_secs(10)).await;
        assert_eq!(ids(&records), (1..=n as i64).collect::<Vec<_>>());
    }
    assert_eq!(connect.stop().await, vec![]);
}
