//! Tailing: lines arrive in order with their path and line number, rotation by rename and
//! create loses nothing, copytruncate starts over, globs pick up new files, and a partial
//! line is held until completed.

use std::time::{Duration, Instant};

use crate::harness::{Connect, append, expect_records, file_source, header, read_topic, values};
use crate::support::Broker;

#[test]
fn appended_lines_arrive_in_order_with_path_and_line() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let mut connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "applog",
            &[&log],
            "",
            "max_records = 100\nmax_delay = \"200ms\"",
        ),
    );
    for i in 0..50 {
        append(&log, &format!("line {i}\n"));
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    let records = expect_records(&broker.addr(), "applog", 50);
    let expected: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    assert_eq!(values(&records), expected);
    assert_eq!(header(&records[7], "weir.line").as_deref(), Some("8"));
    assert_eq!(
        header(&records[7], "weir.path"),
        Some(log.display().to_string())
    );

    // One event alone arrives within max_delay plus the poll interval and the consumer's
    // own fetch time; the bound is generous for a loaded machine.
    let sent = Instant::now();
    append(&log, "alone\n");
    let records = read_topic(&broker.addr(), "applog", 51, Duration::from_secs(10));
    let took = sent.elapsed();
    assert_eq!(values(&records).last().map(String::as_str), Some("alone"));
    eprintln!("one event with max_delay = 200ms arrived after {took:?} (consumer included)");
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let status = connect.wait_for_status("src", |s| s.contains("events: 51"));
    assert!(status.contains("state: running"), "{status}");
    let list = connect.connector(&["list"]);
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("src") && list.contains("running"), "{list}");
    connect.stop();
    let status = connect.connector(&["status", "src"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("state: stopped"));
}

#[test]
fn rotation_by_rename_and_create_loses_nothing() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let _connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "rotated",
            &[&log],
            "",
            "max_delay = \"50ms\"",
        ),
    );
    // The writer keeps its descriptor across the rename and writes a few more lines to the
    // old file before reopening, as a logger between rotation and its reopen signal does.
    let mut writer = std::fs::File::options().append(true).open(&log).unwrap();
    use std::io::Write as _;
    for i in 0..300 {
        writeln!(writer, "old {i}").unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    for i in 300..400 {
        writeln!(writer, "old {i}").unwrap();
    }
    let mut writer = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    for i in 0..300 {
        writeln!(writer, "new {i}").unwrap();
    }
    let records = expect_records(&broker.addr(), "rotated", 700);
    let values = values(&records);
    assert_eq!(values.len(), 700, "{values:?}");
    let old: Vec<&String> = values.iter().filter(|v| v.starts_with("old")).collect();
    let new: Vec<&String> = values.iter().filter(|v| v.starts_with("new")).collect();
    assert_eq!(
        old,
        (0..400)
            .map(|i| format!("old {i}"))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        new,
        (0..300)
            .map(|i| format!("new {i}"))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
}

#[test]
fn copytruncate_starts_over_with_a_warning() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "truncated",
            &[&log],
            "",
            "max_delay = \"50ms\"",
        ),
    );
    for i in 0..100 {
        append(&log, &format!("before {i}\n"));
    }
    expect_records(&broker.addr(), "truncated", 100);
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..10 {
        append(&log, &format!("after {i}\n"));
    }
    let records = expect_records(&broker.addr(), "truncated", 110);
    let values = values(&records);
    assert_eq!(values.len(), 110, "{values:?}");
    let after: Vec<String> = (0..10).map(|i| format!("after {i}")).collect();
    assert_eq!(values[100..], after[..]);
    connect.wait_for_status("src", |s| s.contains("truncated from"));
}

#[test]
fn a_glob_picks_up_new_files() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("a.log");
    append(&first, "a 1\n");
    let pattern = dir.path().join("*.log");
    let _connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "globbed",
            &[&pattern],
            "",
            "max_delay = \"50ms\"",
        ),
    );
    expect_records(&broker.addr(), "globbed", 1);
    append(&dir.path().join("b.log"), "b 1\nb 2\n");
    append(&dir.path().join("c.txt"), "not matched\n");
    append(&first, "a 2\n");
    let records = expect_records(&broker.addr(), "globbed", 4);
    let mut values = values(&records);
    values.sort();
    assert_eq!(values, ["a 1", "a 2", "b 1", "b 2"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        read_topic(&broker.addr(), "globbed", 5, Duration::from_secs(1)).len(),
        4
    );
}

#[test]
fn a_partial_line_completed_later_arrives_once_whole() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "first\nhello wo");
    let _connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "partial",
            &[&log],
            "",
            "max_delay = \"50ms\"",
        ),
    );
    expect_records(&broker.addr(), "partial", 1);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        values(&read_topic(
            &broker.addr(),
            "partial",
            2,
            Duration::from_millis(500)
        )),
        ["first"]
    );
    append(&log, "rld\n");
    let records = expect_records(&broker.addr(), "partial", 2);
    assert_eq!(values(&records), ["first", "hello world"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        read_topic(&broker.addr(), "partial", 3, Duration::from_millis(500)).len(),
        2
    );
}

#[test]
fn start_at_end_skips_what_was_there() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "old 1\nold 2\n");
    let _connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "fromend",
            &[&log],
            "start_at = \"end\"",
            "max_delay = \"50ms\"",
        ),
    );
    std::thread::sleep(Duration::from_millis(800));
    append(&log, "new 1\n");
    assert_eq!(
        values(&expect_records(&broker.addr(), "fromend", 1)),
        ["new 1"]
    );
}

#[test]
fn whole_files_dropped_into_a_directory() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let pattern = inbox.join("*.json");
    let _connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "whole",
            &[&pattern],
            "framing = \"whole_file\"",
            "max_delay = \"50ms\"",
        ),
    );
    std::fs::write(inbox.join("one.json"), "{\n  \"a\": 1\n}\n").unwrap();
    let records = expect_records(&broker.addr(), "whole", 1);
    assert_eq!(values(&records), ["{\n  \"a\": 1\n}\n"]);
}

#[test]
fn topics_in_the_config_are_created_and_checkpoints_are_compacted() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "one\n");
    let toml = file_source(&broker.addr(), "wide", &[&log], "", "max_delay = \"50ms\"").replace(
        "[[sources]]",
        "[topics.wide]\npartitions = 4\n\n[[sources]]",
    );
    let _connect = Connect::start(dir.path(), &toml);
    expect_records(&broker.addr(), "wide", 1);
    crate::harness::runtime().block_on(async {
        let admin =
            weir_client::Admin::new(weir_client::AdminConfig::new([broker.addr()])).unwrap();
        let described = admin.describe_topics(&["wide".to_owned()]).await.unwrap();
        assert_eq!(described[0].partitions.len(), 4);
        let configs = admin
            .topic_configs(weir_connectors::OFFSETS_TOPIC)
            .await
            .unwrap();
        let policy = configs.iter().find(|c| c.name == "cleanup.policy").unwrap();
        assert_eq!(policy.value.as_deref(), Some("compact"));
    });
}
