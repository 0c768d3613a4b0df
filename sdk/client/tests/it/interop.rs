//! Interoperability with librdkafka (through the `rdkafka` crate): records produced by
//! weir-client are read by rdkafka and the reverse, for every codec, with keys, headers and
//! timestamps intact, and a key lands on the same partition from both (rdkafka's
//! `murmur2_random` partitioner is the Java client's).

#![allow(clippy::unwrap_used)] // test helpers: a failure is a failed test

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header as RdHeader, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use weir_client::murmur2::partition_for_key;
use weir_client::{Compression, Producer, ProducerRecord};

use crate::harness::{TestBroker, consume};

const CODECS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];
const PARTITIONS: i32 = 3;
const N: usize = 60;

/// What both sides must agree on for record `i`.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    partition: i32,
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

fn expected(i: usize) -> Seen {
    let key = format!("key-{i}").into_bytes();
    Seen {
        partition: partition_for_key(&key, PARTITIONS),
        value: format!("value {i} ").repeat(10).into_bytes(),
        headers: vec![
            ("index".to_string(), Some(i.to_string().into_bytes())),
            ("null".to_string(), None),
        ],
        timestamp: 1_700_000_000_000 + i as i64,
        key,
    }
}

fn topics(prefix: &str) -> Vec<(String, u32)> {
    CODECS
        .iter()
        .map(|(name, _)| (format!("{prefix}-{name}"), PARTITIONS as u32))
        .collect()
}

async fn start(prefix: &str) -> TestBroker {
    let topics = topics(prefix);
    let refs: Vec<(&str, u32)> = topics.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    TestBroker::start(&refs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_reads_what_weir_client_writes() {
    let broker = start("w2r").await;
    for (codec_name, codec) in CODECS {
        let topic = format!("w2r-{codec_name}");
        let mut config = broker.producer_config();
        config.compression = codec;
        let producer = Producer::new(config).unwrap();
        let sends = (0..N).map(|i| {
            let e = expected(i);
            let mut record = ProducerRecord::new(topic.clone(), e.value)
                .with_key(e.key)
                .with_timestamp(e.timestamp);
            for (k, v) in e.headers {
                record.headers.push(weir_client::Header {
                    key: k,
                    value: v.map(Into::into),
                });
            }
            producer.send(record)
        });
        for meta in join_all(sends).await {
            meta.unwrap();
        }

        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &broker.address)
            .set("group.id", format!("interop-{codec_name}"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            assignment
                .add_partition_offset(&topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut seen = BTreeMap::new();
        while seen.len() < N {
            let message = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
                .await
                .expect("rdkafka received nothing for 20 s")
                .unwrap();
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|RdHeader { key, value }| (key.to_string(), value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            let Timestamp::CreateTime(timestamp) = message.timestamp() else {
                panic!("{codec_name}: not a create time: {:?}", message.timestamp());
            };
            let value = message.payload().unwrap().to_vec();
            let index: usize = String::from_utf8_lossy(&value)
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            seen.insert(
                index,
                Seen {
                    partition: message.partition(),
                    key: message.key().unwrap().to_vec(),
                    value,
                    headers,
                    timestamp,
                },
            );
        }
        for (i, got) in seen {
            assert_eq!(got, expected(i), "{codec_name}: record {i}");
        }
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_client_reads_what_rdkafka_writes() {
    let broker = start("r2w").await;
    for (codec_name, _) in CODECS {
        let topic = format!("r2w-{codec_name}");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &broker.address)
            .set("partitioner", "murmur2_random")
            .set("compression.type", codec_name)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .unwrap();
        let sends = (0..N).map(|i| {
            let producer = &producer;
            let topic = &topic;
            async move {
                let e = expected(i);
                let mut headers = OwnedHeaders::new();
                for (key, value) in &e.headers {
                    headers = headers.insert(RdHeader {
                        key,
                        value: value.as_deref(),
                    });
                }
                let record = FutureRecord::to(topic)
                    .key(&e.key)
                    .payload(&e.value)
                    .headers(headers)
                    .timestamp(e.timestamp);
                producer
                    .send(record, Duration::from_secs(10))
                    .await
                    .map_err(|(e, _)| e)
                    .unwrap()
            }
        });
        for delivery in join_all(sends).await {
            assert!(delivery.offset >= 0);
        }

        let mut consumer = broker.consumer(&topic, PARTITIONS).await;
        let records = consume(&mut consumer, N).await;
        assert_eq!(records.len(), N, "{codec_name}");
        for r in records {
            let value = r.value.clone().unwrap().to_vec();
            let index: usize = String::from_utf8_lossy(&value)
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let got = Seen {
                partition: r.partition,
                key: r.key.clone().unwrap().to_vec(),
                value,
                headers: r
                    .headers
                    .iter()
                    .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
                    .collect(),
                timestamp: r.timestamp,
            };
            assert_eq!(got, expected(index), "{codec_name}: record {index}");
        }
    }
    broker.stop().await;
}
