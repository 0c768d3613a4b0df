//! The file source's throughput (`cargo bench -p weir-connectors --bench file_source`): a
//! 1 GiB log file (about 200-byte lines) through a connector into a 4-partition topic with
//! `acks=1`, against the same file produced line by line with a plain `weir-client`
//! `Producer` loop (what `weir produce TOPIC --acks 1 < file` does), in the same run, on an
//! in-process broker. Prints lines/s, MB/s (10^6 bytes of line text) and the ratio.
//! `WEIR_BENCH_MB=<n>` sets the file size in MB (default 1074, i.e. 1 GiB).

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::VecDeque;
use std::io::{BufRead as _, BufWriter, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use weir_broker::{Broker, BrokerConfig};
use weir_client::{Acks, Producer, ProducerConfig, ProducerRecord};
use weir_connectors::config::{EmitSettings, FileSettings, SourceKind, SourceSettings, Watch};
use weir_connectors::emit::Thresholds;
use weir_connectors::file::FileSource;
use weir_connectors::status::{ConnectorStatus, lock};
use weir_connectors::{CheckpointStore, Runner};

fn main() {
    let megabytes: u64 = std::env::var("WEIR_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1074);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let started = Instant::now();
    let (lines, bytes) = write_log(&file, megabytes * 1_000_000);
    eprintln!(
        "wrote {lines} lines, {:.0} MB in {:.1?}",
        bytes as f64 / 1e6,
        started.elapsed()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (address, _stop) = start_broker(dir.path()).await;
        let baseline = produce_loop(&address, &file).await;
        report("producer loop (weir produce)", lines, bytes, baseline);
        let connector = connector(&address, &file, lines).await;
        report("file connector", lines, bytes, connector);
        println!(
            "connector / producer loop: {:.0}% (same run, machine shared with other builds)",
            baseline.as_secs_f64() / connector.as_secs_f64() * 100.0
        );
    });
}

fn report(what: &str, lines: u64, bytes: u64, took: Duration) {
    let seconds = took.as_secs_f64();
    println!(
        "{what:<30} {:>8.2} s  {:>10.0} lines/s  {:>7.1} MB/s",
        seconds,
        lines as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}

/// Writes log-like lines until `target` bytes; returns (lines, bytes without newlines).
fn write_log(path: &Path, target: u64) -> (u64, u64) {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let (mut lines, mut bytes, mut written) = (0u64, 0u64, 0u64);
    let paths = [
        "/api/v1/orders",
        "/api/v1/users/me",
        "/healthz",
        "/api/v2/search?q=boots",
    ];
    while written < target {
        let line = format!(
            "2026-11-25T17:{:02}:{:02}.{:03}Z INFO http request id={lines:012} method=GET path={} \
             status={} latency_ms={} user=u{} bytes_out={} agent=\"weir-bench/1.0\"",
            (lines / 60_000) % 60,
            (lines / 1000) % 60,
            lines % 1000,
            paths[(lines % 4) as usize],
            [200, 200, 404, 500][(lines % 7 % 4) as usize],
            lines % 97,
            lines % 10_007,
            lines % 65_536
        );
        out.write_all(line.as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
        lines += 1;
        bytes += line.len() as u64;
        written += line.len() as u64 + 1;
    }
    out.flush().unwrap();
    (lines, bytes)
}

async fn start_broker(dir: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let text = format!(
        "[broker]\nlisteners = [\"{address}\"]\nlog_dirs = [\"{}\"]\n\n\
         [topics.baseline]\npartitions = 4\n\n[topics.connected]\npartitions = 4\n",
        dir.join("data").display()
    );
    let source = weir_config::Source::new(dir.join("weir.toml"), text);
    let broker = Broker::open(BrokerConfig::parse(&source).unwrap()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = broker
            .serve_on(vec![listener], async {
                let _ = stopped.await;
            })
            .await;
    });
    (address, stop)
}

/// Every line sent with `send`, at most 100k awaiting their answer at once.
async fn produce_loop(address: &str, file: &Path) -> Duration {
    let mut config = ProducerConfig::new([address.to_owned()]);
    config.acks = Acks::Leader;
    config.enable_idempotence = false;
    let producer = Producer::new(config).unwrap();
    let started = Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file).unwrap());
    let mut pending = VecDeque::new();
    for line in reader.lines() {
        pending.push_back(producer.send(ProducerRecord::new("baseline", line.unwrap())));
        if pending.len() > 100_000 {
            pending.pop_front().unwrap().await.unwrap();
        }
    }
    producer.flush().await.unwrap();
    for delivery in pending {
        delivery.await.unwrap();
    }
    started.elapsed()
}

/// The file source from the beginning of the file until every line is acknowledged.
async fn connector(address: &str, file: &Path, lines: u64) -> Duration {
    let settings = SourceSettings {
        name: "bench".to_owned(),
        topic: "connected".to_owned(),
        dead_letter_topic: "bench.dead-letter".to_owned(),
        acks: Acks::Leader,
        partitioner: Default::default(),
        key: None,
        emit: EmitSettings {
            thresholds: Thresholds {
                max_records: 10_000,
                max_bytes: 1 << 20,
                max_delay: Duration::from_millis(100),
            },
            ..EmitSettings::default()
        },
        kind: SourceKind::File(FileSettings::default()),
    };
    let file_settings = FileSettings {
        paths: vec![file.to_path_buf()],
        watch: Watch::Poll,
        ..FileSettings::default()
    };
    let status = ConnectorStatus::starting("bench", "file", "connected").into_handle();
    let store = CheckpointStore::new(&[address.to_owned()]).unwrap();
    let runner = Runner::new(
        settings,
        FileSource::new(file_settings),
        &[address.to_owned()],
        store,
        Arc::clone(&status),
    );
    let started = Instant::now();
    let watched = Arc::clone(&status);
    let done = async move {
        while lock(&watched).events < lines {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    runner.run(done).await.unwrap();
    let took = started.elapsed();
    assert_eq!(lock(&status).events, lines);
    took
}
