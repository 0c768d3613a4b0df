//! `[cluster]`: a pipeline on a weir broker that runs as its own process. The topics are
//! created there, grown when the file asks for more partitions, and a file asking for fewer
//! stops `weir run` with the topic named; a file source delivers into it.

use crate::harness::{Run, records, toml_path, values, wait_for_records};
use crate::support::Broker;

fn pipeline(addr: &str, dir: &std::path::Path, partitions: u32) -> String {
    format!(
        r#"[cluster]
bootstrap = ["{addr}"]

[topics.lines]
partitions = {partitions}
retention_ms = "1d"
partitioner = "round_robin"

[[sources]]
name = "lines"
kind = "file"
paths = ["{}/*.txt"]
topic = "lines"
[sources.emit]
max_records = 10
max_delay = "100ms"
"#,
        toml_path(dir)
    )
}

#[test]
fn a_pipeline_runs_on_a_separate_broker_and_brings_its_topics_in_line() {
    let broker = Broker::start();
    let addr = broker.addr();
    let input = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..40).map(|n| format!("line {n}")).collect();
    std::fs::write(input.path().join("a.txt"), lines.join("\n") + "\n").unwrap();

    let mut run = Run::from_text(&pipeline(&addr, input.path(), 2), &[]);
    run.start();
    assert!(
        run.log_text().contains(&format!("cluster {addr}")),
        "{}",
        run.log_text()
    );
    let count = wait_for_records(&addr, "lines", lines.len());
    let by_partition = records(&addr, "lines", count);
    assert_eq!(by_partition.len(), 2, "round robin over both partitions");
    let mut got: Vec<String> = by_partition.values().flat_map(|p| values(p)).collect();
    got.sort();
    let mut wanted = lines.clone();
    wanted.sort();
    assert_eq!(got, wanted);
    run.stop();

    // More partitions: the topic grows.
    std::fs::write(&run.file, pipeline(&addr, input.path(), 3)).unwrap();
    run.start();
    assert!(
        run.log_text().contains("added partitions"),
        "{}",
        run.log_text()
    );
    run.stop();
    let consumer = crate::support::kafka::consumer(&addr, &[]);
    assert_eq!(
        crate::support::kafka::partition_count(
            rdkafka::consumer::Consumer::client(&consumer),
            "lines"
        ),
        3
    );

    // Fewer: refused, naming the topic.
    std::fs::write(&run.file, pipeline(&addr, input.path(), 1)).unwrap();
    let output = run.run_to_exit();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("topic lines has 3 partitions and the pipeline asks for 1"),
        "{stderr}"
    );
    broker.assert_clean_log();
}
