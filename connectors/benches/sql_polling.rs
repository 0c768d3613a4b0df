//! Rows per second a database source reads by incremental polling: 200k rows already in a
//! table (Postgres in a scratch schema on 127.0.0.1:5432, SQLite in a temporary file),
//! read from an empty checkpoint to the last row, the rows turned into JSON events. The
//! broker is not part of this measurement. `WEIR_BENCH_POSTGRES_URL` names another
//! Postgres server than 127.0.0.1:5432.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::Connection as _;
use weir_connectors::Source as _;
use weir_connectors::config::{Database, SqlMode, SqlSettings};
use weir_connectors::sql::SqlSource;

const ROWS: u64 = 200_000;

fn settings(database: Database, url: &str, table: &str, mode: SqlMode) -> SqlSettings {
    SqlSettings {
        database,
        url: url.to_owned(),
        mode,
        table: Some(table.to_owned()),
        column: "id".to_owned(),
        key_columns: Vec::new(),
        poll_interval: Duration::from_millis(10),
        batch_size: 5000,
        safety_lag: Duration::ZERO,
        initial_cursor: "0".to_owned(),
    }
}

/// Reads every row once; the time it took.
async fn read_all(settings: SqlSettings) -> Duration {
    let started = Instant::now();
    let mut source = SqlSource::new(settings);
    source.start(Default::default()).await.unwrap();
    let mut read = 0;
    while read < ROWS {
        read += source.next_events(4096).await.unwrap().len() as u64;
    }
    started.elapsed()
}

fn polling(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let schema = format!("weir_bench{}", std::process::id());
    let pg_url = std::env::var("WEIR_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let pg_url = pg_url.as_str();
    runtime.block_on(async {
        let mut c = sqlx::PgConnection::connect(pg_url).await.unwrap();
        sqlx::raw_sql(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.orders (id bigint PRIMARY KEY, \
             customer_id bigint NOT NULL, status text NOT NULL, total numeric(10,2) NOT NULL, \
             updated_at timestamptz NOT NULL); \
             INSERT INTO {schema}.orders SELECT g, g % 1000, 'new', (g % 10000) / 100.0, \
             timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(1, {ROWS}) g; \
             CREATE INDEX ON {schema}.orders (updated_at, id); ANALYZE {schema}.orders"
        ))
        .execute(&mut c)
        .await
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    runtime.block_on(async {
        let options: sqlx::sqlite::SqliteConnectOptions = sqlite_url.parse().unwrap();
        let mut c = sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, \
             status TEXT NOT NULL, total REAL NOT NULL, updated_at TIMESTAMP NOT NULL); \
             WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {ROWS}) \
             INSERT INTO orders SELECT n, n % 1000, 'new', (n % 10000) / 100.0, \
             datetime('2024-01-01', '+' || n || ' seconds') FROM g; \
             CREATE INDEX orders_ts ON orders (updated_at, id)"
        ))
        .execute(&mut c)
        .await
        .unwrap();
    });
    let table = format!("{schema}.orders");
    let timestamp = || SqlMode::Timestamp {
        column: "updated_at".to_owned(),
    };
    let cases = [
        (
            "postgres/incrementing",
            settings(Database::Postgres, pg_url, &table, SqlMode::Incrementing),
        ),
        (
            "postgres/timestamp",
            settings(Database::Postgres, pg_url, &table, timestamp()),
        ),
        (
            "sqlite/incrementing",
            settings(
                Database::Sqlite,
                &sqlite_url,
                "orders",
                SqlMode::Incrementing,
            ),
        ),
        (
            "sqlite/timestamp",
            settings(Database::Sqlite, &sqlite_url, "orders", timestamp()),
        ),
    ];
    let mut group = c.benchmark_group("sql_polling_200k_rows");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS));
    for (name, settings) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| runtime.block_on(read_all(settings.clone())))
                    .sum()
            });
        });
    }
    group.finish();
    runtime.block_on(async {
        let mut c = sqlx::PgConnection::connect(pg_url).await.unwrap();
        sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut c)
            .await
            .unwrap();
    });
}

criterion_group!(benches, polling);
criterion_main!(benches);
