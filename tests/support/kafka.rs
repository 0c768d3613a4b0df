//! rdkafka (librdkafka) clients for the tests: a producer that records every delivery report,
//! an assign-and-seek consumer that reads a topic back, and an admin client. Each client
//! records what librdkafka reported as errors or warnings, so a test that times out can say
//! why.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

/// How long a test waits for deliveries or for records to come back.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A record to produce: an optional key and partition, and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub partition: Option<i32>,
}

impl Record {
    pub fn keyed(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: Some(key.into()),
            value: value.into(),
            partition: None,
        }
    }

    pub fn unkeyed(value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: None,
            value: value.into(),
            partition: None,
        }
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

/// A delivery report (produce) or a consumed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub partition: i32,
    /// -1 when unknown (acks=0).
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// A client context that keeps librdkafka's errors, warnings and delivery reports.
#[derive(Default)]
pub struct Recorder {
    problems: Mutex<Vec<String>>,
    /// With the instant librdkafka reported each acknowledgement.
    delivered: Mutex<Vec<(Msg, Instant)>>,
    failed: Mutex<Vec<(KafkaError, Msg)>>,
}

impl Recorder {
    /// The errors and warnings librdkafka reported so far.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().expect("lock").clone()
    }

    /// How many deliveries were acknowledged so far (and not yet collected).
    pub fn delivered_count(&self) -> usize {
        self.delivered.lock().expect("lock").len()
    }

    fn take_delivered(&self) -> Vec<Msg> {
        self.take_delivered_timed()
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    }

    fn take_delivered_timed(&self) -> Vec<(Msg, Instant)> {
        std::mem::take(&mut *self.delivered.lock().expect("lock"))
    }

    fn take_failed(&self) -> Vec<(KafkaError, Msg)> {
        std::mem::take(&mut *self.failed.lock().expect("lock"))
    }
}

impl ClientContext for Recorder {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            self.problems
                .lock()
                .expect("lock")
                .push(format!("{level:?} {fac}: {message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.problems
            .lock()
            .expect("lock")
            .push(format!("error {error}: {reason}"));
    }
}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => self
                .delivered
                .lock()
                .expect("lock")
                .push((owned(m), Instant::now())),
            Err((e, m)) => self
                .failed
                .lock()
                .expect("lock")
                .push((e.clone(), owned(m))),
        }
    }
}

impl ConsumerContext for Recorder {}

/// A received message as an owned [`Msg`].
pub fn owned<M: Message>(m: &M) -> Msg {
    Msg {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().unwrap_or_default().to_vec(),
    }
}

/// A client config for the broker at `addr`, with `settings` on top.
pub fn config(addr: &str, settings: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("broker.address.family", "v4")
        .set("log_level", "6");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config
}

/// A producer for the broker at `addr`.
pub fn producer(addr: &str, settings: &[(&str, &str)]) -> BaseProducer<Recorder> {
    config(addr, settings)
        .create_with_context(Recorder::default())
        .expect("creating an rdkafka producer")
}

/// Sends `records` to `topic` and waits until each is acknowledged; returns the delivery
/// reports in the order they arrived. Fails if any delivery failed.
pub fn produce(producer: &BaseProducer<Recorder>, topic: &str, records: &[Record]) -> Vec<Msg> {
    let (delivered, failed) = produce_allowing_failures(producer, topic, records);
    assert!(
        failed.is_empty(),
        "{} of {} deliveries failed, first: {:?}\nlibrdkafka said: {:#?}",
        failed.len(),
        records.len(),
        failed.first(),
        producer.context().problems()
    );
    delivered
}

/// Like [`produce`], but returns the failed deliveries too (for tests that kill the broker).
pub fn produce_allowing_failures(
    producer: &BaseProducer<Recorder>,
    topic: &str,
    records: &[Record],
) -> (Vec<Msg>, Vec<(KafkaError, Msg)>) {
    for record in records {
        let mut base = BaseRecord::<[u8], [u8]>::to(topic).payload(&record.value[..]);
        if let Some(key) = &record.key {
            base = base.key(&key[..]);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            match producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    assert!(
                        Instant::now() < deadline,
                        "producer queue full for {PATIENCE:?}"
                    );
                    base = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("sending a record: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    let flushed = producer.flush(PATIENCE);
    let delivered = producer.context().take_delivered();
    let failed = producer.context().take_failed();
    if let Err(e) = flushed {
        panic!(
            "flushing {} records: {e} ({} delivered, {} failed)\nlibrdkafka said: {:#?}",
            records.len(),
            delivered.len(),
            failed.len(),
            producer.context().problems()
        );
    }
    (delivered, failed)
}

/// The delivery reports collected so far: acknowledged and failed.
pub fn take_reports(producer: &BaseProducer<Recorder>) -> (Vec<Msg>, Vec<(KafkaError, Msg)>) {
    (
        producer.context().take_delivered(),
        producer.context().take_failed(),
    )
}

/// A failed delivery: why, and the record.
pub type Failed = (KafkaError, Msg);

/// Like [`take_reports`], each acknowledgement with the instant it was reported.
pub fn take_reports_timed(producer: &BaseProducer<Recorder>) -> (Vec<(Msg, Instant)>, Vec<Failed>) {
    (
        producer.context().take_delivered_timed(),
        producer.context().take_failed(),
    )
}

/// A consumer with no group: partitions are assigned by the test.
pub fn consumer(addr: &str, settings: &[(&str, &str)]) -> BaseConsumer<Recorder> {
    let mut all = vec![
        ("group.id", "weir-itest-unused"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("enable.partition.eof", "false"),
    ];
    all.extend_from_slice(settings);
    config(addr, &all)
        .create_with_context(Recorder::default())
        .expect("creating an rdkafka consumer")
}

/// A consumer in group `group`, reading from the earliest offset where the group has none
/// and committing only when the test says so.
pub fn group_consumer(addr: &str, group: &str) -> BaseConsumer<Recorder> {
    config(
        addr,
        &[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )
    .create_with_context(Recorder::default())
    .expect("creating an rdkafka group consumer")
}

/// The number of partitions of `topic`, from the broker's metadata.
pub fn partition_count<C: ClientContext>(client: &rdkafka::client::Client<C>, topic: &str) -> i32 {
    let metadata = client
        .fetch_metadata(Some(topic), PATIENCE)
        .unwrap_or_else(|e| panic!("metadata for {topic}: {e}"));
    let topic_metadata = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap_or_else(|| panic!("{topic} is not in the metadata"));
    assert!(
        topic_metadata.error().is_none(),
        "{topic}: {:?}",
        topic_metadata.error()
    );
    topic_metadata.partitions().len() as i32
}

/// Reads `count` records of `topic` from offset 0 of every partition (assign and seek, no
/// group). Returns them grouped by partition, in offset order; fails after [`PATIENCE`].
pub fn consume_all(addr: &str, topic: &str, count: usize) -> BTreeMap<i32, Vec<Msg>> {
    let consumer = consumer(addr, &[]);
    let partitions = partition_count(consumer.client(), topic);
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("a partition offset");
    }
    consumer.assign(&assignment).expect("assigning partitions");
    poll_records(&consumer, count, PATIENCE)
}

/// Polls `consumer` until it returned `count` records, grouped by partition. Errors the
/// consumer reports on the way (a broker of a cluster that just stopped, a leader that
/// moved) are ones librdkafka recovers from; they are shown if the records never come.
pub fn poll_records(
    consumer: &BaseConsumer<Recorder>,
    count: usize,
    patience: Duration,
) -> BTreeMap<i32, Vec<Msg>> {
    let mut got: BTreeMap<i32, Vec<Msg>> = BTreeMap::new();
    let mut total = 0;
    let mut errors = Vec::new();
    let deadline = Instant::now() + patience;
    while total < count {
        assert!(
            Instant::now() < deadline,
            "only {total} of {count} records came back within {patience:?}\n\
             consumer errors: {errors:?}\nlibrdkafka said: {:#?}",
            consumer.context().problems()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                got.entry(m.partition()).or_default().push(owned(&m));
                total += 1;
            }
            Some(Err(e)) => errors.push(e.to_string()),
            None => {}
        }
    }
    got
}

/// An admin client for the broker at `addr`.
pub fn admin(addr: &str) -> AdminClient<Recorder> {
    config(addr, &[])
        .create_with_context(Recorder::default())
        .expect("creating an rdkafka admin client")
}

/// The number of records in `topic` on the broker: the sum of its partitions' high
/// watermarks (all start at 0 here: nothing is deleted by retention in these tests).
pub fn record_count(addr: &str, topic: &str) -> usize {
    let consumer = consumer(addr, &[]);
    let partitions = partition_count(consumer.client(), topic);
    (0..partitions)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, PATIENCE)
                .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}"));
            assert_eq!(low, 0, "{topic}/{p} log start offset");
            high as usize
        })
        .sum()
}

/// Asserts that each partition's records have offsets 0, 1, 2, … in order.
pub fn assert_contiguous(by_partition: &BTreeMap<i32, Vec<Msg>>) {
    for (partition, records) in by_partition {
        for (i, m) in records.iter().enumerate() {
            assert_eq!(
                m.offset, i as i64,
                "partition {partition}: record {i} has offset {}",
                m.offset
            );
        }
    }
}

/// The partitions assigned to a group consumer.
pub fn assigned(consumer: &BaseConsumer<Recorder>) -> std::collections::BTreeSet<i32> {
    consumer
        .assignment()
        .map(|list| list.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}
