//! weir-client against librdkafka on the same workloads in the same run (`cargo bench
//! --bench client`), the broker issue's targets included: a release `weir broker` process
//! (fsync) on loopback and `dd conv=fdatasync` on its disk; for 100 B and 1 KiB records into
//! 1 and 8 partitions, the weir-client producer and the rdkafka producer (acks=1, linger 5
//! ms, 256 KiB batches, 32 MiB of buffer, 5 requests in flight per connection, no
//! compression, unkeyed) each into its own topic, then each consumer reading its topic back
//! from offset 0; both consumers reading a 1 GiB backlog of 1 KiB records; end-to-end
//! latency at a fixed 30 MB/s with each client as producer and consumer, on that broker
//! and on a second one in page-cache mode (`log_flush = "os"`). Prints msg/s, MB/s
//! (and the share of `dd`), latency percentiles and the weir/rdkafka ratios.
//!
//! MB is 10^6 bytes of record values. `WEIR_BENCH_QUICK=1` runs a tenth of the records.
//! The workloads of the weir side are `weir_client::bench`, which `weir bench` runs too.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

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
use weir_client::{
    Acks, Admin, AdminConfig, ConsumerConfig, NewTopic, ProducerConfig, TopicPartition,
};

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

/// weir-client producing 1 KiB records at 30 MB/s for `seconds` into partition 0 of
/// `topic` (acks=1, no linger) and a weir-client consumer in the same process measuring
/// send-to-receive latency, as `common::rdkafka_latency` does with librdkafka.
async fn weir_latency(addr: &str, topic: &str, seconds: u64) -> common::LatencyRun {
    let epoch = Instant::now();
    let mut config = ConsumerConfig::new([addr.to_string()]);
    config.fetch_max_wait = Duration::from_millis(100);
    let mut consumer = weir_client::Consumer::new(config).unwrap();
    let partition = TopicPartition::new(topic, 0);
    consumer.assign([partition.clone()]);
    consumer.seek_to_beginning(&[partition]).unwrap();
    let total = (common::LATENCY_RATE * seconds as f64) as u64;
    let warmup = common::LATENCY_RATE as u64;
    let receiving = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(total as usize);
        let mut got = 0u64;
        while got < total {
            let records = consumer.poll(Duration::from_secs(10)).await.unwrap();
            assert!(
                !records.is_empty(),
                "consumer stalled after {got} of {total}"
            );
            for record in &records {
                if got >= warmup {
                    latencies.push(common::since_stamp(record.value.as_deref().unwrap(), epoch));
                }
                got += 1;
            }
        }
        latencies
    });
    let mut config = ProducerConfig::new([addr.to_string()]);
    config.acks = Acks::Leader;
    config.linger = Duration::ZERO;
    // The batch size librdkafka gets in `common::producer`: after a slow fsync, the records
    // queued meanwhile leave in one batch, not in 16 KiB batches one request at a time.
    config.batch_size = 1_000_000;
    let producer = weir_client::Producer::new(config).unwrap();
    let mut value = vec![0x17u8; common::LATENCY_RECORD];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * common::LATENCY_RATE) as u64).min(total);
        while sent < due {
            common::stamp(&mut value, epoch);
            let record = weir_client::ProducerRecord::new(topic, value.clone()).with_partition(0);
            producer
                .send_with(record, |outcome| {
                    outcome.unwrap();
                })
                .await
                .unwrap();
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    producer.flush().await.unwrap();
    let achieved =
        (total * common::LATENCY_RECORD as u64) as f64 / 1e6 / start.elapsed().as_secs_f64();
    common::LatencyRun::new(achieved, receiving.await.unwrap())
}

/// The produce runs: record size, partitions, records.
const PRODUCE_RUNS: [(usize, i32, u64); 4] = [
    (100, 1, 1_000_000),
    (100, PARTITIONS, 1_000_000),
    (1024, 1, 300_000),
    (1024, PARTITIONS, 300_000),
];

fn main() {
    if common::only_listing() {
        return;
    }
    let scale = common::scale();
    let mut broker = Broker::start();
    let addr = broker.addr();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "# weir-client vs rdkafka {}, broker {addr} (log_flush = \"fsync\"), acks=1, linger {LINGER_MS} ms, batch {BATCH_BYTES} B",
        rdkafka::util::get_rdkafka_version().1
    );
    println!("machine: {}", common::machine());
    let dd = common::dd(&broker.data_dir());
    println!("dd bs=1M count=1024 conv=fdatasync, same disk: {dd:.0} MB/s");
    let admin = Admin::new(AdminConfig::new([addr.clone()])).unwrap();
    let create_on = |admin: &Admin, topic: &str, partitions: i32| {
        runtime.block_on(async {
            for (topic, outcome) in admin
                .create_topics(vec![NewTopic::new(topic.to_string(), partitions, 1)])
                .await
                .unwrap()
            {
                outcome.unwrap_or_else(|e| panic!("creating {topic}: {e}"));
            }
        })
    };
    let create = |topic: &str, partitions: i32| create_on(&admin, topic, partitions);
    for (size, partitions, count) in PRODUCE_RUNS {
        let count = count / scale;
        let weir_topic = format!("client-bench-weir-{size}-{partitions}");
        let rdkafka_topic = format!("client-bench-rdkafka-{size}-{partitions}");
        create(&weir_topic, partitions);
        create(&rdkafka_topic, partitions);
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
        println!("\nproduce {size} B x {count}, {partitions} partition(s)");
        println!(
            "  weir-client: {weir} ({:.0}% of dd)",
            weir.mb_per_sec() / dd * 100.0
        );
        println!(
            "  rdkafka:     {rdkafka} ({:.0}% of dd)",
            rdkafka.mb_per_sec() / dd * 100.0
        );
        println!("{}", ratio(&weir, &rdkafka));

        let read = |topic: &str| ConsumeWorkload {
            topic: topic.to_string(),
            partitions,
            records: count + 1, // the warm-up record too
        };
        let weir = runtime
            .block_on(bench::consume(
                ConsumerConfig::new([addr.clone()]),
                &read(&weir_topic),
            ))
            .unwrap();
        let rdkafka = rdkafka_consume(&addr, &read(&rdkafka_topic));
        println!(
            "consume {size} B x {}, {partitions} partition(s)",
            count + 1
        );
        println!("  weir-client: {weir}");
        println!("  rdkafka:     {rdkafka}");
        println!("{}", ratio(&weir, &rdkafka));
    }

    // The broker issue's backlog: 1 GiB of 1 KiB records in one partition, read from offset
    // 0 by each client in turn.
    let size = 1024usize;
    let count = (1u64 << 30) / size as u64 / scale;
    let topic = "client-bench-backlog";
    create(topic, 1);
    let mut config = ProducerConfig::new([addr.clone()]);
    config.acks = Acks::Leader;
    config.linger = Duration::from_millis(LINGER_MS);
    config.batch_size = BATCH_BYTES;
    config.buffer_memory = BUFFER_BYTES;
    let fill = ProduceWorkload {
        topic: topic.to_string(),
        records: count - 1, // and the warm-up record
        record_size: size,
    };
    runtime.block_on(bench::produce(config, &fill)).unwrap();
    let bytes = count * size as u64;
    let weir = runtime
        .block_on(bench::consume(
            ConsumerConfig::new([addr.clone()]),
            &ConsumeWorkload {
                topic: topic.to_string(),
                partitions: 1,
                records: count,
            },
        ))
        .unwrap();
    let rdkafka = common::rdkafka_read(&addr, topic, 1, count, size);
    println!(
        "\nconsume a {:.0} MiB backlog of 1 KiB records from offset 0, one partition",
        bytes as f64 / (1 << 20) as f64
    );
    println!("  weir-client: {:.0} MB/s from assign", weir.mb_per_sec());
    println!(
        "  rdkafka:     {:.0} MB/s from assign, {:.0} MB/s from its first record ({:.0} ms after assign)",
        rdkafka.mb_s(bytes),
        rdkafka.streaming_mb_s(bytes),
        rdkafka.first.as_secs_f64() * 1e3
    );
    println!(
        "  ratio weir/rdkafka: {:.2}x (both from assign)",
        weir.mb_per_sec() / rdkafka.mb_s(bytes)
    );

    let seconds = 10 / scale.min(5) + 1;
    println!(
        "\nend-to-end latency, 1 KiB records at 30 MB/s for {seconds} s, acks=1, linger 0, one partition"
    );
    println!("| client | broker | MB/s | p50 ms | p99 ms | p99.9 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    // The broker issue's page-cache target too: a second broker with `log_flush = "os"`.
    let page_cache = Broker::start_with("num_partitions = 1\nlog_flush = \"os\"", "");
    let os_addr = page_cache.addr();
    let os_admin = Admin::new(AdminConfig::new([os_addr.clone()])).unwrap();
    for (mode, addr, admin) in [("fsync", &addr, &admin), ("os", &os_addr, &os_admin)] {
        create_on(admin, "client-bench-latency-weir", 1);
        create_on(admin, "client-bench-latency-rdkafka", 1);
        common::settle_disk();
        let weir = runtime.block_on(weir_latency(addr, "client-bench-latency-weir", seconds));
        println!("| weir-client | {mode} | {weir} |");
        common::settle_disk();
        let rdkafka = common::rdkafka_latency(addr, "client-bench-latency-rdkafka", "0", seconds);
        println!("| rdkafka | {mode} | {rdkafka} |");
    }
    drop(os_admin);
    drop(page_cache);
    println!(
        "\ndd conv=fdatasync again at the end: {:.0} MB/s",
        common::dd(&broker.data_dir())
    );
    drop(runtime);
    broker.stop();
    broker.assert_clean_log();
}
