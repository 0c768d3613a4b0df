//! A network partition: three brokers, each in its own network namespace, linked pairwise
//! and to the test (the root namespace) by veth pairs. The leader of a replicated partition
//! is cut off from the other two brokers while the test's clients still reach it: it must
//! stop acknowledging `acks=all` writes, the majority elects a new leader in a later epoch
//! and takes writes, and once the links are back the old leader drops the tail it appended
//! alone (`acks=1` writes nobody else has) and ends with the same log as the others. No
//! `acks=all` write acknowledged at any time is lost.
//!
//! Needs root and `ip` (iproute2), as `.ci/run` has; it fails saying so otherwise.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;
use support::cluster::{Cluster, TEST_TIMEOUTS, create_topic, fully_replicated};
use support::kafka::{self, PATIENCE, Record};

/// The brokers' addresses, one per namespace.
const HOSTS: [&str; 3] = ["10.77.0.1", "10.77.0.2", "10.77.0.3"];
/// The test's own address in the root namespace.
const CLIENT: &str = "10.77.1.254";
const TOPIC: &str = "split";

/// The namespaces and links; removed when dropped.
struct Network {
    namespaces: Vec<String>,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("this test needs `ip` (iproute2) and root to build network namespaces: {e}")
    });
    assert!(
        output.status.success(),
        "ip {}: {} (this test needs root to build network namespaces)",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

impl Network {
    fn new() -> Self {
        let tag = std::process::id() % 100_000;
        let namespaces: Vec<String> = (1..=3).map(|n| format!("weir-np{tag}-{n}")).collect();
        let network = Self { namespaces };
        ip(&["addr", "replace", &format!("{CLIENT}/32"), "dev", "lo"]);
        for (i, ns) in network.namespaces.iter().enumerate() {
            let host = HOSTS[i];
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "addr", "add", &format!("{host}/32"), "dev", "lo"]);
            // The link to the test.
            let root_end = format!("wnp{tag}r{}", i + 1);
            ip(&[
                "link", "add", &root_end, "type", "veth", "peer", "name", "client", "netns", ns,
            ]);
            ip(&["link", "set", &root_end, "up"]);
            ip(&["-n", ns, "link", "set", "client", "up"]);
            ip(&[
                "route",
                "replace",
                &format!("{host}/32"),
                "dev",
                &root_end,
                "src",
                CLIENT,
            ]);
            ip(&[
                "-n",
                ns,
                "route",
                "replace",
                &format!("{CLIENT}/32"),
                "dev",
                "client",
                "src",
                host,
            ]);
        }
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            let (to_b, to_a) = (format!("p{}", b + 1), format!("p{}", a + 1));
            ip(&[
                "-n",
                &network.namespaces[a],
                "link",
                "add",
                &to_b,
                "type",
                "veth",
                "peer",
                "name",
                &to_a,
                "netns",
                &network.namespaces[b],
            ]);
            network.connect(a, b);
        }
        network
    }

    /// Brings the link between brokers `a` and `b` (indexes) up, with its routes (a link
    /// that went down lost them).
    fn connect(&self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            let ns = &self.namespaces[from];
            let link = format!("p{}", to + 1);
            ip(&["-n", ns, "link", "set", &link, "up"]);
        }
        for (from, to) in [(a, b), (b, a)] {
            let ns = &self.namespaces[from];
            let link = format!("p{}", to + 1);
            ip(&[
                "-n",
                ns,
                "route",
                "replace",
                &format!("{}/32", HOSTS[to]),
                "dev",
                &link,
                "src",
                HOSTS[from],
            ]);
        }
    }

    /// Cuts broker `node` (index) off from the other two; the test still reaches it.
    fn isolate(&self, node: usize) {
        for other in (0..3).filter(|o| *o != node) {
            ip(&[
                "-n",
                &self.namespaces[node],
                "link",
                "set",
                &format!("p{}", other + 1),
                "down",
            ]);
        }
    }

    fn heal(&self, node: usize) {
        for other in (0..3).filter(|o| *o != node) {
            self.connect(node, other);
        }
    }

    fn launcher(&self, node: usize) -> Vec<String> {
        ["ip", "netns", "exec", self.namespaces[node].as_str()]
            .map(str::to_owned)
            .to_vec()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes its links, the root ends included.
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip")
            .args(["addr", "del", &format!("{CLIENT}/32"), "dev", "lo"])
            .output();
    }
}

/// The partition's leader and ISR as the broker at `addr` sees them.
fn seen_by(addr: &str) -> Option<(i32, Vec<i32>)> {
    let consumer = kafka::consumer(addr, &[]);
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), Duration::from_secs(3))
        .ok()?;
    let partition = metadata.topics().first()?.partitions().first()?;
    Some((partition.leader(), partition.isr().to_vec()))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn values(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record::unkeyed(format!("{prefix}-{i}")).with_partition(0))
        .collect()
}

/// The bytes of the partition's segment files in a broker's data directory.
fn segments(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let partition = dir.join(format!("{TOPIC}-0"));
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&partition)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn an_isolated_leader_stops_acknowledging_and_rejoins_without_its_tail() {
    let network = Network::new();
    let mut cluster = Cluster::start_placed(
        HOSTS,
        [
            network.launcher(0),
            network.launcher(1),
            network.launcher(2),
        ],
        TEST_TIMEOUTS,
        "",
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(create_topic(
        &cluster,
        TOPIC,
        1,
        3,
        &[("min.insync.replicas", "2")],
    ));
    cluster.wait_until("all replicas in sync", PATIENCE, |m| {
        fully_replicated(m, TOPIC)
    });
    let all = [("acks", "all"), ("enable.idempotence", "false")];
    let before = kafka::produce(
        &kafka::producer(&cluster.bootstrap(), &all),
        TOPIC,
        &values("before", 100),
    );
    assert_eq!(before.len(), 100);

    let (leader, _, _) = cluster.partition(TOPIC, 0).unwrap();
    let old = leader as usize - 1;
    let old_addr = cluster.node(leader).addr();
    let majority: Vec<String> = (0..3)
        .filter(|i| *i != old)
        .map(|i| cluster.brokers[i].addr())
        .collect();
    network.isolate(old);

    // The old leader, still reachable, must not acknowledge acks=all writes...
    let cut_off = [
        ("acks", "all"),
        ("enable.idempotence", "false"),
        ("message.timeout.ms", "8000"),
        ("topic.metadata.refresh.interval.ms", "600000"),
    ];
    let (acked, failed) = kafka::produce_allowing_failures(
        &kafka::producer(&old_addr, &cut_off),
        TOPIC,
        &values("cut-off-all", 10),
    );
    assert!(
        acked.is_empty(),
        "the isolated leader acknowledged acks=all writes: {acked:?}"
    );
    assert_eq!(failed.len(), 10);
    // ...while acks=1 writes it may take alone: its tail nobody else has.
    let alone = [
        ("acks", "1"),
        ("enable.idempotence", "false"),
        ("message.timeout.ms", "8000"),
        ("topic.metadata.refresh.interval.ms", "600000"),
    ];
    let (alone_acked, _) = kafka::produce_allowing_failures(
        &kafka::producer(&old_addr, &alone),
        TOPIC,
        &values("alone", 10),
    );

    eprintln!(
        "isolated leader {leader}: 0 of 10 acks=all writes acknowledged, {} of 10 acks=1",
        alone_acked.len()
    );

    // The majority elects one of its own.
    let new_leader = {
        let mut found = -1;
        wait_for("a new leader on the majority side", || {
            found = seen_by(&majority[0]).map_or(-1, |(l, _)| l);
            found >= 0 && found != leader
        });
        found
    };
    let after = kafka::produce(
        &kafka::producer(&majority.join(","), &all),
        TOPIC,
        &values("after", 100),
    );
    assert_eq!(after.len(), 100);

    network.heal(old);
    wait_for("the old leader back in the ISR", || {
        seen_by(&majority[0]).is_some_and(|(l, isr)| l == new_leader && isr.contains(&leader))
    });

    // Every acknowledged acks=all write, once, in order; nothing of the cut-off tail.
    let consumer = kafka::consumer(&majority.join(","), &[]);
    let (_, high) = consumer.fetch_watermarks(TOPIC, 0, PATIENCE).unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let read = kafka::poll_records(&consumer, high as usize, PATIENCE);
    let got: Vec<String> = read[&0]
        .iter()
        .map(|m| String::from_utf8(m.value.clone()).unwrap())
        .collect();
    let wanted: Vec<String> = (0..100)
        .map(|i| format!("before-{i}"))
        .chain((0..100).map(|i| format!("after-{i}")))
        .collect();
    assert_eq!(got, wanted, "the log after healing");

    // No divergent replica: the three copies end byte for byte the same.
    let dirs: Vec<std::path::PathBuf> = cluster.brokers.iter().map(|b| b.data_dir()).collect();
    wait_for("the three copies identical", || {
        let first = segments(&dirs[0]);
        !first.is_empty() && dirs[1..].iter().all(|d| segments(d) == first)
    });
}
