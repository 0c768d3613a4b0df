//! An in-process broker, and running a connectors config against it.

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use weir_broker::{Broker, BrokerConfig};
use weir_client::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use weir_connectors::{ConnectConfig, ConnectorError};

pub(crate) struct TestBroker {
    pub(crate) address: String,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestBroker {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let text = format!(
            "[broker]\nlisteners = [\"{address}\"]\nlog_dirs = [\"{}\"]\nnum_partitions = 1\n",
            dir.path().join("data").display()
        );
        let source = weir_config::Source::new(dir.path().join("weir.toml"), text);
        let broker = Broker::open(BrokerConfig::parse(&source).unwrap()).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = broker
                .serve_on(vec![listener], async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            address,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// Every record of one partition of `topic` that arrives within `wait`.
    pub(crate) async fn records_of(
        &self,
        topic: &str,
        partition: i32,
        wait: Duration,
    ) -> Vec<(Option<String>, Value)> {
        let mut config = ConsumerConfig::new([self.address.clone()]);
        config.auto_offset_reset = OffsetReset::Earliest;
        let mut consumer = Consumer::new(config).unwrap();
        consumer.assign([TopicPartition::new(topic, partition)]);
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        while tokio::time::Instant::now() < deadline {
            out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
        }
        out.into_iter()
            .map(|r| {
                (
                    r.key.map(|k| String::from_utf8(k.to_vec()).unwrap()),
                    serde_json::from_slice(&r.value.unwrap()).unwrap(),
                )
            })
            .collect()
    }

    /// Every record of `topic` (one partition) as `(key, JSON value)`, polling until `n`
    /// arrived or `wait` passed, then one more short poll to catch duplicates.
    pub(crate) async fn records(
        &self,
        topic: &str,
        n: usize,
        wait: Duration,
    ) -> Vec<(Option<String>, Value)> {
        let mut config = ConsumerConfig::new([self.address.clone()]);
        config.auto_offset_reset = OffsetReset::Earliest;
        let mut consumer = Consumer::new(config).unwrap();
        consumer.assign([TopicPartition::new(topic, 0)]);
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        while out.len() < n && tokio::time::Instant::now() < deadline {
            out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
        }
        out.extend(consumer.poll(Duration::from_millis(300)).await.unwrap());
        out.into_iter()
            .map(|r| {
                (
                    r.key.map(|k| String::from_utf8(k.to_vec()).unwrap()),
                    serde_json::from_slice(&r.value.unwrap()).unwrap(),
                )
            })
            .collect()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `weir connect` in-process: runs a connectors file until stopped.
pub(crate) struct Connect {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Vec<(String, ConnectorError)>>,
    pub(crate) status_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Connect {
    /// Starts the `[[sources]]` in `sources` (TOML) against `broker`, creating `topics`.
    pub(crate) fn start(broker: &TestBroker, topics: &[&str], sources: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!("[cluster]\nbootstrap = [\"{}\"]\n", broker.address);
        for topic in topics {
            text.push_str(&format!("[topics.\"{topic}\"]\npartitions = 1\n"));
        }
        text.push_str(sources);
        let source = weir_config::Source::new(dir.path().join("connectors.toml"), text);
        let config = match ConnectConfig::parse(&source) {
            Ok(config) => config,
            Err(errors) => panic!("{errors}"),
        };
        let status_file = config.status_file.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            weir_connectors::host::run(config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap()
        });
        Self {
            stop: Some(stop),
            task,
            status_file,
            _dir: dir,
        }
    }

    /// The status report's entry for `connector`, as JSON.
    pub(crate) fn status(&self, connector: &str) -> Option<Value> {
        let text = std::fs::read_to_string(&self.status_file).ok()?;
        let report: Value = serde_json::from_str(&text).ok()?;
        report["connectors"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == connector)
            .cloned()
    }

    /// Ends the connectors at once, as a crash would: nothing pending is delivered or
    /// checkpointed.
    pub(crate) fn kill(mut self) {
        self.stop.take();
        self.task.abort();
    }

    /// Stops every connector and returns those that failed, with their errors as text.
    pub(crate) async fn stop(mut self) -> Vec<(String, String)> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let failed = tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("connectors stop within 30 s")
            .unwrap();
        failed
            .into_iter()
            .map(|(name, error)| (name, error.to_string()))
            .collect()
    }
}

/// The `id` field of each value, in order.
pub(crate) fn ids(records: &[(Option<String>, Value)]) -> Vec<i64> {
    records
        .iter()
        .map(|(_, v)| v["id"].as_i64().unwrap())
        .collect()
}
