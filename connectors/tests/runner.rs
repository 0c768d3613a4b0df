//! The runner against an in-process broker, with sources written for the test: reads that
//! are slow and move the source on before they return are never cut short by an emit
//! deadline, and the last checkpoint reaches the source when it stops.

#![allow(clippy::unwrap_used)] // tests: a failure is a failed test

#[path = "sql/broker.rs"]
#[allow(dead_code)] // the SQL tests use the rest of it
mod broker;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::oneshot;
use weir_connectors::status::ConnectorStatus;
use weir_connectors::{
    Checkpoint, CheckpointStore, ConnectConfig, Payload, Runner, Source, SourceError, SourceEvent,
};

use crate::broker::TestBroker;

/// Hands out numbered events one per read, taking the number before a pause inside the
/// read: a read cancelled during the pause would lose its event.
struct SlowSource {
    next: u64,
    total: u64,
    stopped_with: Arc<Mutex<Option<Checkpoint>>>,
    acknowledged: Checkpoint,
}

impl Source for SlowSource {
    async fn start(&mut self, checkpoint: Checkpoint) -> Result<Checkpoint, SourceError> {
        Ok(checkpoint)
    }

    async fn next_events(&mut self, _max: usize) -> Result<Vec<SourceEvent>, SourceError> {
        if self.next == self.total {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Ok(Vec::new());
        }
        let n = self.next;
        self.next += 1;
        tokio::time::sleep(Duration::from_millis(15)).await;
        Ok(vec![SourceEvent {
            partition: Arc::from("numbers"),
            position: json!(n + 1),
            payload: Payload::Text(Bytes::from(n.to_string())),
            key: None,
            headers: Vec::new(),
        }])
    }

    fn acknowledged(&mut self, checkpoint: &Checkpoint) {
        self.acknowledged = checkpoint.clone();
    }

    async fn stop(&mut self) {
        *self.stopped_with.lock().unwrap() = Some(self.acknowledged.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_deadlines_never_cut_a_read_short_and_the_last_save_reaches_the_source() {
    const TOTAL: u64 = 60;
    let broker = TestBroker::start().await;
    let text = format!(
        "[cluster]\nbootstrap = [\"{}\"]\n[[sources]]\nname = \"numbers\"\nkind = \"file\"\n\
         paths = [\"/nonexistent/*.log\"]\ntopic = \"numbers\"\n\
         [sources.emit]\nmax_records = 1000\nmax_delay = \"2ms\"\n",
        broker.address
    );
    let dir = tempfile::tempdir().unwrap();
    let config =
        ConnectConfig::parse(&weir_config::Source::new(dir.path().join("c.toml"), text)).unwrap();
    let settings = config.sources[0].clone();
    let stopped_with = Arc::new(Mutex::new(None));
    let source = SlowSource {
        next: 0,
        total: TOTAL,
        stopped_with: Arc::clone(&stopped_with),
        acknowledged: Checkpoint::new(),
    };
    let bootstrap = [broker.address.clone()];
    let status = ConnectorStatus::starting("numbers", "test", "numbers").into_handle();
    let runner = Runner::new(
        settings,
        source,
        &bootstrap,
        CheckpointStore::new(&bootstrap).unwrap(),
        status,
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(runner.run(async {
        let _ = stopped.await;
    }));
    let records = broker
        .records("numbers", TOTAL as usize, Duration::from_secs(60))
        .await;
    let values: Vec<u64> = records.iter().map(|(_, v)| v.as_u64().unwrap()).collect();
    assert_eq!(values, (0..TOTAL).collect::<Vec<_>>());
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let last = stopped_with.lock().unwrap().clone();
    assert_eq!(
        last.and_then(|c| c.get("numbers").cloned()),
        Some(json!(TOTAL)),
        "the source's stop saw the last saved checkpoint"
    );
}
