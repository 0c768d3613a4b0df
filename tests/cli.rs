//! `weir produce` and `weir consume` against a broker process: a file's lines go in and come
//! back identical, as values and as `key=value`, directly and through a consumer group.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::Broker;

fn weir(args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn produced_lines_come_back_identical() {
    let mut broker = Broker::start();
    let addr = broker.addr();
    let topic = support::topic_name("cli");
    let lines: String = (0..500)
        .map(|i| format!("key{i}:value {i} ünïcode\n"))
        .collect();
    let (ok, _, err) = weir(
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
    assert!(ok, "produce failed: {err}");

    let (ok, out, err) = weir(
        &[
            "consume",
            &topic,
            "--bootstrap",
            &addr,
            "--from-beginning",
            "--max-messages",
            "500",
            "--format",
            "key=value",
        ],
        "",
    );
    assert!(ok, "consume failed: {err}");
    assert_eq!(out, lines.replace(':', "="), "every line back, in order");

    let (ok, out, err) = weir(
        &[
            "consume",
            &topic,
            "--bootstrap",
            &addr,
            "--group",
            "cli-group",
            "--from-beginning",
            "--exit-when-idle-ms",
            "1500",
        ],
        "",
    );
    assert!(ok, "group consume failed: {err}");
    let values: String = (0..500).map(|i| format!("value {i} ünïcode\n")).collect();
    assert_eq!(out, values);
    broker.stop();
    broker.assert_clean_log();
}

#[test]
fn bad_arguments_fail_with_one_line_and_a_non_zero_exit() {
    let (ok, _, err) = weir(&["produce", "t", "--acks", "2"], "x\n");
    assert!(!ok);
    assert!(err.contains("--acks takes 0, 1 or all"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (ok, _, err) = weir(&["consume", "t", "--format", "xml"], "");
    assert!(!ok);
    assert!(err.contains("--format"), "{err}");
}
