//! The database goes away mid-stream (its sessions killed): the source reconnects (the
//! pool notices the dead connection, or the failed query is retried with backoff) and
//! loses no row.

use std::time::Duration;

use crate::broker::{Connect, TestBroker, ids};
use crate::databases::{Kind, Scratch};

async fn survives_killed_sessions(kind: Kind) {
    let db = Scratch::new(kind).await;
    db.exec(&format!("CREATE TABLE orders ({}, item TEXT)", db.serial()))
        .await;
    let broker = TestBroker::start().await;
    let config = format!(
        "[[sources]]\nname = \"orders\"\nkind = \"{}\"\nurl = \"{}\"\ntopic = \"orders\"\n\
         table = \"{}\"\ncolumn = \"id\"\npoll_interval = \"50ms\"\nsafety_lag = \"100ms\"\n\
         [sources.emit]\nmax_records = 10\nmax_delay = \"20ms\"\n",
        kind.config_kind(),
        db.url,
        db.table("orders")
    );
    let connect = Connect::start(&broker, &["orders"], &config);
    let mut expected = 0;
    let mut killed = 0;
    for round in 0..4 {
        for _ in 0..10 {
            expected += 1;
            db.exec(&format!("INSERT INTO orders (item) VALUES ('r{round}')"))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        killed += db.kill_connector_sessions().await;
    }
    assert!(killed > 0, "no connector session was found to kill");
    let records = broker
        .records("orders", expected as usize, Duration::from_secs(30))
        .await;
    assert_eq!(ids(&records), (1..=expected).collect::<Vec<_>>());
    let status = connect.status("orders").unwrap();
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(connect.stop().await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_source_reconnects_after_pg_terminate_backend() {
    survives_killed_sessions(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_source_reconnects_after_kill() {
    survives_killed_sessions(Kind::Mariadb).await;
}
