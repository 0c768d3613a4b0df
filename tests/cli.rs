//! The `weir` command line as a user runs it, against a broker process: lines and files go
//! in and come back byte-identical, topics are created, described, altered and deleted,
//! `group describe` shows lag falling to 0 once the group catches up, and bad arguments or
//! an unreachable broker give one line on stderr and a non-zero exit.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Broker;

/// Runs `weir args` with `input` on stdin; (success, stdout, stderr). Fails the test if the
/// command runs longer than a generous bound (a hang, not a speed target).
fn weir(args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let shown = format!("{args:?}");
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("weir {shown} ran for more than 120 s");
        }
    });
    let output = child.wait_with_output().unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    writer.join().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (ok, out, err) = weir(args, "");
    assert!(ok, "weir {args:?} failed: {err}");
    out
}

/// Asserts a failure reported in exactly one line on stderr; returns the line.
fn fails_in_one_line(args: &[&str], input: &str) -> String {
    let (ok, out, err) = weir(args, input);
    assert!(!ok, "weir {args:?} succeeded: {out}");
    assert_eq!(err.trim().lines().count(), 1, "weir {args:?}: {err}");
    assert!(err.starts_with("weir: "), "{err}");
    err.trim().to_string()
}

#[test]
fn produced_lines_come_back_identical() {
    let mut broker = Broker::start();
    let addr = broker.addr();
    let topic = support::topic_name("cli");
    let lines: String = (0..500)
        .map(|i| format!("key{i}:value {i} ünïcode\n"))
        .collect();
    let (produced, _, err) = weir(
        &[
            "produce",
            &topic,
            "--bootstrap",
            &addr,
            "--key-separator",
            ":",
        ],
        &lines,
    );
    assert!(produced, "produce failed: {err}");

    let out = ok(&[
        "consume",
        &topic,
        "--bootstrap",
        &addr,
        "--from-beginning",
        "--max-messages",
        "500",
        "--format",
        "key=value",
    ]);
    assert_eq!(out, lines.replace(':', "="), "every line back, in order");

    let out = ok(&[
        "consume",
        &topic,
        "--bootstrap",
        &addr,
        "--group",
        "cli-group",
        "--from-beginning",
        "--exit-when-idle-ms",
        "1500",
    ]);
    let values: String = (0..500).map(|i| format!("value {i} ünïcode\n")).collect();
    assert_eq!(out, values);
    broker.stop();
    broker.assert_clean_log();
}

#[test]
fn a_file_comes_back_byte_identical_and_partitions_read_from_an_offset() {
    let mut broker = Broker::start();
    let addr = broker.addr();
    let topic = support::topic_name("file");
    ok(&[
        "topic",
        "create",
        &topic,
        "--partitions",
        "1",
        "--bootstrap",
        &addr,
    ]);

    // Large enough to span many batches; empty lines and multi-byte text included.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.txt");
    let mut text = String::new();
    for i in 0..20_000 {
        match i % 7 {
            0 => text.push('\n'),
            1 => text.push_str(&format!("{i} ünïcode ✓ {}\n", "x".repeat(i % 300))),
            _ => text.push_str(&format!("line {i}\t{}\n", "y".repeat(i % 50))),
        }
    }
    std::fs::write(&path, &text).unwrap();
    let (ok_, _, err) = weir(
        &[
            "produce",
            &topic,
            "--file",
            path.to_str().unwrap(),
            "--bootstrap",
            &addr,
        ],
        "",
    );
    assert!(ok_, "produce --file failed: {err}");
    assert_eq!(err, "", "no progress bar when stderr is not a terminal");

    let out = ok(&[
        "consume",
        &topic,
        "--bootstrap",
        &addr,
        "--from-beginning",
        "--max-messages",
        "20000",
    ]);
    assert!(out == text, "the file came back different");

    let out = ok(&[
        "consume",
        &topic,
        "--bootstrap",
        &addr,
        "--partition",
        "0",
        "--offset",
        "100",
        "--max-messages",
        "3",
    ]);
    let expected: String = text
        .lines()
        .skip(100)
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(out, expected);

    // Records split at another byte, sent round-robin to a topic of three partitions.
    let spread = support::topic_name("spread");
    ok(&[
        "topic",
        "create",
        &spread,
        "--partitions",
        "3",
        "--bootstrap",
        &addr,
    ]);
    let (ok_, _, err) = weir(
        &[
            "produce",
            &spread,
            "--delimiter",
            ",",
            "--partitioner",
            "round_robin",
            "--bootstrap",
            &addr,
        ],
        "a,b,c,d,e,f",
    );
    assert!(ok_, "{err}");
    for partition in 0..3 {
        let out = ok(&[
            "consume",
            &spread,
            "--bootstrap",
            &addr,
            "--partition",
            &partition.to_string(),
            "--offset",
            "earliest",
            "--max-messages",
            "2",
        ]);
        assert_eq!(out.lines().count(), 2, "partition {partition}: {out}");
    }
    broker.stop();
    broker.assert_clean_log();
}

#[test]
fn topics_are_created_described_altered_and_deleted() {
    let mut broker = Broker::start();
    let addr = broker.addr();
    let topic = support::topic_name("admin");
    let out = ok(&[
        "topic",
        "create",
        &topic,
        "--partitions",
        "2",
        "--config",
        "retention.ms=3600000",
        "--bootstrap",
        &addr,
    ]);
    assert!(out.contains("created"), "{out}");
    let line = fails_in_one_line(&["topic", "create", &topic, "--bootstrap", &addr], "");
    assert!(line.contains("already exists"), "{line}");
    ok(&[
        "topic",
        "create",
        &topic,
        "--if-not-exists",
        "--bootstrap",
        &addr,
    ]);
    assert!(
        ok(&["topic", "list", "--bootstrap", &addr])
            .lines()
            .any(|l| l == topic)
    );

    let out = ok(&["topic", "describe", &topic, "--bootstrap", &addr]);
    assert!(out.contains("partitions: 2"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("retention.ms") && l.contains("3600000") && l.contains("topic")),
        "{out}"
    );

    ok(&[
        "topic",
        "alter",
        &topic,
        "--set",
        "max.message.bytes=65536",
        "--delete",
        "retention.ms",
        "--partitions",
        "4",
        "--bootstrap",
        &addr,
    ]);
    let out = ok(&["topic", "describe", &topic, "--bootstrap", &addr]);
    assert!(out.contains("partitions: 4"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("max.message.bytes") && l.contains("65536")),
        "{out}"
    );
    assert!(!out.lines().any(|l| l.starts_with("retention.ms")), "{out}");
    let out = ok(&[
        "topic",
        "describe",
        &topic,
        "--all-configs",
        "--bootstrap",
        &addr,
    ]);
    assert!(out.lines().any(|l| l.starts_with("retention.ms")), "{out}");

    let line = fails_in_one_line(
        &[
            "topic",
            "alter",
            &topic,
            "--partitions",
            "1",
            "--bootstrap",
            &addr,
        ],
        "",
    );
    assert!(line.contains("INVALID_PARTITIONS"), "{line}");

    ok(&["topic", "delete", &topic, "--bootstrap", &addr]);
    assert!(
        !ok(&["topic", "list", "--bootstrap", &addr])
            .lines()
            .any(|l| l == topic)
    );
    let line = fails_in_one_line(&["topic", "describe", &topic, "--bootstrap", &addr], "");
    assert!(line.contains("does not exist"), "{line}");
    broker.stop();
    broker.assert_clean_log();
}

/// The sum of the LAG column of `weir group describe`.
fn total_lag(addr: &str, group: &str) -> i64 {
    let out = ok(&["group", "describe", group, "--bootstrap", addr]);
    let mut lines = out.lines().skip(1);
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let column = header.iter().position(|h| *h == "LAG").unwrap();
    lines
        .take_while(|l| !l.is_empty())
        .map(|l| {
            l.split_whitespace()
                .nth(column)
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum()
}

#[test]
fn group_describe_shows_lag_falling_to_zero() {
    let mut broker = Broker::start_with("group_initial_rebalance_delay_ms = 0", "");
    let addr = broker.addr();
    let topic = support::topic_name("lag");
    let group = support::topic_name("lag-group");
    ok(&[
        "topic",
        "create",
        &topic,
        "--partitions",
        "2",
        "--bootstrap",
        &addr,
    ]);
    let first: String = (0..40).map(|i| format!("k{i}:first {i}\n")).collect();
    let (ok_, _, err) = weir(
        &[
            "produce",
            &topic,
            "--key-separator",
            ":",
            "--bootstrap",
            &addr,
        ],
        &first,
    );
    assert!(ok_, "{err}");
    let consume_all = || {
        ok(&[
            "consume",
            &topic,
            "--group",
            &group,
            "--from-beginning",
            "--exit-when-idle-ms",
            "1500",
            "--bootstrap",
            &addr,
        ])
    };
    assert_eq!(consume_all().lines().count(), 40);
    assert_eq!(total_lag(&addr, &group), 0);

    let more: String = (0..30).map(|i| format!("k{i}:more {i}\n")).collect();
    let (ok_, _, err) = weir(
        &[
            "produce",
            &topic,
            "--key-separator",
            ":",
            "--bootstrap",
            &addr,
        ],
        &more,
    );
    assert!(ok_, "{err}");
    assert_eq!(total_lag(&addr, &group), 30);
    let out = ok(&["group", "list", "--bootstrap", &addr]);
    assert!(out.lines().any(|l| l.starts_with(&group)), "{out}");
    let line = fails_in_one_line(
        &["group", "describe", "no-such-group", "--bootstrap", &addr],
        "",
    );
    assert!(line.contains("does not exist"), "{line}");

    assert_eq!(consume_all().lines().count(), 30);
    assert_eq!(total_lag(&addr, &group), 0);
    broker.stop();
    broker.assert_clean_log();
}

#[test]
fn bad_arguments_fail_with_one_line_and_a_non_zero_exit() {
    let line = fails_in_one_line(&["produce", "t", "--acks", "2"], "x\n");
    assert!(line.contains("--acks takes 0, 1 or all"), "{line}");
    let line = fails_in_one_line(&["consume", "t", "--format", "xml"], "");
    assert!(line.contains("--format"), "{line}");
    let line = fails_in_one_line(&["produce", "t", "--partitioner", "murmur"], "");
    assert!(line.contains("--partitioner takes"), "{line}");
    let line = fails_in_one_line(&["consume", "t", "--offset", "soon"], "");
    assert!(line.contains("--offset"), "{line}");
    let line = fails_in_one_line(&["topic", "list", "--timeout", "0"], "");
    assert!(line.contains("--timeout"), "{line}");
    let line = fails_in_one_line(&["produce"], "");
    assert!(line.contains("<TOPIC>"), "{line}");
    let line = fails_in_one_line(&["topic", "create", "t", "--config", "novalue"], "");
    assert!(line.contains("KEY=VALUE"), "{line}");
    let line = fails_in_one_line(&["produce", "t", "--file", "/nonexistent/weir-input"], "");
    assert!(line.contains("/nonexistent/weir-input"), "{line}");
}

#[test]
fn an_unreachable_broker_fails_in_one_line_within_the_timeout() {
    let nobody = format!("127.0.0.1:{}", support::free_port());
    let commands: Vec<Vec<&str>> = vec![
        vec!["produce", "t"],
        vec!["produce", "t", "--file", "/dev/null"],
        vec!["consume", "t"],
        vec!["consume", "t", "--group", "g"],
        vec!["topic", "list"],
        vec!["topic", "create", "t"],
        vec!["topic", "describe", "t"],
        vec!["group", "list"],
        vec!["group", "describe", "g"],
        vec!["bench", "produce", "--records", "10"],
    ];
    for command in commands {
        let mut args = command.clone();
        args.extend(["--bootstrap", &nobody, "--timeout", "2s"]);
        let started = Instant::now();
        let line = fails_in_one_line(&args, "a record\n");
        assert!(
            line.contains("cannot reach the cluster") || line.contains("no broker reachable"),
            "{command:?}: {line}"
        );
        eprintln!("{command:?} failed after {:?}: {line}", started.elapsed());
    }
}
