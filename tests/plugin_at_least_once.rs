//! At least once through a consumer plugin: `weir plugin run-consumer` (the order-notifier
//! example) is SIGKILLed at random points, again and again, against a real broker process
//! while orders keep arriving. Afterwards every order has its notification, and the orders
//! notified twice are at most one batch per kill (the batch in flight when it died).

#![allow(clippy::unwrap_used)]

#[path = "../plugins/tests/support/example_plugins.rs"]
mod example_plugins;
mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use support::Broker;
use weir_client::{
    Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};

const KILLS: usize = 20;
const MAX_BATCH: usize = 40;
const ORDERS_PER_ROUND: usize = 150;

fn spawn_runner(config: &std::path::Path, log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["plugin", "run-consumer", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

async fn produce_orders(producer: &Producer, from: usize, count: usize) {
    let sends: Vec<_> = (from..from + count)
        .map(|i| {
            let value = format!(
                r#"{{"order":"o-{i}","customer":"c-{}","status":"placed"}}"#,
                i % 13
            );
            producer.send(ProducerRecord::new("orders", value).with_key(format!("o-{i}")))
        })
        .collect();
    for send in sends {
        send.await.unwrap();
    }
}

/// Notifications by order id, reading until `expected` distinct orders were seen or the
/// output stopped growing for a while.
async fn notifications(addr: &str, expected: usize) -> BTreeMap<String, usize> {
    let mut config = ConsumerConfig::new([addr.to_string()]);
    config.auto_offset_reset = OffsetReset::Earliest;
    let mut consumer = Consumer::new(config).unwrap();
    consumer.assign([TopicPartition::new("notifications", 0)]);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_growth = Instant::now();
    while seen.len() < expected && last_growth.elapsed() < Duration::from_secs(30) {
        for r in consumer.poll(Duration::from_millis(300)).await.unwrap() {
            let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            let order = value
                .split("\"order\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            *seen.entry(order).or_default() += 1;
            last_growth = Instant::now();
        }
    }
    // Anything still in flight (duplicates included) is read too.
    loop {
        let more = consumer.poll(Duration::from_millis(500)).await.unwrap();
        if more.is_empty() {
            break;
        }
        for r in more {
            let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            let order = value
                .split("\"order\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            *seen.entry(order).or_default() += 1;
        }
    }
    seen
}

#[test]
fn sigkilled_runner_loses_no_notification_and_duplicates_at_most_a_batch_per_kill() {
    let plugin = example_plugins::example_plugin("order-notifier");
    let broker = Broker::start_with(
        "group_min_session_timeout_ms = 500\ngroup_initial_rebalance_delay_ms = 0",
        "[topics.orders]\npartitions = 2\n[topics.notifications]\npartitions = 1\n[topics.orders-dlq]\npartitions = 1\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runner.toml");
    let log = dir.path().join("runner.log");
    std::fs::write(
        &config,
        format!(
            "plugin = \"{}\"\nbootstrap-servers = [\"{}\"]\ngroup = \"notifier\"\ntopics = [\"orders\"]\n\
             dead-letter-topic = \"orders-dlq\"\nmax-batch = {MAX_BATCH}\nsession-timeout = \"1s\"\n\
             poll-timeout = \"100ms\"\ncache-dir = \"{}\"\n[config]\noutput = \"notifications\"\n",
            plugin.display(),
            broker.addr(),
            dir.path().join("cache").display(),
        ),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut producer_config = ProducerConfig::new([broker.addr()]);
    producer_config.request_timeout = Duration::from_secs(10);
    let producer = runtime.block_on(async { Producer::new(producer_config).unwrap() });

    // Compile the plugin into the runners' cache first, so no runner is killed mid-compile.
    let check = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["plugin", "check"])
        .arg(&plugin)
        .env("WEIR_PLUGIN_CACHE", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut rng = rand::thread_rng();
    let mut produced = 0;
    for _ in 0..KILLS {
        runtime.block_on(produce_orders(&producer, produced, ORDERS_PER_ROUND));
        produced += ORDERS_PER_ROUND;
        let mut runner = spawn_runner(&config, &log);
        let life = rng.gen_range(300..2500);
        std::thread::sleep(Duration::from_millis(life));
        assert!(
            runner.try_wait().unwrap().is_none(),
            "runner died on its own: see {}",
            log.display()
        );
        runner.kill().unwrap();
        runner.wait().unwrap();
    }
    // A last runner drains what is left, then stops cleanly.
    let mut runner = spawn_runner(&config, &log);
    let seen = runtime.block_on(notifications(&broker.addr(), produced));
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&runner),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = runner.wait().unwrap();

    let missing: Vec<usize> = (0..produced)
        .filter(|i| !seen.contains_key(&format!("o-{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "orders without a notification: {missing:?}"
    );
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!("{produced} orders, {KILLS} kills, {duplicates} duplicate notifications");
    assert!(
        duplicates <= KILLS * MAX_BATCH,
        "{duplicates} duplicates: more than one batch ({MAX_BATCH}) per kill ({KILLS})"
    );
    assert!(
        status.success(),
        "the last runner stopped cleanly on SIGTERM"
    );
    broker.assert_clean_log();
}
