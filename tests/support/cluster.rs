//! A cluster of `weir broker` processes on loopback ports: node ids 1, 2, 3… with the first
//! three as the metadata quorum's voters, each with its own Kafka and controller port, data
//! directory and log. Timeouts are shortened so failovers happen within seconds. Brokers
//! can be killed, restarted and added; the cluster's view is read through librdkafka's
//! metadata.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::kafka::{self, Msg, PATIENCE, Recorder};
use super::unavailability::TimedAck;
use super::{Broker, free_port};

/// Cluster settings tuned for tests: fencing after 1.5 s without heartbeats (ten missed).
pub const TEST_TIMEOUTS: &str = "broker_session_timeout_ms = \"1500ms\"\n\
broker_heartbeat_interval_ms = \"150ms\"\n\
replica_lag_time_max_ms = \"4s\"\n";

/// Slower fencing, for tests where a live broker must not be fenced on a loaded machine.
pub const PATIENT_TIMEOUTS: &str = "broker_session_timeout_ms = \"8s\"\n\
broker_heartbeat_interval_ms = \"250ms\"\n\
replica_lag_time_max_ms = \"10s\"\n";

/// How many nodes vote in the metadata quorum.
const VOTERS: usize = 3;

/// A running cluster.
pub struct Cluster {
    /// By position: node id is index + 1.
    pub brokers: Vec<Broker>,
    voters: String,
    controller_ports: Vec<u16>,
    /// Each voter's listening address (all loopback unless placed in namespaces).
    hosts: Vec<String>,
    extra: String,
    timeouts: &'static str,
}

impl Cluster {
    /// Starts `count` brokers (at least the three voters) with `extra` in each `[broker]`.
    pub fn start(count: usize, extra: &str) -> Self {
        Self::start_with_timeouts(count, TEST_TIMEOUTS, extra)
    }

    /// Like [`Cluster::start`], with other session and lag timeouts.
    pub fn start_with_timeouts(count: usize, timeouts: &'static str, extra: &str) -> Self {
        assert!(
            count >= VOTERS,
            "a test cluster has at least {VOTERS} brokers"
        );
        for _ in 0..5 {
            let kafka_ports: Vec<u16> = (0..VOTERS).map(|_| free_port()).collect();
            let controller_ports: Vec<u16> = (0..VOTERS).map(|_| free_port()).collect();
            let voters = controller_ports
                .iter()
                .enumerate()
                .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
                .collect::<Vec<_>>()
                .join(",");
            let mut cluster = Self {
                brokers: Vec::new(),
                voters,
                controller_ports: controller_ports.clone(),
                hosts: vec!["127.0.0.1".to_owned(); VOTERS],
                extra: extra.to_string(),
                timeouts,
            };
            let mut failed = None;
            for (i, port) in kafka_ports.iter().enumerate() {
                match Broker::start_on(*port, &cluster.node_config(i + 1, controller_ports[i])) {
                    Ok(broker) => cluster.brokers.push(broker),
                    Err(why) => {
                        failed = Some(why);
                        break;
                    }
                }
            }
            match failed {
                None => {
                    while cluster.brokers.len() < count {
                        cluster.add_broker();
                    }
                    cluster.wait_for_brokers(count);
                    return cluster;
                }
                Some(why) if why.contains("Address already in use") => {
                    eprintln!("a port was taken, trying other ports");
                }
                Some(why) => panic!("{why}"),
            }
        }
        panic!("no free ports for the cluster after 5 tries");
    }

    /// The three voters, each on its own host with Kafka port 9092 and controller port
    /// 9093, started through its launcher (`ip netns exec NS`: one network namespace each).
    pub fn start_placed(
        hosts: [&str; VOTERS],
        launchers: [Vec<String>; VOTERS],
        timeouts: &'static str,
        extra: &str,
    ) -> Self {
        let voters = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| format!("{}@{host}:9093", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Self {
            brokers: Vec::new(),
            voters,
            controller_ports: vec![9093; VOTERS],
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            extra: extra.to_string(),
            timeouts,
        };
        for (i, launcher) in launchers.iter().enumerate() {
            let config = cluster.node_config(i + 1, 9093);
            let broker = Broker::start_placed(hosts[i], launcher, 9092, &config)
                .unwrap_or_else(|why| panic!("{why}"));
            cluster.brokers.push(broker);
        }
        cluster.wait_for_brokers(VOTERS);
        cluster
    }

    fn node_config(&self, id: usize, controller_port: u16) -> String {
        let host = self.hosts.get(id - 1).map_or("127.0.0.1", String::as_str);
        format!(
            "node_id = {id}\ncontroller_quorum_voters = \"{}\"\n\
             controller_listener = \"{host}:{controller_port}\"\n{}{}\n",
            self.voters, self.timeouts, self.extra
        )
    }

    /// Starts one more broker (not a voter: it joins as a learner of the metadata log).
    pub fn add_broker(&mut self) -> usize {
        let id = self.brokers.len() + 1;
        for _ in 0..5 {
            let controller_port = free_port();
            match Broker::start_on(free_port(), &self.node_config(id, controller_port)) {
                Ok(broker) => {
                    self.controller_ports.push(controller_port);
                    self.brokers.push(broker);
                    return id;
                }
                Err(why) if why.contains("Address already in use") => {}
                Err(why) => panic!("{why}"),
            }
        }
        panic!("no free port for broker {id}");
    }

    /// The broker with node id `id`.
    pub fn node(&mut self, id: i32) -> &mut Broker {
        &mut self.brokers[id as usize - 1]
    }

    /// Every running broker's address, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .filter(|b| b.is_running())
            .map(Broker::addr)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Metadata for `topic` (or all topics) through a fresh client.
    pub fn metadata(&self, topic: Option<&str>) -> Option<Metadata> {
        let consumer: BaseConsumer<Recorder> = kafka::consumer(&self.bootstrap(), &[]);
        consumer.fetch_metadata(topic, Duration::from_secs(5)).ok()
    }

    /// Waits until `condition` holds for the metadata, or fails after `patience`.
    pub fn wait_until(
        &self,
        what: &str,
        patience: Duration,
        mut condition: impl FnMut(&Metadata) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if self.metadata(None).is_some_and(|m| condition(&m)) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < patience,
                "{what}: not within {patience:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `count` brokers are registered and live.
    pub fn wait_for_brokers(&self, count: usize) {
        self.wait_until(&format!("{count} live brokers"), PATIENCE, |m| {
            m.brokers().len() == count
        });
    }

    /// The leader, replicas and ISR of `topic`/`partition` as the metadata says (asking
    /// again for a while if no broker answers).
    pub fn partition(&self, topic: &str, partition: i32) -> Option<(i32, Vec<i32>, Vec<i32>)> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self.metadata(None).and_then(|metadata| {
                let t = metadata.topics().iter().find(|t| t.name() == topic)?;
                let p = t.partitions().iter().find(|p| p.id() == partition)?;
                Some((p.leader(), p.replicas().to_vec(), p.isr().to_vec()))
            });
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Creates `topic` through librdkafka's admin client and waits until every partition has a
/// leader.
pub async fn create_topic(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    replicas: i32,
    configs: &[(&str, &str)],
) {
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replicas));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let results = kafka::admin(&cluster.bootstrap())
        .create_topics([&new], &AdminOptions::new().request_timeout(Some(PATIENCE)))
        .await
        .expect("the CreateTopics request");
    assert_eq!(results, vec![Ok(topic.to_string())]);
    cluster.wait_until("the topic's leaders", PATIENCE, |m| {
        m.topics().iter().any(|t| {
            t.name() == topic
                && t.partitions().len() == partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0)
        })
    });
}

/// Whether every partition of `topic` has all its replicas in the ISR.
pub fn fully_replicated(m: &rdkafka::metadata::Metadata, topic: &str) -> bool {
    m.topics().iter().any(|t| {
        t.name() == topic
            && t.partitions()
                .iter()
                .all(|p| p.leader() >= 0 && p.isr().len() == p.replicas().len())
    })
}

/// Reads every partition of `topic` from offset 0 up to its high watermark.
pub fn read_back(cluster: &Cluster, topic: &str, partitions: i32) -> BTreeMap<i32, Vec<Msg>> {
    let consumer = kafka::consumer(&cluster.bootstrap(), &[]);
    let mut assignment = TopicPartitionList::new();
    let mut total = 0;
    for p in 0..partitions {
        // A broker still applying a leader change answers NOT_LEADER: ask again.
        let deadline = std::time::Instant::now() + PATIENCE;
        let (_, high) = loop {
            match consumer.fetch_watermarks(topic, p, PATIENCE) {
                Ok(marks) => break marks,
                Err(e) if std::time::Instant::now() < deadline => {
                    eprintln!("watermarks of {topic}/{p}: {e}; asking again");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => panic!("watermarks of {topic}/{p}: {e}"),
            }
        };
        total += high as usize;
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    kafka::poll_records(&consumer, total, PATIENCE * 2)
}

/// A replicated topic (3 replicas, 2 required in sync) with an `acks=all` producer thread
/// writing to it until [`AcksAllLoad::finish`].
pub struct AcksAllLoad {
    stop: Arc<AtomicBool>,
    producing: std::thread::JoinHandle<Acknowledged>,
}

/// What an [`AcksAllLoad`] got acknowledged.
pub struct Acknowledged {
    /// Every acknowledged record, in the order the acknowledgements came.
    pub records: Vec<Msg>,
    /// For each of `records`, when it was sent and when its acknowledgement was reported.
    pub timings: Vec<TimedAck>,
    /// How many deliveries failed for good.
    pub failed: usize,
}

impl AcksAllLoad {
    /// Creates `topic` with `partitions` on `cluster` and starts producing to it.
    pub async fn start(cluster: &Cluster, topic: &str, partitions: i32) -> Self {
        create_topic(
            cluster,
            topic,
            partitions,
            3,
            &[("min.insync.replicas", "2")],
        )
        .await;
        let stop = Arc::new(AtomicBool::new(false));
        let producing = produce_continuously(
            cluster.bootstrap(),
            topic.to_owned(),
            partitions,
            Arc::clone(&stop),
        );
        Self { stop, producing }
    }

    /// Stops producing; what was acknowledged, and how many deliveries failed.
    pub fn finish(self) -> Acknowledged {
        self.stop.store(true, Ordering::Relaxed);
        self.producing.join().unwrap()
    }
}

/// The payload of the `i`th record of a load, and back.
fn load_value(i: u64) -> String {
    format!("record-{i}")
}

fn load_index(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value)
        .ok()?
        .strip_prefix("record-")?
        .parse()
        .ok()
}

/// Produces `acks=all` continuously from a thread, round robin over the partitions;
/// returns every acknowledged record with when it was sent and acknowledged.
fn produce_continuously(
    bootstrap: String,
    topic: String,
    partitions: i32,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Acknowledged> {
    std::thread::spawn(move || {
        let producer = kafka::producer(
            &bootstrap,
            &[
                ("acks", "all"),
                ("linger.ms", "5"),
                ("message.timeout.ms", "20000"),
                ("enable.idempotence", "false"),
                ("topic.metadata.refresh.interval.ms", "500"),
            ],
        );
        // When record `i` was handed to the producer.
        let mut sent_at: Vec<Instant> = Vec::new();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let value = load_value(i);
            let record = BaseRecord::<[u8], [u8]>::to(&topic)
                .payload(value.as_bytes())
                .partition((i % partitions as u64) as i32);
            if producer.send(record).is_ok() {
                sent_at.push(Instant::now());
                i += 1;
            }
            producer.poll(Duration::from_millis(1));
            if i.is_multiple_of(50) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let _ = producer.flush(Duration::from_secs(30));
        let (delivered, failures) = kafka::take_reports_timed(&producer);
        if let Some((error, msg)) = failures.first() {
            eprintln!(
                "first failed delivery: {error} (partition {})",
                msg.partition
            );
        }
        let timings = delivered
            .iter()
            .map(|(m, acked)| TimedAck {
                partition: m.partition,
                sent: load_index(&m.value)
                    .and_then(|i| sent_at.get(i).copied())
                    .expect("an acknowledged record the load sent"),
                acked: *acked,
            })
            .collect();
        Acknowledged {
            records: delivered.into_iter().map(|(m, _)| m).collect(),
            timings,
            failed: failures.len(),
        }
    })
}

/// Reads every partition of `topic` from the start in a thread while the cluster fails
/// over, until `stop` is set and it has reached the high watermark of each partition;
/// returns what it read, by partition, in the order it read it.
pub fn consume_continuously(
    bootstrap: String,
    topic: String,
    partitions: i32,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<BTreeMap<i32, Vec<Msg>>> {
    std::thread::spawn(move || {
        let consumer =
            kafka::consumer(&bootstrap, &[("topic.metadata.refresh.interval.ms", "500")]);
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(&topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut got: BTreeMap<i32, Vec<Msg>> = BTreeMap::new();
        let poll = |got: &mut BTreeMap<i32, Vec<Msg>>| {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                got.entry(m.partition()).or_default().push(kafka::owned(&m));
            }
        };
        while !stop.load(Ordering::Relaxed) {
            poll(&mut got);
        }
        let deadline = Instant::now() + PATIENCE * 2;
        for p in 0..partitions {
            let (_, high) = consumer.fetch_watermarks(&topic, p, PATIENCE).unwrap();
            while got.get(&p).map_or(0, Vec::len) < high as usize && Instant::now() < deadline {
                poll(&mut got);
            }
        }
        got
    })
}

/// Fails unless every acknowledged record is stored at the offset it was acknowledged with.
pub fn assert_acknowledged_at_their_offsets(acked: &[Msg], got: &BTreeMap<i32, Vec<Msg>>) {
    let mut lost = Vec::new();
    for m in acked {
        let stored = got
            .get(&m.partition)
            .and_then(|records| records.get(m.offset as usize));
        if stored.map(|s| &s.value) != Some(&m.value) {
            lost.push((
                m.partition,
                m.offset,
                String::from_utf8_lossy(&m.value).to_string(),
            ));
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged records not at their offsets, first: {:?}",
        lost.len(),
        lost.first()
    );
}
