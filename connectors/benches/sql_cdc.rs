//! Postgres change data capture: how many changes per second the CDC source decodes (200k
//! inserted rows, in 20 transactions, read from the slot into JSON events and acknowledged
//! at once; the source alone, no broker), and the latency from commit to the event being in
//! the topic (an in-process broker, `acks = "all"`) while a writer commits ~1,000 rows/s, one
//! row per transaction, measured as the consumer's receive time less the event's
//! `commit_time`.
//!
//! Needs PostgreSQL with `wal_level = logical`: 127.0.0.1:5432, or the server
//! `WEIR_BENCH_POSTGRES_URL` names. Run with `cargo bench -p weir-connectors --bench sql_cdc`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tokio::net::TcpListener;
use weir_broker::{Broker, BrokerConfig};
use weir_client::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use weir_connectors::config::{CdcSettings, Database, SqlMode, SqlSettings};
use weir_connectors::sql::cdc::CdcSource;
use weir_connectors::{Checkpoint, ConnectConfig, Source as _};

const ROWS: u64 = 200_000;
/// The database: `WEIR_BENCH_POSTGRES_URL`, else the machine's server.
fn url() -> String {
    std::env::var("WEIR_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn exec(sql: &str) {
    let mut c = sqlx::PgConnection::connect(&url()).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
}

async fn drop_slot(name: &str) {
    for _ in 0..50 {
        let mut c = sqlx::PgConnection::connect(&url()).await.unwrap();
        let dropped = sqlx::raw_sql(&format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
             WHERE slot_name = '{name}'; DROP PUBLICATION IF EXISTS {name}"
        ))
        .execute(&mut c)
        .await;
        if dropped.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn cdc_settings(schema: &str) -> CdcSettings {
    CdcSettings {
        connector: schema.to_owned(),
        tables: vec![format!("{schema}.orders")],
        slot: schema.to_owned(),
        publication: schema.to_owned(),
        snapshot: false,
        heartbeat_interval: Duration::from_secs(10),
    }
}

fn settings(schema: &str) -> SqlSettings {
    SqlSettings {
        database: Database::Postgres,
        url: url(),
        mode: SqlMode::Cdc(cdc_settings(schema)),
        table: Some(format!("{schema}.orders")),
        column: String::new(),
        key_columns: Vec::new(),
        poll_interval: Duration::from_millis(10),
        batch_size: 10_000,
        safety_lag: Duration::ZERO,
        initial_cursor: String::new(),
    }
}

/// Changes per second the source decodes, acknowledging each batch at once.
async fn throughput(schema: &str) -> f64 {
    exec(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.orders (id bigint PRIMARY KEY, \
         customer_id bigint NOT NULL, status text NOT NULL, total numeric(10,2) NOT NULL, \
         updated_at timestamptz NOT NULL)"
    ))
    .await;
    let mut source = CdcSource::new(settings(schema), cdc_settings(schema));
    source.start(Checkpoint::new()).await.unwrap();
    for chunk in 0..20 {
        let from = chunk * (ROWS / 20) + 1;
        let to = from + ROWS / 20 - 1;
        exec(&format!(
            "INSERT INTO {schema}.orders SELECT g, g % 1000, 'new', (g % 10000) / 100.0, \
             timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series({from}, {to}) g"
        ))
        .await;
    }
    let started = Instant::now();
    let mut read = 0;
    while read < ROWS {
        let events = source.next_events(4096).await.unwrap();
        read += events.len() as u64;
        if let Some(last) = events.last() {
            let mut checkpoint = Checkpoint::new();
            checkpoint.insert(last.partition.to_string(), last.position.clone());
            source.acknowledged(&checkpoint);
        }
    }
    let elapsed = started.elapsed();
    drop(source);
    ROWS as f64 / elapsed.as_secs_f64()
}

/// p50 and p99 of commit → in the topic, in milliseconds, at ~1k rows/s for `seconds`.
async fn latency(schema: &str, seconds: u64) -> (f64, f64, usize) {
    exec(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.orders (id bigint PRIMARY KEY, item text)"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let text = format!(
        "[broker]\nlisteners = [\"{address}\"]\nlog_dirs = [\"{}\"]\nnum_partitions = 1\n",
        dir.path().join("data").display()
    );
    let broker = Broker::open(
        BrokerConfig::parse(&weir_config::Source::new(dir.path().join("w.toml"), text)).unwrap(),
    )
    .unwrap();
    let (stop_broker, broker_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = broker
            .serve_on(vec![listener], async {
                let _ = broker_stopped.await;
            })
            .await;
    });
    let connectors = format!(
        "[cluster]\nbootstrap = [\"{address}\"]\n[topics.changes]\npartitions = 1\n\
         [[sources]]\nname = \"{schema}\"\nkind = \"postgres\"\nurl = \"{}\"\ntopic = \"changes\"\n\
         mode = \"cdc\"\ntable = \"{schema}.orders\"\nslot = \"{schema}\"\npublication = \"{schema}\"\n\
         poll_interval = \"5ms\"\n[sources.emit]\nmax_records = 500\nmax_delay = \"2ms\"\n",
        url()
    );
    let config = ConnectConfig::parse(&weir_config::Source::new(
        dir.path().join("c.toml"),
        connectors,
    ))
    .unwrap();
    let (stop_connect, connect_stopped) = tokio::sync::oneshot::channel::<()>();
    let connect = tokio::spawn(weir_connectors::host::run(config, async {
        let _ = connect_stopped.await;
    }));
    // Wait for the slot, then write.
    loop {
        let mut c = sqlx::PgConnection::connect(&url()).await.unwrap();
        let found: Option<(String,)> =
            sqlx::query_as("SELECT slot_name::text FROM pg_replication_slots WHERE slot_name = $1")
                .bind(schema)
                .fetch_optional(&mut c)
                .await
                .unwrap();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let total = seconds * 1000;
    let writer = {
        let schema = schema.to_owned();
        tokio::spawn(async move {
            let mut c = sqlx::PgConnection::connect(&url()).await.unwrap();
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            for n in 0..total {
                tick.tick().await;
                sqlx::query(&format!("INSERT INTO {schema}.orders VALUES ($1, 'x')"))
                    .bind(n as i64)
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        })
    };
    let mut consumer_config = ConsumerConfig::new([address.clone()]);
    consumer_config.auto_offset_reset = OffsetReset::Earliest;
    let mut consumer = Consumer::new(consumer_config).unwrap();
    consumer.assign([TopicPartition::new("changes", 0)]);
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds + 30);
    while (latencies.len() as u64) < total && Instant::now() < deadline {
        for record in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            let received = chrono::Utc::now();
            let value: serde_json::Value = serde_json::from_slice(&record.value.unwrap()).unwrap();
            let committed =
                chrono::DateTime::parse_from_rfc3339(value["commit_time"].as_str().unwrap())
                    .unwrap();
            let ms = (received - committed.with_timezone(&chrono::Utc))
                .num_microseconds()
                .unwrap() as f64
                / 1000.0;
            latencies.push(ms);
        }
    }
    writer.await.unwrap();
    let _ = stop_connect.send(());
    let _ = connect.await;
    let _ = stop_broker.send(());
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99), latencies.len())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let schema = format!("weir_cdc_bench{}", std::process::id());
        let rate = throughput(&schema).await;
        drop_slot(&schema).await;
        exec(&format!("DROP SCHEMA {schema} CASCADE")).await;
        println!("cdc throughput: {rate:.0} changes/s ({ROWS} inserted rows, source alone)");
        let schema = format!("weir_cdc_lat{}", std::process::id());
        let (p50, p99, n) = latency(&schema, 10).await;
        drop_slot(&schema).await;
        exec(&format!("DROP SCHEMA {schema} CASCADE")).await;
        println!(
            "cdc commit -> topic latency at ~1k rows/s: p50 {p50:.1} ms, p99 {p99:.1} ms ({n} rows)"
        );
    });
}
