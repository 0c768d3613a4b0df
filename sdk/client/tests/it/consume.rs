//! Consuming with assign: poll timing, seeks, positions, offset reset.

use std::time::{Duration, Instant};

use weir_client::{Consumer, OffsetReset, ProducerRecord, TopicPartition};

use crate::harness::{TestBroker, consume};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_waits_when_idle_and_returns_promptly_when_data_arrives() {
    let broker = TestBroker::start(&[("poll", 1)]).await;
    let producer = broker.producer();
    producer
        .send(ProducerRecord::new("poll", "first"))
        .await
        .unwrap();
    let mut consumer = broker.consumer("poll", 1).await;
    assert_eq!(consume(&mut consumer, 1).await.len(), 1);

    let started = Instant::now();
    let records = consumer.poll(Duration::from_millis(800)).await.unwrap();
    let idle = started.elapsed();
    assert!(records.is_empty());
    assert!(
        idle >= Duration::from_millis(700),
        "returned early: {idle:?}"
    );
    assert!(idle < Duration::from_secs(2), "returned late: {idle:?}");

    let sender = producer.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sender
            .send(ProducerRecord::new("poll", "second"))
            .await
            .unwrap();
    });
    let started = Instant::now();
    let records = consumer.poll(Duration::from_secs(10)).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(records.len(), 1);
    assert!(
        waited < Duration::from_millis(200) + Duration::from_millis(500),
        "{waited:?}"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_position_and_max_poll_records() {
    let broker = TestBroker::start(&[("seek", 1)]).await;
    let producer = broker.producer();
    for i in 0..50 {
        drop(producer.send(ProducerRecord::new("seek", format!("{i}"))));
    }
    producer.flush().await.unwrap();
    let tp = TopicPartition::new("seek", 0);
    let mut config = broker.consumer_config();
    config.max_poll_records = 20;
    let mut consumer = Consumer::new(config).unwrap();
    consumer.assign([tp.clone()]);
    assert_eq!(consumer.position(&tp).await.unwrap(), 0);
    let first = consumer.poll(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.len(), 20);
    assert_eq!(consumer.position(&tp).await.unwrap(), 20);
    consumer.seek(&tp, 45).unwrap();
    let rest = consume(&mut consumer, 5).await;
    assert_eq!(
        rest.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [45, 46, 47, 48, 49]
    );
    consumer.seek_to_beginning(&[]).unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 0);
    consumer.seek_to_end(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 50);
    let ends = consumer
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .unwrap();
    assert_eq!(ends[&tp], 50);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_reset_policies() {
    let broker = TestBroker::start(&[("reset", 1)]).await;
    let producer = broker.producer();
    producer
        .send(ProducerRecord::new("reset", "old"))
        .await
        .unwrap();
    let tp = TopicPartition::new("reset", 0);

    let mut config = broker.consumer_config();
    config.auto_offset_reset = OffsetReset::Latest;
    let mut latest = Consumer::new(config).unwrap();
    latest.assign([tp.clone()]);
    assert_eq!(latest.position(&tp).await.unwrap(), 1);

    let mut config = broker.consumer_config();
    config.auto_offset_reset = OffsetReset::None;
    let mut none = Consumer::new(config).unwrap();
    none.assign([tp.clone()]);
    assert!(none.poll(Duration::from_millis(100)).await.is_err());
    none.seek(&tp, 1_000).unwrap();
    let out_of_range = none.poll(Duration::from_secs(2)).await;
    assert!(
        matches!(
            out_of_range,
            Err(weir_client::Error::OffsetOutOfRange { offset: 1_000, .. })
        ),
        "{out_of_range:?}"
    );

    let mut earliest = broker.consumer("reset", 1).await;
    earliest.seek(&tp, 1_000).unwrap();
    let records = consume(&mut earliest, 1).await;
    assert_eq!(records[0].value.as_deref(), Some(&b"old"[..]));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_ride_out_a_broker_restart() {
    let mut broker = TestBroker::start(&[("restart", 2)]).await;
    let producer = broker.producer();
    for i in 0..10 {
        drop(producer.send(ProducerRecord::new("restart", format!("{i}"))));
    }
    producer.flush().await.unwrap();
    let mut consumer = broker.consumer("restart", 2).await;
    assert_eq!(consume(&mut consumer, 10).await.len(), 10);

    broker.restart(Duration::from_millis(500)).await;
    // While it was down and after: no errors, just an empty poll.
    let _ = consumer.poll(Duration::from_millis(300)).await.unwrap();
    for i in 10..20 {
        drop(producer.send(ProducerRecord::new("restart", format!("{i}"))));
    }
    producer.flush().await.unwrap();
    let records = consume(&mut consumer, 10).await;
    assert_eq!(records.len(), 10, "the consumer reconnected and resumed");
    let mut values: Vec<i32> = records
        .iter()
        .map(|r| {
            String::from_utf8_lossy(r.value.as_ref().unwrap())
                .parse()
                .unwrap()
        })
        .collect();
    values.sort();
    assert_eq!(
        values,
        (10..20).collect::<Vec<_>>(),
        "nothing lost, nothing twice"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_partitions_are_not_fetched_until_resumed() {
    let broker = TestBroker::start(&[("pause", 2)]).await;
    let producer = broker.producer();
    for p in 0..2 {
        producer
            .send(ProducerRecord::new("pause", format!("{p}")).with_partition(p))
            .await
            .unwrap();
    }
    let mut consumer = broker.consumer("pause", 2).await;
    let paused = TopicPartition::new("pause", 1);
    consumer.pause(std::slice::from_ref(&paused)).unwrap();
    let records = consume(&mut consumer, 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].partition, 0);
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    consumer.resume(std::slice::from_ref(&paused)).unwrap();
    let records = consume(&mut consumer, 1).await;
    assert_eq!(records[0].partition, 1);
    broker.stop().await;
}

/// A backlog many fetches long, with small fetches and polls so prefetched data lands in
/// buffers not yet drained: every record once, in order, in two partitions read side by
/// side; a seek back mid-stream drops what was buffered and prefetched for the old position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetched_records_arrive_once_in_order_and_a_seek_drops_them() {
    const RECORDS: i64 = 2000;
    let broker = TestBroker::start(&[("prefetch", 2)]).await;
    let producer = broker.producer();
    for i in 0..RECORDS {
        let record =
            ProducerRecord::new("prefetch", format!("{i:0>200}")).with_partition((i % 2) as i32);
        drop(producer.send(record));
    }
    producer.flush().await.unwrap();
    let mut config = broker.consumer_config();
    config.max_partition_fetch_bytes = 4096;
    config.max_poll_records = 7;
    let mut consumer = Consumer::new(config).unwrap();
    let partitions = [
        TopicPartition::new("prefetch", 0),
        TopicPartition::new("prefetch", 1),
    ];
    consumer.assign(partitions.clone());
    consumer.seek_to_beginning(&partitions).unwrap();
    let mut next = [0i64; 2];
    let mut sought = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next != [RECORDS / 2; 2] && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            let p = r.partition as usize;
            assert_eq!(
                r.offset, next[p],
                "partition {p}: offsets in order, none twice"
            );
            next[p] += 1;
        }
        // Both partitions progress: a busy one does not starve the other.
        if next[0] + next[1] > 200 {
            assert!(next[0] > 0 && next[1] > 0, "{next:?}");
        }
        if !sought && next[0] >= RECORDS / 4 {
            consumer.seek(&partitions[0], 10).unwrap();
            next[0] = 10;
            sought = true;
        }
    }
    assert!(sought);
    assert_eq!(next, [RECORDS / 2; 2]);
    broker.stop().await;
}
