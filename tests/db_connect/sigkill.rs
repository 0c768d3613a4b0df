//! SIGKILL `weir connect` at random points while a writer inserts 50k rows into a Postgres
//! table in many small transactions: after the last restart every row is in the topic once,
//! in commit order per key (rows read again after a restart are found in the topic by their
//! event ids and not produced twice; any duplicate fails the test). Once with incremental polling,
//! once with change data capture (`mode = "cdc"`, its slot and publication dropped after).
//! Prints its seed; `WEIR_CONNECT_SEED=<n>` replays the same kill times.

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use weir_client::{Consumer, ConsumerConfig, OffsetReset};

use crate::harness::{Connect, runtime};
use crate::support::Broker;
use crate::support::postgres::{Schema, psql, psql_value};

const ROWS: usize = 50_000;
const ROWS_PER_INSERT: usize = 250;
const CUSTOMERS: usize = 10;

#[test]
fn postgres_source_sigkilled_at_random_points_loses_nothing() {
    sigkilled("incrementing");
}

#[test]
fn postgres_cdc_source_sigkilled_at_random_points_loses_nothing() {
    let level = psql_value("SHOW wal_level");
    assert_eq!(
        level, "logical",
        "change data capture needs wal_level = logical on the PostgreSQL at 127.0.0.1:5432: \
         run psql -h 127.0.0.1 -U postgres -c \"ALTER SYSTEM SET wal_level = logical\" and \
         restart it (pg_ctlcluster --skip-systemctl-redirect VERSION main restart), or run \
         .ci/run, which does both"
    );
    sigkilled("cdc");
}

fn sigkilled(mode: &str) {
    let ready = Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432"])
        .output();
    assert!(
        ready.is_ok_and(|o| o.status.success()),
        "PostgreSQL must answer on 127.0.0.1:5432 (trust auth, database test) for this test"
    );
    let seed: u64 = std::env::var("WEIR_CONNECT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("WEIR_CONNECT_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let schema = Schema(format!("weir_kill{}_{mode}", std::process::id()));
    psql(&format!(
        "CREATE SCHEMA {0}; CREATE TABLE {0}.orders (id bigserial PRIMARY KEY, \
         customer int NOT NULL, n int NOT NULL)",
        schema.0
    ));
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let settings = match mode {
        "cdc" => format!(
            "mode = \"cdc\"\nslot = \"{0}\"\npublication = \"{0}\"\nheartbeat_interval = \"500ms\"",
            schema.0
        ),
        _ => "mode = \"incrementing\"\ncolumn = \"id\"".to_owned(),
    };
    let toml = format!(
        "[cluster]\nbootstrap = [\"{}\"]\n[topics.orders]\npartitions = 3\n\n[[sources]]\n\
         name = \"orders\"\nkind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:5432/test\"\n\
         topic = \"orders\"\n{settings}\ntable = \"{}.orders\"\n\
         key = [\"customer\"]\npoll_interval = \"20ms\"\nbatch_size = 2000\n\
         [sources.emit]\nmax_records = 500\nmax_delay = \"20ms\"\n",
        broker.addr(),
        schema.0
    );
    let mut connect = Connect::start(dir.path(), &toml);
    if mode == "cdc" {
        // Without a snapshot, changes count from the slot's creation.
        let deadline = Instant::now() + Duration::from_secs(60);
        while psql_value(&format!(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}'",
            schema.0
        )) != "1"
        {
            assert!(Instant::now() < deadline, "the CDC slot was not created");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let table = format!("{}.orders", schema.0);
    let writer = std::thread::spawn(move || {
        for chunk in 0..ROWS / ROWS_PER_INSERT {
            let first = chunk * ROWS_PER_INSERT;
            psql(&format!(
                "INSERT INTO {table} (customer, n) SELECT g % {CUSTOMERS}, g \
                 FROM generate_series({first}, {}) g",
                first + ROWS_PER_INSERT - 1
            ));
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let mut kills = 0;
    while !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..1200)));
        connect.kill();
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..300)));
        connect.spawn();
    }
    writer.join().unwrap();
    let by_key = read_until_complete(&broker.addr(), "orders");
    let mut duplicates = 0;
    let mut total = 0;
    for (customer, sequence) in &by_key {
        total += sequence.len();
        let mut highest: Option<i64> = None;
        for &n in sequence {
            assert_eq!(
                n as usize % CUSTOMERS,
                *customer as usize,
                "row {n} under key {customer}"
            );
            match highest {
                // In commit order: each row is the next of its key, or a replay step back.
                Some(h) if n <= h => duplicates += 1,
                Some(h) => {
                    assert_eq!(
                        n,
                        h + CUSTOMERS as i64,
                        "key {customer}: row {n} follows {h} (seed {seed})"
                    );
                    highest = Some(n);
                }
                None => {
                    assert_eq!(
                        n, *customer,
                        "key {customer} starts at row {n} (seed {seed})"
                    );
                    highest = Some(n);
                }
            }
        }
    }
    eprintln!(
        "{mode}: {kills} SIGKILLs while {ROWS} rows were inserted: {total} records, {duplicates} duplicates ({:.3}%)",
        duplicates as f64 * 100.0 / ROWS as f64
    );
    assert_eq!(duplicates, 0, "{mode}: rows produced twice (seed {seed})");
    connect.stop();
}

/// Reads the topic until every row is there; returns `n` per key (customer), in topic order.
fn read_until_complete(bootstrap: &str, topic: &str) -> BTreeMap<i64, Vec<i64>> {
    runtime().block_on(async {
        let mut config = ConsumerConfig::new([bootstrap.to_owned()]);
        config.auto_offset_reset = OffsetReset::Earliest;
        config.enable_auto_commit = false;
        config.max_poll_records = 10_000;
        let mut consumer = Consumer::new(config).unwrap();
        let partitions = consumer.partitions_for(topic).await.unwrap();
        consumer.assign(partitions.clone());
        consumer.seek_to_beginning(&partitions).unwrap();
        let mut by_key: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut seen = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        while seen.len() < ROWS {
            assert!(
                Instant::now() < deadline,
                "{} rows never arrived",
                ROWS - seen.len()
            );
            for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
                let value: serde_json::Value =
                    serde_json::from_slice(&record.value.unwrap()).unwrap();
                // A CDC event carries the row as `after`.
                let value = match value.get("after") {
                    Some(after) => after.clone(),
                    None => value,
                };
                let key: i64 = std::str::from_utf8(&record.key.unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                let n = value["n"].as_i64().unwrap();
                assert_eq!(value["customer"].as_i64(), Some(key));
                by_key.entry(key).or_default().push(n);
                seen.insert(n);
            }
        }
        by_key
    })
}
