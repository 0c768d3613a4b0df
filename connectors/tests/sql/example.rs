//! `examples/ecommerce/`: the orders table's status changes flow into `order-events`, keyed
//! by customer, a shipped order flushed at once.

use std::time::Duration;

use crate::broker::{Connect, TestBroker};
use crate::databases::{Kind, Scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecommerce_example_delivers_status_changes_by_customer() {
    let db = Scratch::new(Kind::Postgres).await;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/ecommerce");
    db.exec(&std::fs::read_to_string(format!("{root}/orders.sql")).unwrap())
        .await;
    let broker = TestBroker::start().await;
    // The example as shipped, pointed at this test's broker and scratch schema.
    let url = format!("{}&options=-csearch_path%3D{}", db.url, db.name);
    let text = std::fs::read_to_string(format!("{root}/connectors.toml"))
        .unwrap()
        .replace("${ORDERS_DB_URL}", &url)
        .replace("127.0.0.1:9092", &broker.address);
    let sources = text.split_once("[[sources]]").unwrap().1;
    let sources = format!(
        "[[sources]]{}",
        sources.replace(
            "install_trigger = true",
            &format!("install_trigger = true\nchannel = \"{}_orders\"", db.name)
        )
    );
    let connect = Connect::start(&broker, &["order-events"], &sources);
    tokio::time::sleep(Duration::from_secs(1)).await;
    db.exec(
        "INSERT INTO orders (\"order\", customer, region) VALUES ('o-1', 'c-7', 'eu'), \
         ('o-2', 'c-8', 'us'); UPDATE orders SET status = 'paid' WHERE \"order\" = 'o-1'",
    )
    .await;
    db.exec("UPDATE orders SET status = 'shipped' WHERE \"order\" = 'o-1'")
        .await;
    let records = broker
        .records_of("order-events", 0, Duration::from_secs(5))
        .await;
    let of = |customer: &str| -> Vec<String> {
        records
            .iter()
            .filter(|(key, _)| key.as_deref() == Some(customer))
            .map(|(_, v)| v["status"].as_str().unwrap().to_owned())
            .collect()
    };
    // Each state at most once and in order (changes between two polls arrive once, at
    // their latest state), ending with shipped.
    let seven = of("c-7");
    let order = ["new", "paid", "shipped"];
    let positions: Vec<usize> = seven
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{records:?}");
    assert_eq!(
        seven.last().map(String::as_str),
        Some("shipped"),
        "{records:?}"
    );
    assert_eq!(of("c-8"), ["new"], "{records:?}");
    assert!(
        records.iter().all(|(_, v)| v["id"].is_number()),
        "{records:?}"
    );
    assert_eq!(connect.stop().await, vec![]);
}
