//! A cluster of `weir broker` processes on loopback ports: node ids 1, 2, 3… with the first
//! three as the metadata quorum's voters, each with its own Kafka and controller port, data
//! directory and log. Timeouts are shortened so failovers happen within seconds. Brokers
//! can be killed, restarted and added; the cluster's view is read through librdkafka's
//! metadata.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;

use super::kafka::{self, PATIENCE, Recorder};
use super::{Broker, free_port};

/// Cluster settings tuned for tests: fencing after 2 s without heartbeats.
pub const TEST_TIMEOUTS: &str = "broker_session_timeout_ms = \"2s\"\n\
broker_heartbeat_interval_ms = \"200ms\"\n\
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

    fn node_config(&self, id: usize, controller_port: u16) -> String {
        format!(
            "node_id = {id}\ncontroller_quorum_voters = \"{}\"\n\
             controller_listener = \"127.0.0.1:{controller_port}\"\n{}{}\n",
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
