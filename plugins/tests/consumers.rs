//! Consumer plugins loaded from their real `.wasm` files: the order notifier's output and
//! dead letters, and the sandbox: a loop stopped by the deadline, unbounded allocation
//! stopped by the memory cap, files and sockets refused, a panic trapped — and after each,
//! the next batch handled by a fresh instance.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::example_plugins::example_plugin;
use weir_client::{ConsumerRecord, Header, TimestampType};
use weir_plugins::{CallError, Failure, Grants, PluginEngine, PluginSettings, WasmConsumer};

fn record(offset: i64, value: &str) -> ConsumerRecord {
    ConsumerRecord {
        topic: "orders".into(),
        partition: 1,
        offset,
        timestamp: 1_700_000_000_000 + offset,
        timestamp_type: TimestampType::CreateTime,
        key: Some("k".into()),
        value: Some(value.to_string().into()),
        headers: vec![Header::new("trace", "t-1")],
    }
}

fn load(name: &str, settings: PluginSettings) -> WasmConsumer {
    let engine = PluginEngine::new(None).unwrap();
    let plugin = engine.compile_file(&example_plugin(name)).unwrap();
    WasmConsumer::new(&engine, &plugin, settings).unwrap()
}

fn text(bytes: &Option<bytes::Bytes>) -> &str {
    std::str::from_utf8(bytes.as_deref().unwrap()).unwrap()
}

#[test]
fn order_notifier_emits_one_notification_per_status_change() {
    let mut notifier = load(
        "order-notifier",
        PluginSettings {
            config: vec![("output".into(), "notices".into())],
            ..PluginSettings::default()
        },
    );
    let batch = [
        record(10, r#"{"order":"o-1","customer":"c-7","status":"placed"}"#),
        record(11, r#"{"order":"o-2","customer":"c-8","status":"placed"}"#),
        record(12, r#"{"order":"o-1","customer":"c-7","status":"placed"}"#),
        record(13, r#"{"order":"o-1","customer":"c-7","status":"shipped"}"#),
    ];
    let outcome = notifier.consume(&batch);
    assert_eq!(outcome.failure, None);
    let got: Vec<(&str, &str, &str)> = outcome
        .emitted
        .iter()
        .map(|e| {
            let offset = e.headers.iter().find(|h| h.key == "order-offset").unwrap();
            (e.topic.as_str(), text(&e.key), text(&offset.value))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("notices", "c-7", "10"),
            ("notices", "c-8", "11"),
            ("notices", "c-7", "13")
        ],
        "the repeated status (offset 12) notifies nobody"
    );
    assert!(text(&outcome.emitted[2].value).contains("Your order o-1 is now shipped"));
}

#[test]
fn order_notifier_dead_letters_a_malformed_event_and_keeps_what_came_before() {
    let mut notifier = load("order-notifier", PluginSettings::default());
    let batch = [
        record(1, r#"{"order":"o-1","customer":"c-7","status":"placed"}"#),
        record(2, r#"{"order":"o-2","customer":"c-7"}"#),
        record(3, r#"{"order":"o-3","customer":"c-7","status":"placed"}"#),
    ];
    let outcome = notifier.consume(&batch);
    assert_eq!(
        outcome.emitted.len(),
        1,
        "only the record before the bad one"
    );
    let Some((Some(1), Failure::DeadLetter(reason))) = &outcome.failure else {
        panic!("{:?}", outcome.failure);
    };
    assert!(reason.contains("no string field \"status\""), "{reason}");
    let rest = notifier.consume(&batch[2..]);
    assert_eq!(rest.failure, None);
    assert_eq!(rest.emitted.len(), 1);
}

fn misbehaving(grants: Grants) -> WasmConsumer {
    load(
        "misbehaving-consumer",
        PluginSettings {
            deadline: Duration::from_millis(100),
            memory_limit: 16 << 20,
            grants,
            ..PluginSettings::default()
        },
    )
}

/// The plugin echoes a normal record: the instance after a failure still works.
fn assert_serves_next(consumer: &mut WasmConsumer, after: &str) {
    let outcome = consumer.consume(&[record(99, "next")]);
    assert_eq!(outcome.failure, None, "after {after}");
    assert_eq!(text(&outcome.emitted[0].value), "ok:next", "after {after}");
}

#[test]
fn an_endless_loop_is_stopped_by_the_deadline() {
    let mut c = misbehaving(Grants::default());
    let started = std::time::Instant::now();
    let outcome = c.consume(&[record(0, "first"), record(1, "loop")]);
    assert!(
        matches!(
            outcome.failure,
            Some((None, Failure::Call(CallError::Deadline(_))))
        ),
        "{:?}",
        outcome.failure
    );
    assert!(outcome.emitted.is_empty(), "a trapped call keeps nothing");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_serves_next(&mut c, "loop");
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let mut c = misbehaving(Grants::default());
    let outcome = c.consume(&[record(0, "alloc")]);
    assert!(
        matches!(outcome.failure, Some((None, Failure::Call(CallError::MemoryCap(n)))) if n == 16 << 20),
        "{:?}",
        outcome.failure
    );
    assert_serves_next(&mut c, "alloc");
}

#[test]
fn a_panic_traps_the_call_only() {
    let mut c = misbehaving(Grants::default());
    let outcome = c.consume(&[record(0, "panic")]);
    assert!(
        matches!(
            &outcome.failure,
            Some((None, Failure::Call(CallError::Trap(_))))
        ),
        "{:?}",
        outcome.failure
    );
    assert_serves_next(&mut c, "panic");
}

#[test]
fn files_and_sockets_are_refused_unless_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let socket = ConsumerRecord {
        key: Some(address.clone().into()),
        ..record(1, "socket")
    };
    let mut c = misbehaving(Grants::default());
    let outcome = c.consume(&[record(0, "file"), socket.clone()]);
    assert_eq!(outcome.failure, None);
    let said: Vec<&str> = outcome.emitted.iter().map(|e| text(&e.value)).collect();
    assert!(said[0].starts_with("refused:"), "file: {}", said[0]);
    assert!(said[1].starts_with("refused:"), "socket: {}", said[1]);
    assert_serves_next(&mut c, "file and socket");

    // The same plugin, granted the network and /etc, gets through: the refusal above was
    // the sandbox, not a broken plugin.
    let mut granted = misbehaving(Grants {
        read_dirs: vec!["/etc".into()],
        env: Vec::new(),
        network: true,
    });
    let outcome = granted.consume(&[record(0, "file"), socket]);
    let said: Vec<&str> = outcome.emitted.iter().map(|e| text(&e.value)).collect();
    assert!(said[0].starts_with("allowed:"), "file: {}", said[0]);
    assert!(said[1].starts_with("allowed:"), "socket: {}", said[1]);
}
