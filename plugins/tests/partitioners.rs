//! The example partitioner plugins, loaded from their real `.wasm` files: the region map,
//! overflow off a full partition and back, and a misbehaving plugin that loops, allocates
//! without bound, panics or answers out of range — each failing one record, never the
//! next, including through a real producer and broker.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::broker::TestBroker;
use support::example_plugins::example_plugin;
use weir_client::murmur2::partition_for_key;
use weir_client::{Error, PartitionFill, Partitioner, Partitions, Producer, ProducerRecord};
use weir_plugins::{CallError, PluginEngine, PluginSettings, WasmPartitioner};

fn engine() -> PluginEngine {
    PluginEngine::new(None).unwrap()
}

fn load(engine: &PluginEngine, name: &str, settings: PluginSettings) -> WasmPartitioner {
    let plugin = engine.compile_file(&example_plugin(name)).unwrap();
    WasmPartitioner::new(engine, &plugin, settings).unwrap()
}

fn config(pairs: &[(&str, &str)]) -> PluginSettings {
    PluginSettings {
        config: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..PluginSettings::default()
    }
}

fn event(region: &str, key: &str) -> ProducerRecord {
    event_to("orders", region, key)
}

fn event_to(topic: &str, region: &str, key: &str) -> ProducerRecord {
    ProducerRecord::new(
        topic.to_string(),
        format!(r#"{{"id": 7, "region": "{region}"}}"#),
    )
    .with_key(key.to_string())
}

#[test]
fn region_partitioner_follows_its_map_and_falls_back_to_murmur2() {
    let engine = engine();
    let mut p = load(
        &engine,
        "region-partitioner",
        config(&[("routes.eu", "0"), ("routes.us", "1"), ("routes.apac", "5")]),
    );
    let fills = [PartitionFill::default(); 6];
    let view = Partitions::new("orders", &fills, 16384);
    for (region, expected) in [("eu", 0), ("us", 1), ("apac", 5)] {
        for key in ["a", "b", "customer-17"] {
            assert_eq!(
                p.try_partition(&event(region, key), &view).unwrap(),
                expected,
                "{region}/{key}"
            );
        }
    }
    for key in ["a", "b", "customer-17", "foobar"] {
        let unmapped = event("mars", key);
        assert_eq!(
            p.try_partition(&unmapped, &view).unwrap(),
            partition_for_key(key.as_bytes(), 6),
            "unmapped region: the key's murmur2 partition"
        );
        let no_region = ProducerRecord::new("orders", "not json").with_key(key.to_string());
        assert_eq!(
            p.try_partition(&no_region, &view).unwrap(),
            partition_for_key(key.as_bytes(), 6)
        );
    }
    // A map entry past the topic's partitions fails that record only.
    let small = [PartitionFill::default(); 3];
    let err = p
        .try_partition(
            &event("apac", "a"),
            &Partitions::new("orders", &small, 16384),
        )
        .unwrap_err();
    assert!(err.reason.contains("maps to partition 5"), "{err}");
    assert_eq!(p.try_partition(&event("eu", "a"), &view).unwrap(), 0);
}

#[test]
fn region_partitioner_refuses_a_config_without_routes() {
    let engine = engine();
    let plugin = engine
        .compile_file(&example_plugin("region-partitioner"))
        .unwrap();
    let err = WasmPartitioner::new(&engine, &plugin, config(&[("field", "region")])).unwrap_err();
    assert!(err.to_string().contains("no routes"), "{err}");
    let err = WasmPartitioner::new(&engine, &plugin, config(&[("routes.eu", "x")])).unwrap_err();
    assert!(
        err.to_string()
            .contains("routes.eu: not a partition number"),
        "{err}"
    );
}

#[test]
fn overflow_partitioner_leaves_a_full_partition_and_comes_back() {
    let engine = engine();
    let mut p = load(
        &engine,
        "overflow-partitioner",
        config(&[("max-in-flight", "2")]),
    );
    let record = ProducerRecord::new("t", "v").with_key("foobar"); // murmur2: 2 of 4
    let mut fills = [PartitionFill::default(); 4];
    assert_eq!(
        p.try_partition(&record, &Partitions::new("t", &fills, 1000))
            .unwrap(),
        2
    );
    fills[2].in_flight = 2;
    fills[0].in_flight = 5;
    let moved: Vec<i32> = (0..4)
        .map(|_| {
            p.try_partition(&record, &Partitions::new("t", &fills, 1000))
                .unwrap()
        })
        .collect();
    assert_eq!(
        moved,
        [1, 3, 1, 3],
        "round robin over the partitions that are not full"
    );
    fills[2].in_flight = 1;
    assert_eq!(
        p.try_partition(&record, &Partitions::new("t", &fills, 1000))
            .unwrap(),
        2,
        "back once it drains"
    );
    let all_full = [PartitionFill {
        open_bytes: 0,
        in_flight: 9,
    }; 4];
    assert_eq!(
        p.try_partition(&record, &Partitions::new("t", &all_full, 1000))
            .unwrap(),
        2,
        "all full: home"
    );
}

#[test]
fn overflow_plugin_agrees_with_the_native_overflow_partitioner() {
    let engine = engine();
    let mut wasm = load(
        &engine,
        "overflow-partitioner",
        config(&[("max-in-flight", "3")]),
    );
    let mut native = weir_client::OverflowPartitioner::new(3);
    let mut fills = [PartitionFill::default(); 5];
    for i in 0..500u32 {
        fills[(i % 5) as usize].in_flight = ((i * 7) % 5) as usize;
        let record = ProducerRecord::new("t", "v").with_key(format!("key-{}", i % 37));
        let view = Partitions::new("t", &fills, 1000);
        assert_eq!(
            wasm.try_partition(&record, &view).unwrap(),
            native.partition(&record, &view),
            "record {i}"
        );
    }
}

/// What a misbehaving call must fail with.
type Expectation = fn(&CallError) -> bool;

/// The misbehaving partitioner with a 16 MiB memory cap and a deadline long enough that
/// the unbounded allocation always meets the cap first, even on a loaded machine (at 50 ms
/// it sometimes met the deadline in CI).
fn misbehaving(engine: &PluginEngine) -> WasmPartitioner {
    load(
        engine,
        "misbehaving-partitioner",
        PluginSettings {
            deadline: Duration::from_millis(500),
            memory_limit: 16 << 20,
            ..PluginSettings::default()
        },
    )
}

#[test]
fn a_misbehaving_partitioner_fails_one_record_and_serves_the_next() {
    let engine = engine();
    let mut p = misbehaving(&engine);
    let fills = [PartitionFill::default(); 3];
    let view = Partitions::new("t", &fills, 1000);
    let fine = ProducerRecord::new("t", "v").with_key("fine");
    let cases: [(&str, Expectation); 5] = [
        ("loop", |e| matches!(e, CallError::Deadline(_))),
        ("alloc", |e| matches!(e, CallError::MemoryCap(_))),
        (
            "panic",
            |e| matches!(e, CallError::Trap(m) if m.contains("unreachable")),
        ),
        ("range", |e| {
            matches!(
                e,
                CallError::OutOfRange {
                    partition: 8,
                    count: 3
                }
            )
        }),
        (
            "error",
            |e| matches!(e, CallError::Plugin(m) if m.contains("refuses")),
        ),
    ];
    for (key, expected) in cases {
        let started = std::time::Instant::now();
        let err = p
            .call(&ProducerRecord::new("t", "v").with_key(key), &view)
            .unwrap_err();
        assert!(expected(&err), "{key}: {err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{key} was stopped"
        );
        assert_eq!(p.call(&fine, &view).unwrap(), 0, "the record after {key}");
    }
}

#[test]
fn a_run_with_misbehaving_records_fails_only_those() {
    let engine = engine();
    let mut p = misbehaving(&engine);
    let fills = [PartitionFill::default(); 3];
    let view = Partitions::new("t", &fills, 1000);
    let keys = [
        "fine", "error", "fine", "panic", "range", "fine", "loop", "alloc", "fine",
    ];
    let records: Vec<ProducerRecord> = keys
        .iter()
        .map(|k| ProducerRecord::new("t", "v").with_key(*k))
        .collect();
    let run: Vec<&ProducerRecord> = records.iter().collect();
    let mut answers = Vec::new();
    p.call_run(&run, &view, &mut answers);
    assert_eq!(answers.len(), keys.len());
    for (key, answer) in keys.iter().zip(&answers) {
        let right = match (*key, answer) {
            ("fine", Ok(0)) => true,
            ("error", Err(CallError::Plugin(m))) => m.contains("refuses"),
            ("panic", Err(CallError::Trap(m))) => m.contains("unreachable"),
            ("range", Err(CallError::OutOfRange { partition: 8, .. })) => true,
            ("loop", Err(CallError::Deadline(_))) => true,
            ("alloc", Err(CallError::MemoryCap(_))) => true,
            _ => false,
        };
        assert!(right, "{key}: {answer:?}");
    }
    // A run without trouble is one call and answers every record.
    let fine: Vec<&ProducerRecord> = std::iter::repeat_n(&records[0], 100).collect();
    answers.clear();
    p.call_run(&fine, &view, &mut answers);
    assert!(answers.iter().all(|a| matches!(a, Ok(0))), "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_reports_a_plugin_failure_for_that_record_only() {
    let broker = TestBroker::start(&[("routed", 3)]).await;
    let engine = engine();
    let producer =
        Producer::with_partitioner(broker.producer_config(), misbehaving(&engine)).unwrap();
    for key in ["loop", "panic", "range"] {
        let err = producer
            .send(ProducerRecord::new("routed", "v").with_key(key))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Partitioner { topic, .. } if topic == "routed"),
            "{key}: {err}"
        );
        let ok = producer
            .send(ProducerRecord::new("routed", "after").with_key("fine"))
            .await
            .unwrap();
        assert_eq!(
            ok.partition, 0,
            "the record after {key} is placed and stored"
        );
    }
    // Sent together, the records reach the plugin as one run: only the bad ones fail.
    let keys = ["fine", "loop", "fine", "panic", "fine", "range", "fine"];
    let sends: Vec<_> = keys
        .iter()
        .map(|key| producer.send(ProducerRecord::new("routed", "after").with_key(*key)))
        .collect();
    for (key, send) in keys.iter().zip(sends) {
        match send.await {
            Ok(m) => assert!(*key == "fine" && m.partition == 0, "{key}: {m:?}"),
            Err(Error::Partitioner { .. }) => assert_ne!(*key, "fine"),
            Err(e) => panic!("{key}: {e}"),
        }
    }
    let stored = broker
        .read_all("routed", 3, 7, Duration::from_secs(10))
        .await;
    assert_eq!(stored.len(), 7);
    assert!(
        stored
            .iter()
            .all(|r| r.value.as_deref() == Some(&b"after"[..]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_land_where_the_region_plugin_says() {
    let broker = TestBroker::start(&[("regions", 3)]).await;
    let plugin_path = example_plugin("region-partitioner");
    let partitioner = WasmPartitioner::load(
        &plugin_path,
        config(&[("routes.eu", "2"), ("routes.us", "0")]),
    )
    .unwrap();
    let producer = Producer::with_partitioner(broker.producer_config(), partitioner).unwrap();
    let mut sends = Vec::new();
    for i in 0..30 {
        let region = ["eu", "us"][i % 2];
        sends.push(producer.send(event_to("regions", region, &format!("k{i}"))));
    }
    for send in sends {
        send.await.unwrap();
    }
    let stored = broker
        .read_all("regions", 3, 30, Duration::from_secs(10))
        .await;
    assert_eq!(stored.len(), 30);
    for r in &stored {
        let value = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap();
        let expected = if value.contains("\"eu\"") { 2 } else { 0 };
        assert_eq!(r.partition, expected, "{value}");
    }
}
