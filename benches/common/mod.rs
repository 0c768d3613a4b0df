//! The producer load the benches share: librdkafka with large batches, a context that
//! counts deliveries without keeping them, and a timed send-everything-then-flush loop.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

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
