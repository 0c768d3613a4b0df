//! The cluster settings of the `[broker]` table: which nodes vote in the metadata quorum and
//! where their controllers listen, and the replication and liveness timeouts. Without
//! `controller_quorum_voters` the broker runs alone, as a single node, exactly as before.
//!
//! ```toml
//! [broker]
//! node_id = 1
//! controller_quorum_voters = "1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293"
//! controller_listener = "127.0.0.1:9093"   # default: this node's voter address
//! replica_lag_time_max_ms = "30s"
//! broker_session_timeout_ms = "9s"
//! broker_heartbeat_interval_ms = "2s"
//! auto_leader_rebalance_enable = true
//! leader_imbalance_check_interval_seconds = "300s"
//! leader_imbalance_per_broker_percentage = 10
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use weir_config::TableReader;

/// Kafka's defaults for `replica.lag.time.max.ms`, `broker.session.timeout.ms` and
/// `broker.heartbeat.interval.ms`.
const DEFAULT_REPLICA_LAG_TIME_MAX: Duration = Duration::from_secs(30);
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(9);
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// Kafka's defaults for `leader.imbalance.check.interval.seconds` and
/// `leader.imbalance.per.broker.percentage`.
const DEFAULT_IMBALANCE_CHECK_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_IMBALANCE_PERCENTAGE: u32 = 10;

/// How this broker takes part in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    voters: BTreeMap<u64, String>,
    controller_listener: String,
    replica_lag_time_max: Duration,
    session_timeout: Duration,
    heartbeat_interval: Duration,
    /// `None` with `auto_leader_rebalance_enable = false`.
    imbalance_check_interval: Option<Duration>,
    imbalance_percentage: u32,
}

impl ClusterConfig {
    /// The metadata quorum's voters: node id to controller `host:port`.
    pub fn voters(&self) -> &BTreeMap<u64, String> {
        &self.voters
    }

    /// Where this node's controller listens (`controller_listener`, default its voter
    /// address).
    pub fn controller_listener(&self) -> &str {
        &self.controller_listener
    }

    /// How long a follower may go without catching up before it leaves the ISR
    /// (`replica_lag_time_max_ms`, default 30 s).
    pub fn replica_lag_time_max(&self) -> Duration {
        self.replica_lag_time_max
    }

    /// How long the controller waits for a broker's heartbeat before fencing it
    /// (`broker_session_timeout_ms`, default 9 s).
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// How often a broker heartbeats to the controller (`broker_heartbeat_interval_ms`,
    /// default 2 s).
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// How often the controller hands leadership back to preferred replicas
    /// (`leader_imbalance_check_interval_seconds`, default 300 s); `None` when
    /// `auto_leader_rebalance_enable` is false.
    pub fn leader_imbalance_check_interval(&self) -> Option<Duration> {
        self.imbalance_check_interval
    }

    /// The share of a broker's preferred partitions, in percent, that may be led elsewhere
    /// before they are handed back (`leader_imbalance_per_broker_percentage`, default 10).
    pub fn leader_imbalance_percentage(&self) -> u32 {
        self.imbalance_percentage
    }

    /// Reads the cluster keys of `[broker]`; `None` when no voters are named (a single node).
    pub(super) fn read(broker: &mut TableReader<'_>, node_id: i32) -> Option<Self> {
        let voters_text = broker.string("controller_quorum_voters");
        let listener = broker.string("controller_listener");
        let lag = positive(broker, "replica_lag_time_max_ms");
        let session = positive(broker, "broker_session_timeout_ms");
        let heartbeat = positive(broker, "broker_heartbeat_interval_ms");
        let rebalance = broker.bool("auto_leader_rebalance_enable").unwrap_or(true);
        let check = positive(broker, "leader_imbalance_check_interval_seconds");
        let percentage = broker.integer("leader_imbalance_per_broker_percentage", 0..=100u32);
        let voters_text = voters_text?;
        let voters = match parse_voters(&voters_text) {
            Ok(voters) => voters,
            Err(message) => {
                broker.reject("controller_quorum_voters", message);
                return None;
            }
        };
        let own = voters.get(&(node_id as u64)).cloned();
        let controller_listener = match (listener, own) {
            (Some(listener), _) if !super::is_host_port(&listener) => {
                broker.reject(
                    "controller_listener",
                    format!("\"{listener}\" is not a host:port address"),
                );
                return None;
            }
            (Some(listener), _) => listener,
            (None, Some(own)) => own,
            (None, None) => {
                broker.reject(
                    "controller_quorum_voters",
                    format!(
                        "node_id {node_id} is not a voter: name it here, or set \
                         controller_listener for a broker that joins as an observer"
                    ),
                );
                return None;
            }
        };
        let config = Self {
            voters,
            controller_listener,
            replica_lag_time_max: lag.unwrap_or(DEFAULT_REPLICA_LAG_TIME_MAX),
            session_timeout: session.unwrap_or(DEFAULT_SESSION_TIMEOUT),
            heartbeat_interval: heartbeat.unwrap_or(DEFAULT_HEARTBEAT_INTERVAL),
            imbalance_check_interval: rebalance
                .then(|| check.unwrap_or(DEFAULT_IMBALANCE_CHECK_INTERVAL)),
            imbalance_percentage: percentage.unwrap_or(DEFAULT_IMBALANCE_PERCENTAGE),
        };
        if config.heartbeat_interval >= config.session_timeout {
            broker.reject(
                "broker_heartbeat_interval_ms",
                "must be shorter than broker_session_timeout_ms",
            );
            return None;
        }
        Some(config)
    }
}

fn positive(broker: &mut TableReader<'_>, key: &str) -> Option<Duration> {
    let value = broker.duration(key);
    broker.ensure(key, value, "at least 1ms", |d| !d.is_zero())
}

/// Kafka's `controller.quorum.voters` syntax: `id@host:port`, comma separated.
fn parse_voters(text: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut voters = BTreeMap::new();
    for entry in text.split(',').map(str::trim) {
        let (id, address) = entry.split_once('@').ok_or_else(|| {
            format!("\"{entry}\" is not id@host:port, as in \"1@127.0.0.1:9093\"")
        })?;
        let id: u64 = id
            .parse()
            .map_err(|_| format!("\"{id}\" in \"{entry}\" is not a node id"))?;
        if !super::is_host_port(address) {
            return Err(format!("\"{address}\" in \"{entry}\" is not host:port"));
        }
        if voters.insert(id, address.to_string()).is_some() {
            return Err(format!("node {id} is listed twice"));
        }
    }
    Ok(voters)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_kafka_voter_syntax() {
        let voters = parse_voters("1@127.0.0.1:9093, 2@localhost:9094").unwrap();
        assert_eq!(voters[&1], "127.0.0.1:9093");
        assert_eq!(voters[&2], "localhost:9094");
        assert!(parse_voters("1@127.0.0.1").is_err());
        assert!(parse_voters("x@127.0.0.1:1").is_err());
        assert!(parse_voters("1@a:1,1@b:2").is_err());
    }
}
