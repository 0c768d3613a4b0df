//! `examples/logs/pipeline.toml` as written: lines appended to log files in a directory
//! reach the `logs` topic when they hold ERROR, in order and exactly once in a clean run;
//! after a SIGKILL while lines are being written, none is lost and none is repeated (the
//! restarted source finds what it produced after its checkpoint by event id).

use std::io::Write as _;
use std::time::Duration;

use crate::harness::{Run, duplicates, records, values, wait_for_records};
use crate::support::free_port;

fn append(path: &std::path::Path, lines: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file.sync_all().unwrap();
}

fn lines(from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|n| {
            if n % 3 == 0 {
                format!("2026-01-01T00:00:00Z ERROR request {n} failed")
            } else {
                format!("2026-01-01T00:00:00Z INFO request {n} ok")
            }
        })
        .collect()
}

fn errors(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains("ERROR"))
        .cloned()
        .collect()
}

#[test]
fn error_lines_reach_the_topic_through_a_sigkill() {
    error_lines_through_a_sigkill(|run| run);
}

/// The same file given to `weir broker --config`: the broker hosts the file source.
#[test]
fn a_broker_hosting_the_source_loses_and_repeats_nothing_through_a_sigkill() {
    error_lines_through_a_sigkill(Run::run_by_the_broker);
}

fn error_lines_through_a_sigkill(runs_as: fn(Run) -> Run) {
    let port = free_port().to_string();
    let logs = tempfile::tempdir().unwrap();
    let log_dir = logs.path().display().to_string();
    let mut run = runs_as(Run::from_example(
        "examples/logs/pipeline.toml",
        &[("WEIR_PORT", &port), ("LOG_DIR", &log_dir)],
    ));
    let addr = format!("127.0.0.1:{port}");
    let app = logs.path().join("app.log");
    let first = lines(0, 300);
    append(&app, &first);
    run.start();
    let wanted = errors(&first);
    wait_for_records(&addr, "logs", wanted.len());
    let got = values(&records(&addr, "logs", wanted.len())[&0]);
    assert_eq!(got, wanted, "only the ERROR lines, in order, once");

    // Lines keep coming while weir run is killed and restarted.
    let writer = {
        let app = app.clone();
        std::thread::spawn(move || {
            for chunk in 0..20 {
                append(&app, &lines(300 + chunk * 50, 350 + chunk * 50));
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    run.kill();
    run.start();
    writer.join().unwrap();
    let all = errors(&lines(0, 1300));
    let deadline = std::time::Instant::now() + crate::harness::PATIENCE;
    let got = loop {
        let count = wait_for_records(&addr, "logs", all.len());
        let got = values(&records(&addr, "logs", count)[&0]);
        let mut seen = std::collections::BTreeSet::new();
        let first_seen: Vec<String> = got
            .iter()
            .filter(|l| seen.insert(l.as_str()))
            .cloned()
            .collect();
        if first_seen == all {
            break got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ERROR lines missing or out of order: {} distinct of {}",
            first_seen.len(),
            all.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(duplicates(&got), 0, "lines repeated after the restart");
    run.stop();
}
