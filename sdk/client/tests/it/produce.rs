//! Producing: acks, batching, partitioners, idempotent retries, memory bounds.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures::future::join_all;
use weir_client::murmur2::partition_for_key;
use weir_client::{
    Acks, OverflowPartitioner, PartitionError, PartitionFill, Partitioner, PartitionerKind,
    Partitions, Producer, ProducerRecord,
};

use crate::harness::{TestBroker, consume, consume_all};
use crate::proxy::Dropper;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_keys_headers_and_timestamps() {
    let broker = TestBroker::start(&[("rt", 3)]).await;
    let producer = broker.producer();
    let mut sends = Vec::new();
    for i in 0..30 {
        let record = ProducerRecord::new("rt", format!("value-{i}"))
            .with_key(format!("key-{}", i % 5))
            .with_header("n", i.to_string())
            .with_header("empty", "")
            .with_timestamp(1_700_000_000_000 + i);
        sends.push(producer.send(record));
    }
    let acked: Vec<_> = join_all(sends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (i, meta) in acked.iter().enumerate() {
        assert_eq!(
            meta.partition,
            partition_for_key(format!("key-{}", i % 5).as_bytes(), 3)
        );
        assert_eq!(meta.timestamp, 1_700_000_000_000 + i as i64);
    }
    let mut consumer = broker.consumer("rt", 3).await;
    let records = consume(&mut consumer, 30).await;
    assert_eq!(records.len(), 30);
    let mut by_value: BTreeMap<String, _> = BTreeMap::new();
    for r in &records {
        by_value.insert(
            String::from_utf8(r.value.as_ref().unwrap().to_vec()).unwrap(),
            r,
        );
    }
    for (i, meta) in acked.iter().enumerate() {
        let r = by_value[&format!("value-{i}")];
        assert_eq!(r.key.as_deref(), Some(format!("key-{}", i % 5).as_bytes()));
        assert_eq!((r.partition, r.offset), (meta.partition, meta.offset));
        assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64);
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.headers[0].key, "n");
        assert_eq!(
            r.headers[0].value.as_deref(),
            Some(i.to_string().as_bytes())
        );
        assert_eq!(r.headers[1].value.as_deref(), Some(&b""[..]));
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acks_setting_delivers() {
    let broker = TestBroker::start(&[("acks", 1)]).await;
    for (i, acks) in [Acks::None, Acks::Leader, Acks::All]
        .into_iter()
        .enumerate()
    {
        let mut config = broker.producer_config();
        config.acks = acks;
        let producer = Producer::new(config).unwrap();
        let sends: Vec<_> = (0..10)
            .map(|j| producer.send(ProducerRecord::new("acks", format!("{i}-{j}"))))
            .collect();
        for meta in join_all(sends).await {
            let meta = meta.unwrap();
            if acks == Acks::None {
                assert_eq!(meta.offset, -1);
            } else {
                assert!(meta.offset >= 0);
            }
        }
        producer.close().await.unwrap();
    }
    let mut consumer = broker.consumer("acks", 1).await;
    let records = consume(&mut consumer, 30).await;
    assert_eq!(records.len(), 30);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_sends_lingering_batches_at_once() {
    let broker = TestBroker::start(&[("flush", 1)]).await;
    let mut config = broker.producer_config();
    config.linger = Duration::from_secs(30);
    let producer = Producer::new(config).unwrap();
    let send = producer.send(ProducerRecord::new("flush", "x"));
    tokio::time::timeout(Duration::from_secs(5), producer.flush())
        .await
        .expect("flush ignores linger")
        .unwrap();
    assert_eq!(send.await.unwrap().offset, 0);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_unkeyed_fills_a_batch_then_moves_on() {
    let broker = TestBroker::start(&[("sticky", 4)]).await;
    let mut config = broker.producer_config();
    config.batch_size = 1_000;
    config.linger = Duration::from_secs(1);
    let producer = Producer::new(config).unwrap();
    let value = vec![b'x'; 79]; // 100 bytes per record with overhead
    let sends: Vec<_> = (0..400)
        .map(|_| producer.send(ProducerRecord::new("sticky", value.clone())))
        .collect();
    let partitions: Vec<i32> = join_all(sends)
        .await
        .into_iter()
        .map(|m| m.unwrap().partition)
        .collect();
    // Consecutive records share a partition until its batch is full (about ten records of
    // 100 bytes fit in 1000), then the next partition takes over.
    let mut runs = Vec::new();
    let mut run = (partitions[0], 0);
    for &p in &partitions {
        if p == run.0 {
            run.1 += 1;
        } else {
            runs.push(run);
            run = (p, 1);
        }
    }
    runs.push(run);
    let full = runs[0].1;
    assert!((9..=11).contains(&full), "{runs:?}");
    for (i, (p, len)) in runs.iter().enumerate() {
        if i + 1 < runs.len() {
            assert_eq!(*len, full, "run {i} on partition {p}: {runs:?}");
            assert_eq!(runs[i + 1].0, (p + 1) % 4, "moves to the next partition");
        }
    }
    let used: HashSet<i32> = partitions.into_iter().collect();
    assert_eq!(used.len(), 4, "every partition received records");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_record_by_record() {
    let broker = TestBroker::start(&[("rr", 3)]).await;
    let mut config = broker.producer_config();
    config.partitioner = PartitionerKind::RoundRobin;
    let producer = Producer::new(config).unwrap();
    let sends: Vec<_> = (0..9)
        .map(|_| producer.send(ProducerRecord::new("rr", "v").with_key("same")))
        .collect();
    let partitions: Vec<i32> = join_all(sends)
        .await
        .into_iter()
        .map(|m| m.unwrap().partition)
        .collect();
    assert_eq!(partitions, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
    broker.stop().await;
}

/// The overflow partitioner, with a test hook: partition `full` reports its bound of
/// in-flight batches while the switch is on.
struct HeldPartition {
    inner: OverflowPartitioner,
    full: Option<i32>,
    control: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Partitioner for HeldPartition {
    fn partition(&mut self, record: &ProducerRecord, partitions: &Partitions<'_>) -> i32 {
        let mut fills: Vec<PartitionFill> = partitions.fills().to_vec();
        if self.control.load(std::sync::atomic::Ordering::SeqCst)
            && let Some(full) = self.full
        {
            fills[full as usize].in_flight = 2;
        }
        let view = Partitions::new(partitions.topic(), &fills, partitions.batch_size());
        self.inner.partition(record, &view)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_moves_keyed_records_off_a_full_partition_and_back() {
    let broker = TestBroker::start(&[("overflow", 4)]).await;
    let home = partition_for_key(b"foobar", 4);
    let control = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let partitioner = HeldPartition {
        inner: OverflowPartitioner::new(2),
        full: Some(home),
        control: control.clone(),
    };
    let producer = Producer::with_partitioner(broker.producer_config(), partitioner).unwrap();
    fn send(
        p: &Producer,
    ) -> impl std::future::Future<Output = weir_client::Result<weir_client::RecordMetadata>> + use<>
    {
        p.send(ProducerRecord::new("overflow", "v").with_key("foobar"))
    }
    assert_eq!(send(&producer).await.unwrap().partition, home);
    control.store(true, std::sync::atomic::Ordering::SeqCst);
    let moved: Vec<i32> = join_all((0..6).map(|_| send(&producer)))
        .await
        .into_iter()
        .map(|m| m.unwrap().partition)
        .collect();
    assert!(moved.iter().all(|p| *p != home), "{moved:?}");
    assert_eq!(
        moved.iter().collect::<HashSet<_>>().len(),
        3,
        "round robin: {moved:?}"
    );
    control.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        send(&producer).await.unwrap().partition,
        home,
        "back once drained"
    );
    broker.stop().await;
}

/// A partitioner that places runs: each record to partition `value % count`, except
/// values it refuses; it counts its calls and the largest run.
struct RunCounter {
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    largest: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Partitioner for RunCounter {
    fn partition(&mut self, _: &ProducerRecord, _: &Partitions<'_>) -> i32 {
        unreachable!("the producer asks a run partitioner for runs")
    }

    fn partitions_runs(&self) -> bool {
        true
    }

    fn try_partition_run(
        &mut self,
        records: &[&ProducerRecord],
        partitions: &Partitions<'_>,
        out: &mut Vec<Result<i32, PartitionError>>,
    ) {
        use std::sync::atomic::Ordering::SeqCst;
        self.calls.fetch_add(1, SeqCst);
        self.largest.fetch_max(records.len(), SeqCst);
        out.extend(records.iter().map(|r| {
            let n: i32 = r
                .value
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse().ok())
                .expect("the test sends numbers");
            if n % 100 == 99 {
                Err(PartitionError::new(format!("refused {n}")))
            } else {
                Ok(n % partitions.count())
            }
        }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_partitioner_places_records_accepted_together_in_one_call() {
    use std::sync::atomic::Ordering::SeqCst;
    let broker = TestBroker::start(&[("runs", 3)]).await;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let largest = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let partitioner = RunCounter {
        calls: calls.clone(),
        largest: largest.clone(),
    };
    let producer = Producer::with_partitioner(broker.producer_config(), partitioner).unwrap();
    const RECORDS: usize = 2000;
    // An explicit partition inside the runs keeps its place and its partition.
    let sends: Vec<_> = (0..RECORDS)
        .map(|i| {
            let record = ProducerRecord::new("runs", i.to_string());
            producer.send(if i == 500 {
                record.with_partition(2)
            } else {
                record
            })
        })
        .collect();
    let answers = join_all(sends).await;
    for (i, answer) in answers.iter().enumerate() {
        match answer {
            Ok(_) if i == 500 => assert_eq!(answer.as_ref().unwrap().partition, 2),
            Ok(m) => assert_eq!(m.partition, (i % 3) as i32, "record {i}"),
            Err(e) => assert!(
                i % 100 == 99 && e.to_string().contains(&format!("refused {i}")),
                "record {i}: {e}"
            ),
        }
    }
    assert_eq!(
        answers.iter().filter(|a| a.is_err()).count(),
        RECORDS / 100,
        "only the refused records fail"
    );
    let calls = calls.load(SeqCst);
    assert!(
        calls < RECORDS / 10,
        "{calls} partitioner calls for {RECORDS} records sent together"
    );
    assert!(largest.load(SeqCst) <= weir_client::MAX_PARTITION_RUN);
    // Per partition, the stored order is the order of the sends.
    let mut consumer = broker.consumer("runs", 3).await;
    let stored = consume(&mut consumer, RECORDS - RECORDS / 100).await;
    assert_eq!(stored.len(), RECORDS - RECORDS / 100);
    for p in 0..3 {
        let values: Vec<usize> = stored
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| {
                std::str::from_utf8(r.value.as_deref().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "partition {p} in order"
        );
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_makes_send_wait_then_fail() {
    // No broker listens here: nothing is ever delivered, so memory is never freed.
    let mut config = weir_client::ProducerConfig::new(["127.0.0.1:1"]);
    config.buffer_memory = 1_000;
    config.max_block = Duration::from_millis(300);
    config.request_timeout = Duration::from_millis(200);
    let producer = Producer::new(config).unwrap();
    let first = producer.send(ProducerRecord::new("t", vec![0; 900]));
    let started = std::time::Instant::now();
    let second = producer.send(ProducerRecord::new("t", vec![0; 900])).await;
    assert!(
        matches!(second, Err(weir_client::Error::MaxBlock(_))),
        "{second:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(started.elapsed() < Duration::from_secs(5));
    let first = first.await;
    assert!(
        matches!(first, Err(weir_client::Error::MaxBlock(_))),
        "{first:?}"
    );
    let too_big = producer
        .send(ProducerRecord::new("t", vec![0; 5_000]))
        .await;
    assert!(matches!(
        too_big,
        Err(weir_client::Error::RecordTooLarge { .. })
    ));
}

/// A batch holds its records' memory until it is answered and then gives all of it back: a
/// buffer that fits ten records carries 300, ten at a time, several to a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_comes_back_once_batches_are_answered() {
    let broker = TestBroker::start(&[("memory", 2)]).await;
    let mut config = broker.producer_config();
    config.buffer_memory = 10 * 1_000;
    config.max_block = Duration::from_secs(5);
    config.linger = Duration::from_millis(5);
    let producer = Producer::new(config).unwrap();
    let topic = weir_client::Topic::from("memory");
    let mut landed = HashSet::new();
    for round in 0..30 {
        let sends: Vec<_> = (0..10)
            .map(|i| producer.send(ProducerRecord::new(&topic, vec![round; 900]).with_key(vec![i])))
            .collect();
        for outcome in join_all(sends).await {
            let metadata = outcome.unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(metadata.topic, "memory");
            landed.insert((metadata.partition, metadata.offset));
        }
    }
    assert_eq!(landed.len(), 300);
    broker.stop().await;
}

#[allow(clippy::unwrap_used)] // a test helper
async fn produce_through_lost_responses(idempotent: bool) -> (Vec<i64>, usize) {
    let dropper = Dropper::default();
    let broker = TestBroker::start_behind_proxy(&[("lost", 1)], dropper.clone()).await;
    let mut config = broker.producer_config();
    config.enable_idempotence = idempotent;
    config.retry_backoff = Duration::from_millis(20);
    config.linger = Duration::ZERO;
    let producer = Producer::new(config).unwrap();
    producer
        .send(ProducerRecord::new("lost", "warm-up"))
        .await
        .unwrap();
    dropper.arm(3);
    let mut offsets = Vec::new();
    for i in 0..20 {
        let meta = producer
            .send(ProducerRecord::new("lost", format!("{i}")))
            .await
            .unwrap();
        offsets.push(meta.offset);
    }
    assert_eq!(dropper.remaining(), 0, "three responses were dropped");
    let mut consumer = broker.consumer("lost", 1).await;
    let records = consume_all(&mut consumer).await;
    broker.stop().await;
    (offsets, records.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries_after_lost_responses_never_duplicate() {
    let (offsets, stored) = produce_through_lost_responses(true).await;
    assert_eq!(
        offsets,
        (1..=20).collect::<Vec<i64>>(),
        "each record acked at its one offset"
    );
    assert_eq!(stored, 21, "warm-up + 20, no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idempotence_the_same_retries_duplicate() {
    let (_, stored) = produce_through_lost_responses(false).await;
    assert_eq!(stored, 24, "each lost response made a duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_survive_lost_responses_in_order_without_duplicates() {
    let dropper = Dropper::default();
    let broker = TestBroker::start_behind_proxy(&[("piped", 1)], dropper.clone()).await;
    let mut config = broker.producer_config();
    config.batch_size = 200; // a few records per batch: many batches in flight at once
    config.retry_backoff = Duration::from_millis(20);
    let producer = Producer::new(config).unwrap();
    producer
        .send(ProducerRecord::new("piped", "warm-up"))
        .await
        .unwrap();
    dropper.arm(3);
    let sends: Vec<_> = (0..300)
        .map(|i| producer.send(ProducerRecord::new("piped", format!("{i:04}"))))
        .collect();
    let offsets: Vec<i64> = join_all(sends)
        .await
        .into_iter()
        .map(|m| m.unwrap().offset)
        .collect();
    assert_eq!(dropper.remaining(), 0, "three responses were dropped");
    assert_eq!(
        offsets,
        (1..=300).collect::<Vec<i64>>(),
        "acked in order, once each"
    );
    let mut consumer = broker.consumer("piped", 1).await;
    let records = consume_all(&mut consumer).await;
    let values: Vec<String> = records
        .iter()
        .skip(1)
        .map(|r| String::from_utf8(r.value.as_ref().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(
        values,
        (0..300).map(|i| format!("{i:04}")).collect::<Vec<_>>()
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_for_a_vanished_broker_fail_after_the_delivery_timeout() {
    let broker = TestBroker::start(&[("gone", 1)]).await;
    let mut config = broker.producer_config();
    config.delivery_timeout = Duration::from_secs(1);
    config.request_timeout = Duration::from_millis(500);
    config.retry_backoff = Duration::from_millis(50);
    let producer = Producer::new(config).unwrap();
    producer
        .send(ProducerRecord::new("gone", "before"))
        .await
        .unwrap();
    broker.stop().await;
    let started = std::time::Instant::now();
    let result = producer.send(ProducerRecord::new("gone", "after")).await;
    assert!(
        matches!(result, Err(weir_client::Error::DeliveryTimeout(_))),
        "{result:?}"
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_earlier_records_only() {
    let broker = TestBroker::start(&[("busy", 1)]).await;
    let mut config = broker.producer_config();
    config.linger = Duration::from_secs(30);
    let producer = Producer::new(config).unwrap();
    let before = producer.send(ProducerRecord::new("busy", "before"));
    // Another task keeps sending for three seconds.
    let busy = producer.clone();
    let sender = tokio::spawn(async move {
        let until = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < until {
            drop(busy.send(ProducerRecord::new("busy", "meanwhile")));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    producer.flush().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "flush waited for later records: {:?}",
        started.elapsed()
    );
    assert_eq!(before.await.unwrap().offset, 0);
    sender.await.unwrap();
    producer.flush().await.unwrap();
    broker.stop().await;
}
