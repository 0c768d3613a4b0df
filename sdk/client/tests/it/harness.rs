//! Starts a weir broker in-process: real sockets, real logs in a temporary directory.

#![allow(clippy::unwrap_used)] // test support: a failure here is a failed test

use std::time::Duration;

use tokio::net::TcpListener;

use crate::proxy::{self, Dropper};
use tokio::sync::oneshot;
use weir_broker::{Broker, BrokerConfig};
use weir_client::{
    Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Producer, ProducerConfig, TopicPartition,
};

pub(crate) struct TestBroker {
    pub(crate) address: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    dir: tempfile::TempDir,
    config: String,
}

impl TestBroker {
    /// A broker whose topics `(name, partitions)` are auto-created with those counts.
    pub(crate) async fn start(topics: &[(&str, u32)]) -> Self {
        Self::start_with(topics, None).await
    }

    /// A broker that clients reach through a proxy that can drop Produce responses.
    pub(crate) async fn start_behind_proxy(topics: &[(&str, u32)], dropper: Dropper) -> Self {
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_address = front.local_addr().unwrap().to_string();
        let mut broker = Self::start_with(topics, Some(&front_address)).await;
        proxy::start(front, broker.address.clone(), dropper);
        broker.address = front_address;
        broker
    }

    async fn start_with(topics: &[(&str, u32)], advertised: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let mut text = format!(
            "[broker]\nlisteners = [\"{address}\"]\nlog_dirs = [\"{}\"]\nnum_partitions = 1\n\
             group_min_session_timeout_ms = 500\ngroup_initial_rebalance_delay_ms = 0\n",
            dir.path().join("data").display()
        );
        if let Some(advertised) = advertised {
            text.push_str(&format!("advertised_listeners = [\"{advertised}\"]\n"));
        }
        for (name, partitions) in topics {
            text.push_str(&format!(
                "\n[topics.{name}]\npartitions = {partitions}\nflush = \"os\"\n"
            ));
        }
        let mut broker = Self {
            address,
            stop: None,
            task: None,
            dir,
            config: text,
        };
        broker.serve(listener);
        broker
    }

    fn serve(&mut self, listener: TcpListener) {
        let source =
            weir_config::Source::new(self.dir.path().join("weir.toml"), self.config.clone());
        let broker = Broker::open(BrokerConfig::parse(&source).unwrap()).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            // A test that failed drops its directory under a running broker: not our concern.
            let _ = broker
                .serve_on(vec![listener], async {
                    let _ = stopped.await;
                })
                .await;
        }));
    }

    /// Stops the broker (cleanly: connections close), waits `down`, and starts it again on
    /// the same address and data.
    pub(crate) async fn restart(&mut self, down: Duration) {
        self.shutdown().await;
        tokio::time::sleep(down).await;
        let listener = TcpListener::bind(&self.address).await.unwrap();
        self.serve(listener);
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    pub(crate) fn producer_config(&self) -> ProducerConfig {
        let mut config = ProducerConfig::new([self.address.clone()]);
        config.request_timeout = Duration::from_secs(10);
        config
    }

    pub(crate) fn producer(&self) -> Producer {
        Producer::new(self.producer_config()).unwrap()
    }

    pub(crate) fn consumer_config(&self) -> ConsumerConfig {
        let mut config = ConsumerConfig::new([self.address.clone()]);
        config.auto_offset_reset = OffsetReset::Earliest;
        config.request_timeout = Duration::from_secs(10);
        config
    }

    /// A consumer assigned every partition of `topic`, from the beginning.
    pub(crate) async fn consumer(&self, topic: &str, partitions: i32) -> Consumer {
        let mut consumer = Consumer::new(self.consumer_config()).unwrap();
        consumer.assign((0..partitions).map(|p| TopicPartition::new(topic, p)));
        consumer
    }

    pub(crate) async fn stop(mut self) {
        self.shutdown().await;
    }
}

/// Polls until `n` records arrived (or 20 s passed).
pub(crate) async fn consume(consumer: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    }
    out
}

/// Polls until a poll of one second returns nothing.
pub(crate) async fn consume_all(consumer: &mut Consumer) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    loop {
        let records = consumer.poll(Duration::from_secs(1)).await.unwrap();
        if records.is_empty() {
            return out;
        }
        out.extend(records);
    }
}
