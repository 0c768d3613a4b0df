//! Rows become JSON with typed values: numbers stay numbers, timestamps RFC 3339, NULL
//! null, bytes base64.

use std::time::Duration;

use serde_json::json;

use crate::broker::{Connect, TestBroker};
use crate::databases::{Kind, Scratch};

async fn typed(kind: Kind, create: &str, insert: &str, expected: serde_json::Value) {
    let db = Scratch::new(kind).await;
    db.exec(create).await;
    db.exec(insert).await;
    let broker = TestBroker::start().await;
    let config = format!(
        "[[sources]]\nname = \"typed\"\nkind = \"{}\"\nurl = \"{}\"\ntopic = \"typed\"\n\
         table = \"{}\"\ncolumn = \"id\"\npoll_interval = \"50ms\"\n",
        kind.config_kind(),
        db.url,
        db.table("typed")
    );
    let connect = Connect::start(&broker, &["typed"], &config);
    let records = broker.records("typed", 2, Duration::from_secs(20)).await;
    assert_eq!(connect.stop().await, vec![]);
    let values: Vec<_> = records.into_iter().map(|(_, v)| v).collect();
    assert_eq!(json!(values), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_values_keep_their_types() {
    typed(
        Kind::Postgres,
        "CREATE TABLE typed (id bigint PRIMARY KEY, n integer, price numeric(10,2), \
         ratio double precision, ok boolean, at timestamptz, plain timestamp, day date, \
         raw bytea, doc jsonb, tag uuid, note text)",
        "INSERT INTO typed VALUES \
         (1, 42, 19.99, 0.5, true, '2024-05-01 10:00:00.123+02', '2024-05-01 10:00:00', \
          '2024-05-01', '\\x00ff', '{\"a\": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x'), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        json!([
            {"id": 1, "n": 42, "price": 19.99, "ratio": 0.5, "ok": true,
             "at": "2024-05-01T08:00:00.123Z", "plain": "2024-05-01T10:00:00Z",
             "day": "2024-05-01", "raw": "AP8=", "doc": {"a": [1, 2]},
             "tag": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "note": "x"},
            {"id": 2, "n": null, "price": null, "ratio": null, "ok": null, "at": null,
             "plain": null, "day": null, "raw": null, "doc": null, "tag": null, "note": null}
        ]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_values_keep_their_types() {
    typed(
        Kind::Mariadb,
        "CREATE TABLE typed (id bigint PRIMARY KEY, n int, price decimal(10,2), \
         ratio double, ok boolean, at datetime(3), day date, raw varbinary(8), note text, \
         big bigint unsigned)",
        "INSERT INTO typed VALUES \
         (1, 42, 19.99, 0.5, true, '2024-05-01 10:00:00.123', '2024-05-01', x'00ff', 'x', 18446744073709551615), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        json!([
            {"id": 1, "n": 42, "price": 19.99, "ratio": 0.5, "ok": true,
             "at": "2024-05-01T10:00:00.123Z", "day": "2024-05-01", "raw": "AP8=", "note": "x",
             "big": 18446744073709551615u64},
            {"id": 2, "n": null, "price": null, "ratio": null, "ok": null, "at": null,
             "day": null, "raw": null, "note": null, "big": null}
        ]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_values_keep_their_types() {
    typed(
        Kind::Sqlite,
        "CREATE TABLE typed (id INTEGER PRIMARY KEY, n INTEGER, ratio REAL, ok BOOLEAN, \
         at TIMESTAMP, raw BLOB, note TEXT)",
        "INSERT INTO typed VALUES (1, 42, 0.5, 1, '2024-05-01 10:00:00.123', x'00ff', 'x'), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL)",
        json!([
            {"id": 1, "n": 42, "ratio": 0.5, "ok": true, "at": "2024-05-01T10:00:00.123Z",
             "raw": "AP8=", "note": "x"},
            {"id": 2, "n": null, "ratio": null, "ok": null, "at": null, "raw": null, "note": null}
        ]),
    )
    .await;
}
