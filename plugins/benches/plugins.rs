//! What a plugin call costs next to the same logic compiled natively, in one run:
//!
//! - `partitioner/*`: per record, partition calls for runs of 1, 100 and 1000 records (16 B
//!   key, 100 B value, 12 partitions) through the overflow-partitioner plugin vs the client's
//!   native `OverflowPartitioner`;
//! - `consumer/*`: the order-notifier plugin, and the misbehaving test consumer's echo
//!   path (next to no logic: the cost of crossing into a plugin and back), each vs its own
//!   source compiled natively, per record at batches of 1, 100 and 1000;
//! - `producer/*`: producing 100 B records to an in-process broker with the WASM
//!   partitioner vs the native default partitioner (throughput).
//!
//! Build the example plugins first (`cargo build --release --target wasm32-wasip2
//! --manifest-path examples/plugins/Cargo.toml --target-dir target/wasm-plugins`); the
//! bench builds them itself when missing.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/plugins/order-notifier/src/lib.rs"]
mod order_notifier;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/plugins/misbehaving-consumer/src/lib.rs"]
mod misbehaving_consumer;

use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weir_client::{
    ConsumerRecord, DefaultPartitioner, Header, OverflowPartitioner, PartitionFill, Partitioner,
    Partitions, Producer, ProducerRecord, TimestampType,
};
use weir_plugin_sdk::Consumer as _;
use weir_plugin_sdk::wire::{BatchWriter, decode_batch};
use weir_plugins::{PluginEngine, PluginSettings, WasmConsumer, WasmPartitioner};

use support::broker::TestBroker;
use support::example_plugins::example_plugin;

fn engine() -> PluginEngine {
    PluginEngine::new(None).unwrap()
}

fn keyed_record(i: usize) -> ProducerRecord {
    ProducerRecord::new("bench", vec![b'v'; 100]).with_key(format!("key-{:012}", i % 1000))
}

fn partitioner(c: &mut Criterion) {
    let engine = engine();
    let plugin = engine
        .compile_file(&example_plugin("overflow-partitioner"))
        .unwrap();
    let mut wasm = WasmPartitioner::new(&engine, &plugin, PluginSettings::default()).unwrap();
    let mut native = OverflowPartitioner::new(2);
    let records: Vec<ProducerRecord> = (0..1000).map(keyed_record).collect();
    assert_eq!(records[0].key.as_ref().unwrap().len(), 16);
    let fills = [PartitionFill {
        open_bytes: 4000,
        in_flight: 1,
    }; 12];
    let view = Partitions::new("bench", &fills, 16384);
    let mut group = c.benchmark_group("partitioner");
    // Per record, for runs of 1, 100 and 1000 records placed with one call (the producer
    // places up to `MAX_PARTITION_RUN` records accepted together in one call).
    let mut answers = Vec::with_capacity(records.len());
    for run in [1usize, 100, 1000] {
        group.throughput(Throughput::Elements(run as u64));
        let mut start = 0;
        let mut next_run = || {
            start = (start + run) % records.len();
            (0..run)
                .map(|i| &records[(start + i) % records.len()])
                .collect::<Vec<_>>()
        };
        group.bench_function(BenchmarkId::new("wasm", run), |b| {
            b.iter_batched(
                &mut next_run,
                |batch| {
                    answers.clear();
                    wasm.call_run(&batch, &view, &mut answers);
                    assert!(answers.iter().all(Result::is_ok));
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(BenchmarkId::new("native", run), |b| {
            b.iter_batched(
                &mut next_run,
                |batch| {
                    let mut sum = 0;
                    for record in batch {
                        sum += native.partition(record, &view);
                    }
                    sum
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Event `i` of round `round`: the notifier remembers each order's last status, so every
/// round brings new statuses and every record emits one notification.
fn order_event(i: usize, round: u64) -> ConsumerRecord {
    ConsumerRecord {
        topic: "orders".into(),
        partition: 0,
        offset: i as i64,
        timestamp: 0,
        timestamp_type: TimestampType::CreateTime,
        key: Some(format!("o-{i}").into()),
        // Every event a status change: one notification per record.
        value: Some(
            format!(
                r#"{{"order":"o-{}","customer":"c-{}","status":"s{round}-{i}"}}"#,
                i % 100,
                i % 7
            )
            .into(),
        ),
        headers: vec![Header::new("trace", "abc")],
    }
}

/// Record `i` of round `round` for the echo consumer: a 100 B value.
fn echo_event(i: usize, round: u64) -> ConsumerRecord {
    ConsumerRecord {
        topic: "events".into(),
        partition: 0,
        offset: i as i64,
        timestamp: 0,
        timestamp_type: TimestampType::CreateTime,
        key: Some(format!("key-{i:012}").into()),
        value: Some(format!("{round:>50}{i:>50}").into()),
        headers: Vec::new(),
    }
}

fn consumer(c: &mut Criterion) {
    let notifier = order_notifier::OrderNotifier::new(&weir_plugin_sdk::Config::default()).unwrap();
    consumer_group(c, "order-notifier", notifier, order_event);
    // The misbehaving test consumer echoes any ordinary value as `ok:VALUE`: next to no
    // logic, so its cost is what crossing into the plugin and back costs per record.
    let echo = misbehaving_consumer::MisbehavingConsumer;
    consumer_group(c, "misbehaving-consumer", echo, echo_event);
}

/// `consumer/PLUGIN/{wasm,native}/BATCH`: the plugin vs its own source compiled natively,
/// per record, every record emitting one.
fn consumer_group(
    c: &mut Criterion,
    plugin_name: &str,
    mut native: impl weir_plugin_sdk::Consumer,
    event: fn(usize, u64) -> ConsumerRecord,
) {
    let engine = engine();
    let plugin = engine.compile_file(&example_plugin(plugin_name)).unwrap();
    let mut wasm = WasmConsumer::new(&engine, &plugin, PluginSettings::default()).unwrap();
    let mut group = c.benchmark_group(format!("consumer/{plugin_name}"));
    let mut round = 0;
    for batch in [1usize, 100, 1000] {
        // A runner has one batch in hand at a time: its records and emits are dropped before
        // the next poll, and the allocator hands their memory to the next batch. Timing each
        // call on its own (its 10-200 us dwarf the clock reads) keeps that pattern; setting up
        // many batches ahead and dropping them all at once instead makes the allocator give
        // the memory back to the kernel and fault fresh pages in for every batch, which costs
        // more than the call (on this VM a page fault is about 5 us).
        let size = if batch >= 100 {
            BatchSize::PerIteration
        } else {
            BatchSize::SmallInput
        };
        let mut next_round = || {
            round += 1;
            (0..batch).map(|i| event(i, round)).collect::<Vec<_>>()
        };
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("wasm", batch), |b| {
            b.iter_batched(
                &mut next_round,
                // Inputs and outputs are returned, so dropping them is not timed.
                |records| {
                    let outcome = wasm.consume(&records);
                    assert_eq!(outcome.emitted.len(), records.len());
                    (records, outcome)
                },
                size,
            )
        });
        // The native side gets the same flat batch and decodes it, as the guest does.
        let mut writer = BatchWriter::default();
        group.bench_function(BenchmarkId::new("native", batch), |b| {
            b.iter_batched(
                &mut next_round,
                |records| {
                    writer.clear();
                    for r in &records {
                        writer.push(
                            &r.topic,
                            r.partition,
                            r.offset,
                            r.timestamp,
                            r.key.as_deref(),
                            r.value.as_deref(),
                            r.headers
                                .iter()
                                .map(|h| (h.key.as_str(), h.value.as_deref())),
                        );
                    }
                    let decoded = decode_batch(writer.bytes()).unwrap();
                    let mut out = weir_plugin_sdk::Emitter::default();
                    for record in &decoded {
                        native.consume(record, &mut out).unwrap();
                    }
                    assert_eq!(out.len(), records.len());
                    out.encoded();
                    (records, out)
                },
                size,
            )
        });
    }
    group.finish();
}

/// Sends `count` 100 B records and waits for all acknowledgements.
async fn produce(producer: &Producer, count: usize) {
    let sends: Vec<_> = (0..count).map(|i| producer.send(keyed_record(i))).collect();
    for send in sends {
        send.await.unwrap();
    }
}

fn producer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let broker = runtime.block_on(TestBroker::start(&[("bench", 12)]));
    let engine = engine();
    let plugin = engine
        .compile_file(&example_plugin("overflow-partitioner"))
        .unwrap();
    let settings = PluginSettings {
        config: vec![("max-in-flight".into(), "5".into())],
        ..PluginSettings::default()
    };
    let (wasm, native) = runtime.block_on(async {
        let wasm = Producer::with_partitioner(
            broker.producer_config(),
            WasmPartitioner::new(&engine, &plugin, settings).unwrap(),
        )
        .unwrap();
        let native =
            Producer::with_partitioner(broker.producer_config(), DefaultPartitioner::default())
                .unwrap();
        (wasm, native)
    });
    const RECORDS: usize = 20_000;
    let mut group = c.benchmark_group("producer");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(RECORDS as u64));
    for (name, producer) in [
        ("wasm-partitioner", &wasm),
        ("default-partitioner", &native),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    runtime.block_on(produce(producer, RECORDS));
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, partitioner, consumer, producer);
criterion_main!(benches);
