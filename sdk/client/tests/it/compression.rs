//! Every codec through a real broker: produced compressed, stored as is, read back.

use futures::future::join_all;
use weir_client::{Compression, Producer, ProducerRecord};

use crate::harness::{TestBroker, consume};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_through_the_broker() {
    let codecs = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    let topics: Vec<(&str, u32)> = codecs.iter().map(|(name, _)| (*name, 1)).collect();
    let broker = TestBroker::start(&topics).await;
    for (topic, codec) in codecs {
        let mut config = broker.producer_config();
        config.compression = codec;
        let producer = Producer::new(config).unwrap();
        let sends: Vec<_> = (0..200)
            .map(|i| {
                let value = format!("{topic} record {i} ").repeat(20);
                producer.send(
                    ProducerRecord::new(topic, value)
                        .with_key(format!("k{i}"))
                        .with_header("codec", topic),
                )
            })
            .collect();
        for meta in join_all(sends).await {
            meta.unwrap();
        }
        let mut consumer = broker.consumer(topic, 1).await;
        let records = consume(&mut consumer, 200).await;
        assert_eq!(records.len(), 200, "{topic}");
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as i64, "{topic}");
            let value = format!("{topic} record {i} ").repeat(20);
            assert_eq!(r.value.as_deref(), Some(value.as_bytes()), "{topic}");
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
            assert_eq!(r.headers[0].value.as_deref(), Some(topic.as_bytes()));
        }
    }
    broker.stop().await;
}
