//! Consumer groups against the broker's coordinator: members split partitions, a member that
//! dies without leaving loses its partitions after the session timeout, the rebalance
//! listener sees revoked before assigned, committed offsets survive a restart, and a group
//! that commits after each poll never sees a record twice.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a failed test

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use weir_client::{
    Consumer, ConsumerConfig, ConsumerRecord, ProducerRecord, RebalanceListener, TopicPartition,
};

use crate::harness::TestBroker;

fn group_config(broker: &TestBroker, group: &str) -> ConsumerConfig {
    let mut config = broker.consumer_config().with_group(group);
    config.session_timeout = Duration::from_secs(2);
    config.heartbeat_interval = Duration::from_millis(200);
    config.enable_auto_commit = false;
    config
}

/// A member polling in its own task, committing after each poll, reporting its assignment
/// and records.
struct Member {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Consumer>,
    events: mpsc::UnboundedReceiver<(Vec<TopicPartition>, Vec<ConsumerRecord>)>,
    assignment: Vec<TopicPartition>,
    records: Vec<ConsumerRecord>,
}

impl Member {
    fn start(mut consumer: Consumer) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, events) = mpsc::unbounded_channel();
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::SeqCst) {
                let records = consumer.poll(Duration::from_millis(200)).await.unwrap();
                if !records.is_empty() {
                    consumer.commit_sync().await.unwrap();
                }
                let _ = tx.send((consumer.assignment(), records.into_iter().collect()));
            }
            consumer
        });
        Self {
            stop,
            task,
            events,
            assignment: Vec::new(),
            records: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Ok((assignment, records)) = self.events.try_recv() {
            self.assignment = assignment;
            self.records.extend(records);
        }
    }

    async fn stop(self) -> (Consumer, Vec<ConsumerRecord>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut me = self;
        let consumer = (&mut me.task).await.unwrap();
        me.drain();
        (consumer, me.records)
    }
}

/// Waits (up to 20 s) until `done` holds for the members' latest reports.
async fn wait_for(members: &mut [&mut Member], what: &str, done: impl Fn(&[&mut Member]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for m in members.iter_mut() {
            m.drain();
        }
        if done(members) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn produce(broker: &TestBroker, topic: &str, n: usize) {
    let producer = broker.producer();
    for i in 0..n {
        drop(producer.send(ProducerRecord::new(topic, format!("{i}")).with_key(format!("{i}"))));
    }
    producer.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_split_partitions_and_a_dead_members_move_without_duplicates() {
    let broker = TestBroker::start(&[("g", 4)]).await;
    produce(&broker, "g", 100).await;

    let mut a = Consumer::new(group_config(&broker, "split")).unwrap();
    a.subscribe(["g"]).unwrap();
    let mut a = Member::start(a);
    let mut config = group_config(&broker, "split");
    config.leave_group_on_close = false; // dies: no LeaveGroup
    config.max_poll_records = 5;
    let mut b = Consumer::new(config).unwrap();
    b.subscribe(["g"]).unwrap();
    let mut b = Member::start(b);

    wait_for(
        &mut [&mut a, &mut b],
        "two members to split the partitions",
        |m| {
            let (x, y) = (&m[0].assignment, &m[1].assignment);
            let union: BTreeSet<_> = x.iter().chain(y).collect();
            !x.is_empty() && !y.is_empty() && union.len() == 4 && x.len() + y.len() == 4
        },
    )
    .await;
    assert_eq!(a.assignment.len(), 2, "range gives two each");

    let (dead, b_records) = b.stop().await;
    drop(dead); // its heartbeats stop; the coordinator notices after the session timeout
    produce(&broker, "g", 100).await;
    wait_for(&mut [&mut a], "the survivor to own every partition", |m| {
        m[0].assignment.len() == 4
    })
    .await;
    wait_for(&mut [&mut a], "every record", |m| {
        m[0].records.len() + b_records.len() >= 200
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_a, a_records) = a.stop().await;
    let all: Vec<(i32, i64)> = a_records
        .iter()
        .chain(&b_records)
        .map(|r| (r.partition, r.offset))
        .collect();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), 200, "every record delivered");
    assert_eq!(all.len(), 200, "no record delivered twice");
    broker.stop().await;
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for Recorder {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Still the owner: committing here is what the listener is for.
            consumer.commit_sync().await.unwrap();
            self.0.lock().push(format!("revoked {}", partitions.len()));
        })
    }

    fn on_partitions_assigned<'a>(
        &'a mut self,
        _consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.0.lock().push(format!("assigned {}", partitions.len()));
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_sees_revoked_before_assigned() {
    let broker = TestBroker::start(&[("l", 2)]).await;
    let recorder = Recorder::default();
    let mut a = Consumer::new(group_config(&broker, "listen")).unwrap();
    a.subscribe_with_listener(["l"], recorder.clone()).unwrap();
    let mut a = Member::start(a);
    wait_for(&mut [&mut a], "the first assignment", |m| {
        m[0].assignment.len() == 2
    })
    .await;
    let mut b = Consumer::new(group_config(&broker, "listen")).unwrap();
    b.subscribe(["l"]).unwrap();
    let mut b = Member::start(b);
    wait_for(&mut [&mut a, &mut b], "the split", |m| {
        m[0].assignment.len() == 1 && m[1].assignment.len() == 1
    })
    .await;
    let events = recorder.0.lock().clone();
    assert_eq!(events, ["assigned 2", "revoked 2", "assigned 1"]);
    let _ = b.stop().await;
    let _ = a.stop().await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart() {
    let broker = TestBroker::start(&[("c", 1)]).await;
    produce(&broker, "c", 20).await;
    let tp = TopicPartition::new("c", 0);
    let mut config = group_config(&broker, "restart");
    config.max_poll_records = 10;
    let mut first = Consumer::new(config.clone()).unwrap();
    first.subscribe(["c"]).unwrap();
    let records = first.poll(Duration::from_secs(10)).await.unwrap();
    assert_eq!(records.len(), 10);
    first.commit_sync().await.unwrap();
    assert_eq!(
        first.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp],
        Some(10)
    );
    first.close().await.unwrap();

    let mut second = Consumer::new(config).unwrap();
    second.subscribe(["c"]).unwrap();
    let records = second.poll(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        records.iter().next().map(|r| r.offset),
        Some(10),
        "resumes where the group left"
    );
    assert_eq!(records.len(), 10);
    second.close().await.unwrap();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_consumers_commit_to_their_group_async_and_automatically() {
    let broker = TestBroker::start(&[("auto", 1)]).await;
    produce(&broker, "auto", 10).await;
    let tp = TopicPartition::new("auto", 0);
    let mut config = group_config(&broker, "auto");
    config.enable_auto_commit = true;
    config.auto_commit_interval = Duration::from_millis(100);
    let mut consumer = Consumer::new(config.clone()).unwrap();
    consumer.assign([tp.clone()]);
    let records = consumer.poll(Duration::from_secs(5)).await.unwrap();
    assert_eq!(records.len(), 10);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let _ = consumer.poll(Duration::from_millis(150)).await.unwrap();
        let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
        if committed[&tp] == Some(10) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "auto-commit never happened"
        );
    }
    consumer.seek(&tp, 4).unwrap();
    consumer.commit_async().await.unwrap();
    let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp], Some(4));
    drop(consumer);
    // A new consumer of the group starts at the committed offset, not at auto_offset_reset.
    config.enable_auto_commit = false;
    let mut next = Consumer::new(config).unwrap();
    next.assign([tp.clone()]);
    assert_eq!(next.position(&tp).await.unwrap(), 4);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_rebalances_when_a_subscribed_topic_appears() {
    let broker = TestBroker::start(&[("late", 2)]).await;
    let mut config = group_config(&broker, "late");
    config.allow_auto_create_topics = false;
    config.metadata_max_age = Duration::from_millis(300);
    let mut consumer = Consumer::new(config).unwrap();
    consumer.subscribe(["late"]).unwrap();
    let mut member = Member::start(consumer);
    tokio::time::sleep(Duration::from_millis(500)).await;
    member.drain();
    assert!(member.assignment.is_empty(), "the topic does not exist yet");
    produce(&broker, "late", 10).await; // the producer creates it
    wait_for(&mut [&mut member], "the new topic's records", |m| {
        m[0].assignment.len() == 2 && m[0].records.len() == 10
    })
    .await;
    let _ = member.stop().await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_member_hands_over_at_once() {
    let broker = TestBroker::start(&[("leave", 2)]).await;
    let config = || {
        let mut config = group_config(&broker, "leave");
        config.session_timeout = Duration::from_secs(30); // only LeaveGroup can be quick
        config
    };
    let mut a = Consumer::new(config()).unwrap();
    a.subscribe(["leave"]).unwrap();
    let mut a = Member::start(a);
    let mut b = Consumer::new(config()).unwrap();
    b.subscribe(["leave"]).unwrap();
    let mut b = Member::start(b);
    wait_for(&mut [&mut a, &mut b], "the split", |m| {
        m[0].assignment.len() == 1 && m[1].assignment.len() == 1
    })
    .await;
    let (b, _) = b.stop().await;
    let started = std::time::Instant::now();
    b.close().await.unwrap();
    wait_for(&mut [&mut a], "the hand-over", |m| {
        m[0].assignment.len() == 2
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let _ = a.stop().await;
    broker.stop().await;
}
