//! A weir broker in-process on a free port, with topics of chosen partition counts:
//! real sockets, real logs in a temporary directory.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use weir_broker::{Broker, BrokerConfig};
use weir_client::{
    Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Producer, ProducerConfig, TopicPartition,
};

/// A running broker; dropping it stops it.
pub struct TestBroker {
    pub address: String,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestBroker {
    /// A broker with topics `(name, partitions)`; other topics are auto-created with one.
    pub async fn start(topics: &[(&str, u32)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let mut text = format!(
            "[broker]\nlisteners = [\"{address}\"]\nlog_dirs = [\"{}\"]\nnum_partitions = 1\n\
             group_min_session_timeout_ms = 500\ngroup_initial_rebalance_delay_ms = 0\n",
            dir.path().join("data").display()
        );
        for (name, partitions) in topics {
            text.push_str(&format!(
                "\n[topics.{name}]\npartitions = {partitions}\nflush = \"os\"\n"
            ));
        }
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

    pub fn producer_config(&self) -> ProducerConfig {
        let mut config = ProducerConfig::new([self.address.clone()]);
        config.request_timeout = Duration::from_secs(10);
        config
    }

    pub fn producer(&self) -> Producer {
        Producer::new(self.producer_config()).unwrap()
    }

    /// Every record of `topic` (with `partitions` partitions), reading until `expected`
    /// arrived or `timeout` passed.
    pub async fn read_all(
        &self,
        topic: &str,
        partitions: i32,
        expected: usize,
        timeout: Duration,
    ) -> Vec<ConsumerRecord> {
        let mut config = ConsumerConfig::new([self.address.clone()]);
        config.auto_offset_reset = OffsetReset::Earliest;
        let mut consumer = Consumer::new(config).unwrap();
        consumer.assign((0..partitions).map(|p| TopicPartition::new(topic, p)));
        let deadline = tokio::time::Instant::now() + timeout;
        let mut records = Vec::new();
        while records.len() < expected && tokio::time::Instant::now() < deadline {
            records.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
        }
        records
    }
}
