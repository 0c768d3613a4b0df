//! weir-client against librdkafka on the same workload in the same run (`cargo bench
//! --bench client`): a release `weir broker` process on loopback, then for 100 B and 1 KiB
//! records the weir-client producer and the rdkafka producer (acks=1, linger 5 ms, 256 KiB
//! batches, 32 MiB of buffer, 5 requests in flight per connection, no compression,
//! unkeyed, 8 partitions) each into its own
//! topic, then each consumer reading its topic back from offset 0. Prints msg/s, MB/s and
//! the producers' send-to-acknowledgement latency percentiles, and the weir/rdkafka ratio.
//!
//! MB is 10^6 bytes of record values. `WEIR_BENCH_QUICK=1` runs a tenth of the records.
//! The workloads of the weir side are `weir_client::bench`, which `weir bench` runs too.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use support::Broker;
use weir_client::bench::{self, ConsumeWorkload, Latencies, ProduceWorkload, Throughput};
use weir_client::{Acks, Admin, AdminConfig, ConsumerConfig, NewTopic, ProducerConfig};

const PARTITIONS: i32 = 8;
const LINGER_MS: u64 = 5;
const BATCH_BYTES: usize = 256 * 1024;
const BUFFER_BYTES: usize = 32 * 1024 * 1024;
/// Produce requests in flight per connection: the Java client's default and weir-client's,
/// given to librdkafka too (its own default is a million).
const MAX_IN_FLIGHT: usize = 5;

/// Latencies of acknowledged records, in microseconds, and the first failure.
#[derive(Default)]
struct Deliveries {
    micros: Mutex<Vec<u32>>,
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Instant>) {
        match result {
            Ok(_) => {
                let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                self.micros.lock().unwrap().push(micros);
            }
            Err((e, _)) => {
                self.failed
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| e.to_string());
            }
        }
    }
}

impl ConsumerContext for Deliveries {}

fn rdkafka_config(addr: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("broker.address.family", "v4");
    config
}

fn rdkafka_produce(addr: &str, workload: &ProduceWorkload) -> Throughput {
    let producer: BaseProducer<Deliveries> = rdkafka_config(addr)
        .set("acks", "1")
        .set("enable.idempotence", "false")
        .set("linger.ms", LINGER_MS.to_string())
        .set("batch.size", BATCH_BYTES.to_string())
        .set(
            "queue.buffering.max.kbytes",
            (BUFFER_BYTES / 1024).to_string(),
        )
        .set("queue.buffering.max.messages", "10000000")
        .set("compression.type", "none")
        .set(
            "max.in.flight.requests.per.connection",
            MAX_IN_FLIGHT.to_string(),
        )
        .create_with_context(Deliveries::default())
        .unwrap();
    let value = vec![b'x'; workload.record_size];
    // Connect and learn the topic before the clock starts.
    send(&producer, &workload.topic, &value);
    producer.flush(Duration::from_secs(30)).unwrap();
    producer.context().micros.lock().unwrap().clear();
    let start = Instant::now();
    for _ in 0..workload.records {
        send(&producer, &workload.topic, &value);
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    let elapsed = start.elapsed();
    if let Some(e) = producer.context().failed.lock().unwrap().take() {
        panic!("rdkafka delivery failed: {e}");
    }
    let mut micros = std::mem::take(&mut *producer.context().micros.lock().unwrap());
    assert_eq!(micros.len() as u64, workload.records);
    Throughput {
        records: workload.records,
        bytes: workload.records * workload.record_size as u64,
        elapsed,
        latency: Some(Latencies::from_micros(&mut micros)),
    }
}

fn send(producer: &BaseProducer<Deliveries>, topic: &str, value: &[u8]) {
    let mut record =
        BaseRecord::<(), [u8], Box<Instant>>::with_opaque_to(topic, Box::new(Instant::now()))
            .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                return;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => panic!("rdkafka send: {e}"),
        }
    }
}

fn rdkafka_consume(addr: &str, workload: &ConsumeWorkload) -> Throughput {
    let consumer: BaseConsumer<Deliveries> = rdkafka_config(addr)
        .set("group.id", "weir-client-bench-unused")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create_with_context(Deliveries::default())
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..workload.partitions {
        assignment
            .add_partition_offset(&workload.topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let start = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < workload.records {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += m.payload().map_or(0, <[u8]>::len) as u64;
            }
            Some(Err(e)) => panic!("rdkafka consume: {e}"),
            None => panic!("rdkafka consumer stalled after {records} records"),
        }
    }
    Throughput {
        records,
        bytes,
        elapsed: start.elapsed(),
        latency: None,
    }
}

fn ratio(weir: &Throughput, rdkafka: &Throughput) -> String {
    let mut line = format!(
        "  ratio weir/rdkafka: {:.2}x msg/s",
        weir.records_per_sec() / rdkafka.records_per_sec()
    );
    if let (Some(w), Some(r)) = (weir.latency, rdkafka.latency) {
        line.push_str(&format!(
            ", p50 latency {:.2}x, p99 latency {:.2}x",
            w.p50.as_secs_f64() / r.p50.as_secs_f64().max(1e-9),
            w.p99.as_secs_f64() / r.p99.as_secs_f64().max(1e-9)
        ));
    }
    line
}

fn main() {
    let scale = if std::env::var_os("WEIR_BENCH_QUICK").is_some() {
        10
    } else {
        1
    };
    let mut broker = Broker::start();
    let addr = broker.addr();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "weir-client vs rdkafka, broker {addr}, {PARTITIONS} partitions, acks=1, linger {LINGER_MS} ms, batch {BATCH_BYTES} B"
    );
    for (size, count) in [(100usize, 1_000_000u64), (1024, 300_000)] {
        let count = count / scale;
        let weir_topic = format!("client-bench-weir-{size}");
        let rdkafka_topic = format!("client-bench-rdkafka-{size}");
        runtime.block_on(async {
            let admin = Admin::new(AdminConfig::new([addr.clone()])).unwrap();
            for (topic, outcome) in admin
                .create_topics(vec![
                    NewTopic::new(weir_topic.clone(), PARTITIONS, 1),
                    NewTopic::new(rdkafka_topic.clone(), PARTITIONS, 1),
                ])
                .await
                .unwrap()
            {
                outcome.unwrap_or_else(|e| panic!("creating {topic}: {e}"));
            }
        });
        let workload = |topic: &str| ProduceWorkload {
            topic: topic.to_string(),
            records: count,
            record_size: size,
        };
        let mut config = ProducerConfig::new([addr.clone()]);
        config.acks = Acks::Leader;
        config.enable_idempotence = false;
        config.linger = Duration::from_millis(LINGER_MS);
        config.batch_size = BATCH_BYTES;
        config.buffer_memory = BUFFER_BYTES;
        config.max_in_flight_requests_per_connection = MAX_IN_FLIGHT;
        let weir = runtime
            .block_on(bench::produce(config, &workload(&weir_topic)))
            .unwrap();
        let rdkafka = rdkafka_produce(&addr, &workload(&rdkafka_topic));
        println!("produce {size} B x {count}");
        println!("  weir-client: {weir}");
        println!("  rdkafka:     {rdkafka}");
        println!("{}", ratio(&weir, &rdkafka));

        let read = |topic: &str| ConsumeWorkload {
            topic: topic.to_string(),
            partitions: PARTITIONS,
            records: count + 1, // the warm-up record too
        };
        let weir = runtime
            .block_on(bench::consume(
                ConsumerConfig::new([addr.clone()]),
                &read(&weir_topic),
            ))
            .unwrap();
        let rdkafka = rdkafka_consume(&addr, &read(&rdkafka_topic));
        println!("consume {size} B x {}", count + 1);
        println!("  weir-client: {weir}");
        println!("  rdkafka:     {rdkafka}");
        println!("{}", ratio(&weir, &rdkafka));
    }
    drop(runtime);
    broker.stop();
    broker.assert_clean_log();
}
