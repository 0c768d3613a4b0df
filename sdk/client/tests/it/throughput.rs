//! A rough throughput check (ignored by default; run with `--release -- --ignored`): not a
//! benchmark, a guard against a client that is pathologically slow.

use std::time::{Duration, Instant};

use weir_client::{Producer, ProducerRecord};

use crate::harness::{TestBroker, consume};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow in debug builds; run with --release -- --ignored"]
async fn produce_and_consume_throughput() {
    const N: usize = 300_000;
    let broker = TestBroker::start(&[("tput", 4)]).await;
    let mut config = broker.producer_config();
    config.batch_size = 64 * 1024;
    let producer = Producer::new(config).unwrap();
    let value = vec![b'x'; 100];
    let started = Instant::now();
    let mut pending = Vec::with_capacity(N);
    for _ in 0..N {
        pending.push(producer.send(ProducerRecord::new("tput", value.clone())));
    }
    producer.flush().await.unwrap();
    for p in pending {
        p.await.unwrap();
    }
    let produced = started.elapsed();
    let mut config = broker.consumer_config();
    config.max_poll_records = 5_000;
    let mut consumer = weir_client::Consumer::new(config).unwrap();
    consumer.assign((0..4).map(|p| weir_client::TopicPartition::new("tput", p)));
    let started = Instant::now();
    let records = consume(&mut consumer, N).await;
    let consumed = started.elapsed();
    assert_eq!(records.len(), N);
    let rate = |d: Duration| N as f64 / d.as_secs_f64();
    println!(
        "produce: {:.0} records/s ({:.1} MB/s); consume: {:.0} records/s",
        rate(produced),
        rate(produced) * 100.0 / 1e6,
        rate(consumed)
    );
    broker.stop().await;
}
