//! The consumer runner against an in-process broker with the real order-notifier plugin:
//! notifications produced, a malformed event dead-lettered with headers saying why, offsets
//! committed, and two members of one group sharing the work.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::broker::TestBroker;
use support::example_plugins::example_plugin;
use weir_client::{Consumer, ConsumerConfig, ProducerRecord, TopicPartition};
use weir_plugins::RunnerConfig;
use weir_plugins::runner::{
    self, ERROR_HEADER, OFFSET_HEADER, PARTITION_HEADER, PLUGIN_HEADER, TOPIC_HEADER,
};

fn header<'a>(r: &'a weir_client::ConsumerRecord, key: &str) -> &'a str {
    let h = r.headers.iter().find(|h| h.key == key).unwrap();
    std::str::from_utf8(h.value.as_deref().unwrap()).unwrap()
}

fn order(i: usize) -> String {
    format!(
        r#"{{"order":"o-{i}","customer":"c-{}","status":"placed"}}"#,
        i % 5
    )
}

async fn committed(broker: &TestBroker, group: &str, partitions: i32) -> i64 {
    let consumer =
        Consumer::new(ConsumerConfig::new([broker.address.clone()]).with_group(group)).unwrap();
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new("orders", p))
        .collect();
    let offsets = consumer.committed(&tps).await.unwrap();
    offsets.values().map(|o| o.unwrap_or(0)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_notifies_dead_letters_and_commits() {
    let broker = TestBroker::start(&[("orders", 2), ("notifications", 1), ("orders-dlq", 1)]).await;
    let producer = broker.producer();
    for i in 0..20 {
        let value = if i == 7 {
            "{\"order\": 7".to_string()
        } else {
            order(i)
        };
        producer
            .send(ProducerRecord::new("orders", value).with_key(format!("o-{i}")))
            .await
            .unwrap();
    }
    let mut config = RunnerConfig::new(
        example_plugin("order-notifier"),
        vec![broker.address.clone()],
        "notifier",
        vec!["orders".into()],
        "orders-dlq",
    );
    config.max_batch = 6;
    config.instances = 2;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(runner::run(config, stopped));

    let notes = broker
        .read_all("notifications", 1, 19, Duration::from_secs(30))
        .await;
    let dead = broker
        .read_all("orders-dlq", 1, 1, Duration::from_secs(30))
        .await;
    // Offsets are committed after the outputs: wait for the commit of the last batch.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while committed(&broker, "notifier", 2).await < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    let stats = running.await.unwrap().unwrap();

    let mut orders: Vec<String> = notes
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                header(r, "order-partition"),
                header(r, "order-offset")
            )
        })
        .collect();
    orders.sort();
    orders.dedup();
    assert_eq!(notes.len(), 19, "one notification per good event");
    assert_eq!(orders.len(), 19);
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(
        d.value.as_deref(),
        Some(&b"{\"order\": 7"[..]),
        "the input as it was"
    );
    assert!(
        header(d, ERROR_HEADER).contains("not an order event"),
        "{}",
        header(d, ERROR_HEADER)
    );
    assert_eq!(header(d, PLUGIN_HEADER), "order_notifier");
    assert_eq!(header(d, TOPIC_HEADER), "orders");
    let (partition, offset): (i32, i64) = (
        header(d, PARTITION_HEADER).parse().unwrap(),
        header(d, OFFSET_HEADER).parse().unwrap(),
    );
    assert!((0..2).contains(&partition) && offset >= 0);
    assert_eq!(
        committed(&broker, "notifier", 2).await,
        20,
        "every input committed"
    );
    assert_eq!(stats.records, 20);
    assert_eq!(stats.dead_lettered, 1);
}
