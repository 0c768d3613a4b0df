//! SIGKILL the connector at random points while 100k lines are appended to two files:
//! after the last restart every line is in the topic once, in order per file. Lines read
//! again after a restart (from the last saved checkpoint on) are found in the topic by
//! their event ids and not produced again; any duplicate fails the test. Prints its seed;
//! `WEIR_CONNECT_SEED=<n>` replays the same kill times.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use weir_client::{Consumer, ConsumerConfig, OffsetReset};

use crate::harness::{Connect, file_source, runtime};
use crate::support::Broker;

const LINES: usize = 100_000;

#[test]
fn sigkill_at_random_points_loses_nothing() {
    let seed: u64 = std::env::var("WEIR_CONNECT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("WEIR_CONNECT_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let paths = [dir.path().join("a.log"), dir.path().join("b.log")];
    for path in &paths {
        std::fs::write(path, "").unwrap();
    }
    let pattern = dir.path().join("*.log");
    let mut connect = Connect::start(
        dir.path(),
        &file_source(
            &broker.addr(),
            "killed",
            &[&pattern],
            "",
            "max_records = 500\nmax_delay = \"20ms\"",
        ),
    );
    let writer_paths = paths.clone();
    let writer = std::thread::spawn(move || {
        let mut files: Vec<std::fs::File> = writer_paths
            .iter()
            .map(|p| std::fs::File::options().append(true).open(p).unwrap())
            .collect();
        for chunk in 0..(LINES / 1000) {
            for i in chunk * 1000..(chunk + 1) * 1000 {
                let file = i % 2;
                writeln!(
                    files[file],
                    "{} {i:06} {}",
                    ["a", "b"][file],
                    "x".repeat(40)
                )
                .unwrap();
            }
            std::thread::sleep(Duration::from_millis(60));
        }
    });
    let mut kills = 0;
    while !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..1200)));
        connect.kill();
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..300)));
        connect.spawn();
    }
    writer.join().unwrap();
    let by_file = read_until_complete(&broker.addr(), "killed");
    let mut duplicates = 0;
    for (file, sequence) in &by_file {
        // In order per file: each line is the next one; never a gap.
        let mut highest: Option<usize> = None;
        for pair in sequence.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            assert!(
                after == before + 2 || after <= before,
                "file {file}: line {after} follows {before} (seed {seed})"
            );
        }
        for &line in sequence {
            if highest.is_some_and(|h| line <= h) {
                duplicates += 1;
            } else {
                highest = Some(line);
            }
        }
        let expected_last = if *file == "a" { LINES - 2 } else { LINES - 1 };
        assert_eq!(highest, Some(expected_last), "file {file} (seed {seed})");
    }
    let total: usize = by_file.values().map(Vec::len).sum();
    eprintln!(
        "{kills} SIGKILLs while {LINES} lines were appended: {total} records, {duplicates} duplicates \
         ({:.3}%)",
        duplicates as f64 * 100.0 / LINES as f64
    );
    assert_eq!(duplicates, 0, "lines produced twice (seed {seed})");
    connect.stop();
}

/// Reads the topic until every line of both files is there; returns the line numbers per
/// file in topic order.
fn read_until_complete(bootstrap: &str, topic: &str) -> BTreeMap<&'static str, Vec<usize>> {
    runtime().block_on(async {
        let mut config = ConsumerConfig::new([bootstrap.to_owned()]);
        config.auto_offset_reset = OffsetReset::Earliest;
        config.enable_auto_commit = false;
        config.max_poll_records = 10_000;
        let mut consumer = Consumer::new(config).unwrap();
        let partitions = consumer.partitions_for(topic).await.unwrap();
        consumer.assign(partitions.clone());
        consumer.seek_to_beginning(&partitions).unwrap();
        let mut by_file: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
        let mut seen = vec![false; LINES];
        let mut missing = LINES;
        let deadline = Instant::now() + Duration::from_secs(180);
        while missing > 0 {
            assert!(Instant::now() < deadline, "{missing} lines never arrived");
            for record in consumer.poll(Duration::from_millis(500)).await.unwrap() {
                let value = record.value.unwrap();
                let text = std::str::from_utf8(&value).unwrap();
                let mut parts = text.split(' ');
                let file = if parts.next() == Some("a") { "a" } else { "b" };
                let line: usize = parts.next().unwrap().parse().unwrap();
                by_file.entry(file).or_default().push(line);
                if !std::mem::replace(&mut seen[line], true) {
                    missing -= 1;
                }
            }
        }
        by_file
    })
}
