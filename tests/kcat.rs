//! kcat (librdkafka's command-line client, from Debian) against the broker: metadata (`-L`),
//! producing keyed lines (`-P`) and consuming to the end (`-C -e`), as a person would.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Broker;

const KCAT_TIMEOUT: Duration = Duration::from_secs(30);

fn kcat() -> PathBuf {
    support::require_tool("kcat", "apt-get install -y kcat")
}

/// Runs kcat with `args`, feeding it `input`; returns its stdout, failing on a non-zero exit
/// or after [`KCAT_TIMEOUT`].
fn run(kcat: &Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new(kcat)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running kcat: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let feeding = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut stdout = child.stdout.take().unwrap();
    let reading = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        out
    });
    let mut stderr = child.stderr.take().unwrap();
    let reading_err = std::thread::spawn(move || {
        let mut out = String::new();
        stderr.read_to_string(&mut out).unwrap();
        out
    });
    let deadline = Instant::now() + KCAT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kcat {args:?} did not finish within {KCAT_TIMEOUT:?}; stderr:\n{}",
                reading_err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    feeding.join().unwrap();
    let out = reading.join().unwrap();
    let err = reading_err.join().unwrap();
    assert!(
        status.success(),
        "kcat {args:?} exited with {status}; stderr:\n{err}"
    );
    out
}

#[test]
fn kcat_lists_metadata() {
    let kcat = kcat();
    let broker = Broker::start_with("", "[topics.listed]\npartitions = 4");
    let out = run(&kcat, &["-b", &broker.addr(), "-L"], "");
    assert!(out.contains("1 brokers:"), "{out}");
    assert!(
        out.contains(&format!("broker 0 at {}", broker.addr())),
        "the broker advertises its listener:\n{out}"
    );
    let out = run(&kcat, &["-b", &broker.addr(), "-L", "-t", "listed"], "");
    assert!(out.contains("topic \"listed\" with 4 partitions"), "{out}");
    for p in 0..4 {
        assert!(out.contains(&format!("partition {p}, leader 0")), "{out}");
    }
}

#[test]
fn kcat_produces_and_consumes_keyed_lines() {
    let kcat = kcat();
    let broker = Broker::start_with("num_partitions = 3", "");
    let addr = broker.addr();
    let topic = support::topic_name("kcat");
    let input: String = (1..=2000)
        .map(|i| format!("key{}:value{i}\n", i % 23))
        .collect();
    run(
        &kcat,
        &[
            "-b",
            &addr,
            "-P",
            "-t",
            &topic,
            "-K:",
            "-X",
            "topic.acks=all",
        ],
        &input,
    );
    let out = run(
        &kcat,
        &[
            "-b",
            &addr,
            "-C",
            "-t",
            &topic,
            "-e",
            "-q",
            "-f",
            "%p:%o:%k:%s\n",
        ],
        "",
    );
    let mut got: Vec<(u32, u64, String)> = out
        .lines()
        .map(|line| {
            let mut fields = line.splitn(3, ':');
            let partition = fields.next().unwrap().parse().unwrap();
            let offset = fields.next().unwrap().parse().unwrap();
            (partition, offset, fields.next().unwrap().to_string())
        })
        .collect();
    assert_eq!(got.len(), 2000, "records consumed by kcat -C -e");
    got.sort();
    // Per partition: offsets 0.. in order, and the lines in the order they were produced.
    for partition in 0..3 {
        let lines: Vec<&(u32, u64, String)> = got.iter().filter(|r| r.0 == partition).collect();
        for (i, (_, offset, _)) in lines.iter().enumerate() {
            assert_eq!(*offset, i as u64, "partition {partition}");
        }
        let sequence: Vec<u32> = lines
            .iter()
            .map(|(_, _, kv)| kv.rsplit_once("value").unwrap().1.parse().unwrap())
            .collect();
        assert!(sequence.is_sorted(), "partition {partition} out of order");
    }
    let mut expected: Vec<&str> = input.lines().collect();
    let mut consumed: Vec<&str> = got.iter().map(|(_, _, kv)| kv.as_str()).collect();
    expected.sort_unstable();
    consumed.sort_unstable();
    assert_eq!(consumed, expected);

    // A consumer starting at an offset, reading one record.
    let first = run(
        &kcat,
        &[
            "-b", &addr, "-C", "-t", &topic, "-p", "0", "-o", "0", "-c", "1", "-e", "-q", "-f",
            "%o",
        ],
        "",
    );
    assert_eq!(first, "0");
    let last = run(
        &kcat,
        &[
            "-b", &addr, "-C", "-t", &topic, "-p", "0", "-o", "-1", "-e", "-q", "-f", "%o\n",
        ],
        "",
    );
    let in_partition_0 = got.iter().filter(|r| r.0 == 0).count();
    assert_eq!(
        last.trim(),
        (in_partition_0 - 1).to_string(),
        "offset -1: the last record"
    );
}
