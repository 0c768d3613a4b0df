//! Network partitions and random faults, with three brokers each in its own network
//! namespace, linked pairwise and to the test (the root namespace) by veth pairs, so a
//! broker can be cut off from its peers while the test's clients still reach it.
//!
//! - The leader of a replicated partition is cut off: it must stop acknowledging `acks=all`
//!   writes, the majority elects a new leader in a later epoch and takes writes, and once the
//!   links are back the old leader drops the tail it appended alone (the writes it could not
//!   replicate) and ends with the same log as the others.
//! - Seeded random faults (kills and restarts, partitions, pauses of a stalled process, slow
//!   disks throttled through a blkio cgroup) under an `acks=all` load: every acknowledged record stays at its offset, the logs stay
//!   contiguous, and the copies end byte for byte equal. `WEIR_FAULT_SEED=<n>` replays a run,
//!   `WEIR_FAULT_ROUNDS=<n>` makes it longer (default 6).
//!
//! Needs root and `ip` (iproute2), as `.ci/run` has, and cgroup v1 blkio throttling for the
//! slow disks; it fails saying so otherwise.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use rdkafka::consumer::Consumer as _;
use support::cluster::{
    Acknowledged, AcksAllLoad, Cluster, TEST_TIMEOUTS, assert_acknowledged_at_their_offsets,
    create_topic, fully_replicated, read_back,
};
use support::kafka::{self, PATIENCE, Record};
use support::slow_disk::{SlowDisk, require_blkio};

const TOPIC: &str = "split";

/// The namespaces and links of one test (each test its own subnet); removed when dropped.
struct Network {
    namespaces: Vec<String>,
    /// The brokers' addresses, one per namespace.
    hosts: [String; 3],
    /// The test's own address in the root namespace.
    client: String,
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
    /// Namespaces with addresses `10.77.{subnet}.1-3`, the test at `10.77.{subnet}.254`.
    fn new(subnet: u8) -> Self {
        let tag = std::process::id() % 10_000;
        let namespaces: Vec<String> = (1..=3)
            .map(|n| format!("weir-np{tag}-{subnet}-{n}"))
            .collect();
        let network = Self {
            namespaces,
            hosts: [1, 2, 3].map(|n| format!("10.77.{subnet}.{n}")),
            client: format!("10.77.{subnet}.254"),
        };
        let client = network.client.as_str();
        ip(&["addr", "replace", &format!("{client}/32"), "dev", "lo"]);
        for (i, ns) in network.namespaces.iter().enumerate() {
            let host = network.hosts[i].as_str();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "addr", "add", &format!("{host}/32"), "dev", "lo"]);
            // The link to the test.
            let root_end = format!("wn{tag}s{subnet}r{}", i + 1);
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
                client,
            ]);
            ip(&[
                "-n",
                ns,
                "route",
                "replace",
                &format!("{client}/32"),
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
                &format!("{}/32", self.hosts[to]),
                "dev",
                &link,
                "src",
                &self.hosts[from],
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

    /// Three brokers, one in each namespace.
    fn cluster(&self) -> Cluster {
        Cluster::start_placed(
            [&self.hosts[0], &self.hosts[1], &self.hosts[2]].map(String::as_str),
            [self.launcher(0), self.launcher(1), self.launcher(2)],
            TEST_TIMEOUTS,
            "",
        )
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes its links, the root ends included.
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip")
            .args(["addr", "del", &format!("{}/32", self.client), "dev", "lo"])
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

/// The bytes of a partition's segment files in a broker's data directory.
fn segments(dir: &std::path::Path, topic: &str, partition: i32) -> Vec<(String, Vec<u8>)> {
    let partition = dir.join(format!("{topic}-{partition}"));
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
    let network = Network::new(0);
    let mut cluster = network.cluster();
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
    // ...though it appended them: a tail of its own that no other copy has.
    let log_bytes = |broker: usize| -> usize {
        segments(&cluster.brokers[broker].data_dir(), TOPIC, 0)
            .iter()
            .map(|(_, bytes)| bytes.len())
            .sum()
    };
    let peer = (old + 1) % 3;
    let (tail, peer_bytes) = (log_bytes(old), log_bytes(peer));
    assert!(
        tail > peer_bytes,
        "the isolated leader's copy ({tail} B) should be ahead of its peer's ({peer_bytes} B)"
    );
    eprintln!(
        "isolated leader {leader}: 0 of 10 acks=all writes acknowledged; its copy {tail} B, a peer's {peer_bytes} B"
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

    assert_copies_identical(&cluster, TOPIC, 1);
}

/// No divergent replica: each partition's three copies end byte for byte the same.
fn assert_copies_identical(cluster: &Cluster, topic: &str, partitions: i32) {
    let dirs: Vec<std::path::PathBuf> = cluster.brokers.iter().map(|b| b.data_dir()).collect();
    for partition in 0..partitions {
        wait_for(
            &format!("the copies of {topic}-{partition} identical"),
            || {
                let first = segments(&dirs[0], topic, partition);
                !first.is_empty()
                    && dirs[1..]
                        .iter()
                        .all(|d| segments(d, topic, partition) == first)
            },
        );
    }
}

/// One fault, on one broker at a time so a majority stays.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL, then a restart on the same data.
    Kill,
    /// Cut off from its peers (the clients still reach it), then healed.
    Partition,
    /// SIGSTOP then SIGCONT: a process that stalls.
    Pause,
    /// Its writes and fsyncs throttled to a few dozen per second (a blkio cgroup), then
    /// back to full speed: a slow disk.
    SlowDisk { write_iops: u32, write_bps: u64 },
}

impl Fault {
    /// A fault drawn from `rng`, with how long it lasts.
    fn draw(rng: &mut impl rand::Rng) -> (Self, Duration) {
        match rng.gen_range(0..4) {
            0 => (Self::Kill, Duration::from_millis(rng.gen_range(500..4000))),
            1 => (
                Self::Partition,
                Duration::from_millis(rng.gen_range(500..4000)),
            ),
            2 => (Self::Pause, Duration::from_millis(rng.gen_range(500..4000))),
            _ => (
                Self::SlowDisk {
                    write_iops: rng.gen_range(20..=50),
                    write_bps: rng.gen_range(256..=2048) << 10,
                },
                Duration::from_millis(rng.gen_range(2000..6000)),
            ),
        }
    }
}

#[test]
fn random_faults_lose_and_reorder_no_acknowledged_record() {
    let seed: u64 = std::env::var("WEIR_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let rounds: usize = std::env::var("WEIR_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    eprintln!("WEIR_FAULT_SEED={seed} WEIR_FAULT_ROUNDS={rounds}");
    require_blkio();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let network = Network::new(1);
    let mut cluster = network.cluster();
    let topic = "chaos";
    let partitions = 3;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let load = runtime.block_on(AcksAllLoad::start(&cluster, topic, partitions));
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    // Each fault and when it held, to show what it did to the producer.
    let mut windows = Vec::new();
    for round in 0..rounds {
        let (fault, lasts) = Fault::draw(&mut rng);
        let node = rng.gen_range(0..3usize);
        eprintln!("round {round}: {fault:?} broker {} for {lasts:?}", node + 1);
        let id = node as i32 + 1;
        let from = Instant::now();
        match fault {
            Fault::Kill => {
                cluster.node(id).kill();
                std::thread::sleep(lasts);
                cluster.node(id).restart();
            }
            Fault::Partition => {
                network.isolate(node);
                std::thread::sleep(lasts);
                network.heal(node);
            }
            Fault::Pause => {
                cluster.node(id).pause();
                std::thread::sleep(lasts);
                cluster.node(id).resume();
            }
            Fault::SlowDisk {
                write_iops,
                write_bps,
            } => {
                let broker = cluster.node(id);
                let pid = broker.pid().expect("the broker runs");
                let slow = SlowDisk::throttle(pid, &broker.data_dir(), write_iops, write_bps);
                std::thread::sleep(lasts);
                eprintln!(
                    "round {round}: {} writes of broker {id} went through the throttle",
                    slow.writes()
                );
            }
        }
        windows.push((round, fault, from, Instant::now()));
        cluster.wait_until("every replica back in sync", PATIENCE * 2, |m| {
            fully_replicated(m, topic)
        });
    }
    let Acknowledged {
        records: acked,
        timings,
        failed,
    } = load.finish();
    let rate = |from: Instant, to: Instant| {
        let n = timings
            .iter()
            .filter(|t| t.acked >= from && t.acked < to)
            .count();
        n as f64 / to.duration_since(from).as_secs_f64()
    };
    let overall = rate(started, Instant::now());
    for (round, fault, from, to) in windows {
        eprintln!(
            "round {round}: {fault:?}: {:.0} acknowledgements/s while it held ({overall:.0}/s over the run)",
            rate(from, to)
        );
    }
    eprintln!(
        "{rounds} faults: {} records acknowledged, {failed} failed (seed {seed})",
        acked.len()
    );
    assert!(!acked.is_empty(), "nothing was acknowledged (seed {seed})");
    cluster.wait_until("every replica in sync at the end", PATIENCE * 2, |m| {
        fully_replicated(m, topic)
    });
    let got = read_back(&cluster, topic, partitions);
    kafka::assert_contiguous(&got);
    assert_acknowledged_at_their_offsets(&acked, &got);
    assert_copies_identical(&cluster, topic, partitions);
}
