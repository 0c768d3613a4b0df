//! Emit policies seen from the topic: batch boundaries on disk, `when` and `flush_when`, and
//! CEL runtime errors in the dead-letter topic.

use std::time::Duration;

use crate::harness::{
    Connect, append, batches_on_disk, expect_records, file_source, header, read_topic, values,
};
use crate::support::Broker;

#[test]
fn a_thousand_events_with_max_records_100_are_ten_batches() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let text: String = (0..1000).map(|i| format!("event {i}\n")).collect();
    append(&log, &text);
    let _connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "batched",
            &[&log],
            "",
            "max_records = 100\nmax_delay = \"1h\"",
        ),
    );
    let records = expect_records(&broker.addr(), "batched", 1000);
    assert_eq!(
        values(&records),
        (0..1000).map(|i| format!("event {i}")).collect::<Vec<_>>()
    );
    let batches = batches_on_disk(&broker.data_dir(), "batched");
    let expected: Vec<(i64, i32)> = (0..10).map(|b| (b * 100, 100)).collect();
    assert_eq!(batches, expected);
}

#[test]
fn max_bytes_cuts_batches_too() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // 40 lines of 100 bytes; max_bytes = 1000 makes batches of 10.
    let text: String = (0..40).map(|i| format!("{i:0>100}\n")).collect();
    append(&log, &text);
    let _connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "bybytes",
            &[&log],
            "",
            "max_bytes = 1000\nmax_delay = \"1h\"",
        ),
    );
    expect_records(&broker.addr(), "bybytes", 40);
    let batches = batches_on_disk(&broker.data_dir(), "bybytes");
    assert_eq!(batches, (0..4).map(|b| (b * 10, 10)).collect::<Vec<_>>());
}

#[test]
fn when_filters_and_flush_when_flushes_exactly_the_matching_events() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "triggered",
            &[&log],
            "",
            "max_records = 1000\nmax_delay = \"1h\"\nwhen = \"event.line.contains('keep')\"\n\
             flush_when = \"event.line.endsWith('now')\"",
        ),
    );
    std::thread::sleep(Duration::from_millis(500));
    append(
        &log,
        "keep 1\ndrop 2\nkeep 3\nkeep 4 now\nkeep 5\ndrop 6 now\n",
    );
    let records = expect_records(&broker.addr(), "triggered", 3);
    assert_eq!(values(&records), ["keep 1", "keep 3", "keep 4 now"]);
    // "keep 5" waits for the next trigger (max_delay is an hour); "drop 6 now" is filtered
    // out by `when`, so it neither arrives nor flushes.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        read_topic(&broker.addr(), "triggered", 4, Duration::from_millis(500)).len(),
        3
    );
    append(&log, "keep 7 now\n");
    let records = expect_records(&broker.addr(), "triggered", 5);
    assert_eq!(
        values(&records),
        ["keep 1", "keep 3", "keep 4 now", "keep 5", "keep 7 now"]
    );
    connect.wait_for_status("src", |s| s.contains("filtered: 2"));
}

#[test]
fn cel_runtime_errors_and_bad_json_go_to_the_dead_letter_topic() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("orders.jsonl");
    append(
        &log,
        "{\"user_id\": \"u1\", \"status\": \"shipped\"}\n\
         {\"status\": \"shipped\"}\n\
         not json\n\
         {\"user_id\": \"u2\", \"status\": \"pending\"}\n\
         {\"user_id\": \"u3\", \"status\": \"shipped\"}\n",
    );
    let connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "orders",
            &[&log],
            "framing = \"json\"\nkey = \"event.fields.user_id\"\ndead_letter_topic = \"orders-dlq\"",
            "max_delay = \"50ms\"\nwhen = \"event.value.status == 'shipped'\"",
        ),
    );
    let records = expect_records(&broker.addr(), "orders", 2);
    let keys: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap()).into_owned())
        .collect();
    assert_eq!(keys, ["u1", "u3"]);
    let dead = expect_records(&broker.addr(), "orders-dlq", 2);
    assert_eq!(values(&dead), ["{\"status\": \"shipped\"}", "not json"]);
    let reason = header(&dead[0], "weir.error").unwrap();
    assert!(reason.contains("event.fields.user_id"), "{reason}");
    let reason = header(&dead[1], "weir.error").unwrap();
    assert!(reason.contains("not JSON"), "{reason}");
    assert_eq!(header(&dead[1], "weir.line").as_deref(), Some("3"));
    connect.wait_for_status("src", |s| s.contains("dead_letters: 2"));
}

#[test]
fn a_cron_schedule_emits_what_is_pending_at_its_times() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    // Thresholds that never fire in this test: only the schedule (every third second) emits.
    let _connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "scheduled",
            &[&log],
            "",
            "max_records = 100000\nmax_delay = \"1h\"\nschedule = \"*/3 * * * * *\"",
        ),
    );
    std::thread::sleep(Duration::from_millis(500));
    let text: String = (0..50).map(|i| format!("tick {i}\n")).collect();
    append(&log, &text);
    let records = expect_records(&broker.addr(), "scheduled", 50);
    assert_eq!(
        values(&records),
        (0..50).map(|i| format!("tick {i}")).collect::<Vec<_>>()
    );
    // Emitted together at one firing: one batch, sent in the second the schedule names
    // (a whole second of slack for a slow machine).
    assert_eq!(batches_on_disk(&broker.data_dir(), "scheduled"), [(0, 50)]);
    let sent_at = records[0].timestamp;
    assert!(
        (sent_at / 1000) % 3 == 0 || (sent_at / 1000 - 1) % 3 == 0,
        "emitted at {sent_at} ms, not in or right after a second divisible by 3"
    );
}
