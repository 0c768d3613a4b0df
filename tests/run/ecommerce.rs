//! `examples/ecommerce/pipeline.toml` as written: orders change status in SQLite, the
//! database source produces them to `order-events` (routed by region by the WASM
//! partitioner), the order-notifier plugin turns each change into a notification. Every
//! status change must arrive exactly once in a clean run, and at least once — with at most
//! one batch repeated — when `weir run` is SIGKILLed while a change is on its way.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::example_plugins::plugins_dir;
use crate::harness::{PATIENCE, Run, duplicates, records, values, wait_for_records};
use crate::support::kafka::record_count;
use crate::support::postgres::{Schema, psql};
use crate::support::{free_port, require_tool};

/// Orders placed; each goes through four statuses.
const ORDERS: usize = 30;
/// The source's `max_records` in the example: one batch.
const BATCH: usize = 100;
/// The example's region routes.
const ROUTES: [(&str, i32); 3] = [("eu", 0), ("us", 1), ("apac", 2)];

fn customer(order: usize) -> usize {
    order % 7
}

fn region(order: usize) -> &'static str {
    ROUTES[customer(order) % 3].0
}

fn sql(db: &Path, statement: &str) {
    let sqlite3 = require_tool("sqlite3", "apt-get install sqlite3");
    let output = Command::new(sqlite3)
        .args(["-cmd", ".timeout 5000"])
        .arg(db)
        .arg(statement)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sqlite3 {statement}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn set_status(db: &Path, status: &str) {
    sql(
        db,
        &format!(
            "UPDATE orders SET status = '{status}', \
             updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')"
        ),
    );
}

/// The notification the plugin sends for `order` reaching `status`.
fn notification(order: usize, status: &str) -> String {
    format!(
        r#"{{"customer":"c-{c}","order":"o-{order}","status":"{status}","message":"Your order o-{order} is now {status}"}}"#,
        c = customer(order)
    )
}

fn expected(statuses: &[&str]) -> BTreeSet<String> {
    statuses
        .iter()
        .flat_map(|status| (1..=ORDERS).map(move |order| notification(order, status)))
        .collect()
}

/// Every notification so far, in no particular order.
fn notifications(addr: &str) -> Vec<String> {
    let count = record_count(addr, "notifications");
    records(addr, "notifications", count)
        .into_values()
        .flat_map(|partition| values(&partition))
        .collect()
}

/// Waits until every expected notification has arrived; all of them then.
fn wait_for_notifications(addr: &str, wanted: &BTreeSet<String>) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = notifications(addr);
        let distinct: BTreeSet<String> = got.iter().cloned().collect();
        if wanted.is_subset(&distinct) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "missing notifications: {:?}",
            wanted.difference(&distinct).take(5).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn order_status_changes_become_notifications_through_a_sigkill() {
    let port = free_port().to_string();
    let plugins = plugins_dir().display().to_string();
    let mut run = Run::from_example(
        "examples/ecommerce/pipeline.toml",
        &[("WEIR_PORT", &port), ("WEIR_PLUGINS", &plugins)],
    );
    let addr = format!("127.0.0.1:{port}");
    let db = run.dir.path().join("orders.db");
    let script = crate::harness::repo_root().join("examples/ecommerce/orders.sh");
    let created = Command::new(script).arg(&db).arg("init").status().unwrap();
    assert!(created.success(), "orders.sh init failed");
    run.start();

    let placed: Vec<String> = (1..=ORDERS)
        .map(|o| {
            format!(
                "('o-{o}', 'c-{}', '{}', 'new', strftime('%Y-%m-%d %H:%M:%f', 'now'))",
                customer(o),
                region(o)
            )
        })
        .collect();
    sql(
        &db,
        &format!(
            "INSERT INTO orders (\"order\", customer, region, status, updated_at) VALUES {}",
            placed.join(", ")
        ),
    );
    wait_for_records(&addr, "notifications", ORDERS);
    set_status(&db, "paid");
    let clean = wait_for_notifications(&addr, &expected(&["new", "paid"]));
    // A clean run: exactly one notification per change, nothing else.
    assert_eq!(clean.len(), 2 * ORDERS, "{clean:#?}");
    assert_eq!(
        clean.iter().cloned().collect::<BTreeSet<_>>(),
        expected(&["new", "paid"])
    );

    // Shipped orders flush at once; kill while they are on their way. The rows still say
    // shipped, so the restarted source reads them from its checkpoint on.
    set_status(&db, "shipped");
    std::thread::sleep(Duration::from_millis(300));
    run.kill();
    run.start();
    wait_for_notifications(&addr, &expected(&["new", "paid", "shipped"]));
    // A timestamp source sees each row's latest state: the next change waits until this one
    // was read.
    set_status(&db, "delivered");
    let all = expected(&["new", "paid", "shipped", "delivered"]);
    let got = wait_for_notifications(&addr, &all);
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(distinct, all, "only the example's notifications");
    let repeated = duplicates(&got);
    assert!(
        repeated <= BATCH,
        "{repeated} notifications repeated, more than one batch of {BATCH}"
    );

    // The region partitioner placed every order event by its region.
    let events = records(&addr, "order-events", record_count(&addr, "order-events"));
    for (partition, records) in &events {
        for record in records {
            let row: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
            let region = row["region"].as_str().unwrap();
            let routed = ROUTES.iter().find(|(r, _)| *r == region).unwrap().1;
            assert_eq!(*partition, routed, "{row}");
            assert_eq!(
                record.key.as_deref(),
                Some(row["customer"].as_str().unwrap().as_bytes()),
                "keyed by customer"
            );
        }
    }
    run.stop();
}

#[test]
fn the_same_pipeline_runs_on_postgres_by_its_url() {
    let schema = Schema(format!("weir_run_pg{}", std::process::id()));
    let orders_sql =
        std::fs::read_to_string(crate::harness::repo_root().join("examples/ecommerce/orders.sql"))
            .unwrap();
    psql(&format!(
        "CREATE SCHEMA {0}; SET search_path TO {0}; {orders_sql}",
        schema.0
    ));
    let port = free_port().to_string();
    let plugins = plugins_dir().display().to_string();
    // The one line that changes: the source's url, through ORDERS_DB_URL.
    let url = format!(
        "postgres://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{}",
        schema.0
    );
    let mut run = Run::from_example(
        "examples/ecommerce/pipeline.toml",
        &[
            ("WEIR_PORT", &port),
            ("WEIR_PLUGINS", &plugins),
            ("ORDERS_DB_URL", &url),
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    run.start();
    let placed: Vec<String> = (1..=ORDERS)
        .map(|o| format!("('o-{o}', 'c-{}', '{}')", customer(o), region(o)))
        .collect();
    psql(&format!(
        "INSERT INTO {}.orders (\"order\", customer, region) VALUES {}",
        schema.0,
        placed.join(", ")
    ));
    wait_for_notifications(&addr, &expected(&["new"]));
    psql(&format!(
        "UPDATE {}.orders SET status = 'shipped'",
        schema.0
    ));
    let got = wait_for_notifications(&addr, &expected(&["new", "shipped"]));
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        expected(&["new", "shipped"])
    );
    assert_eq!(
        got.len(),
        2 * ORDERS,
        "exactly once in a clean run: {got:#?}"
    );
    run.stop();
}
