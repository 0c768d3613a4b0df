//! What the benches share: the librdkafka producer load (large batches, a context that
//! counts deliveries without keeping them, a timed send-everything-then-flush loop), the
//! fixed-rate latency run, `dd` on the broker's disk and the machine's description.

// Each bench uses a part of this module.
#![allow(dead_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

/// Whether `cargo test --benches` only asks this harness-less bench for its tests.
pub(crate) fn only_listing() -> bool {
    std::env::args().any(|a| a == "--list")
}

/// What the workloads are divided by: 10 with `WEIR_BENCH_QUICK` set (for trying a bench
/// out), else 1.
pub(crate) fn scale() -> u64 {
    if std::env::var_os("WEIR_BENCH_QUICK").is_some() {
        10
    } else {
        1
    }
}

/// Counts deliveries without keeping them: the producer's own overhead stays small.
#[derive(Default)]
pub(crate) struct Counter {
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) first_error: Mutex<Option<String>>,
}

impl ClientContext for Counter {}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                self.first_error
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| e.to_string());
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

impl ConsumerContext for Counter {}

pub(crate) fn client_config(addr: &str, settings: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("broker.address.family", "v4");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    config
}

pub(crate) fn producer(addr: &str, linger_ms: &str, acks: &str) -> BaseProducer<Counter> {
    client_config(
        addr,
        &[
            ("acks", acks),
            ("linger.ms", linger_ms),
            ("batch.size", "1000000"),
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "1000000"),
            ("queue.buffering.max.kbytes", "1048576"),
            ("compression.type", "none"),
        ],
    )
    .create_with_context(Counter::default())
    .unwrap()
}

/// Sends `count` records of `size` bytes round-robin over `partitions`, waits for every
/// acknowledgement; returns the seconds it took.
pub(crate) fn produce(
    producer: &BaseProducer<Counter>,
    topic: &str,
    partitions: i32,
    count: u64,
    size: usize,
) -> f64 {
    let value = vec![0x42u8; size];
    let start = Instant::now();
    for i in 0..count {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .payload(&value[..])
            .partition((i % partitions as u64) as i32);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(300)).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let ctx = producer.context();
    assert_eq!(
        ctx.failed.swap(0, Ordering::Relaxed),
        0,
        "failed deliveries: {:?}",
        ctx.first_error.lock().unwrap()
    );
    assert_eq!(ctx.delivered.swap(0, Ordering::Relaxed), count);
    seconds
}

const MB: f64 = 1e6;

/// Writes out what earlier workloads left dirty in the page cache (`sync`), so a latency
/// run measures its own writes, not the writeback of the backlog written before it.
pub(crate) fn settle_disk() {
    let status = std::process::Command::new("sync").status().unwrap();
    assert!(status.success(), "sync failed");
}

/// `dd bs=1M count=1024 conv=fdatasync` into `dir`: MB/s of the disk the broker writes to.
pub(crate) fn dd(dir: &std::path::Path) -> f64 {
    let file = dir.join("dd.tmp");
    let out = std::process::Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .args(["bs=1M", "count=1024", "conv=fdatasync"])
        .output()
        .expect("running dd");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "dd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.3 s, 466 MB/s"
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text.lines().find(|l| l.contains("copied")).unwrap();
    let bytes: f64 = line.split_whitespace().next().unwrap().parse().unwrap();
    let seconds: f64 = line
        .split(", ")
        .find(|part| part.ends_with(" s"))
        .and_then(|part| part.trim_end_matches(" s").parse().ok())
        .unwrap();
    bytes / MB / seconds
}

/// The machine, for the record: CPUs, memory, kernel.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo.lines().next().unwrap_or_default().to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} x {model}, {memory}, Linux {}", kernel.trim())
}

/// The record size and rate of the latency runs: 1 KiB records at 30 MB/s.
pub(crate) const LATENCY_RECORD: usize = 1024;
pub(crate) const LATENCY_RATE: f64 = 30.0 * MB / LATENCY_RECORD as f64;

/// Send-to-receive latencies of a fixed-rate run (the first second left out).
pub(crate) struct LatencyRun {
    /// The rate the producer achieved, MB/s.
    pub(crate) achieved: f64,
    /// Latencies in nanoseconds, sorted.
    pub(crate) sorted: Vec<u64>,
}

impl LatencyRun {
    pub(crate) fn new(achieved: f64, mut latencies: Vec<u64>) -> Self {
        latencies.sort_unstable();
        Self {
            achieved,
            sorted: latencies,
        }
    }

    /// The `p` quantile in milliseconds.
    pub(crate) fn ms(&self, p: f64) -> f64 {
        let i = ((self.sorted.len() as f64 - 1.0) * p).round() as usize;
        self.sorted[i] as f64 / 1e6
    }
}

/// Table cells: MB/s | p50 | p99 | p99.9 | max (ms).
impl std::fmt::Display for LatencyRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} | {:.2} | {:.2} | {:.2} | {:.2}",
            self.achieved,
            self.ms(0.5),
            self.ms(0.99),
            self.ms(0.999),
            self.ms(1.0)
        )
    }
}

/// Stamps a value with the nanoseconds since `epoch`, in its first 8 bytes.
pub(crate) fn stamp(value: &mut [u8], epoch: Instant) {
    value[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_le_bytes());
}

/// Nanoseconds from the stamp in `value` to now.
pub(crate) fn since_stamp(value: &[u8], epoch: Instant) -> u64 {
    let sent = u64::from_le_bytes(value[..8].try_into().unwrap());
    (epoch.elapsed().as_nanos() as u64).saturating_sub(sent)
}

/// librdkafka producing 1 KiB records at 30 MB/s for `seconds` into partition 0 of `topic`
/// (`acks=1`, `linger.ms`), and a consumer in the same process measuring send-to-receive
/// latency (both read one clock).
pub(crate) fn rdkafka_latency(
    addr: &str,
    topic: &str,
    linger_ms: &str,
    seconds: u64,
) -> LatencyRun {
    let epoch = Instant::now();
    let consumer = consumer(
        addr,
        &[("fetch.wait.max.ms", "100"), ("fetch.min.bytes", "1")],
    );
    assign_from_start(&consumer, topic, 1);
    let total = (LATENCY_RATE * seconds as f64) as u64;
    let warmup = LATENCY_RATE as u64;
    let receiving = std::thread::spawn(move || {
        let mut latencies = Vec::with_capacity(total as usize);
        let mut got = 0u64;
        while got < total {
            match consumer.poll(Duration::from_secs(10)) {
                Some(Ok(m)) => {
                    if got >= warmup {
                        latencies.push(since_stamp(m.payload().unwrap(), epoch));
                    }
                    got += 1;
                }
                Some(Err(e)) => panic!("consume: {e}"),
                None => panic!("consumer stalled after {got} of {total}"),
            }
        }
        latencies
    });
    let producer = producer(addr, linger_ms, "1");
    let mut value = vec![0x17u8; LATENCY_RECORD];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * LATENCY_RATE) as u64).min(total);
        while sent < due {
            stamp(&mut value, epoch);
            producer
                .send(
                    BaseRecord::<[u8], [u8]>::to(topic)
                        .payload(&value[..])
                        .partition(0),
                )
                .map_err(|(e, _)| e)
                .unwrap();
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_micros(500));
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let achieved = (total * LATENCY_RECORD as u64) as f64 / MB / start.elapsed().as_secs_f64();
    LatencyRun::new(achieved, receiving.join().unwrap())
}

/// A librdkafka consumer outside any group, with room for large fetches.
pub(crate) fn consumer(addr: &str, settings: &[(&str, &str)]) -> BaseConsumer<Counter> {
    let mut all = vec![
        ("group.id", "weir-bench-unused"),
        ("enable.auto.commit", "false"),
        ("enable.partition.eof", "false"),
        ("fetch.max.bytes", "52428800"),
        ("max.partition.fetch.bytes", "10485760"),
        ("queued.max.messages.kbytes", "262144"),
    ];
    all.extend_from_slice(settings);
    client_config(addr, &all)
        .create_with_context(Counter::default())
        .unwrap()
}

pub(crate) fn assign_from_start(consumer: &BaseConsumer<Counter>, topic: &str, partitions: i32) {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
}

/// How long reading a backlog took: to the first record, and in all (from `assign`).
pub(crate) struct BacklogRead {
    pub(crate) first: Duration,
    pub(crate) total: Duration,
}

impl BacklogRead {
    /// MB/s from the first record on (librdkafka's consumer delivers its first record ~0.5 s
    /// after `assign`: its start-up, not the broker's reads).
    pub(crate) fn streaming_mb_s(&self, bytes: u64) -> f64 {
        bytes as f64 / MB / (self.total - self.first).as_secs_f64()
    }

    /// MB/s from `assign` on.
    pub(crate) fn mb_s(&self, bytes: u64) -> f64 {
        bytes as f64 / MB / self.total.as_secs_f64()
    }
}

/// librdkafka reading `count` records of `size` bytes from offset 0 of `partitions`
/// partitions of `topic`.
pub(crate) fn rdkafka_read(
    addr: &str,
    topic: &str,
    partitions: i32,
    count: u64,
    size: usize,
) -> BacklogRead {
    let consumer = consumer(addr, &[]);
    assign_from_start(&consumer, topic, partitions);
    let start = Instant::now();
    let mut first = Duration::ZERO;
    let mut got = 0u64;
    while got < count {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                assert_eq!(m.payload().map_or(0, <[u8]>::len), size);
                if got == 0 {
                    first = start.elapsed();
                }
                got += 1;
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => panic!("consumer stalled after {got} of {count} records"),
        }
    }
    BacklogRead {
        first,
        total: start.elapsed(),
    }
}
